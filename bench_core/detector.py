"""The Detector interface: a config dataclass with presets, fit on normal footage, score every window."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar

import numpy as np

if TYPE_CHECKING:
    from bench_core.progress import Progress
    from bench_core.views import PreparedVideo


@dataclass(frozen=True)
class InputSpec:
    """What a detector eats: which view, at what size, and how many consecutive frames make one window."""

    view: str = "frames"
    height: int = 64
    width: int = 64
    channels: int = 1
    window: int = 1


class Detector(abc.ABC):
    """Subclasses set ``Config`` (a dataclass whose defaults are documented) and ``presets``.

    Every detector has the presets ``paper`` (published hyper-parameters) and ``cpu`` (fits this machine).
    """

    Config: ClassVar[type]
    presets: ClassVar[dict[str, dict[str, Any]]] = {"paper": {}, "cpu": {}}
    #: Bump when a change alters results for the same config, so old run records are not mistaken for new ones.
    version: ClassVar[str] = "1"
    #: Settings added after runs were published, each with the value that reproduces the behaviour from before it
    #: existed. A config holding that value leaves the setting out of the run id, so existing runs keep their ids
    #: (and sweeps still find them); any other value is part of the id as usual. The record lists it either way.
    neutral_settings: ClassVar[dict[str, Any]] = {}
    #: True when ``fit`` saves every epoch through ``self.checkpoints`` and continues from ``latest()``
    #: (``anobench run --resume``); see bench_core/training.py.
    supports_resume: ClassVar[bool] = False
    #: Set by the harness around ``score`` when a scorer needs per-pixel anomaly maps and ``provides_maps()``;
    #: ``emit_maps`` hands it the maps (see bench_core/localization.py). None otherwise.
    map_sink: Callable[[np.ndarray], None] | None = None
    #: Settings that make a run take a second, for contract tests (bench_core/testing.py): tiny layers, two
    #: epochs. Not a preset: users never see it. Empty means the ``cpu`` preset with two epochs.
    test_settings: ClassVar[dict[str, Any]] = {}

    def __init__(self, config: Any, device: str = "cpu", seed: int = 0):
        from bench_core.training import TrainingCheckpoints

        self.config = config
        self.device = device
        self.seed = seed
        # The harness replaces this with the run's own checkpoint folder before calling fit.
        self.checkpoints = TrainingCheckpoints.disabled(type(self).__name__)

    @property
    @abc.abstractmethod
    def input_spec(self) -> InputSpec:
        """The view, size, channels and temporal window this detector needs."""

    @abc.abstractmethod
    def fit(self, train: list["PreparedVideo"], progress: "Progress") -> dict:
        """Train on normal videos; return a training log (e.g. ``{"loss_per_epoch": [...]}``) for the run record."""

    @abc.abstractmethod
    def score(self, video: "PreparedVideo", progress: "Progress") -> np.ndarray:
        """One anomaly score (higher = more abnormal) per full window, i.e. ``len(video) - window + 1`` values;
        value ``i`` belongs to the window that ends on frame ``i + window - 1``."""

    def provides_maps(self) -> bool:
        """Whether ``score`` gives per-pixel anomaly maps through ``emit_maps`` with this config (optional)."""
        return False

    def emit_maps(self, maps) -> None:
        """Called by ``score`` with each batch's per-pixel anomaly maps (higher = more abnormal), an array or tensor
        of shape (windows, input height, input width), in window order: map ``i`` of a video belongs to window
        ``i``, like score ``i``, and should add up to it the way the score adds up pixel errors. The harness resizes
        them to the frame size and writes them to disk; without a scorer that needs them this does nothing."""
        if self.map_sink is not None:
            if hasattr(maps, "detach"):  # a torch tensor
                maps = maps.detach().float().cpu().numpy()
            self.map_sink(np.asarray(maps, dtype=np.float32))

    def begin_stream(self) -> None:
        """Called by ``anobench score`` before a source's first frames, which it then scores a batch of windows at a
        time, and ``end_stream`` after its last. A detector whose score of a window depends on earlier windows (state
        carried from frame to frame, as srnn codes each frame from the previous one) keeps that state from one
        ``score`` call to the next in between, so a source scored in batches gets the scores one call over the whole
        video gives. Others need do nothing."""

    def end_stream(self) -> None:
        """The source ``begin_stream`` announced has ended: drop the carried state."""

    def last_outputs(self) -> dict[str, np.ndarray]:
        """Per-window arrays from the latest ``score`` call that the run record should keep beside the scores
        (e.g. ``{"latent_mean": (n_windows, J)}``); saved as ``window_<name>`` in the video's scores file."""
        return {}

    @abc.abstractmethod
    def save(self, path: Path) -> None:
        """Write a checkpoint from which ``load`` restores the same scores."""

    @abc.abstractmethod
    def load(self, path: Path) -> None:
        """Restore the state written by ``save``."""
