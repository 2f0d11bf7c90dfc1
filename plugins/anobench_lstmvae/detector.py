"""LSTM-VAE: the skeleton LSTM-VAE paper's detector of abnormal work from sequential skeleton maps (Fig. 6, Table 2).

A window of T = 30 consecutive 28x28 binary skeleton maps goes through a CNN with batch normalisation, frame by
frame; an LSTM (300 units) reads the T feature vectors, and its last output is compressed to the mean and the
log-variance of a J = 16 dimensional Gaussian posterior (prior N(0, I)). A decoder generates the T maps back from
a sample z. The loss is the binary cross-entropy over the D = T x 28 x 28 pixels plus the KL divergence; the
anomaly score of a window is its reconstruction error, given to the frame that ends it.

Where this implementation had to choose (the skeleton LSTM-VAE paper is silent, or this project has a convention):

* Frame CNN: two 4x4 stride-2 convolutions (28 -> 14 -> 7) with 32 and 64 filters, each followed by batch
  normalisation and ReLU, then a fully connected layer to a 256-dimensional frame feature (ReLU). The same
  convolutions as our AE/VAE baselines, so that the comparison isolates the temporal part.
* Encoder LSTM: one layer of 300 units; its output at the last time step feeds two linear layers, to the mean and
  the log-variance of z.
* Decoder: z is repeated T times (Keras's RepeatVector, the usual LSTM-VAE decoder of the Keras era the skeleton
  LSTM-VAE paper used) into a one-layer LSTM of 300 units; each of its T outputs is turned into one map by a fully
  connected layer and two 4x4 stride-2 transposed convolutions (BN and ReLU between them), ending in one logit per
  pixel.
* Loss: binary cross-entropy summed over the D pixels of a window (computed on logits, which is exact and
  stable) plus the KL divergence to N(0, I), averaged over the batch. Adam, learning rate 1e-3.
* Score: the same binary cross-entropy between the window and its reconstruction from the posterior mean (no
  sampling, so scores are deterministic), summed over the window's T x 28 x 28 pixels (the skeleton LSTM-VAE paper's
  reconstruction error of the sequential map). ``score_frames="last"`` sums over the window's last map only, the frame
  the score is given to; it lost to the whole window on our validation set and is off in both presets. Value ``i``
  belongs to the window of frames ``i .. i + T - 1`` and so to frame ``i + T - 1``; the core gives the first
  T - 1 frames of a video the first window's score. A video shorter than T is padded at the front with copies
  of its first frame and gets one value.
* Scoring computes the CNN features of each frame once and reads the T-frame windows from them: with BN in
  evaluation mode a frame's features do not depend on the window it sits in, so this equals running the CNN on
  every window and is T times cheaper.
* ``store_latents``: the posterior means of the scored windows are kept (``last_outputs()["latent_mean"]``), and a
  run stores them as ``window_latent_mean`` beside the scores, for ``anobench plot latent RUN`` (the skeleton LSTM-VAE
  paper, Fig. 11).
* Views: ``view="skeleton"`` (the default) reads the 28x28 maps; ``view="frames"`` resizes grayscale frames to
  ``input_size`` (a multiple of 4) and uses the grey level in [0, 1] as the cross-entropy target.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from anobench_lstmvae.model import LSTMVAENet, lstm_vae_loss
from bench_core.checkpoint import load_model, save_model
from bench_core.config import require_at_least, require_choice, require_finite
from bench_core.detector import Detector, InputSpec
from bench_core.errors import DataError
# kl_to_standard_normal is re-exported: library users and tests import it from here.
from bench_core.torch_layer import (TORCH_NEUTRAL_SETTINGS, Runtime, ViewSettings, WindowIndex,  # noqa: F401
                                    kl_to_standard_normal, score_windows, summed_bce, train_epochs)
from bench_core.views import check_frames

if TYPE_CHECKING:
    from bench_core.progress import Progress
    from bench_core.views import PreparedVideo

SCORE_FRAMES = ("window", "last")
_ARCHITECTURE_FIELDS = ("view", "input_size", "window", "latent_dim", "lstm_units", "feature_dim", "channels",
                        "batch_norm")


@dataclass(frozen=True)
class Config(ViewSettings):
    """LSTM-VAE settings. Defaults are the skeleton LSTM-VAE paper's (Table 2) where it gives them."""

    #: 'skeleton' (the skeleton LSTM-VAE paper's 28x28 binary skeleton maps) or 'frames' (grayscale frames resized to
    #: input_size).
    view: str = "skeleton"
    #: T, the frames of one sequential skeleton map (the skeleton LSTM-VAE paper: 30).
    window: int = 30
    #: J, the dimension of the latent code (the skeleton LSTM-VAE paper: 16).
    latent_dim: int = 16
    #: Units of the encoder and decoder LSTMs (the skeleton LSTM-VAE paper's "latent dimension of LSTM": 300).
    lstm_units: int = 300
    #: Size of the per-frame CNN feature the encoder LSTM reads. Our choice.
    feature_dim: int = 256
    #: Filters of the two frame convolutions (the decoder mirrors them). Our choice.
    channels: tuple[int, ...] = (32, 64)
    #: Batch normalisation after every convolution but the output layer (the skeleton LSTM-VAE paper: BN on each CNN
    #: layer).
    batch_norm: bool = True
    #: Passes over the training windows (the skeleton LSTM-VAE paper: 30).
    epochs: int = 30
    #: Windows per optimiser step (the skeleton LSTM-VAE paper: 16).
    batch_size: int = 16
    #: Frames between the starts of consecutive training windows (the skeleton LSTM-VAE paper slides by 1).
    train_stride: int = 1
    #: Windows per forward pass when scoring; changes speed and memory, not the scores. Large batches matter on
    #: CPU: the LSTMs step through time one small operation at a time, and fewer, larger steps cost less.
    score_batch_size: int = 256
    #: Adam learning rate. Our choice (the skeleton LSTM-VAE paper does not give one).
    lr: float = 1e-3
    #: Which frames' reconstruction error makes a window's score: "window" (all T maps, the skeleton LSTM-VAE paper's
    #: "reconstruction error" of the sequential map) or "last" (only the map of the frame the score is given to).
    score_frames: str = "window"
    #: Keep the posterior means of the scored windows for the run record (``window_latent_mean``).
    store_latents: bool = True

    def __post_init__(self):
        super().__post_init__()
        require_choice(self, "score_frames", SCORE_FRAMES)
        if self.input_size < 8 or self.input_size % 4:
            raise ValueError(f"input_size must be a multiple of 4 and at least 8, not {self.input_size}")
        if len(self.channels) != 2 or any(c < 1 for c in self.channels):
            raise ValueError(f"channels must be two positive integers, not {self.channels}")
        require_at_least(self, 1, "window", "latent_dim", "lstm_units", "feature_dim", "epochs", "batch_size",
                         "train_stride", "score_batch_size")
        require_finite(self, "lr")


