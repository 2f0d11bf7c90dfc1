"""SRNN-style detector: temporally-coherent sparse coding (TSC) unrolled as a stacked recurrent network, after
Luo, Liu and Gao, "A Revisit of Sparse Coding Based Anomaly Detection in Stacked RNN Framework" (ICCV 2017).

Each frame is cut into a grid of patches; the feature vector x_t of a patch is coded with a dictionary D shared over
time and over patch positions, by minimising

    1/2 ||x_t - D a_t||^2 + lambda ||a_t||_1 + temporal_weight / 2 ||a_t - a_{t-1}||^2,

where a_{t-1} is the code of the same patch in the previous frame (the term that keeps consecutive codes close).
The minimisation is ``n_layers`` steps of ISTA started from a_{t-1}:

    a <- soft_threshold(a - (D^T (D a - x_t) + temporal_weight (a - a_{t-1})) / L, lambda / L),
    L = ||D||_2^2 + temporal_weight,

i.e. a recurrent network whose layers share the weights W = I - (D^T D + temporal_weight I) / L and V = D^T / L
(the paper's stacked RNN), run along time with the previous frame's code as its state. Training learns D by
back-propagating the objective above through the unrolled layers, over short clips of normal frames. The score of
a frame is the objective without the temporal term (reconstruction error plus the sparsity term) of its worst
patch (``cell_reduction="max"``, the default) or summed over its patches (``"sum"``).

Deviations and choices (the paper is silent, or we cannot follow it here):

* Features. The paper codes features of a network pretrained on ImageNet; no weights can be downloaded here, so
  this detector uses a fixed, documented feature extractor instead: the raw pixels of non-overlapping
  ``patch_size`` x ``patch_size`` patches of the grayscale frame resized to ``input_size`` (or of the 28x28 skeleton
  map), scaled to [0, 1] with the training set's mean patch (per position) subtracted. Nothing is pretrained.
* The dictionary's atoms are kept at unit norm (D is a normalised parameter), which removes the trivial way to
  shrink lambda ||a||_1 by scaling D up.
* The first frame of a video (or of a training clip) has no predecessor: it is coded from zero, without the
  temporal term. ``temporal_weight=0`` turns the temporal term off *and* starts every frame's ISTA from zero, so
  every frame is then coded on its own (plain sparse coding); this makes the switch exact.
* lambda = 0.1, temporal_weight = 0.5, 128 atoms, 10 layers, clips of 10 frames: our choices.
* The ``standard`` preset (leaderboards on real footage) codes 8x8 patches of 128x128 frames and sums the patch
  objectives; docs/skeleton.md gives its choices, the runs that chose them and its training time.
* Views: ``view="frames"`` (the default, the paper's input) or ``view="skeleton"`` (28x28 maps).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

# soft_threshold: re-exported for library users and tests.
from anobench_srnn.model import TemporallyCoherentSparseCoding, soft_threshold  # noqa: F401
from bench_core.checkpoint import load_model, save_model
from bench_core.config import require_at_least, require_choice, require_finite
from bench_core.detector import Detector, InputSpec
from bench_core.errors import DataError
from bench_core.torch_layer import (TORCH_NEUTRAL_SETTINGS, Runtime, ViewSettings, WindowIndex, score_windows,
                                    train_epochs)
from bench_core.views import check_frames

if TYPE_CHECKING:
    from bench_core.progress import Progress
    from bench_core.views import PreparedVideo

REDUCTIONS = ("max", "sum")
_ARCHITECTURE_FIELDS = ("view", "input_size", "patch_size", "n_atoms", "n_layers", "sparsity", "temporal_weight")


@dataclass(frozen=True)
class Config(ViewSettings):
    """SRNN-style TSC settings (see the module docstring for which are the paper's and which are ours)."""

    #: Side of the square patches the frame is cut into (must divide the input side).
    patch_size: int = 7
    #: Atoms of the dictionary D (shared over time and patch positions).
    n_atoms: int = 128
    #: ISTA steps per frame: the layers of the stacked RNN.
    n_layers: int = 10
    #: lambda, the weight of the L1 sparsity term.
    sparsity: float = 0.1
    #: Weight of the term keeping consecutive codes close; 0 codes every frame on its own.
    temporal_weight: float = 0.5
    #: How a frame's patch scores become the frame's score: 'max' (worst patch) or 'sum'.
    cell_reduction: str = "max"
    #: Frames per training clip (the recurrence is unrolled over them).
    sequence_length: int = 10
    #: Frames between the starts of consecutive training clips.
    train_stride: int = 5
    #: Passes over the training clips.
    epochs: int = 10
    #: Clips per optimiser step.
    batch_size: int = 32
    #: Adam learning rate for the dictionary.
    lr: float = 3e-3

    def __post_init__(self):
        super().__post_init__()
        require_choice(self, "cell_reduction", REDUCTIONS)
        require_at_least(self, 1, "input_size", "patch_size", "n_atoms", "n_layers", "sequence_length",
                         "train_stride", "epochs", "batch_size")
        if self.side % self.patch_size:
            raise ValueError(f"patch_size {self.patch_size} must divide the input side {self.side} "
                             f"({self.view} view)")
        require_finite(self, "sparsity", "temporal_weight", positive=False)
        require_finite(self, "lr")


@contextlib.contextmanager
def one_torch_thread():
    """Run the frame-by-frame recurrence on one thread. Its matrix products are small (cells x atoms), so a second
    thread brings little speed but a synchronisation per product, which costs milliseconds when the cores are busy
    (measured on a loaded 2-core machine: 14 us on one thread, 2-5 ms on two, for a 16x128 by 128x128 product;
    one training batch of 32 clips took 0.43 s on one thread, 30 s on two)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class SRNN(Detector):
    """SRNN-style TSC (Luo et al., ICCV 2017) on pixel patches. Score of a frame: reconstruction + sparsity."""

    Config = Config
    presets = {
        # The paper's structure (TSC with the temporal term, unrolled ISTA, shared dictionary); its values are not
        # reported for pixel features, so these are ours (see the module docstring).
        "paper": {"n_atoms": 256, "n_layers": 20, "epochs": 20},
        # The leaderboard preset: frames at 128x128 (a 20 px cyclist in a 240 px frame keeps ~11 px) cut into 8x8
        # patches (a 16x16 grid), 128 atoms (twice overcomplete), 10 layers; the frame's score is the objective
        # summed over its patches (with 256 patches the worst one is mostly the crowd); a dictionary step every 8
        # clips at lr 3e-2 so that it learns within the budget: ~0.2 s of one core per training frame
        # (docs/skeleton.md).
        "standard": {"input_size": 128, "patch_size": 8, "n_atoms": 128, "n_layers": 10, "cell_reduction": "sum",
                     "epochs": 10, "batch_size": 8, "lr": 3e-2},
        # A few seconds of training on synthetic-industrial on 2 CPU cores.
        "cpu": {"n_atoms": 128, "n_layers": 10, "epochs": 5},
    }
    version = "1"
    supports_resume = True
    test_settings = {"n_atoms": 16, "n_layers": 3, "sequence_length": 4, "train_stride": 3, "epochs": 2, "batch_size": 16}
    neutral_settings = TORCH_NEUTRAL_SETTINGS

    def __init__(self, config: Config, device: str = "cpu", seed: int = 0):
        super().__init__(config, device, seed)
        self.runtime = Runtime(config, device)
        n_cells = (config.side // config.patch_size) ** 2
        self.model = self.runtime.prepare(TemporallyCoherentSparseCoding(
            config, n_cells, config.patch_size ** 2, torch.Generator().manual_seed(seed)))
        #: The coding chain carried across ``score`` calls while a source streams (see ``begin_stream``).
        self._stream_state: dict | None = None

    @property
    def input_spec(self) -> InputSpec:
        side = self.config.side
        return InputSpec(view=self.config.view, height=side, width=side, channels=1, window=1)

    # -- data ----------------------------------------------------------------------------------------------------

    def _frames(self, video: "PreparedVideo") -> torch.Tensor:
        check_frames(video, self.input_spec, "srnn")
        return torch.from_numpy(np.require(video.frames, requirements=["C", "W"]))

    def patches(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 (n, 1, side, side) -> float (n, cells, patch_size**2) in [0, 1]: the fixed feature extractor."""
        p = self.config.patch_size
        x = frames.to(self.device).float().div_(255.0)
        return F.unfold(x, kernel_size=p, stride=p).transpose(1, 2)

    def _features(self, frames: torch.Tensor) -> torch.Tensor:
        return self.patches(frames) - self.model.mean_patch

    # -- training ------------------------------------------------------------------------------------------------

    def fit(self, train: list["PreparedVideo"], progress: "Progress") -> dict:
        """Learn the dictionary by minimising the TSC objective of the unrolled network over clips of normal frames."""
        cfg = self.config
        videos = [self._frames(v) for v in train]
        index = WindowIndex([video.frames for video in train], cfg.sequence_length, cfg.train_stride)
        if len(index) == 0:
            raise DataError(f"no training video has the {cfg.sequence_length} frames of one srnn training clip",
                            hint="use longer training videos, or lower the detector setting sequence_length")
        frames = torch.cat(videos)
        with torch.no_grad():
            features_sum = sum(self.patches(frames[i:i + 1024]).sum(0) for i in range(0, len(frames), 1024))
            self.model.mean_patch.copy_(features_sum[None] / len(frames))
        optimizer = torch.optim.Adam([self.model.raw_dictionary], lr=cfg.lr)

        def step(batch: np.ndarray) -> dict[str, float]:
            clip_frames = torch.from_numpy(np.require(batch, requirements=["C", "W"])).flatten(0, 1)
            clips = self._features(clip_frames).view(len(batch), cfg.sequence_length,
                                                     *self.model.mean_patch.shape[1:])
            loss = self.model(clips)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            return {"loss": loss.item()}

        with one_torch_thread():
            log, n_batches = train_epochs(
                index=index, step=step, model=self.model, parts={"model": self.model, "optimizer": optimizer},
                seed=self.seed, epochs=cfg.epochs, batch_size=cfg.batch_size, checkpoints=self.checkpoints,
                progress=progress, runtime=self.runtime, guard_names={"loss": "objective"},
                hint=f"lower the detector setting lr (now {cfg.lr:g})")
        return {
            "loss_per_epoch": log["loss_per_epoch"],
            "loss": "TSC objective per patch and frame (1/2 squared error + lambda L1 + temporal term), mean",
            "n_train_clips": int(len(index)),
            "n_batches_per_epoch": n_batches,
            "n_parameters": self.model.raw_dictionary.numel(),
        }

    # -- scoring -------------------------------------------------------------------------------------------------

    def score(self, video: "PreparedVideo", progress: "Progress") -> np.ndarray:
        """Per frame, reconstruction error + sparsity term of its codes (worst patch, or summed over patches).

        Frames are coded in order, each from the previous frame's codes, so value ``i`` is frame ``i``'s score."""
        check_frames(video, self.input_spec, "srnn")
        # One chain per call, or, while a source streams batch by batch, one chain over all its calls.
        state: dict = self._stream_state if self._stream_state is not None else {"previous": None}

        def score_batch(frames: np.ndarray, n: int) -> torch.Tensor:
            if "dictionary" not in state:
                state["dictionary"] = self.model.dictionary()
                state["precomputed"] = self.model.precompute(state["dictionary"])
            dictionary = state["dictionary"]
            features = self._features(torch.from_numpy(np.require(frames, requirements=["C", "W"])))
            chunk_scores = []
            for x in features:
                code = self.model.code_frame(x, state["previous"], dictionary, precomputed=state["precomputed"])
                reconstruction, sparse = self.model.frame_terms(x, code, dictionary)
                per_cell = reconstruction + sparse
                chunk_scores.append(per_cell.max() if self.config.cell_reduction == "max" else per_cell.sum())
                state["previous"] = code
            return torch.stack(chunk_scores)

        with one_torch_thread():
            return score_windows(video, 1, 256, score_batch, self.model, self.runtime, progress)

    def begin_stream(self) -> None:
        self._stream_state = {"previous": None}

    def end_stream(self) -> None:
        self._stream_state = None

    # -- checkpoints ---------------------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        save_model(path, "srnn", self.version, self.config, self.model)

    def load(self, path: Path) -> None:
        load_model(path, "srnn", self.version, self.config, self.model, _ARCHITECTURE_FIELDS)
