"""The detector contract: what every detector must do, as check functions that anobench's own tests run on every
registered detector (tests/test_detector_contract.py) and that a plugin's tests can run on its own.

Each check trains the detector at its ``test_settings`` (settings that make a run take a second) on a few tiny
generated videos of one view, through the Detector API directly (no harness, no dataset), and raises
``AssertionError`` saying what the detector got wrong. Run them at one torch thread (``torch_threads(1)``):
results are reproducible only at a fixed thread count. For example, in a plugin's tests::

    import pytest
    from bench_core.testing import DetectorContract, supported_views, torch_threads
    from anobench_example.detector import FrameDifference

    @pytest.mark.parametrize("view", supported_views(FrameDifference))
    def test_contract(view, tmp_path):
        with torch_threads(1):
            DetectorContract(FrameDifference, view).check_all(tmp_path)
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from bench_core.config import build_config
from bench_core.detector import Detector, InputSpec
from bench_core.errors import UsageError
from bench_core.progress import Progress
from bench_core.training import TrainingCheckpoints
from bench_core.views import VIEWS, PreparedVideo

#: The epochs of the fallback configuration (a detector without ``test_settings``): two, so that a training
#: interrupted after its first epoch has one left to resume.
FALLBACK_EPOCHS = 2
#: A view no detector can have, for the check that asking for one is a usage error.
UNKNOWN_VIEW = "no-such-view"


@contextlib.contextmanager
def torch_threads(n: int = 1) -> Iterator[None]:
    """Torch at ``n`` threads inside the block, as it was after."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def contract_config(detector_cls: type[Detector], view: str | None = None, owner: str | None = None) -> Any:
    """The detector's config for contract checks: its ``test_settings`` over the defaults, or, for a detector that
    declares none, its ``cpu`` preset with ``epochs`` = FALLBACK_EPOCHS (where it has such a setting); ``view``,
    when given, overrides the view. Bad settings raise ``UsageError`` exactly as ``--set`` does."""
    owner = owner or f"detector {detector_cls.__name__}"
    fields = {f.name for f in dataclasses.fields(detector_cls.Config)}
    overrides: dict[str, Any] = {}
    preset: str | None = None
    if detector_cls.test_settings:
        overrides.update(detector_cls.test_settings)
    else:
        preset = "cpu"
        if "epochs" in fields:
            overrides["epochs"] = FALLBACK_EPOCHS
    if view is not None:
        overrides["view"] = view
    return build_config(detector_cls.Config, detector_cls.presets, preset, overrides, "--set", owner)


def supported_views(detector_cls: type[Detector]) -> list[str]:
    """The views of ``VIEWS`` the detector can read: those its contract config accepts as ``view``, or, for a
    detector without a ``view`` setting, the one view its input spec names."""
    if not _has_view_setting(detector_cls):
        return [detector_cls(contract_config(detector_cls)).input_spec.view]
    views = []
    for view in VIEWS:
        try:
            contract_config(detector_cls, view)
        except UsageError:
            continue
        views.append(view)
    return views


