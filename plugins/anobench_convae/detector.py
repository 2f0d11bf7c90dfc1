"""Conv-AE: the fully convolutional autoencoder of Hasan et al., "Learning Temporal Regularity in Video
Sequences" (CVPR 2016), trained on normal footage and scored by reconstruction error.

The network reads a stack of ``window`` consecutive grayscale frames as input channels (the paper's T = 10
"temporal cuboid"), encodes it with three convolutions and two max-poolings, and decodes it with the mirrored
deconvolutions and switch-based max-unpoolings back to the same stack. Frames it cannot reconstruct are irregular.

Where this implementation had to choose (the paper is silent, or we follow a convention of this project):

* Decoder: the exact mirror of the encoder. Deconvolution ``k`` inverts convolution ``k`` (same kernel, stride and
  padding, channels swapped) and each unpooling reuses the switches (argmax positions) of the pooling it mirrors,
  as in the deconvolution networks the paper builds on. No learned upsampling, no batch normalisation.
* tanh after every layer, the output layer included: inputs are mean-subtracted, so targets lie in [-1, 1].
* Input normalisation: pixels scaled to [0, 1], then the per-pixel mean of all training frames is subtracted
  (the paper's "global mean image"); ``subtract_mean=False`` turns it off.
* Objective: the paper's ``1/(2N) sum_i ||X_i - f(X_i)||^2`` (half the sum of squared errors of a window,
  averaged over the batch) plus L2 weight decay through the optimiser. ``loss_per_epoch`` reports that objective
  without the decay term.
* Xavier (Glorot) uniform initialisation of weights, zero biases.
* Temporal augmentation: the paper also trains on windows that skip frames (strides 1, 2 and 3); see
  ``temporal_strides``. Scoring always uses consecutive frames.
* Epochs and weight decay are not given in the paper; the ``paper`` preset's values for them are our choice.
* Views: ``view="frames"`` (the paper's input) resizes frames to ``input_size``; ``view="skeleton"`` reads seed
  002's 28x28 binary skeleton maps (``industrial``, ``synthetic-industrial``) at their own size: the network is
  then built for 28x28 and ``input_size`` is not used, because resizing a binary map would only blur it. Any
  preset works with either view (``--set view=skeleton``); the paper's 11x11 stride-4 first layer still fits 28.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from bench_core.checkpoint import load_model, save_model
from bench_core.detector import Detector, InputSpec
from bench_core.errors import DataError
from bench_core.views import check_frames, check_view, view_side, window_frames

if TYPE_CHECKING:
    from bench_core.progress import Progress
    from bench_core.views import PreparedVideo

OPTIMIZERS = ("adagrad", "adam", "sgd")
# Settings that shape the network or its input; a checkpoint only fits a detector built with the same ones.
_ARCHITECTURE_FIELDS = ("view", "input_size", "window", "channels", "kernel_sizes", "first_stride", "subtract_mean")


@dataclass(frozen=True)
class Config:
    """Conv-AE settings. The defaults are the paper's (Hasan et al., CVPR 2016, Sec. 3.2 and 4)."""

    #: Which view of the dataset to read: 'frames' (video frames, the paper's input) or 'skeleton' (seed 002's
    #: 28x28 skeleton maps, read at 28x28 whatever input_size says).
    view: str = "frames"
    #: Side of the square grayscale input in pixels for the frames view; the paper resizes frames to 227x227.
    input_size: int = 227
    #: Consecutive frames stacked as input channels (the paper's T).
    window: int = 10
    #: Filters of the three encoder convolutions (the decoder mirrors them).
    channels: tuple[int, ...] = (512, 256, 128)
    #: Kernel sides of the three encoder convolutions.
    kernel_sizes: tuple[int, ...] = (11, 5, 3)
    #: Stride of the first convolution (the other two use stride 1 with 'same' padding).
    first_stride: int = 4
    #: Subtract the per-pixel mean of the training frames from every input frame (the paper's normalisation).
    subtract_mean: bool = True
    #: Frame skips used to build training windows: 1 is consecutive frames; the paper adds 2 and 3.
    temporal_strides: tuple[int, ...] = (1, 2, 3)
    #: Frames between the starts of consecutive training windows (1 uses every window).
    train_stride: int = 1
    #: Passes over the training windows. The paper does not report it; 20 is our choice.
    epochs: int = 20
    #: Training windows per optimiser step.
    batch_size: int = 32
    #: Windows per forward pass when scoring; changes memory use, not the scores' meaning.
    score_batch_size: int = 64
    #: Learning rate (the paper uses AdaGrad at 0.01).
    lr: float = 0.01
    #: 'adagrad' (the paper's), 'adam' or 'sgd' (with momentum 0.9).
    optimizer: str = "adagrad"
    #: L2 penalty on the weights, applied by the optimiser. The paper uses one but gives no value; 5e-4 is ours.
    weight_decay: float = 5e-4

    @property
    def side(self) -> int:
        """The side of the network's input: ``input_size`` for frames, the maps' own 28 for skeleton maps."""
        return view_side(self.view, self.input_size)

    def __post_init__(self):
        check_view(self.view)
        if self.window < 1:
            raise ValueError(f"window must be >= 1, not {self.window}")
        for name in ("channels", "kernel_sizes"):
            values = getattr(self, name)
            if len(values) != 3 or any(v < 1 for v in values):
                raise ValueError(f"{name} must be three positive integers, not {values}")
        if any(k % 2 == 0 for k in self.kernel_sizes[1:]):
            raise ValueError(f"kernel_sizes[1:] must be odd (they keep the map size), not {self.kernel_sizes}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {self.optimizer!r}")
        if not self.temporal_strides or any(s < 1 for s in self.temporal_strides):
            raise ValueError(f"temporal_strides must be positive integers, not {self.temporal_strides}")
        for name in ("first_stride", "train_stride", "epochs", "batch_size", "score_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, not {getattr(self, name)}")
        if not (0 < self.lr < math.inf) or not (0 <= self.weight_decay < math.inf):
            raise ValueError(f"lr must be a finite number > 0 and weight_decay one >= 0, not {self.lr}, "
                             f"{self.weight_decay}")
        after_conv1 = (self.side - self.kernel_sizes[0]) // self.first_stride + 1
        if self.side < self.kernel_sizes[0] or after_conv1 // 4 < 1:
            raise ValueError(
                f"{'input_size ' + str(self.side) if self.view == 'frames' else 'the 28x28 skeleton maps'} "
                f"is too small for kernel {self.kernel_sizes[0]} and stride "
                f"{self.first_stride}: the encoder needs a map of at least 4x4 after the first convolution"
            )


