"""FFP: future frame prediction (Liu, Luo, Lian and Gao, "Future Frame Prediction for Anomaly Detection -- A New
Baseline", CVPR 2018), trained on normal footage and scored by how badly it predicts each frame.

A U-Net predicts frame ``t`` from frames ``t-4 .. t-1`` (stacked as channels); training minimises
``lambda_int * L_int + lambda_gd * L_gd + lambda_adv * L_adv`` (intensity, gradient difference and the least
squares adversarial term of a small PatchGAN, which ``adversarial=false`` switches off). A window of 5 frames is
scored by the PSNR of the prediction of its last frame; the score is ``-PSNR``, so the harness's per-video min-max
normalisation gives the paper's regular score ``1 - S(t)`` with ``S(t)`` the normalised PSNR.

Left out: the paper's optical-flow loss L_op, which compares FlowNet flows of prediction and target and so needs a
pretrained FlowNet; anobench never downloads anything, so it is omitted, and every run record says so
(``omitted_losses`` in the training log). docs/ffp.md gives every choice and its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from bench_core.checkpoint import load_model, save_model
from bench_core.config import require_at_least, require_finite
from bench_core.detector import Detector, InputSpec
from bench_core.errors import DataError
from bench_core.torch_layer import (TORCH_NEUTRAL_SETTINGS, Runtime, TorchSettings, WindowIndex, score_windows,
                                    train_epochs)
from bench_core.views import check_frames

from anobench_ffp.model import (PatchDiscriminator, UNetGenerator, discriminator_lsgan_loss, generator_lsgan_loss,
                                gradient_loss, intensity_loss, psnr)

if TYPE_CHECKING:
    from bench_core.progress import Progress
    from bench_core.views import PreparedVideo

# Settings that shape the generator or its input; a checkpoint only fits a detector built with the same ones.
_ARCHITECTURE_FIELDS = ("input_size", "image_channels", "n_inputs", "widths")
OMITTED_LOSSES = ["optical_flow: needs a pretrained FlowNet, which anobench never downloads"]


@dataclass(frozen=True)
class Config(TorchSettings):
    """FFP settings. The defaults are the ``paper`` preset's (Liu et al., CVPR 2018, Sec. 4 and their code)."""

    #: Side of the square input in pixels; the paper resizes every frame to 256x256. A multiple of
    #: 2 ** (len(widths) - 1), since each U-Net level after the first halves it.
    input_size: int = 256
    #: 3 reads RGB frames (the paper's input), 1 grayscale (grey datasets give the same grey in all three).
    image_channels: int = 3
    #: Past frames the U-Net sees to predict the next one (the paper's t = 4); a window is n_inputs + 1 frames.
    n_inputs: int = 4
    #: Output channels of each U-Net level, top to bottom (the paper's code: 64, 128, 256, 512).
    widths: tuple[int, ...] = (64, 128, 256, 512)
    #: Train against a PatchGAN discriminator (the paper's L_adv, least squares GAN); false trains the U-Net on
    #: the intensity and gradient losses alone.
    adversarial: bool = True
    #: Output channels of the PatchGAN's 4x4 convolutions (the paper's code: 128, 256, 512, 512).
    d_widths: tuple[int, ...] = (128, 256, 512, 512)
    #: Weight of the intensity loss L_int, the mean squared error of the prediction (the paper's 1).
    lambda_int: float = 1.0
    #: Weight of the gradient difference loss L_gd (the paper's 1).
    lambda_gd: float = 1.0
    #: Weight of the generator's adversarial loss L_adv (the paper's 0.05).
    lambda_adv: float = 0.05
    #: Adam learning rate of the U-Net (the paper and its code: 2e-4 for colour footage, 1e-4 for grey).
    g_lr: float = 2e-4
    #: Adam learning rate of the discriminator (the paper: 2e-5 for colour footage, 1e-5 for grey).
    d_lr: float = 2e-5
    #: Passes over the training windows (the paper gives iterations, not epochs; 20 is our choice, see docs/ffp.md).
    epochs: int = 20
    #: Training windows drawn per epoch, at random without replacement and anew each epoch (0 = every window):
    #: consecutive windows of a video differ little, so a budget samples them instead of stepping over them.
    windows_per_epoch: int = 0
    #: Training windows per optimiser step (the paper's 4).
    batch_size: int = 4
    #: Windows per forward pass when scoring; changes memory use, not the scores.
    score_batch_size: int = 32

    @property
    def window(self) -> int:
        return self.n_inputs + 1

    def __post_init__(self):
        super().__post_init__()
        if self.image_channels not in (1, 3):
            raise ValueError(f"image_channels must be 1 (grey) or 3 (RGB), not {self.image_channels}")
        for name in ("widths", "d_widths"):
            values = getattr(self, name)
            if not values or any(v < 1 for v in values):
                raise ValueError(f"{name} must be positive integers, not {values}")
        require_at_least(self, 1, "n_inputs", "epochs", "batch_size", "score_batch_size")
        require_at_least(self, 0, "windows_per_epoch")
        factor = 2 ** (len(self.widths) - 1)
        if self.input_size < factor or self.input_size % factor:
            raise ValueError(f"input_size {self.input_size} must be a multiple of {factor}: each of the "
                             f"{len(self.widths) - 1} U-Net levels after the first halves it")
        if self.adversarial and _patch_side(self.input_size, len(self.d_widths)) < 1:
            raise ValueError(f"input_size {self.input_size} is too small for a discriminator of {len(self.d_widths)} "
                             "layers: use fewer d_widths or a larger input")
        require_finite(self, "lambda_int", "lambda_gd", "lambda_adv", positive=False)
        if self.lambda_int == 0 and self.lambda_gd == 0:
            raise ValueError("lambda_int and lambda_gd are both 0: the U-Net would learn nothing about the frame")
        require_finite(self, "g_lr", "d_lr")


