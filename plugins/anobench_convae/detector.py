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
* Views: ``view="frames"`` (the paper's input) resizes frames to ``input_size``; ``view="skeleton"`` reads the
  skeleton LSTM-VAE paper's 28x28 binary skeleton maps (``industrial``, ``synthetic-industrial``) at their own size: the
  network is then built for 28x28 and ``input_size`` is not used, because resizing a binary map would only blur it. Any
  preset works with either view (``--set view=skeleton``); the paper's 11x11 stride-4 first layer still fits 28.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from anobench_convae.model import ConvAENet
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

OPTIMIZERS = ("adagrad", "adam", "sgd")
# Settings that shape the network or its input; a checkpoint only fits a detector built with the same ones.
_ARCHITECTURE_FIELDS = ("view", "input_size", "window", "channels", "kernel_sizes", "first_stride", "subtract_mean")


@dataclass(frozen=True)
class Config(ViewSettings):
    """Conv-AE settings. The defaults are the paper's (Hasan et al., CVPR 2016, Sec. 3.2 and 4)."""

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
    #: Training windows drawn per epoch, at random without replacement and anew each epoch (0 = every window):
    #: bounds an epoch's cost on large datasets (the standard preset's budget) and changes nothing on small ones.
    windows_per_epoch: int = 0
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

    def __post_init__(self):
        super().__post_init__()
        require_at_least(self, 1, "window", "first_stride", "train_stride", "epochs", "batch_size", "score_batch_size")
        for name in ("channels", "kernel_sizes"):
            values = getattr(self, name)
            if len(values) != 3 or any(v < 1 for v in values):
                raise ValueError(f"{name} must be three positive integers, not {values}")
        if any(k % 2 == 0 for k in self.kernel_sizes[1:]):
            raise ValueError(f"kernel_sizes[1:] must be odd (they keep the map size), not {self.kernel_sizes}")
        require_choice(self, "optimizer", OPTIMIZERS)
        if not self.temporal_strides or any(s < 1 for s in self.temporal_strides):
            raise ValueError(f"temporal_strides must be positive integers, not {self.temporal_strides}")
        require_at_least(self, 0, "windows_per_epoch")
        require_finite(self, "lr")
        require_finite(self, "weight_decay", positive=False)
        after_conv1 = (self.side - self.kernel_sizes[0]) // self.first_stride + 1
        if self.side < self.kernel_sizes[0] or after_conv1 // 4 < 1:
            raise ValueError(
                f"{'input_size ' + str(self.side) if self.view == 'frames' else 'the 28x28 skeleton maps'} "
                f"is too small for kernel {self.kernel_sizes[0]} and stride "
                f"{self.first_stride}: the encoder needs a map of at least 4x4 after the first convolution"
            )


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
        # Real footage within 1 h of 2-core training for Avenue's 15,328 frames (12,000 windows an epoch there): the
        # paper's layer plan, T = 10 and frame skips 1, 2, 3 at 128x128 with a quarter of its filters; the choices
        # and the runs that made them are in docs/conv-ae.md.
        "standard": {
            "input_size": 128, "window": 10, "channels": (128, 64, 32), "kernel_sizes": (11, 5, 3),
            "first_stride": 4, "temporal_strides": (1, 2, 3), "train_stride": 2, "epochs": 8,
            "windows_per_epoch": 12000, "batch_size": 32, "optimizer": "adam", "lr": 0.001, "weight_decay": 0.0,
        },
    }
    version = "1"
    supports_resume = True
    test_settings = {"input_size": 32, "window": 4, "channels": (8, 8, 4), "kernel_sizes": (5, 3, 3),
                     "first_stride": 2, "temporal_strides": (1,), "epochs": 2, "batch_size": 16,
                     "optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0}
    # windows_per_epoch came after the published runs; 0 trains exactly as before, so they keep their ids.
    neutral_settings = {**TORCH_NEUTRAL_SETTINGS, "windows_per_epoch": 0}

    def __init__(self, config: Config, device: str = "cpu", seed: int = 0):
        super().__init__(config, device, seed)
        self.runtime = Runtime(config, device)
        self.model = self._build_model(config)

    def _build_model(self, config: Config) -> ConvAENet:
        model = ConvAENet(config)
        model.reset_parameters(torch.Generator().manual_seed(self.seed))
        return self.runtime.prepare(model)

    @property
    def input_spec(self) -> InputSpec:
        size = self.config.side
        return InputSpec(view=self.config.view, height=size, width=size, channels=1, window=self.config.window)

    # -- data ----------------------------------------------------------------------------------------------------

    def _to_input(self, stacks: np.ndarray) -> torch.Tensor:
        """uint8 (batch, window, h, w) -> float32 on the device, scaled to [0, 1] and mean-subtracted."""
        # Slices of a read-only memmap come through unchanged; torch wants arrays it may write to.
        x = torch.from_numpy(np.require(stacks, requirements=["C", "W"])).to(self.device).float().div_(255.0)
        return self.runtime.layout(x.sub_(self.model.mean_frame))

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
        index = WindowIndex([video.frames for video in train], cfg.window, cfg.train_stride, cfg.temporal_strides)
        if len(index) == 0:
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

        def step(windows: np.ndarray) -> dict[str, float]:
            x = self._to_input(windows[:, :, 0])
            # The paper's objective: half the squared error of a window, averaged over the batch.
            loss = 0.5 * (self.model(x) - x).square().sum(dim=(1, 2, 3)).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            return {"loss": loss.item()}

        log, n_batches = train_epochs(
            index=index, step=step, model=self.model, parts={"model": self.model, "optimizer": optimizer},
            seed=self.seed, epochs=cfg.epochs, batch_size=cfg.batch_size, windows_per_epoch=cfg.windows_per_epoch,
            checkpoints=self.checkpoints, progress=progress, runtime=self.runtime,
            guard_names={"loss": "reconstruction"},
            hint=f"lower the detector setting lr (now {cfg.lr:g}) and run again")
        return {
            "loss_per_epoch": log["loss_per_epoch"],
            "loss": "0.5 * sum of squared errors per window (pixels in [0, 1]), mean over windows",
            "n_train_windows": int(len(index)),
            "n_windows_per_epoch": min(cfg.windows_per_epoch or len(index), len(index)),
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

        def score_batch(frames: np.ndarray, n: int) -> torch.Tensor:
            # One read covers the batch's windows, which overlap; unfold makes them views of it.
            chunk = self._to_input(np.ascontiguousarray(frames[:, 0])[None])[0]
            x = self.runtime.layout(chunk.unfold(0, window, 1).permute(0, 3, 1, 2).contiguous())
            squared = (self.model(x)[:, -1] - x[:, -1]).square()
            self.emit_maps(squared)
            return squared.sum(dim=(1, 2))

        return score_windows(video, window, self.config.score_batch_size, score_batch, self.model, self.runtime,
                             progress)
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
