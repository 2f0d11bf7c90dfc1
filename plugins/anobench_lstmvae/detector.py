"""LSTM-VAE: seed 002's detector of abnormal work from sequential skeleton maps (Fig. 6, Table 2).

A window of T = 30 consecutive 28x28 binary skeleton maps goes through a CNN with batch normalisation, frame by
frame; an LSTM (300 units) reads the T feature vectors, and its last output is compressed to the mean and the
log-variance of a J = 16 dimensional Gaussian posterior (prior N(0, I)). A decoder generates the T maps back from
a sample z. The loss is the binary cross-entropy over the D = T x 28 x 28 pixels plus the KL divergence; the
anomaly score of a window is its reconstruction error, given to the frame that ends it.

Where this implementation had to choose (seed 002 is silent, or this project has a convention):

* Frame CNN: two 4x4 stride-2 convolutions (28 -> 14 -> 7) with 32 and 64 filters, each followed by batch
  normalisation and ReLU, then a fully connected layer to a 256-dimensional frame feature (ReLU). The same
  convolutions as our AE/VAE baselines, so that the comparison isolates the temporal part.
* Encoder LSTM: one layer of 300 units; its output at the last time step feeds two linear layers, to the mean and
  the log-variance of z.
* Decoder: z is repeated T times (Keras's RepeatVector, the usual LSTM-VAE decoder of the Keras era seed 002 used)
  into a one-layer LSTM of 300 units; each of its T outputs is turned into one map by a fully connected layer and
  two 4x4 stride-2 transposed convolutions (BN and ReLU between them), ending in one logit per pixel.
* Loss: binary cross-entropy summed over the D pixels of a window (computed on logits, which is exact and
  stable) plus the KL divergence to N(0, I), averaged over the batch. Adam, learning rate 1e-3.
* Score: the same binary cross-entropy between the window and its reconstruction from the posterior mean (no
  sampling, so scores are deterministic), summed over the window's T x 28 x 28 pixels (seed 002's reconstruction
  error of the sequential map). ``score_frames="last"`` sums over the window's last map only, the frame the
  score is given to; it lost to the whole window on our validation set and is off in both presets. Value ``i``
  belongs to the window of frames ``i .. i + T - 1`` and so to frame ``i + T - 1``; the core gives the first
  T - 1 frames of a video the first window's score. A video shorter than T is padded at the front with copies
  of its first frame and gets one value.
* Scoring computes the CNN features of each frame once and reads the T-frame windows from them: with BN in
  evaluation mode a frame's features do not depend on the window it sits in, so this equals running the CNN on
  every window and is T times cheaper.
* ``store_latents``: the posterior means of the scored windows are kept (``last_outputs()["latent_mean"]``), and a
  run stores them as ``window_latent_mean`` beside the scores, for ``anobench plot latent RUN`` (seed 002, Fig. 11).
* Views: ``view="skeleton"`` (the default) reads the 28x28 maps; ``view="frames"`` resizes grayscale frames to
  ``input_size`` (a multiple of 4) and uses the grey level in [0, 1] as the cross-entropy target.
"""

from __future__ import annotations

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
from bench_core.views import check_frames, check_view, view_side, window_frames

if TYPE_CHECKING:
    from bench_core.progress import Progress
    from bench_core.views import PreparedVideo

SCORE_FRAMES = ("window", "last")
_ARCHITECTURE_FIELDS = ("view", "input_size", "window", "latent_dim", "lstm_units", "feature_dim", "channels",
                        "batch_norm")