class ConvAENet(nn.Module):
    """Encoder conv-pool-conv-pool-conv, decoder deconv-unpool-deconv-unpool-deconv, tanh after every layer.

    With the paper's settings: 10x227x227 -> 512x55x55 -> 512x27x27 -> 256x27x27 -> 256x13x13 -> 128x13x13,
    and back through the same sizes to 10x227x227.
    """

    def __init__(self, config: Config):
        super().__init__()
        c1, c2, c3 = config.channels
        k1, k2, k3 = config.kernel_sizes
        self.conv1 = nn.Conv2d(config.window, c1, k1, stride=config.first_stride)
        self.conv2 = nn.Conv2d(c1, c2, k2, padding=k2 // 2)
        self.conv3 = nn.Conv2d(c2, c3, k3, padding=k3 // 2)
        self.pool = nn.MaxPool2d(2, stride=2, return_indices=True)
        self.unpool = nn.MaxUnpool2d(2, stride=2)
        self.deconv3 = nn.ConvTranspose2d(c3, c2, k3, padding=k3 // 2)
        self.deconv2 = nn.ConvTranspose2d(c2, c1, k2, padding=k2 // 2)
        self.deconv1 = nn.ConvTranspose2d(c1, config.window, k1, stride=config.first_stride)
        # Part of the state so that a checkpoint carries the normalisation it was trained with.
        self.register_buffer("mean_frame", torch.zeros(config.side, config.side))

    def reset_parameters(self, generator: torch.Generator) -> None:
        for layer in (self.conv1, self.conv2, self.conv3, self.deconv3, self.deconv2, self.deconv1):
            nn.init.xavier_uniform_(layer.weight, generator=generator)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h1 = torch.tanh(self.conv1(x))
        p1, switches1 = self.pool(h1)
        h2 = torch.tanh(self.conv2(p1))
        p2, switches2 = self.pool(h2)
        code = torch.tanh(self.conv3(p2))
        d3 = torch.tanh(self.deconv3(code))
        # Pooling floors odd sizes (55 -> 27); output_size restores the exact pre-pooling size.
        d2 = torch.tanh(self.deconv2(self.unpool(d3, switches2, output_size=h2.shape[-2:])))
        u1 = self.unpool(d2, switches1, output_size=h1.shape[-2:])
        # A strided transposed convolution can reach several sizes; ask for the input's.
        return torch.tanh(self.deconv1(u1, output_size=x.shape[-2:]))


class ConvAE(Detector):
    """Hasan et al. (CVPR 2016) Conv-AE. Score of a window: squared reconstruction error of its last frame."""

    Config = Config
    presets = {
        "paper": {
            "input_size": 227, "window": 10, "channels": (512, 256, 128), "kernel_sizes": (11, 5, 3),
            "first_stride": 4, "subtract_mean": True, "temporal_strides": (1, 2, 3), "batch_size": 32,
            "optimizer": "adagrad", "lr": 0.01,
        },
        # Same layer plan at 64x64 with narrow layers: 27 s of training on 1,964 windows (4 videos of 500 frames)
        # and 1 s to score 1,300 frames, on 2 CPU cores. Adam, because AdaGrad learns too slowly in 6 epochs.
        "cpu": {
            "input_size": 64, "channels": (64, 32, 16), "kernel_sizes": (5, 3, 3), "first_stride": 2,
            "temporal_strides": (1,), "epochs": 6, "batch_size": 32, "optimizer": "adam", "lr": 0.001,
            "weight_decay": 0.0,
        },
    }
    version = "1"
    supports_resume = True
    test_settings = {"input_size": 32, "window": 4, "channels": (8, 8, 4), "kernel_sizes": (5, 3, 3),
                     "first_stride": 2, "temporal_strides": (1,), "epochs": 2, "batch_size": 16,
                     "optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0}

    def __init__(self, config: Config, device: str = "cpu", seed: int = 0):
        super().__init__(config, device, seed)
        self.model = self._build_model(config)

    def _build_model(self, config: Config) -> ConvAENet:
        model = ConvAENet(config)
        model.reset_parameters(torch.Generator().manual_seed(self.seed))
        return model.to(self.device)

    @property
    def input_spec(self) -> InputSpec:
        size = self.config.side
        return InputSpec(view=self.config.view, height=size, width=size, channels=1, window=self.config.window)

    # -- data ----------------------------------------------------------------------------------------------------

    def _to_input(self, stacks: np.ndarray) -> torch.Tensor:
        """uint8 (batch, window, h, w) -> float32 on the device, scaled to [0, 1] and mean-subtracted."""
        # Slices of a read-only memmap come through unchanged; torch wants arrays it may write to.
        x = torch.from_numpy(np.require(stacks, requirements=["C", "W"])).to(self.device).float().div_(255.0)
        return x.sub_(self.model.mean_frame)

    def _training_windows(self, train: list["PreparedVideo"]) -> np.ndarray:
        """(video index, first frame, frame skip) of every training window; frames are read per batch."""
        rows = []
        for video_index, video in enumerate(train):
            for skip in self.config.temporal_strides:
                span = (self.config.window - 1) * skip + 1
                starts = np.arange(0, len(video) - span + 1, self.config.train_stride)
                rows.append(np.stack([np.full_like(starts, video_index), starts, np.full_like(starts, skip)], 1))
        return np.concatenate(rows) if rows else np.zeros((0, 3), dtype=np.int64)

    def _gather(self, train: list["PreparedVideo"], windows: np.ndarray) -> np.ndarray:
        span = self.config.window
        return np.stack([
            train[v].frames[start:start + (span - 1) * skip + 1:skip, 0] for v, start, skip in windows.tolist()
        ])

    def _mean_frame(self, train: list["PreparedVideo"], chunk: int = 256) -> torch.Tensor:
        total = np.zeros((self.config.side,) * 2, dtype=np.float64)
        count = 0
        for video in train:
            for start in range(0, len(video), chunk):
                frames = np.asarray(video.frames[start:start + chunk, 0], dtype=np.float64)
                total += frames.sum(0)
                count += len(frames)
        return torch.from_numpy(total / (255.0 * count)).float()

    # -- training ------------------------------------------------------------------------------------------------

    def _optimizer(self) -> torch.optim.Optimizer:
        params, cfg = self.model.parameters(), self.config
        if cfg.optimizer == "adagrad":
            return torch.optim.Adagrad(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        if cfg.optimizer == "adam":
            return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)

    def fit(self, train: list["PreparedVideo"], progress: "Progress") -> dict:
        """Minimise the reconstruction error of every training window, in an order fixed by ``seed``."""
        cfg = self.config
        for video in train:
            check_frames(video, self.input_spec, "conv-ae")
        windows = self._training_windows(train)
        if len(windows) == 0:
            raise DataError(
                f"no training video has the {cfg.window} frames conv-ae needs for one window",
                hint="use a dataset with longer training videos, or lower the detector setting window",
            )
        with torch.no_grad():
            if cfg.subtract_mean:
                self.model.mean_frame.copy_(self._mean_frame(train))
            else:
                self.model.mean_frame.zero_()
        optimizer = self._optimizer()
        order_generator = torch.Generator().manual_seed(self.seed)
        n_batches = math.ceil(len(windows) / cfg.batch_size)
        parts = {"model": self.model, "optimizer": optimizer, "order_generator": order_generator}
        first_epoch, saved_log = self.checkpoints.restore(parts)
        loss_per_epoch: list[float] = saved_log.get("loss_per_epoch", [])
        self.model.train()
        with progress.task("train", total=cfg.epochs * n_batches) as task:
            task.advance((first_epoch - 1) * n_batches)
            for epoch in range(first_epoch, cfg.epochs + 1):
                order = torch.randperm(len(windows), generator=order_generator).numpy()
                loss_sum = 0.0
                for first in range(0, len(windows), cfg.batch_size):
                    x = self._to_input(self._gather(train, windows[order[first:first + cfg.batch_size]]))
                    # The paper's objective: half the squared error of a window, averaged over the batch.
                    loss = 0.5 * (self.model(x) - x).square().sum(dim=(1, 2, 3)).mean()
                    loss_value = loss.item()
                    self.checkpoints.check_finite(
                        epoch, {"reconstruction": loss_value},
                        hint=f"lower the detector setting lr (now {cfg.lr:g}) and run again")
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    loss_sum += loss_value * len(x)
                    task.advance()
                    task.note(f"epoch {epoch}/{cfg.epochs} loss {loss_value:.4g}")
                loss_per_epoch.append(loss_sum / len(windows))
                task.note(f"epoch {epoch}/{cfg.epochs} mean loss {loss_per_epoch[-1]:.4g}")
                self.checkpoints.save_parts(epoch, parts, {"loss_per_epoch": loss_per_epoch})
        self.model.eval()
        return {
            "loss_per_epoch": loss_per_epoch,
            "loss": "0.5 * sum of squared errors per window (pixels in [0, 1]), mean over windows",
            "n_train_windows": int(len(windows)),
            "n_batches_per_epoch": n_batches,
            "n_parameters": sum(p.numel() for p in self.model.parameters()),
        }

    # -- scoring -------------------------------------------------------------------------------------------------

    def score(self, video: "PreparedVideo", progress: "Progress") -> np.ndarray:
        """Per window, the sum of squared reconstruction errors over the pixels of its last frame.

        Value ``i`` scores the window of frames ``i .. i + window - 1`` and so stands for frame ``i + window - 1``:
        every frame is judged by the one window that ends on it (this project's rule). Hasan et al. sum the
        per-pixel errors of frame ``t`` into ``e(t)`` and report the regularity ``s(t) = 1 - (e(t) - min e) /
        max e`` per video; the harness applies min-max normalisation per video later, so the raw error is
        returned here as the anomaly score (high error = low regularity).

        A video shorter than the window is padded at the front with copies of its first frame, giving one value.
        """
        check_frames(video, self.input_spec, "conv-ae")
        window = self.config.window
        frames = window_frames(video, window)
        n_windows = len(frames) - window + 1
        scores = np.empty(n_windows, dtype=np.float64)
        batch = self.config.score_batch_size
        self.model.eval()
        with torch.inference_mode(), progress.task("score", total=n_windows) as task:
            for first in range(0, n_windows, batch):
                last = min(first + batch, n_windows)
                # One read covers the batch's windows, which overlap; unfold makes them views of it.
                chunk = self._to_input(np.ascontiguousarray(frames[first:last + window - 1, 0])[None])[0]
                x = chunk.unfold(0, window, 1).permute(0, 3, 1, 2).contiguous()
                squared = (self.model(x)[:, -1] - x[:, -1]).square()
                scores[first:last] = squared.sum(dim=(1, 2)).double().cpu().numpy()
                self.emit_maps(squared)
                task.advance(last - first)
        return scores

    def provides_maps(self) -> bool:
        """On the frames view, ``score`` emits each window's per-pixel squared error of its last frame, whose sum
        is the score."""
        return self.config.view == "frames"

    # -- checkpoints ---------------------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        save_model(path, "conv-ae", self.version, self.config, self.model)

    def load(self, path: Path) -> None:
        # Checkpoints written before the view setting existed were of frames.
        load_model(path, "conv-ae", self.version, self.config, self.model, _ARCHITECTURE_FIELDS,
                   defaults={"view": "frames"})
