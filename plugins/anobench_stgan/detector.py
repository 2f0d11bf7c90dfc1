"""STGAN: the spatio-temporal GAN of the STGAN paper ("GAN を用いた動画像異常検知", an anomaly detector for
preventing industrial accidents), trained on normal footage and scored by the reconstruction error of a window's
last frame.

Three networks (Sec. 2 of the paper): an Encoder maps a window of ``T`` consecutive grayscale frames to a latent
map, a Decoder maps the latent back to the window, and a Discriminator tells real windows from decoded ones. All
three are 3D-convolutional, so every layer sees time as well as space. Training solves eq. (1):

    min_{Enc, Dec} max_{Dis}  L_recon + L_gan + L_feat + L_consist

with ``L_recon`` the L1 input-output reconstruction error, ``L_gan`` the adversarial loss (hinge, as SAGAN),
``L_feat`` feature matching on the discriminator's last hidden features (Salimans et al. 2016) and ``L_consist``
the L1 distance between the latent of the input and the latent of its reconstruction. The stabilisers are SAGAN's
(Zhang et al. 2019): spectral normalisation, a self-attention layer and TTUR. A window ``x = (xi_1 .. xi_T)`` is
scored by eq. (3), ``a(x) = ||xi_T - Dec(Enc(x))_T||_1``.

Where this implementation had to choose (the paper is silent) -- docs/stgan.md gives the reasons:

* Eq. (2) writes ``Enc(Dec(x))``, which does not type-check (Dec takes a latent, x is a window). We read it as
  ``||Enc(x) - Enc(Dec(Enc(x)))||_1``: the latent of the input against the latent of its reconstruction, as in
  GANomaly's encoder loss. Gradients flow through both latents.
* Layer plan: one 3D convolution per entry of ``channels``; the first halves height and width only, the others
  halve time too. The decoder mirrors it with transposed 3D convolutions; a 1x1x1 convolution maps to and from
  ``latent_channels``. LeakyReLU(0.2) in the encoder and discriminator, ReLU in the decoder, tanh output; pixels
  are scaled to [-1, 1]. No batch normalisation, so scores do not depend on how windows are batched.
  ``pixel_fold`` (our addition, off by default) folds r x r pixel blocks into channels before the first layer.
* Self-attention (SAGAN's block, over all time-space positions) sits in the decoder after its first upsampling and
  in the discriminator after its second convolution; ``self_attention=False`` removes both.
* Spectral normalisation wraps every convolution and linear layer of all three networks (SAGAN normalises G and
  D; our generator is Enc+Dec).
* The discriminator's score is a linear map of its last feature map averaged over positions; feature matching uses
  that feature map (batch means, squared L2 averaged over features), against the real windows' features.
* Loss weights default to GANomaly's (reconstruction 50, adversarial 1, latent 1) with feature matching 1: the
  paper sums the terms unweighted, but its L1 terms are means over pixels and would be swamped by the adversarial
  term otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from anobench_stgan.model import (  # noqa: F401 (SelfAttention3d, fold_pixels, unfold_pixels: re-exported)
    SelfAttention3d, STGANNets, discriminator_loss, feature_matching_loss, fold_pixels, generator_adversarial_loss,
    unfold_pixels)
from bench_core.checkpoint import load_model, save_model
from bench_core.config import require_at_least, require_choice, require_finite
from bench_core.detector import Detector, InputSpec
from bench_core.errors import DataError
from bench_core.torch_layer import (TORCH_NEUTRAL_SETTINGS, Runtime, ViewSettings, WindowIndex, score_windows,
                                    train_epochs)
from bench_core.views import SKELETON_MAP_SIZE, check_frames

if TYPE_CHECKING:
    from bench_core.progress import Progress
    from bench_core.views import PreparedVideo

GAN_LOSSES = ("hinge", "bce")
RECON_LOSSES = ("l1", "l2")
# Settings that shape the networks or their input; a checkpoint only fits a detector built with the same ones.
#: Collapse: a discriminator loss this low for 2 epochs while the reconstruction loss changes by less than this
#: fraction per epoch (the values seen in a collapsed run were 0.0 and 8e-5).
_COLLAPSE_D_LOSS = 1e-3
_COLLAPSE_RECON_CHANGE = 1e-3
_ARCHITECTURE_FIELDS = ("view", "input_size", "pixel_fold", "window", "channels", "latent_channels", "spectral_norm",
                        "self_attention")


@dataclass(frozen=True)
class Config(ViewSettings):
    """STGAN settings. Defaults are the ``paper`` preset's; docs/stgan.md says which come from the paper."""

    #: Side of the square grayscale input in pixels (not given in the paper; 128 is our choice for Avenue).
    input_size: int = 128
    #: Pixels folded into channels before the first layer (space-to-depth): 2 turns a 1x64x64 frame into
    #: 4x32x32, so a 64x64 input costs what 32x32 does, losslessly; the decoder unfolds its output back.
    pixel_fold: int = 1
    #: Frames per window, the paper's T (not given; 16). Must be divisible by 2 ** (len(channels) - 1).
    window: int = 16
    #: Output channels of the encoder's 3D convolutions (the decoder and discriminator mirror them).
    channels: tuple[int, ...] = (64, 128, 256, 512)
    #: Channels of the latent map the encoder outputs (its size is window / 2**(levels-1) x input / 2**levels).
    latent_channels: int = 128
    #: Weight of L_recon, the mean L1 error between input and reconstruction (GANomaly's 50).
    recon_weight: float = 50.0
    #: L_recon's error: 'l1' (mean absolute, like the score), 'l2' (mean squared), or 'auto': l1 on the frames
    #: view, l2 on the skeleton view, whose sparse binary maps trap L1 at its best constant guess, the blank map.
    #: The paper names no norm. The recorded config holds the resolved value.
    recon_loss: str = "auto"
    #: Weight of L_gan, the generator's adversarial loss.
    gan_weight: float = 1.0
    #: Weight of L_feat, feature matching on the discriminator's last hidden features (Salimans et al. 2016).
    feat_weight: float = 1.0
    #: Weight of L_consist = mean |Enc(x) - Enc(Dec(Enc(x)))| (the paper's eq. 2); 0 removes the term.
    consist_weight: float = 1.0
    #: Spectral normalisation on every convolution and linear layer of the three networks (SAGAN).
    spectral_norm: bool = True
    #: SAGAN's self-attention block in the decoder and in the discriminator.
    self_attention: bool = True
    #: Two time-scale update rule: the discriminator learns at d_lr; when False it uses g_lr like the generator.
    ttur: bool = True
    #: Adam learning rate of the encoder and decoder (SAGAN's 1e-4).
    g_lr: float = 1e-4
    #: Adam learning rate of the discriminator under TTUR (SAGAN's 4e-4).
    d_lr: float = 4e-4
    #: Adam beta1 and beta2 of both optimisers (SAGAN's 0 and 0.9).
    betas: tuple[float, ...] = (0.0, 0.9)
    #: Adversarial loss: 'hinge' (SAGAN's) or 'bce' (the original GAN's, with logits).
    gan_loss: str = "hinge"
    #: Standard deviation of Gaussian noise added to every window the discriminator sees, real or decoded, in
    #: [-1, 1] pixel units ("instance noise"; our addition, 0 = off). Binary inputs (skeleton maps) are told from a
    #: tanh output by their pixel values alone, and the game collapses; noise hides that difference.
    instance_noise: float = 0.0
    #: Frames between the starts of consecutive training windows (1 uses every window).
    train_stride: int = 1
    #: Passes over the training windows (not given in the paper; 30 is our choice).
    epochs: int = 30
    #: Training windows drawn per epoch, at random without replacement and anew each epoch (0 = every window):
    #: bounds an epoch's cost on large datasets (the standard preset's budget) and changes nothing on small ones.
    windows_per_epoch: int = 0
    #: Training windows per optimiser step.
    batch_size: int = 16
    #: Windows per forward pass when scoring; changes memory use, not the scores.
    score_batch_size: int = 32

    def __post_init__(self):
        super().__post_init__()
        if self.view == "skeleton" and self.input_size != SKELETON_MAP_SIZE:
            if self.pixel_fold != 1:
                raise ValueError(f"view=skeleton reads 28x28 maps, which pixel_fold={self.pixel_fold} does not fit: "
                                 "add --set pixel_fold=1")
            # Frozen dataclass: the recorded config then says the size the network really had.
            object.__setattr__(self, "input_size", SKELETON_MAP_SIZE)
        if not self.channels or any(c < 1 for c in self.channels):
            raise ValueError(f"channels must be positive integers, not {self.channels}")
        require_at_least(self, 1, "pixel_fold", "latent_channels", "train_stride", "epochs", "batch_size",
                         "score_batch_size")
        require_at_least(self, 0, "windows_per_epoch")
        time_factor = 2 ** (len(self.channels) - 1)
        if self.window < time_factor or self.window % time_factor:
            raise ValueError(f"window {self.window} must be a multiple of {time_factor}: each of the "
                             f"{len(self.channels) - 1} encoder layers after the first halves time")
        if self.pixel_fold >= 1 and self.input_size % self.pixel_fold:
            raise ValueError(f"input_size {self.input_size} must be a multiple of pixel_fold {self.pixel_fold}")
        if self.pixel_fold >= 1 and self.input_size // self.pixel_fold < 2 ** len(self.channels):
            raise ValueError(f"input_size {self.input_size} / pixel_fold {self.pixel_fold} is too small for "
                             f"{len(self.channels)} layers that each halve it: use at least "
                             f"{2 ** len(self.channels)} after folding")
        require_finite(self, "recon_weight", "gan_weight", "feat_weight", "consist_weight", "instance_noise",
                       positive=False)
        require_finite(self, "g_lr", "d_lr")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), not {self.betas}")
        if self.recon_loss == "auto":
            object.__setattr__(self, "recon_loss", "l2" if self.view == "skeleton" else "l1")
        require_choice(self, "recon_loss", ("auto", *RECON_LOSSES))
        require_choice(self, "gan_loss", GAN_LOSSES)