def tiny_video(spec: InputSpec, n_frames: int, video_id: str, seed: int) -> PreparedVideo:
    """A short video at ``spec``'s size: on the frames view a bright square sliding over dark noise, on the
    skeleton view a binary (0/255) upright bar swaying left and right, as the skeleton maps draw a body."""
    rng = np.random.default_rng(seed)
    h, w = spec.height, spec.width
    side = max(2, min(h, w) // 5)
    if spec.view == "skeleton":
        frames = np.zeros((n_frames, spec.channels, h, w), np.uint8)
        value = 255
    else:
        frames = rng.integers(10, 40, size=(n_frames, spec.channels, h, w), dtype=np.uint8)
        value = 220
    span = w - side
    start = int(rng.integers(0, span + 1))
    row = int(rng.integers(0, h - 2 * side + 1))
    for t in range(n_frames):
        x = abs((start + t) % (2 * span) - span)  # back and forth, never jumping across the frame
        frames[t, :, row:row + 2 * side, x:x + side] = value
    return PreparedVideo(video_id, frames, fps=25.0)


@dataclass
class Fitted:
    """One training of the detector and what it gave: the training log and the scores of every test video."""

    detector: Detector
    log: dict
    scores: list[np.ndarray]


class _Interrupted(Exception):
    """Raised from inside ``fit`` right after an epoch was checkpointed, as Ctrl-C would be."""


class _RecordingCheckpoints(TrainingCheckpoints):
    """Training checkpoints that remember which epochs ``fit`` saved, and can stop it after one of them."""

    def __init__(self, folder: Path, detector: str, resume: bool, stop_after: int | None = None):
        super().__init__(folder, detector, resume=resume)
        self.stop_after = stop_after
        self.saved: list[int] = []

    def save(self, epoch, state, log) -> None:
        super().save(epoch, state, log)
        self.saved.append(epoch)
        if epoch == self.stop_after:
            raise _Interrupted


class DetectorContract:
    """The contract checks for one detector class on one view. The checks share one reference training (made on
    first use), so running them all costs about three tiny trainings."""

    def __init__(self, detector_cls: type[Detector], view: str | None = None, name: str | None = None,
                 seed: int = 0):
        self.detector_cls = detector_cls
        self.name = name or detector_cls.__name__
        self.seed = seed
        owner = f"detector '{self.name}'"
        self.config = contract_config(detector_cls, view if _has_view_setting(detector_cls) else None, owner)
        self.spec = detector_cls(self.config).input_spec
        if view is not None and self.spec.view != view:
            raise UsageError(f"{owner} reads the {self.spec.view} view, not {view}")
        self.view = self.spec.view
        window = self.spec.window
        self.train = [tiny_video(self.spec, window + 8, f"train{i}", seed=i) for i in range(2)]
        self.test = [tiny_video(self.spec, window + 4, f"test{i}", seed=10 + i) for i in range(2)]

    def __repr__(self) -> str:
        return f"DetectorContract({self.name}, view={self.view})"

    # -- trainings ---------------------------------------------------------------------------------------------

    def new_detector(self, seed: int | None = None) -> Detector:
        """A fresh detector, built as the harness builds one: after seeding every global generator."""
        from bench_core.run import seed_everything

        seed = self.seed if seed is None else seed
        seed_everything(seed, "cpu")
        return self.detector_cls(self.config, device="cpu", seed=seed)

    def scores_of(self, detector: Detector) -> list[np.ndarray]:
        return [np.asarray(detector.score(video, Progress()), dtype=np.float64) for video in self.test]

    def fit(self, seed: int | None = None, checkpoints: TrainingCheckpoints | None = None) -> Fitted:
        detector = self.new_detector(seed)
        if checkpoints is not None:
            detector.checkpoints = checkpoints
            checkpoints.start()
        log = detector.fit(self.train, Progress())
        return Fitted(detector, log, self.scores_of(detector))

    @functools.cached_property
    def reference(self) -> Fitted:
        """The training every check compares against (seed ``self.seed``, no checkpoints)."""
        return self.fit()

    def assert_reference_scores(self, got: list[np.ndarray], when: str) -> None:
        """Each test video's scores in ``got`` equal the reference training's bit for bit."""
        for video, expected, scores in zip(self.test, self.reference.scores, got):
            if scores.shape != expected.shape:
                difference = f"{scores.shape} scores, not {expected.shape}"
            elif np.array_equal(scores, expected):
                continue
            else:
                difference = f"largest difference {np.max(np.abs(scores - expected)):.3g}"
            raise AssertionError(f"{self.name}: {when}, video '{video.id}' scores differently from the reference "
                                 f"training ({difference})")

    # -- the checks --------------------------------------------------------------------------------------------

    def check_scores(self) -> None:
        """``score`` gives one finite score per full window: ``len(video) - window + 1`` values."""
        for video, scores in zip(self.test, self.reference.scores):
            expected = len(video) - self.spec.window + 1
            assert scores.shape == (expected,), (
                f"{self.name} gave {scores.shape} scores for a {len(video)}-frame video with window "
                f"{self.spec.window}; the per-window rule asks for ({expected},)")
            assert np.all(np.isfinite(scores)), f"{self.name} gave non-finite scores: {scores}"

    def check_deterministic(self) -> None:
        """The same seed gives an identical training log and identical scores; and a detector holding torch
        modules (whose weights start at random) starts from other weights for another seed, so the seed reaches
        it."""
        again = self.fit()
        assert again.log == self.reference.log, (
            f"{self.name}: two trainings with seed {self.seed} logged {self.reference.log} and {again.log}")
        self.assert_reference_scores(again.scores, f"trained twice with seed {self.seed}")
        first, other = _torch_parameters(self.new_detector()), _torch_parameters(self.new_detector(self.seed + 1))
        if first:
            assert any(not _torch_equal(a, b) for a, b in zip(first, other)), (
                f"{self.name}: seeds {self.seed} and {self.seed + 1} give identical initial weights; the seed "
                "does not reach the detector's initialisation")

    def check_save_load(self, folder: Path) -> None:
        """``load`` of what ``save`` wrote restores identical scores into a detector built with another seed."""
        path = Path(folder) / "checkpoint.pt"
        self.reference.detector.save(path)
        restored = self.new_detector(seed=self.seed + 1)
        restored.load(path)
        self.assert_reference_scores(self.scores_of(restored), "after save and load (load does not restore the state)")

    def check_resume(self, folder: Path) -> None:
        """For a detector with ``supports_resume``: a training interrupted after its first epoch and resumed
        (``anobench run --resume``) continues from that epoch, without running it again, to the uninterrupted
        training's log and scores."""
        assert self.detector_cls.supports_resume, f"{self.name} does not declare supports_resume"
        folder = Path(folder) / "training"
        interrupted = _RecordingCheckpoints(folder, self.name, resume=False, stop_after=1)
        try:
            self.fit(checkpoints=interrupted)
        except _Interrupted:
            pass
        assert interrupted.saved == [1], (
            f"{self.name} declares supports_resume but its fit saved epochs {interrupted.saved} through "
            "self.checkpoints (expected a save after every epoch)")
        resumed_checkpoints = _RecordingCheckpoints(folder, self.name, resume=True)
        resumed = self.fit(checkpoints=resumed_checkpoints)
        assert resumed_checkpoints.resumed_from == 1, (
            f"{self.name}: the resumed training did not restore the checkpoint of epoch 1 (self.checkpoints.restore)")
        assert 1 not in resumed_checkpoints.saved, f"{self.name}: the resumed training ran epoch 1 again"
        assert resumed.log == self.reference.log, (
            f"{self.name}: resumed training logged {resumed.log}, uninterrupted {self.reference.log}")
        self.assert_reference_scores(resumed.scores, "after an interruption and resume")

    def check_short_videos(self) -> None:
        """Videos of 1 frame, one frame short of a window, exactly a window and a little longer get
        ``max(n - window + 1, 1)`` finite scores: a video shorter than the window gets exactly one."""
        window = self.spec.window
        detector = self.reference.detector
        for n in sorted({1, max(window - 1, 1), window, window + 2}):
            video = PreparedVideo(f"short{n}", self.test[0].frames[:n].copy(), fps=25.0)
            scores = np.asarray(detector.score(video, Progress()), dtype=np.float64)
            expected = max(n - window + 1, 1)
            assert scores.shape == (expected,), (
                f"{self.name} gave {scores.shape} scores for a {n}-frame video with window {window}; "
                f"expected ({expected},)")
            assert np.all(np.isfinite(scores)), f"{self.name} gave non-finite scores for a {n}-frame video"

    def check_all(self, folder: Path) -> None:
        """Every check above (resume only where the detector supports it) and ``check_unsupported_views``."""
        self.check_scores()
        self.check_deterministic()
        self.check_save_load(folder)
        if self.detector_cls.supports_resume:
            self.check_resume(folder)
        self.check_short_videos()
        check_unsupported_views(self.detector_cls, self.name)


def check_unsupported_views(detector_cls: type[Detector], name: str | None = None) -> None:
    """Asking the detector for a view it cannot read (each of ``VIEWS`` it lacks, and an unknown one) is a one-line
    ``UsageError`` naming the view, as ``--set view=...`` reports it."""
    name = name or detector_cls.__name__
    supported = supported_views(detector_cls)
    assert supported, f"{name} reads none of the views {', '.join(VIEWS)}"
    for view in [v for v in VIEWS if v not in supported] + [UNKNOWN_VIEW]:
        try:
            config = contract_config(detector_cls, view, f"detector '{name}'")
        except UsageError as error:
            text = str(error)
            assert "\n" not in text, f"{name}: the error for view {view!r} is not one line: {text!r}"
            assert "view" in text, f"{name}: the error for view {view!r} does not name the view: {text!r}"
            continue
        raise AssertionError(f"{name} accepted view={view!r} (config {config}) instead of a usage error")


def _has_view_setting(detector_cls: type[Detector]) -> bool:
    return "view" in {f.name for f in dataclasses.fields(detector_cls.Config)}


def _torch_parameters(detector: Detector) -> list:
    """The parameters of every torch module the detector keeps as an attribute (none for a numpy detector)."""
    import torch

    return [p.detach().clone() for value in vars(detector).values() if isinstance(value, torch.nn.Module)
            for p in value.parameters()]


def _torch_equal(a, b) -> bool:
    import torch

    return a.shape == b.shape and bool(torch.equal(a, b))