def _patch_side(size: int, layers: int) -> int:
    """Side of the PatchGAN's output map for an input of ``size``: 4x4 convolutions with padding 1, stride 2 but the
    last hidden one (stride 1), then the 4x4 stride-1 output convolution."""
    for index in range(layers):
        stride = 1 if index == layers - 1 and layers > 1 else 2
        size = (size + 2 - 4) // stride + 1
    return size - 1


class FFP(Detector):
    """Future frame prediction (Liu et al., CVPR 2018). Score of a window: -PSNR of the prediction of its last frame."""

    Config = Config
    presets = {
        # As published: 256x256 RGB, U-Net 64-512, PatchGAN 128-512, batch 4, Adam at 2e-4 / 2e-5.
        "paper": {
            "input_size": 256, "image_channels": 3, "widths": (64, 128, 256, 512), "adversarial": True,
            "d_widths": (128, 256, 512, 512), "g_lr": 2e-4, "d_lr": 2e-5, "epochs": 20, "batch_size": 4,
        },
        # The leaderboard preset: 128x128 grey (a 20 px cyclist in a 240 px frame keeps ~11 px), the widths of the
        # cpu preset's predictor with a fourth level, 5 passes over every training window: <= 0.18 s of one core per
        # training frame (measured), within the 0.235 s of 2-core time per frame of issue 11's budget (docs/ffp.md).
        "standard": {
            "input_size": 128, "image_channels": 1, "widths": (8, 16, 32, 64), "adversarial": True,
            "d_widths": (8, 16, 32), "g_lr": 1e-3, "d_lr": 1e-4, "epochs": 5, "batch_size": 8,
            "channels_last": True,
        },
        # Smoke-test sized: 64x64 grey, widths 8-32, 4 epochs: about a minute on synthetic-avenue (docs/ffp.md).
        "cpu": {
            "input_size": 64, "image_channels": 1, "widths": (8, 16, 32), "adversarial": True, "d_widths": (8, 16),
            "g_lr": 1e-3, "d_lr": 1e-4, "epochs": 4, "batch_size": 8,
        },
    }
    version = "1"
    supports_resume = True
    #: A training of about a second, for the detector contract checks (bench_core.testing on main).
    test_settings = {"input_size": 16, "widths": (4, 8), "d_widths": (4, 8), "epochs": 2, "batch_size": 8,
                     "g_lr": 1e-3, "d_lr": 1e-4}
    neutral_settings = TORCH_NEUTRAL_SETTINGS

    def __init__(self, config: Config, device: str = "cpu", seed: int = 0):
        super().__init__(config, device, seed)
        self.runtime = Runtime(config, device)
        # Layer initialisation draws from torch's global RNG; drawing it from the seed alone makes the networks
        # independent of what ran before.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            c = config.image_channels
            self.generator = self.runtime.prepare(UNetGenerator(c * config.n_inputs, c, config.widths))
            self.discriminator = (self.runtime.prepare(PatchDiscriminator(c, config.d_widths))
                                  if config.adversarial else None)

    @property
    def input_spec(self) -> InputSpec:
        size = self.config.input_size
        return InputSpec(view="frames", height=size, width=size, channels=self.config.image_channels,
                         window=self.config.window)

    # -- data ----------------------------------------------------------------------------------------------------

    def _to_input(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 frames (..., c, h, w) -> float32 on the device in [-1, 1]."""
        # Slices of a read-only memmap come through unchanged; torch wants arrays it may write to.
        x = torch.from_numpy(np.require(frames, requirements=["C", "W"])).to(self.device).float()
        return x.div_(127.5).sub_(1.0)

    def _split(self, windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Windows (batch, window, c, h, w) -> (past frames stacked as channels (batch, n_inputs * c, h, w), the
        target frame (batch, c, h, w)), in the runtime's memory format."""
        return self.runtime.layout(windows[:, :-1].flatten(1, 2)), self.runtime.layout(windows[:, -1].contiguous())

    # -- training ------------------------------------------------------------------------------------------------

    def generator_losses(self, past: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """The prediction and each weighted term of the U-Net's objective (a term of weight 0 is not computed)."""
        cfg = self.config
        prediction = self.generator(past)
        losses = {}
        if cfg.lambda_int > 0:
            losses["intensity"] = cfg.lambda_int * intensity_loss(prediction, target)
        if cfg.lambda_gd > 0:
            losses["gradient"] = cfg.lambda_gd * gradient_loss(prediction, target)
        if self.discriminator is not None and cfg.lambda_adv > 0:
            losses["adversarial"] = cfg.lambda_adv * generator_lsgan_loss(self.discriminator(prediction))
        return prediction, losses

    def fit(self, train: list["PreparedVideo"], progress: "Progress") -> dict:
        """Per batch, one U-Net step on its weighted losses, then (adversarial) one discriminator step on the
        batch's real frames and the U-Net's predictions (the paper's code steps the discriminator first, on the
        batch before; reusing the prediction saves a forward pass)."""
        cfg = self.config
        for video in train:
            check_frames(video, self.input_spec, "ffp")
        index = WindowIndex([video.frames for video in train], cfg.window)
        if len(index) == 0:
            raise DataError(
                f"no training video has the {cfg.window} frames ffp needs for one window",
                hint="use a dataset with longer training videos, or lower the detector setting n_inputs",
            )
        g_optimizer = torch.optim.Adam(self.generator.parameters(), lr=cfg.g_lr)
        networks = nn.ModuleDict({"generator": self.generator})
        parts = {"generator": self.generator, "g_optimizer": g_optimizer}
        d_optimizer = None
        if self.discriminator is not None:
            d_optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=cfg.d_lr)
            networks["discriminator"] = self.discriminator
            parts.update(discriminator=self.discriminator, d_optimizer=d_optimizer)

        def step(windows: np.ndarray) -> dict[str, float]:
            past, target = self._split(self._to_input(windows))
            if self.discriminator is not None:
                # The discriminator's weights get no gradient from the U-Net's step: it is not theirs.
                self.discriminator.requires_grad_(False)
            prediction, terms = self.generator_losses(past, target)
            g_loss = sum(terms.values())
            g_optimizer.zero_grad(set_to_none=True)
            g_loss.backward()
            g_optimizer.step()
            values = {"g_loss": g_loss.item(), **{name: t.item() for name, t in terms.items()}}
            if self.discriminator is not None:
                self.discriminator.requires_grad_(True)
                d_loss = discriminator_lsgan_loss(self.discriminator(target), self.discriminator(prediction.detach()))
                d_optimizer.zero_grad(set_to_none=True)
                d_loss.backward()
                d_optimizer.step()
                values["d_loss"] = d_loss.item()
            return values

        log, n_batches = train_epochs(
            index=index, step=step, model=networks, parts=parts, seed=self.seed, epochs=cfg.epochs,
            batch_size=cfg.batch_size, windows_per_epoch=cfg.windows_per_epoch, checkpoints=self.checkpoints,
            progress=progress, runtime=self.runtime,
            notes=("g_loss", "d_loss") if self.discriminator is not None else ("g_loss",),
            guard_names={"g_loss": "generator", "d_loss": "discriminator"},
            hint=f"lower the detector settings g_lr (now {cfg.g_lr:g}) and d_lr (now {cfg.d_lr:g}), and run again")
        return {
            **log,
            "losses": ("per window mean over the epoch of each weighted term: intensity = lambda_int * mean squared "
                       "error, gradient = lambda_gd * gradient difference loss (pixels in [-1, 1]), adversarial = "
                       "lambda_adv * least squares GAN loss of the U-Net; g_loss is their sum; d_loss is the "
                       "PatchGAN's least squares loss"),
            "omitted_losses": list(OMITTED_LOSSES),
            "n_train_windows": int(len(index)),
            "n_windows_per_epoch": min(cfg.windows_per_epoch or len(index), len(index)),
            "n_batches_per_epoch": n_batches,
            "n_parameters": {
                "generator": sum(p.numel() for p in self.generator.parameters()),
                "discriminator": sum(p.numel() for p in self.discriminator.parameters())
                if self.discriminator is not None else 0,
            },
        }

    # -- scoring -------------------------------------------------------------------------------------------------

    def score(self, video: "PreparedVideo", progress: "Progress") -> np.ndarray:
        """Per window, minus the PSNR (dB, pixels in [0, 1]) of the U-Net's prediction of its last frame.

        Value ``i`` predicts frame ``i + n_inputs`` from frames ``i .. i + n_inputs - 1`` and stands for that
        frame. A video shorter than the window is padded at the front with copies of its first frame, giving one
        value.
        """
        check_frames(video, self.input_spec, "ffp")
        window = self.config.window

        def score_batch(frames: np.ndarray, n: int) -> torch.Tensor:
            # One read covers the batch's overlapping windows; unfold makes them views of it.
            windows = self._to_input(frames).unfold(0, window, 1).permute(0, 4, 1, 2, 3)
            past, target = self._split(windows)
            return -psnr(self.generator(past), target)

        return score_windows(video, window, self.config.score_batch_size, score_batch, self.generator, self.runtime,
                             progress)

    # -- checkpoints ---------------------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        # Scoring needs only the U-Net; the discriminator's state lives on in the training checkpoints.
        save_model(path, "ffp", self.version, self.config, self.generator)

    def load(self, path: Path) -> None:
        load_model(path, "ffp", self.version, self.config, self.generator, _ARCHITECTURE_FIELDS)