# -- detector ------------------------------------------------------------------------------------------------------


class STGAN(Detector):
    """Spatio-temporal GAN (the STGAN paper). Score of a window: L1 reconstruction error of its last frame."""

    Config = Config
    presets = {
        # Avenue at GPU scale. The paper gives the losses, stabilisers and score, no sizes; see docs/stgan.md.
        "paper": {
            "input_size": 128, "window": 16, "channels": (64, 128, 256, 512), "latent_channels": 128,
            "epochs": 30, "batch_size": 16, "train_stride": 1,
        },
        # 3 levels at 32x32, 8-frame windows, every second training window; see docs/stgan.md for the timings.
        "cpu": {
            "input_size": 32, "window": 8, "channels": (16, 32, 64), "latent_channels": 32,
            "epochs": 8, "batch_size": 16, "train_stride": 2, "g_lr": 1e-3, "d_lr": 4e-3,
        },
        # Real footage within 1 h of 2-core training for Avenue's 15,328 frames (5,000 windows an epoch there):
        # 128x128 input (4x4 pixel blocks folded into 16 channels, losslessly), every loss term and stabiliser on;
        # docs/stgan.md, "The standard preset".
        "standard": {
            "input_size": 128, "pixel_fold": 4, "window": 8, "channels": (32, 64, 128), "latent_channels": 64,
            "epochs": 12, "windows_per_epoch": 5000, "batch_size": 16, "train_stride": 2, "g_lr": 1e-3,
            "d_lr": 4e-3,
        },
    }
    version = "1"
    supports_resume = True
    test_settings = {"input_size": 16, "window": 2, "channels": (4, 8), "latent_channels": 4, "epochs": 2,
                     "batch_size": 16, "train_stride": 2, "g_lr": 1e-3, "d_lr": 4e-3}
    # Added after the published runs; 0 trains exactly as before, so those runs keep their ids.
    neutral_settings = {**TORCH_NEUTRAL_SETTINGS, "instance_noise": 0.0, "recon_loss": "l1", "windows_per_epoch": 0}

    def __init__(self, config: Config, device: str = "cpu", seed: int = 0):
        super().__init__(config, device, seed)
        self.runtime = Runtime(config, device)
        self.model = self._build_model(config)

    def _build_model(self, config: Config) -> STGANNets:
        # Layer initialisation and spectral norm's first power-iteration vectors draw from torch's global RNG;
        # drawing them from the seed alone makes the model independent of what ran before.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            model = STGANNets(config)
        return self.runtime.prepare(model)

    @property
    def input_spec(self) -> InputSpec:
        size = self.config.input_size
        return InputSpec(view=self.config.view, height=size, width=size, channels=1, window=self.config.window)

    # -- data ----------------------------------------------------------------------------------------------------

    def _to_input(self, stacks: np.ndarray) -> torch.Tensor:
        """uint8 (batch, window, h, w) -> float32 (batch, 1, window, h, w) on the device, in [-1, 1]."""
        x = torch.from_numpy(np.require(stacks, requirements=["C", "W"])).to(self.device).float()
        return self.runtime.layout(x.div_(127.5).sub_(1.0).unsqueeze(1))

    # -- training ------------------------------------------------------------------------------------------------

    def _optimizers(self) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        cfg = self.config
        d_lr = cfg.d_lr if cfg.ttur else cfg.g_lr
        betas = tuple(cfg.betas)
        return (torch.optim.Adam(self.model.generator_parameters(), lr=cfg.g_lr, betas=betas),
                torch.optim.Adam(self.model.discriminator.parameters(), lr=d_lr, betas=betas))

    def generator_losses(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each weighted term of eq. (1) for the encoder and decoder, for a batch of windows in [-1, 1].

        A term whose weight is 0 is left out (not computed), so switching it off also saves its cost.
        """
        cfg, nets = self.config, self.model
        latent = nets.encoder(x)
        recon = nets.decoder(latent)
        error = recon - x
        losses = {"recon": cfg.recon_weight * (error.abs().mean() if cfg.recon_loss == "l1" else error.square().mean())}
        if cfg.gan_weight > 0 or cfg.feat_weight > 0:
            fake_logits, fake_features = nets.discriminator(self._noisy(recon))
            if cfg.gan_weight > 0:
                losses["gan"] = cfg.gan_weight * generator_adversarial_loss(fake_logits, cfg.gan_loss)
            if cfg.feat_weight > 0:
                with torch.no_grad():
                    _, real_features = nets.discriminator(self._noisy(x))
                losses["feat"] = cfg.feat_weight * feature_matching_loss(real_features, fake_features)
        if cfg.consist_weight > 0:
            losses["consist"] = cfg.consist_weight * (latent - nets.encoder(recon)).abs().mean()
        return losses

    def _noisy(self, x: torch.Tensor) -> torch.Tensor:
        """What the discriminator sees of a window: the window itself, or with instance noise added (training)."""
        sigma = self.config.instance_noise
        return x if sigma == 0 else x + sigma * torch.randn_like(x)

    def discriminator_loss(self, x: torch.Tensor) -> torch.Tensor:
        nets = self.model
        with torch.no_grad():
            fake = nets.reconstruct(x)
        real_logits, _ = nets.discriminator(self._noisy(x))
        fake_logits, _ = nets.discriminator(self._noisy(fake))
        return discriminator_loss(real_logits, fake_logits, self.config.gan_loss)

    def fit(self, train: list["PreparedVideo"], progress: "Progress") -> dict:
        """Alternate one discriminator step and one encoder-decoder step per batch, in an order fixed by seed."""
        cfg = self.config
        for video in train:
            check_frames(video, self.input_spec, "stgan")
        index = WindowIndex([video.frames for video in train], cfg.window, cfg.train_stride)
        if len(index) == 0:
            raise DataError(
                f"no training video has the {cfg.window} frames stgan needs for one window",
                hint="use a dataset with longer training videos, or lower the detector setting window",
            )
        g_optimizer, d_optimizer = self._optimizers()

        def step(windows: np.ndarray) -> dict[str, float]:
            x = self._to_input(windows[:, :, 0])
            d_loss = self.discriminator_loss(x)
            d_optimizer.zero_grad(set_to_none=True)
            d_loss.backward()
            d_optimizer.step()

            # The discriminator's weights get no gradient from the generator's step: it is not theirs.
            self.model.discriminator.requires_grad_(False)
            terms = self.generator_losses(x)
            g_loss = sum(terms.values())
            g_optimizer.zero_grad(set_to_none=True)
            g_loss.backward()
            g_optimizer.step()
            self.model.discriminator.requires_grad_(True)
            return {"g_loss": g_loss.item(), "d_loss": d_loss.item(), **{name: t.item() for name, t in terms.items()}}

        log, n_batches = train_epochs(
            index=index, step=step, model=self.model,
            parts={"model": self.model, "g_optimizer": g_optimizer, "d_optimizer": d_optimizer},
            seed=self.seed, epochs=cfg.epochs, batch_size=cfg.batch_size, windows_per_epoch=cfg.windows_per_epoch,
            checkpoints=self.checkpoints, progress=progress, runtime=self.runtime, notes=("g_loss", "d_loss"),
            guard_names={"g_loss": "generator", "d_loss": "discriminator"}, early_stop=self._stop_if_collapsed,
            hint=(f"lower the detector settings g_lr (now {cfg.g_lr:g}) and d_lr (now {cfg.d_lr:g}), or keep "
                  "spectral_norm=true, and run again"))
        return {
            **log,
            "losses": ("per window mean over the epoch of each weighted term: recon = recon_weight * mean |x - "
                       "Dec(Enc(x))| (pixels in [-1, 1]); gan, feat, consist likewise; g_loss is their sum; d_loss "
                       f"is the discriminator's {cfg.gan_loss} loss"),
            "n_train_windows": int(len(index)),
            "n_windows_per_epoch": min(cfg.windows_per_epoch or len(index), len(index)),
            "n_batches_per_epoch": n_batches,
            "n_parameters": {
                "encoder": sum(p.numel() for p in self.model.encoder.parameters()),
                "decoder": sum(p.numel() for p in self.model.decoder.parameters()),
                "discriminator": sum(p.numel() for p in self.model.discriminator.parameters()),
            },
        }

    def _stop_if_collapsed(self, epoch: int, log: dict[str, list[float]]) -> None:
        """A GAN can fail without a NaN: the discriminator wins with margin on every window while the generator
        settles on one output (seen on binary skeleton maps at the cpu preset's learning rates). Scores of such a
        model measure only how many pixels a frame has lit, so stop rather than publish them."""
        d_losses, recon = log["d_loss_per_epoch"], log.get("recon_per_epoch", [])
        if not self.config.gan_weight or len(d_losses) < 2 or len(recon) < 2:
            return
        discriminator_won = all(d < _COLLAPSE_D_LOSS for d in d_losses[-2:])
        recon_frozen = abs(recon[-1] - recon[-2]) <= _COLLAPSE_RECON_CHANGE * max(abs(recon[-2]), 1e-12)
        if discriminator_won and recon_frozen:
            self.checkpoints.stop(
                epoch,
                f"collapsed in epoch {epoch}: the discriminator loss has been {d_losses[-1]:.2g} for 2 epochs and "
                f"the reconstruction loss stopped changing ({recon[-2]:.6g} -> {recon[-1]:.6g}), so the generator "
                "gives one output whatever the input",
                hint=("on sparse binary maps the L1 reconstruction stalls at the blank map: --set recon_loss=l2; "
                      "otherwise " if self.config.recon_loss == "l1" else "")
                     + f"lower the learning rates (now g_lr={self.config.g_lr:g}, d_lr={self.config.d_lr:g}), or "
                     "train without the adversarial game: --set gan_weight=0 --set feat_weight=0",
            )

    # -- scoring -------------------------------------------------------------------------------------------------

    def score(self, video: "PreparedVideo", progress: "Progress") -> np.ndarray:
        """Per window, eq. (3): the L1 norm of the reconstruction error of its last frame (pixels in [0, 1]).

        Value ``i`` scores frames ``i .. i + window - 1`` and stands for frame ``i + window - 1``; the harness
        min-max normalises the scores per video. A video shorter than the window is padded at the front with
        copies of its first frame, giving one value.
        """
        check_frames(video, self.input_spec, "stgan")
        window = self.config.window

        def score_batch(frames: np.ndarray, n: int) -> torch.Tensor:
            # One read covers the batch's overlapping windows; unfold makes them views of it.
            chunk = self._to_input(np.ascontiguousarray(frames[:, 0])[None])[0, 0]
            x = self.runtime.layout(chunk.unfold(0, window, 1).permute(0, 3, 1, 2).unsqueeze(1).contiguous())
            recon = self.model.reconstruct(x)
            # Halved: pixels in [-1, 1] differ twice as much as in [0, 1].
            absolute = (recon[:, 0, -1] - x[:, 0, -1]).abs()
            self.emit_maps(0.5 * absolute)
            return 0.5 * absolute.sum(dim=(1, 2))

        return score_windows(video, window, self.config.score_batch_size, score_batch, self.model, self.runtime,
                             progress)

    def provides_maps(self) -> bool:
        """On the frames view, ``score`` emits each window's per-pixel halved absolute error of its last frame,
        whose sum is the score."""
        return self.config.view == "frames"

    # -- checkpoints ---------------------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        save_model(path, "stgan", self.version, self.config, self.model)

    def load(self, path: Path) -> None:
        load_model(path, "stgan", self.version, self.config, self.model, _ARCHITECTURE_FIELDS)
