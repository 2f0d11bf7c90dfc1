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
* Views: ``view="frames"`` (the default, the paper's input) or ``view="skeleton"`` (28x28 maps).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench_core.checkpoint import load_model, save_model
from bench_core.detector import Detector, InputSpec
from bench_core.errors import DataError
from bench_core.views import check_frames, check_view, view_side

if TYPE_CHECKING:
    from bench_core.progress import Progress
    from bench_core.views import PreparedVideo

REDUCTIONS = ("max", "sum")
_ARCHITECTURE_FIELDS = ("view", "input_size", "patch_size", "n_atoms", "n_layers", "sparsity", "temporal_weight")


@dataclass(frozen=True)
class Config:
    """SRNN-style TSC settings (see the module docstring for which are the paper's and which are ours)."""

    #: 'frames' (grayscale frames resized to input_size, the paper's input) or 'skeleton' (28x28 maps).
    view: str = "frames"
    #: Side of the resized frames for the frames view; the skeleton view always uses 28.
    input_size: int = 28
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

    @property
    def side(self) -> int:
        return view_side(self.view, self.input_size)

    def __post_init__(self):
        check_view(self.view)
        if self.cell_reduction not in REDUCTIONS:
            raise ValueError(f"cell_reduction must be one of {', '.join(REDUCTIONS)}, not {self.cell_reduction!r}")
        for name in ("input_size", "patch_size", "n_atoms", "n_layers", "sequence_length", "train_stride", "epochs",
                     "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, not {getattr(self, name)}")
        if self.side % self.patch_size:
            raise ValueError(f"patch_size {self.patch_size} must divide the input side {self.side} "
                             f"({self.view} view)")
        if not (0 <= self.sparsity < math.inf) or not (0 <= self.temporal_weight < math.inf):
            raise ValueError(f"sparsity and temporal_weight must be finite numbers >= 0, not {self.sparsity}, "
                             f"{self.temporal_weight}")
        if not (0 < self.lr < math.inf):
            raise ValueError(f"lr must be a finite number > 0, not {self.lr}")


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


def soft_threshold(x: torch.Tensor, threshold: float | torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * F.relu(x.abs() - threshold)


class TemporallyCoherentSparseCoding(nn.Module):
    """The stacked RNN: ``n_layers`` ISTA steps per frame with a shared dictionary, carried along time."""

    def __init__(self, config: Config, n_cells: int, n_features: int, generator: torch.Generator):
        super().__init__()
        self.sparsity = config.sparsity
        self.temporal_weight = config.temporal_weight
        self.n_layers = config.n_layers
        self.raw_dictionary = nn.Parameter(torch.randn(n_features, config.n_atoms, generator=generator))
        # Mean patch per position, subtracted from every patch (part of the state: saved with the checkpoint).
        self.register_buffer("mean_patch", torch.zeros(1, n_cells, n_features))

    def dictionary(self) -> torch.Tensor:
        """D with unit-norm atoms (columns)."""
        return self.raw_dictionary / self.raw_dictionary.norm(dim=0, keepdim=True).clamp_min(1e-8)

    def lipschitz(self, dictionary: torch.Tensor, temporal: bool) -> torch.Tensor:
        """L of the smooth part's gradient: ||D||_2^2 (+ temporal_weight when the temporal term is on)."""
        return torch.linalg.matrix_norm(dictionary, ord=2).square() + (self.temporal_weight if temporal else 0.0)

    def precompute(self, dictionary: torch.Tensor) -> dict[str, torch.Tensor]:
        """What every frame's coding reuses: D^T D and the step sizes 1/L with and without the temporal term."""
        return {"gram": dictionary.T @ dictionary, "step": 1.0 / self.lipschitz(dictionary, False),
                "step_temporal": 1.0 / self.lipschitz(dictionary, True)}

    def code_frame(self, x: torch.Tensor, previous: torch.Tensor | None, dictionary: torch.Tensor,
                   n_layers: int | None = None, precomputed: dict | None = None) -> torch.Tensor:
        """Codes (..., n_atoms) of feature vectors x (..., n_features); ``previous`` is the previous frame's codes
        (None for a first frame). ISTA starts from ``previous`` when the temporal term is on, else from zero."""
        temporal = previous is not None and self.temporal_weight > 0
        if precomputed is None:
            precomputed = self.precompute(dictionary)
        gram, step = precomputed["gram"], precomputed["step_temporal" if temporal else "step"]
        drive = x @ dictionary  # D^T x, for every vector at once
        code = previous if temporal else torch.zeros(*x.shape[:-1], dictionary.shape[1], dtype=x.dtype,
                                                     device=x.device)
        for _ in range(self.n_layers if n_layers is None else n_layers):
            gradient = code @ gram - drive
            if temporal:
                gradient = gradient + self.temporal_weight * (code - previous)
            code = soft_threshold(code - step * gradient, self.sparsity * step)
        return code

    def frame_terms(self, x: torch.Tensor, code: torch.Tensor, dictionary: torch.Tensor):
        """Per vector: 1/2 squared reconstruction error, and lambda * L1 norm of the code."""
        reconstruction = 0.5 * (x - code @ dictionary.T).square().sum(-1)
        return reconstruction, self.sparsity * code.abs().sum(-1)

    def objective(self, x: torch.Tensor, code: torch.Tensor, previous: torch.Tensor | None,
                  dictionary: torch.Tensor) -> torch.Tensor:
        """The full TSC objective per vector (the temporal term only where the switch is on)."""
        reconstruction, sparse = self.frame_terms(x, code, dictionary)
        total = reconstruction + sparse
        if previous is not None and self.temporal_weight > 0:
            total = total + 0.5 * self.temporal_weight * (code - previous).square().sum(-1)
        return total

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """Mean TSC objective per frame and patch over clips (batch, time, cells, n_features), coded in order."""
        dictionary = self.dictionary()
        precomputed = self.precompute(dictionary)
        previous, total = None, clips.new_zeros(())
        for t in range(clips.shape[1]):
            code = self.code_frame(clips[:, t], previous, dictionary, precomputed=precomputed)
            total = total + self.objective(clips[:, t], code, previous, dictionary).mean()
            previous = code
        return total / clips.shape[1]


class SRNN(Detector):
    """SRNN-style TSC (Luo et al., ICCV 2017) on pixel patches. Score of a frame: reconstruction + sparsity."""

    Config = Config
    presets = {
        # The paper's structure (TSC with the temporal term, unrolled ISTA, shared dictionary); its values are not
        # reported for pixel features, so these are ours (see the module docstring).
        "paper": {"n_atoms": 256, "n_layers": 20, "epochs": 20},
        # A few seconds of training on synthetic-industrial on 2 CPU cores.
        "cpu": {"n_atoms": 128, "n_layers": 10, "epochs": 5},
    }
    version = "1"
    supports_resume = True
    test_settings = {"n_atoms": 16, "n_layers": 3, "sequence_length": 4, "train_stride": 3, "epochs": 2, "batch_size": 16}

    def __init__(self, config: Config, device: str = "cpu", seed: int = 0):
        super().__init__(config, device, seed)
        n_cells = (config.side // config.patch_size) ** 2
        self.model = TemporallyCoherentSparseCoding(
            config, n_cells, config.patch_size ** 2, torch.Generator().manual_seed(seed)).to(device)

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
        frames = torch.cat(videos) if videos else torch.zeros(0, 1, cfg.side, cfg.side, dtype=torch.uint8)
        starts, offset = [], 0
        for video_frames in videos:
            starts.append(torch.arange(0, max(len(video_frames) - cfg.sequence_length + 1, 0), cfg.train_stride)
                          + offset)
            offset += len(video_frames)
        starts = torch.cat(starts) if starts else torch.zeros(0, dtype=torch.long)
        if len(starts) == 0:
            raise DataError(f"no training video has the {cfg.sequence_length} frames of one srnn training clip",
                            hint="use longer training videos, or lower the detector setting sequence_length")
        with torch.no_grad():
            features_sum = sum(self.patches(frames[i:i + 1024]).sum(0) for i in range(0, len(frames), 1024))
            self.model.mean_patch.copy_(features_sum[None] / len(frames))
        steps = torch.arange(cfg.sequence_length)
        optimizer = torch.optim.Adam([self.model.raw_dictionary], lr=cfg.lr)
        order_generator = torch.Generator().manual_seed(self.seed)
        n_batches = math.ceil(len(starts) / cfg.batch_size)
        parts = {"model": self.model, "optimizer": optimizer, "order_generator": order_generator}
        first_epoch, saved_log = self.checkpoints.restore(parts)
        loss_per_epoch: list[float] = saved_log.get("loss_per_epoch", [])
        with one_torch_thread(), progress.task("train", total=cfg.epochs * n_batches) as task:
            task.advance((first_epoch - 1) * n_batches)
            for epoch in range(first_epoch, cfg.epochs + 1):
                order = starts[torch.randperm(len(starts), generator=order_generator)]
                loss_sum = 0.0
                for first in range(0, len(order), cfg.batch_size):
                    clip_starts = order[first:first + cfg.batch_size]
                    clip_frames = frames[(clip_starts[:, None] + steps).reshape(-1)]
                    clips = self._features(clip_frames).view(len(clip_starts), cfg.sequence_length,
                                                             *self.model.mean_patch.shape[1:])
                    loss = self.model(clips)
                    loss_value = loss.item()
                    self.checkpoints.check_finite(epoch, {"objective": loss_value},
                                                  hint=f"lower the detector setting lr (now {cfg.lr:g})")
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    loss_sum += loss_value * len(clip_starts)
                    task.advance()
                loss_per_epoch.append(loss_sum / len(starts))
                task.note(f"epoch {epoch}/{cfg.epochs} objective {loss_per_epoch[-1]:.4g}")
                self.checkpoints.save_parts(epoch, parts, {"loss_per_epoch": loss_per_epoch})
        return {
            "loss_per_epoch": loss_per_epoch,
            "loss": "TSC objective per patch and frame (1/2 squared error + lambda L1 + temporal term), mean",
            "n_train_clips": int(len(starts)),
            "n_batches_per_epoch": n_batches,
            "n_parameters": self.model.raw_dictionary.numel(),
        }

    # -- scoring -------------------------------------------------------------------------------------------------

    def score(self, video: "PreparedVideo", progress: "Progress") -> np.ndarray:
        """Per frame, reconstruction error + sparsity term of its codes (worst patch, or summed over patches).

        Frames are coded in order, each from the previous frame's codes, so value ``i`` is frame ``i``'s score."""
        frames = self._frames(video)
        if len(frames) == 0:
            raise DataError(f"video '{video.id}' has no frames", hint="check the dataset's files for this video")
        scores = np.empty(len(frames), dtype=np.float64)
        chunk = 256
        with torch.inference_mode(), one_torch_thread(), progress.task("score", total=len(frames)) as task:
            dictionary = self.model.dictionary()
            precomputed = self.model.precompute(dictionary)
            previous = None
            for first in range(0, len(frames), chunk):
                features = self._features(frames[first:first + chunk])
                chunk_scores = []
                for x in features:
                    code = self.model.code_frame(x, previous, dictionary, precomputed=precomputed)
                    reconstruction, sparse = self.model.frame_terms(x, code, dictionary)
                    per_cell = reconstruction + sparse
                    chunk_scores.append(per_cell.max() if self.config.cell_reduction == "max" else per_cell.sum())
                    previous = code
                scores[first:first + len(features)] = torch.stack(chunk_scores).double().cpu().numpy()
                task.advance(len(features))
        return scores

    # -- checkpoints ---------------------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        save_model(path, "srnn", self.version, self.config, self.model)

    def load(self, path: Path) -> None:
        load_model(path, "srnn", self.version, self.config, self.model, _ARCHITECTURE_FIELDS)