class LSTMVAE(Detector):
    """The LSTM-VAE of the skeleton LSTM-VAE paper. Score of a window: BCE of its T maps' reconstruction, for the
    frame that ends it."""

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
        # What leaderboards use: the paper's network (LSTMs of 300 units, J = 16, T = 30, 256-d frame features,
        # 32/64 filters), 30 epochs, batch 16, KL on. Every second window (train_stride=2; consecutive windows
        # still share 28 of their 30 maps) keeps it within the budget of 0.235 s of 2-core training per training
        # frame (1 h for CUHK Avenue's 15,328). The frames view keeps 28x28: a window passes its 30 frames through
        # the CNN, so 96x96 costs 12x as much per window (docs/skeleton.md, "The standard presets").
        "standard": {"window": 30, "latent_dim": 16, "lstm_units": 300, "feature_dim": 256, "channels": (32, 64),
                     "input_size": 28, "epochs": 30, "batch_size": 16, "train_stride": 2, "score_frames": "window"},
    }
    version = "1"
    supports_resume = True
    test_settings = {"window": 4, "latent_dim": 4, "lstm_units": 8, "feature_dim": 8, "channels": (4, 4), "epochs": 2,
                     "batch_size": 8}
    neutral_settings = TORCH_NEUTRAL_SETTINGS

    def __init__(self, config: Config, device: str = "cpu", seed: int = 0):
        super().__init__(config, device, seed)
        self.runtime = Runtime(config, device)
        # Initialised from the seed without disturbing the global random state.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.model = self.runtime.prepare(LSTMVAENet(config))
        self.model.eval()
        self._last_latent_mean: np.ndarray | None = None

    @property
    def input_spec(self) -> InputSpec:
        side = self.config.side
        return InputSpec(view=self.config.view, height=side, width=side, channels=1, window=self.config.window)

    # -- data ----------------------------------------------------------------------------------------------------

    def _to_input(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 frames -> float32 in [0, 1] on the device (the frame CNN picks its own memory format)."""
        return torch.from_numpy(np.require(frames, requirements=["C", "W"])).to(self.device).float().div_(255.0)

    def training_windows(self, train: list["PreparedVideo"]) -> WindowIndex:
        """Every training window (``train_stride`` apart, never straddling two videos)."""
        for video in train:
            check_frames(video, self.input_spec, "lstm-vae")
        return WindowIndex([video.frames for video in train], self.config.window, self.config.train_stride)

    # -- training ------------------------------------------------------------------------------------------------

    def fit(self, train: list["PreparedVideo"], progress: "Progress") -> dict:
        """Minimise BCE + KL over every training window, in an order fixed by ``seed``."""
        cfg = self.config
        index = self.training_windows(train)
        if len(index) == 0:
            raise DataError(f"no training video has the {cfg.window} frames lstm-vae needs for one window",
                            hint="use longer training videos, or lower the detector setting window")
        # fused: one kernel updates every parameter, instead of about ten small operations per parameter tensor.
        optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, fused=self.device == "cpu" or None)
        noise_generator = torch.Generator().manual_seed(self.seed + 1)

        def step(batch: np.ndarray) -> dict[str, float]:
            windows = self._to_input(batch)
            noise = torch.randn(len(windows), cfg.latent_dim, generator=noise_generator).to(self.device)
            loss, reconstruction, kl = lstm_vae_loss(self.model, windows, noise)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            values = torch.stack([loss, reconstruction, kl]).detach().double().cpu().tolist()
            return dict(zip(("loss", "reconstruction", "kl"), values))

        log, n_batches = train_epochs(
            index=index, step=step, model=self.model,
            parts={"model": self.model, "optimizer": optimizer, "noise_generator": noise_generator},
            seed=self.seed, epochs=cfg.epochs, batch_size=cfg.batch_size, checkpoints=self.checkpoints,
            progress=progress, runtime=self.runtime, hint=f"lower the detector setting lr (now {cfg.lr:g})")
        return {
            **log,
            "loss": "binary cross-entropy summed over the T x H x W pixels of a window + KL to N(0, I), "
                    "mean over windows",
            "n_train_windows": int(len(index)),
            "n_batches_per_epoch": n_batches,
            "n_parameters": sum(p.numel() for p in self.model.parameters()),
        }

    # -- scoring -------------------------------------------------------------------------------------------------

    def score(self, video: "PreparedVideo", progress: "Progress") -> np.ndarray:
        """Per window of T frames, the BCE of its reconstruction from the posterior mean, summed over its pixels;
        value ``i`` stands for frame ``i + T - 1``. A video shorter than T gets one value (front-padded)."""
        window = self.config.window
        check_frames(video, self.input_spec, "lstm-vae")
        latent_means: list[np.ndarray] = []

        def score_batch(frames: np.ndarray, n: int) -> torch.Tensor:
            # The frames of this batch's overlapping windows, each through the CNN once.
            chunk = self._to_input(frames)
            features = self.model.frame_features(chunk)
            windows_features = features.unfold(0, window, 1).permute(0, 2, 1)
            mean, _ = self.model.encode_features(windows_features)
            logits = self.model.decode(mean)
            targets = chunk.unfold(0, window, 1).permute(0, 4, 1, 2, 3)
            if self.config.score_frames == "last":
                logits, targets = logits[:, -1:], targets[:, -1:]
            latent_means.append(mean.float().cpu().numpy())
            return summed_bce(logits, targets)

        scores = score_windows(video, window, self.config.score_batch_size, score_batch, self.model, self.runtime,
                               progress)
        self._last_latent_mean = np.concatenate(latent_means) if self.config.store_latents else None
        return scores

    def last_outputs(self) -> dict[str, np.ndarray]:
        """``{"latent_mean": (n_windows, J)}`` of the last scored video when ``store_latents`` is on."""
        return {} if self._last_latent_mean is None else {"latent_mean": self._last_latent_mean}

    # -- checkpoints ---------------------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        save_model(path, "lstm-vae", self.version, self.config, self.model)

    def load(self, path: Path) -> None:
        load_model(path, "lstm-vae", self.version, self.config, self.model, _ARCHITECTURE_FIELDS)