@dataclass(frozen=True)
class Config:
    """LSTM-VAE settings. Defaults are seed 002's (Table 2) where it gives them."""

    #: 'skeleton' (seed 002's 28x28 binary skeleton maps) or 'frames' (grayscale frames resized to input_size).
    view: str = "skeleton"
    #: Side of the resized frames for the frames view (a multiple of 4); the skeleton view always uses 28.
    input_size: int = 28
    #: T, the frames of one sequential skeleton map (seed 002: 30).
    window: int = 30
    #: J, the dimension of the latent code (seed 002: 16).
    latent_dim: int = 16
    #: Units of the encoder and decoder LSTMs (seed 002's "latent dimension of LSTM": 300).
    lstm_units: int = 300
    #: Size of the per-frame CNN feature the encoder LSTM reads. Our choice.
    feature_dim: int = 256
    #: Filters of the two frame convolutions (the decoder mirrors them). Our choice.
    channels: tuple[int, ...] = (32, 64)
    #: Batch normalisation after every convolution but the output layer (seed 002: BN on each CNN layer).
    batch_norm: bool = True
    #: Passes over the training windows (seed 002: 30).
    epochs: int = 30
    #: Windows per optimiser step (seed 002: 16).
    batch_size: int = 16
    #: Frames between the starts of consecutive training windows (seed 002 slides by 1).
    train_stride: int = 1
    #: Windows per forward pass when scoring; changes speed and memory, not the scores. Large batches matter on
    #: CPU: the LSTMs step through time one small operation at a time, and fewer, larger steps cost less.
    score_batch_size: int = 256
    #: Adam learning rate. Our choice (seed 002 does not give one).
    lr: float = 1e-3
    #: Which frames' reconstruction error makes a window's score: "window" (all T maps, seed 002's "reconstruction
    #: error" of the sequential map) or "last" (only the map of the frame the score is given to).
    score_frames: str = "window"
    #: Keep the posterior means of the scored windows for the run record (``window_latent_mean``).
    store_latents: bool = True

    @property
    def side(self) -> int:
        return view_side(self.view, self.input_size)

    def __post_init__(self):
        check_view(self.view)
        if self.score_frames not in SCORE_FRAMES:
            raise ValueError(f"score_frames must be one of {', '.join(SCORE_FRAMES)}, not {self.score_frames!r}")
        if self.input_size < 8 or self.input_size % 4:
            raise ValueError(f"input_size must be a multiple of 4 and at least 8, not {self.input_size}")
        if len(self.channels) != 2 or any(c < 1 for c in self.channels):
            raise ValueError(f"channels must be two positive integers, not {self.channels}")
        for name in ("window", "latent_dim", "lstm_units", "feature_dim", "epochs", "batch_size", "train_stride",
                     "score_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, not {getattr(self, name)}")
        if not (0 < self.lr < math.inf):
            raise ValueError(f"lr must be a finite number > 0, not {self.lr}")


