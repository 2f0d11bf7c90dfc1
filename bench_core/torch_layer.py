"""The torch layer: what every neural detector trains and scores through.

* ``TorchSettings``: the run settings of the layer (``precision``, ``channels_last``), inherited by a detector's
  ``Config``; ``TORCH_NEUTRAL_SETTINGS`` lists their neutral values for ``Detector.neutral_settings``.
* ``Runtime``: applies those settings (bf16 autocast, channels-last memory format) to a model and its inputs.
* ``WindowIndex``: (video, first frame, frame skip) of every training window, and the batch read of them.
* ``train_epochs``: the one epoch loop (seeded order, resume, progress, finite-loss guard, epoch log, early stop).
* ``score_windows``: the one batched scoring loop over a video's windows.
* Shared pieces: ``kl_to_standard_normal``, ``pixel_bce`` / ``summed_bce``, the 28x28 frame CNN's layers.

A detector supplies its networks (in its plugin's ``model.py``), a step function (one optimisation step on a batch
of windows, returning its loss values) and a batch scoring function; docs/plugins.md, "The torch layer", shows how.
Only detector modules import this module: it imports torch, which listing plugins must never do.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench_core.errors import UsageError
from bench_core.views import check_view, view_side, window_frames

if TYPE_CHECKING:
    from bench_core.progress import Progress
    from bench_core.training import TrainingCheckpoints
    from bench_core.views import PreparedVideo

PRECISIONS = ("fp32", "bf16")
#: The settings' values that reproduce the training from before they existed: runs made with them keep their ids.
TORCH_NEUTRAL_SETTINGS = {"precision": "fp32", "channels_last": False}


@dataclass(frozen=True)
class TorchSettings:
    """Settings of the torch layer that every neural detector's ``Config`` inherits (``class Config(TorchSettings)``,
    with ``super().__post_init__()`` in its own ``__post_init__``). Both change results (not only speed), so any
    value but the neutral one is part of the run id."""

    #: Arithmetic of training and scoring: 'fp32' (the default, exact) or 'bf16' (autocast to bfloat16 on CPUs with
    #: native bf16, i.e. avx512_bf16 or AMX, and on CUDA: about 1.6-2x faster convolutions; results move by rounding).
    precision: str = "fp32"
    #: Keep convolution weights and inputs in channels-last memory order (oneDNN's fastest layout on CPU).
    channels_last: bool = False

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")


@dataclass(frozen=True)
class ViewSettings(TorchSettings):
    """``TorchSettings`` plus the input of a detector that reads a dataset view: which view, and the side frames are
    resized to. A detector whose defaults differ redeclares the field with its own default and doc comment."""

    #: Which view of the dataset to read: 'frames' (grayscale frames resized to input_size x input_size) or
    #: 'skeleton' (the skeleton LSTM-VAE paper's 28x28 binary skeleton maps, read at 28x28 whatever input_size says,
    #: so one sweep can cover both views).
    view: str = "frames"
    #: Side of the square grayscale input in pixels for the frames view; the skeleton view always uses 28.
    input_size: int = 28

    @property
    def side(self) -> int:
        """The side of the network's input: ``input_size`` for frames, the maps' own 28 for skeleton maps."""
        return view_side(self.view, self.input_size)

    def __post_init__(self):
        super().__post_init__()
        check_view(self.view)


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (Linux flags avx512_bf16 or amx_bf16)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


class Runtime:
    """The layer's settings applied on one device: autocast for the steps and scoring, a memory format for the
    model's weights and inputs."""

    def __init__(self, settings: TorchSettings, device: str = "cpu"):
        self.device = device
        self.device_type = "cuda" if str(device).startswith("cuda") else "cpu"
        self.precision = getattr(settings, "precision", "fp32")
        self.channels_last = bool(getattr(settings, "channels_last", False))
        if self.precision == "bf16" and self.device_type == "cpu" and not cpu_has_bf16():
            # Emulated bf16 is slower than fp32 and still rounds: it would cost accuracy for nothing.
            raise UsageError("precision=bf16 needs a CPU with native bfloat16 (avx512_bf16 or AMX); this one has "
                             "neither", hint="use --set precision=fp32 (the default)")

    def autocast(self) -> contextlib.AbstractContextManager:
        """bf16 autocast when ``precision=bf16``; no context at all in fp32, so fp32 runs are untouched."""
        if self.precision == "bf16":
            return torch.autocast(device_type=self.device_type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def prepare(self, model: nn.Module) -> nn.Module:
        """Move ``model`` to the device and, with ``channels_last``, its 4D and 5D weights to channels-last order."""
        model = model.to(self.device)
        if self.channels_last:
            with torch.no_grad():
                for tensor in [*model.parameters(), *model.buffers()]:
                    if tensor.dim() in (4, 5):
                        tensor.data = self.layout(tensor.data)
        return model

    def layout(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` in the memory format the settings ask for (a 4D or 5D tensor; others pass unchanged)."""
        if not self.channels_last or x.dim() not in (4, 5):
            return x
        return x.contiguous(memory_format=torch.channels_last if x.dim() == 4 else torch.channels_last_3d)


class WindowIndex:
    """Every training window of a list of videos: row ``(video, first frame, frame skip)``, video by video, skip by
    skip, first frame ascending. A window of ``window`` frames with skip ``k`` spans ``(window - 1) * k + 1`` frames;
    consecutive windows start ``stride`` frames apart, and no window straddles two videos."""

    def __init__(self, videos: Sequence[np.ndarray], window: int, stride: int = 1, skips: Sequence[int] = (1,)):
        self.videos = list(videos)
        self.window = window
        rows = []
        for video_index, frames in enumerate(self.videos):
            for skip in skips:
                span = (window - 1) * skip + 1
                starts = np.arange(0, len(frames) - span + 1, stride)
                rows.append(np.stack([np.full_like(starts, video_index), starts, np.full_like(starts, skip)], 1))
        self.rows = np.concatenate(rows) if rows else np.zeros((0, 3), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.rows)

    def gather(self, positions: np.ndarray) -> np.ndarray:
        """The windows at ``positions`` of the index, as one uint8 array (batch, window, *frame shape)."""
        return np.stack([self.videos[v][start:start + (self.window - 1) * skip + 1:skip]
                         for v, start, skip in self.rows[positions].tolist()])


def train_epochs(
    *, index: WindowIndex, step: Callable[[np.ndarray], Mapping[str, float]], model: nn.Module,
    parts: Mapping[str, Any], seed: int, epochs: int, batch_size: int, checkpoints: "TrainingCheckpoints",
    progress: "Progress", runtime: Runtime, hint: str, notes: Sequence[str] = ("loss",),
    guard_names: Mapping[str, str] | None = None, early_stop: Callable[[int, dict], None] | None = None,
    windows_per_epoch: int = 0,
) -> tuple[dict, int]:
    """Train ``model`` for ``epochs`` passes over ``index``; return the epoch log and the batches per epoch.

    Every epoch draws a permutation of the windows from a generator seeded with ``seed`` and calls ``step`` on
    each batch of ``batch_size`` windows (uint8, as ``WindowIndex.gather`` reads them) under the runtime's autocast;
    ``windows_per_epoch`` (0 = all) keeps only the first that many windows of each epoch's permutation, a fresh
    random sample each epoch. ``step`` takes its optimisation step(s) and returns its loss values as floats. The
    log gets, per name, the mean over the epoch's windows as ``<name>_per_epoch`` (in the order of the names). A
    value that is not finite stops the training, named as ``guard_names`` says (default ``{"loss": "training"}``:
    "training loss is nan"), with ``hint``. ``parts`` (model, optimisers, generators of the detector's own) are
    saved after every epoch with the order's generator, and restored from the last saved epoch under ``--resume``.
    ``early_stop(epoch, log)`` may stop the training (through ``checkpoints.stop``) before the epoch is saved.
    Progress notes name the values in ``notes``.
    """
    guard_names = guard_names or {"loss": "training"}
    order_generator = torch.Generator().manual_seed(seed)
    parts = {**parts, "order_generator": order_generator}
    per_epoch = min(windows_per_epoch or len(index), len(index))
    n_batches = math.ceil(per_epoch / batch_size)
    first_epoch, saved_log = checkpoints.restore(parts)
    log = {key: list(values) for key, values in saved_log.items()}
    model.train()
    with progress.task("train", total=epochs * n_batches) as task:
        task.advance((first_epoch - 1) * n_batches)
        for epoch in range(first_epoch, epochs + 1):
            order = torch.randperm(len(index), generator=order_generator).numpy()[:per_epoch]
            sums: dict[str, float] = {}
            for first in range(0, per_epoch, batch_size):
                positions = order[first:first + batch_size]
                with runtime.autocast():
                    values = step(index.gather(positions))
                checkpoints.check_finite(epoch, {guard_names.get(n, n): v for n, v in values.items()}, hint=hint)
                for name, value in values.items():
                    sums[name] = sums.get(name, 0.0) + value * len(positions)
                task.advance()
                task.note(f"epoch {epoch}/{epochs} " + " ".join(f"{n} {values[n]:.4g}" for n in notes))
            for name, total in sums.items():
                log.setdefault(f"{name}_per_epoch", []).append(total / per_epoch)
            task.note(f"epoch {epoch}/{epochs} mean " + " ".join(f"{n} {log[f'{n}_per_epoch'][-1]:.4g}" for n in notes))
            if early_stop is not None:
                early_stop(epoch, log)
            checkpoints.save_parts(epoch, parts, log)
    model.eval()
    return log, n_batches


def score_windows(video: "PreparedVideo", window: int, batch_size: int,
                  score_batch: Callable[[np.ndarray, int], torch.Tensor], model: nn.Module, runtime: Runtime,
                  progress: "Progress") -> np.ndarray:
    """One score per window of ``window`` frames (``len(video) - window + 1``; one for a video shorter than the
    window, padded at the front with its first frame), in batches of ``batch_size`` windows.

    ``score_batch(frames, n)`` gets the frames of ``n`` consecutive overlapping windows (``n + window - 1`` frames,
    uint8, as the video holds them; unfold them into windows) and returns their ``n`` scores. It runs in eval mode,
    without autograd, under the runtime's autocast; it may emit maps or keep other outputs on the way.
    """
    frames = window_frames(video, window)
    n_windows = len(frames) - window + 1
    scores = np.empty(n_windows, dtype=np.float64)
    model.eval()
    with torch.inference_mode(), runtime.autocast(), progress.task("score", total=n_windows) as task:
        for first in range(0, n_windows, batch_size):
            last = min(first + batch_size, n_windows)
            scores[first:last] = score_batch(frames[first:last + window - 1], last - first).double().cpu().numpy()
            task.advance(last - first)
    return scores


# -- shared losses and building blocks --------------------------------------------------------------------------------


def pixel_bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of every pixel, computed on logits (exact and stable)."""
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none")


def summed_bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy summed over all but the first dimension: one value per sample (frame or window)."""
    return pixel_bce(logits, target).flatten(1).sum(1)


def kl_to_standard_normal(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(log_var)) || N(0, I)) per sample."""
    return 0.5 * (mean.square() + log_var.exp() - 1.0 - log_var).sum(1)


def frame_encoder_layers(channels: Sequence[int], batch_norm: bool) -> list[nn.Module]:
    """The frame CNN of the skeleton detectors (AE, VAE, LSTM-VAE): two 4x4 stride-2 convolutions (side -> side/4)
    with ``channels`` filters, each followed by batch normalisation (or nothing) and ReLU."""
    c1, c2 = channels
    return [nn.Conv2d(1, c1, 4, stride=2, padding=1), _norm(c1, batch_norm), nn.ReLU(inplace=True),
            nn.Conv2d(c1, c2, 4, stride=2, padding=1), _norm(c2, batch_norm), nn.ReLU(inplace=True)]


def frame_decoder_layers(channels: Sequence[int], batch_norm: bool) -> list[nn.Module]:
    """The mirror of ``frame_encoder_layers``: two 4x4 stride-2 transposed convolutions back to one logit per
    pixel, batch normalisation (or nothing) and ReLU between them."""
    c1, c2 = channels
    return [nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1), _norm(c1, batch_norm), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(c1, 1, 4, stride=2, padding=1)]


def _norm(channels: int, batch_norm: bool) -> nn.Module:
    return nn.BatchNorm2d(channels) if batch_norm else nn.Identity()