class LSTMVAENet(nn.Module):
    """(batch, T, 1, side, side) maps in [0, 1] -> logits of the same shape, posterior mean and log-variance."""

    def __init__(self, config: Config):
        super().__init__()
        c1, c2 = config.channels
        self.window = config.window
        self.bottom = config.side // 4
        flat = c2 * self.bottom * self.bottom
        norm = (lambda c: nn.BatchNorm2d(c)) if config.batch_norm else (lambda c: nn.Identity())
        self.frame_encoder = nn.Sequential(
            nn.Conv2d(1, c1, 4, stride=2, padding=1), norm(c1), nn.ReLU(inplace=True),
            nn.Conv2d(c1, c2, 4, stride=2, padding=1), norm(c2), nn.ReLU(inplace=True),
            nn.Flatten(), nn.Linear(flat, config.feature_dim), nn.ReLU(inplace=True),
        )
        self.encoder_lstm = nn.LSTM(config.feature_dim, config.lstm_units, batch_first=True)
        self.to_mean = nn.Linear(config.lstm_units, config.latent_dim)
        self.to_log_var = nn.Linear(config.lstm_units, config.latent_dim)
        self.decoder_lstm = nn.LSTM(config.latent_dim, config.lstm_units, batch_first=True)
        self.frame_decoder_fc = nn.Sequential(nn.Linear(config.lstm_units, flat), nn.ReLU(inplace=True))
        self.frame_decoder = nn.Sequential(
            nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1), norm(c1), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(c1, 1, 4, stride=2, padding=1),
        )

    def frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """(n, 1, side, side) -> (n, feature_dim): the CNN runs on all frames of all windows in one batch."""
        # Channels-last is the layout oneDNN's convolutions run fastest in on CPU (about 2x here).
        return self.frame_encoder(frames.contiguous(memory_format=torch.channels_last))

    def encode_features(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(batch, T, feature_dim) -> posterior mean and log-variance, from the LSTM's last output."""
        outputs, _ = self.encoder_lstm(features)
        last = outputs[:, -1]
        return self.to_mean(last), self.to_log_var(last)

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        """(batch, J) -> (batch, T, 1, side, side) logits."""
        batch = len(code)
        outputs, _ = self.decoder_lstm(code.unsqueeze(1).expand(batch, self.window, code.shape[1]))
        h = self.frame_decoder_fc(outputs.reshape(batch * self.window, -1))
        maps = h.view(batch * self.window, -1, self.bottom, self.bottom).contiguous(memory_format=torch.channels_last)
        # Back to the standard layout, so that the logits line up with the targets without a hidden copy.
        logits = self.frame_decoder(maps).contiguous()
        return logits.view(batch, self.window, *logits.shape[1:])

    def forward(self, windows: torch.Tensor, noise: torch.Tensor | None = None):
        """Logits, mean and log-variance; ``noise`` (standard normal) draws z = mean + sigma * noise, None uses mean."""
        batch, steps = windows.shape[:2]
        features = self.frame_features(windows.reshape(batch * steps, *windows.shape[2:])).view(batch, steps, -1)
        mean, log_var = self.encode_features(features)
        code = mean if noise is None else mean + torch.exp(0.5 * log_var) * noise
        return self.decode(code), mean, log_var


def window_bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy summed over every pixel of each window: one value per window."""
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none").flatten(1).sum(1)


def kl_to_standard_normal(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(log_var)) || N(0, I)) per window."""
    return 0.5 * (mean.square() + log_var.exp() - 1.0 - log_var).sum(1)


def lstm_vae_loss(model: LSTMVAENet, windows: torch.Tensor, noise: torch.Tensor):
    """Seed 002's objective on a batch: mean over windows of (BCE over the D pixels + KL); also both parts."""
    logits, mean, log_var = model(windows, noise)
    reconstruction = window_bce(logits, windows).mean()
    kl = kl_to_standard_normal(mean, log_var).mean()
    return reconstruction + kl, reconstruction, kl


class LSTMVAE(Detector):
    """Seed 002's LSTM-VAE. Score of a window: BCE of its T maps' reconstruction, for the frame that ends it."""

    Config = Config
    presets = {
        "paper": {"window": 30, "latent_dim": 16, "lstm_units": 300, "epochs": 30, "batch_size": 16},
        # Same T, J, epochs and batch; LSTMs of 128 units (the LSTMs are most of the cost, and it grows with the
        # square of their size), a lighter CNN and every second window: about 10 minutes of training on
        # synthetic-industrial's 6 x 500 training maps on one CPU thread, and well over 30 frames/s to score.
        # Epochs and the score definition were chosen on a validation set (synthetic-industrial generated with
        # seed=1), never on the test data: 30 epochs beat 6, and whole-window scores beat last-frame ones
        # (docs/skeleton.md, "Model selection for the cpu preset").
        "cpu": {"window": 30, "latent_dim": 16, "lstm_units": 128, "feature_dim": 128, "channels": (16, 32),
                "epochs": 30, "batch_size": 16, "train_stride": 2, "score_frames": "window"},
    }
    version = "1"
    supports_resume = True
    test_settings = {"window": 4, "latent_dim": 4, "lstm_units": 8, "feature_dim": 8, "channels": (4, 4), "epochs": 2,
                     "batch_size": 8}

    def __init__(self, config: Config, device: str = "cpu", seed: int = 0):
        super().__init__(config, device, seed)
        # Initialised from the seed without disturbing the global random state.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.model = LSTMVAENet(config).to(device)
        self.model.eval()
        self._last_latent_mean: np.ndarray | None = None

    @property
    def input_spec(self) -> InputSpec:
        side = self.config.side
        return InputSpec(view=self.config.view, height=side, width=side, channels=1, window=self.config.window)

    # -- data ----------------------------------------------------------------------------------------------------

    def _frames(self, video: "PreparedVideo") -> torch.Tensor:
        check_frames(video, self.input_spec, "lstm-vae")
        return torch.from_numpy(np.require(video.frames, requirements=["C", "W"]))

    def _to_input(self, frames: torch.Tensor) -> torch.Tensor:
        return frames.to(self.device).float().div_(255.0)

    def training_windows(self, train: list["PreparedVideo"]) -> tuple[torch.Tensor, torch.Tensor]:
        """All training frames in one uint8 tensor, and the index of the first frame of every training window.

        Windows never straddle two videos. A batch is then one fancy-index read, ``frames[starts + arange(T)]``.
        """
        cfg = self.config
        frames, starts, offset = [], [], 0
        for video in train:
            video_frames = self._frames(video)
            frames.append(video_frames)
            starts.append(torch.arange(0, max(len(video_frames) - cfg.window + 1, 0), cfg.train_stride) + offset)
            offset += len(video_frames)
        if not frames:
            return torch.zeros((0, 1, cfg.side, cfg.side), dtype=torch.uint8), torch.zeros(0, dtype=torch.long)
        return torch.cat(frames), torch.cat(starts)

    # -- training ------------------------------------------------------------------------------------------------

    def fit(self, train: list["PreparedVideo"], progress: "Progress") -> dict:
        """Minimise BCE + KL over every training window, in an order fixed by ``seed``."""
        cfg = self.config
        frames, starts = self.training_windows(train)
        if len(starts) == 0:
            raise DataError(f"no training video has the {cfg.window} frames lstm-vae needs for one window",
                            hint="use longer training videos, or lower the detector setting window")
        steps = torch.arange(cfg.window)
        # fused: one kernel updates every parameter, instead of about ten small operations per parameter tensor.
        optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, fused=self.device == "cpu" or None)
        order_generator = torch.Generator().manual_seed(self.seed)
        noise_generator = torch.Generator().manual_seed(self.seed + 1)
        n_batches = math.ceil(len(starts) / cfg.batch_size)
        parts = {"model": self.model, "optimizer": optimizer, "order_generator": order_generator,
                 "noise_generator": noise_generator}
        first_epoch, log = self.checkpoints.restore(parts)
        log = log or {"loss_per_epoch": [], "reconstruction_per_epoch": [], "kl_per_epoch": []}
        self.model.train()
        with progress.task("train", total=cfg.epochs * n_batches) as task:
            task.advance((first_epoch - 1) * n_batches)
            for epoch in range(first_epoch, cfg.epochs + 1):
                order = starts[torch.randperm(len(starts), generator=order_generator)]
                sums = torch.zeros(3, dtype=torch.float64)
                for first in range(0, len(order), cfg.batch_size):
                    batch_starts = order[first:first + cfg.batch_size]
                    windows = self._to_input(frames[batch_starts[:, None] + steps])
                    noise = torch.randn(len(windows), cfg.latent_dim, generator=noise_generator).to(self.device)
                    loss, reconstruction, kl = lstm_vae_loss(self.model, windows, noise)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    values = torch.stack([loss, reconstruction, kl]).detach().double().cpu()
                    self.checkpoints.check_finite(epoch, {"loss": float(values[0])},
                                                  hint=f"lower the detector setting lr (now {cfg.lr:g})")
                    optimizer.step()
                    sums += values * len(windows)
                    task.advance()
                for key, total in zip(("loss", "reconstruction", "kl"), (sums / len(starts)).tolist()):
                    log[f"{key}_per_epoch"].append(total)
                task.note(f"epoch {epoch}/{cfg.epochs} loss {log['loss_per_epoch'][-1]:.4g}")
                self.checkpoints.save_parts(epoch, parts, log)
        self.model.eval()
        return {
            **log,
            "loss": "binary cross-entropy summed over the T x H x W pixels of a window + KL to N(0, I), "
                    "mean over windows",
            "n_train_windows": int(len(starts)),
            "n_batches_per_epoch": n_batches,
            "n_parameters": sum(p.numel() for p in self.model.parameters()),
        }

    # -- scoring -------------------------------------------------------------------------------------------------

    def score(self, video: "PreparedVideo", progress: "Progress") -> np.ndarray:
        """Per window of T frames, the BCE of its reconstruction from the posterior mean, summed over its pixels;
        value ``i`` stands for frame ``i + T - 1``. A video shorter than T gets one value (front-padded)."""
        window = self.config.window
        check_frames(video, self.input_spec, "lstm-vae")
        frames = torch.from_numpy(np.require(window_frames(video, window), requirements=["C", "W"]))
        n_windows = len(frames) - window + 1
        scores = np.empty(n_windows, dtype=np.float64)
        latent_means = np.empty((n_windows, self.config.latent_dim), dtype=np.float32)
        batch = self.config.score_batch_size
        self.model.eval()
        with torch.inference_mode(), progress.task("score", total=n_windows) as task:
            for first in range(0, n_windows, batch):
                last = min(first + batch, n_windows)
                # The frames of this batch's overlapping windows, each through the CNN once.
                chunk = self._to_input(frames[first:last + window - 1])
                features = self.model.frame_features(chunk)
                windows_features = features.unfold(0, window, 1).permute(0, 2, 1)
                mean, _ = self.model.encode_features(windows_features)
                logits = self.model.decode(mean)
                targets = chunk.unfold(0, window, 1).permute(0, 4, 1, 2, 3)
                if self.config.score_frames == "last":
                    logits, targets = logits[:, -1:], targets[:, -1:]
                scores[first:last] = window_bce(logits, targets).double().cpu().numpy()
                latent_means[first:last] = mean.float().cpu().numpy()
                task.advance(last - first)
        self._last_latent_mean = latent_means if self.config.store_latents else None
        return scores

    def last_outputs(self) -> dict[str, np.ndarray]:
        """``{"latent_mean": (n_windows, J)}`` of the last scored video when ``store_latents`` is on."""
        return {} if self._last_latent_mean is None else {"latent_mean": self._last_latent_mean}

    # -- checkpoints ---------------------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        save_model(path, "lstm-vae", self.version, self.config, self.model)

    def load(self, path: Path) -> None:
        load_model(path, "lstm-vae", self.version, self.config, self.model, _ARCHITECTURE_FIELDS)
