"""AE and VAE: the skeleton LSTM-VAE paper's frame-wise baselines, a convolutional autoencoder and a convolutional
variational autoencoder on single 28x28 skeleton maps (or resized grayscale frames), scored by reconstruction error.

The skeleton LSTM-VAE paper (Table 2) gives J = 16 latent dimensions, 30 epochs and batch 32 for both, and says they
read the 4,618 single skeleton maps where the LSTM-VAE reads sequences. The two detectors here share everything
(network, data, training loop, scoring) and differ only in the variational part: the VAE's encoder outputs the mean and
log-variance of a Gaussian posterior, samples z with the reparameterisation trick and adds the KL divergence to N(0, I)
to the loss; the AE maps a frame straight to z.

Where this implementation had to choose (the skeleton LSTM-VAE paper is silent):

* Network: the same per-frame CNN as our LSTM-VAE, so that the comparison isolates the temporal part. Encoder:
  two 4x4 stride-2 convolutions (28 -> 14 -> 7), each followed by batch normalisation (the skeleton LSTM-VAE paper puts
  BN on every CNN layer of its model; we do the same for the baselines) and ReLU, then a fully connected layer to J (AE)
  or to the mean and log-variance of J Gaussians (VAE). Decoder: the mirror, a fully connected layer and two 4x4
  stride-2 transposed convolutions, BN and ReLU between them; the output is one logit per pixel.
* Loss: binary cross-entropy summed over the D pixels of a frame (computed on logits for numerical stability),
  plus for the VAE the KL divergence, averaged over the batch. Adam, learning rate 1e-3.
* Score of a frame: the same binary cross-entropy between the frame and its reconstruction; the VAE reconstructs
  from the posterior mean (no sampling), so scores are deterministic.
* Views: ``view="skeleton"`` (the default, the skeleton LSTM-VAE paper's input) reads the 28x28 binary maps as they are;
  ``view="frames"`` resizes grayscale frames to ``input_size`` (a multiple of 4) and uses the grey level in [0, 1]
  as the cross-entropy target.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch

from anobench_framewise.model import FrameAutoencoder
from bench_core.checkpoint import load_model, save_model
from bench_core.config import require_at_least, require_finite
from bench_core.detector import Detector, InputSpec
from bench_core.errors import DataError
from bench_core.torch_layer import (TORCH_NEUTRAL_SETTINGS, Runtime, ViewSettings, WindowIndex,
                                    kl_to_standard_normal, pixel_bce, score_windows, summed_bce, train_epochs)
from bench_core.views import check_frames

if TYPE_CHECKING:
    from bench_core.progress import Progress
    from bench_core.views import PreparedVideo

_ARCHITECTURE_FIELDS = ("view", "input_size", "latent_dim", "channels", "batch_norm")


@dataclass(frozen=True)
class Config(ViewSettings):
    """AE / VAE settings. Defaults are the skeleton LSTM-VAE paper's (Table 2) where it gives them."""

    #: 'skeleton' (the skeleton LSTM-VAE paper's 28x28 binary skeleton maps) or 'frames' (grayscale frames resized to
    #: input_size).
    view: str = "skeleton"
    #: J, the dimension of the latent code (the skeleton LSTM-VAE paper: 16).
    latent_dim: int = 16
    #: Filters of the two encoder convolutions (the decoder mirrors them). Our choice.
    channels: tuple[int, ...] = (32, 64)
    #: Batch normalisation after every convolution but the output layer (the skeleton LSTM-VAE paper uses BN on its CNN
    #: layers).
    batch_norm: bool = True
    #: Passes over the training frames (the skeleton LSTM-VAE paper: 30).
    epochs: int = 30
    #: Frames per optimiser step (the skeleton LSTM-VAE paper: 32).
    batch_size: int = 32
    #: Frames per forward pass when scoring; changes speed and memory, not the scores.
    score_batch_size: int = 512
    #: Adam learning rate. Our choice (the skeleton LSTM-VAE paper does not give one).
    lr: float = 1e-3

    def __post_init__(self):
        super().__post_init__()
        if self.input_size < 8 or self.input_size % 4:
            raise ValueError(f"input_size must be a multiple of 4 and at least 8, not {self.input_size}")
        if len(self.channels) != 2 or any(c < 1 for c in self.channels):
            raise ValueError(f"channels must be two positive integers, not {self.channels}")
        require_at_least(self, 1, "latent_dim", "epochs", "batch_size", "score_batch_size")
        require_finite(self, "lr")


class _FramewiseDetector(Detector):
    """Everything AE and VAE share; subclasses set ``variational`` and ``name``."""

    Config = Config
    presets = {
        "paper": {"latent_dim": 16, "epochs": 30, "batch_size": 32},
        # Narrower layers and fewer epochs: about 10 s of training on synthetic-industrial's 3,000 training maps
        # on 2 CPU cores; the reconstruction loss has flattened by then.
        "cpu": {"latent_dim": 16, "channels": (16, 32), "epochs": 10, "batch_size": 32},
        # What leaderboards use: the paper's J, epochs and batch with the LSTM-VAE's frame CNN (32/64 filters), so
        # the baselines train as fully as the LSTM-VAE's standard preset; on the frames view a 96x96 input (the
        # skeleton view is always 28x28), where a 20 px figure of a 240-line frame keeps 8 px instead of 2.
        # Adam at 3e-4, not 1e-3: at 96x96 the code layer reads 36,864 features, and at 1e-3 the VAE's first steps
        # threw its log-variance so far that epoch 1's mean KL was 162,017 nats (avenue-mini), and it spiked again
        # later. About 0.1 s of 2-core training per training frame (docs/skeleton.md, "The standard presets").
        "standard": {"latent_dim": 16, "channels": (32, 64), "input_size": 96, "epochs": 30, "batch_size": 32,
                     "lr": 3e-4},
    }
    version = "1"
    supports_resume = True
    test_settings = {"latent_dim": 4, "channels": (4, 8), "epochs": 2, "batch_size": 16}
    neutral_settings = TORCH_NEUTRAL_SETTINGS
    variational: ClassVar[bool]
    name: ClassVar[str]

    def __init__(self, config: Config, device: str = "cpu", seed: int = 0):
        super().__init__(config, device, seed)
        self.runtime = Runtime(config, device)
        # Initialised from the seed without disturbing the global random state.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.model = self.runtime.prepare(FrameAutoencoder(config, self.variational))
        self.model.eval()

    @property
    def input_spec(self) -> InputSpec:
        side = self.config.side
        return InputSpec(view=self.config.view, height=side, width=side, channels=1, window=1)

    # -- data ----------------------------------------------------------------------------------------------------

    def _to_input(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        if isinstance(frames, np.ndarray):
            frames = torch.from_numpy(np.require(frames, requirements=["C", "W"]))
        return self.runtime.layout(frames.to(self.device).float().div_(255.0))

    # -- training ------------------------------------------------------------------------------------------------

    def fit(self, train: list["PreparedVideo"], progress: "Progress") -> dict:
        """Minimise BCE (+ KL for the VAE) over every training frame, in an order fixed by ``seed``."""
        cfg = self.config
        for video in train:
            check_frames(video, self.input_spec, self.name)
        index = WindowIndex([video.frames for video in train], window=1)
        if len(index) == 0:
            raise DataError(f"{self.name} got no training frames", hint="check the dataset's train split")
        optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        noise_generator = torch.Generator().manual_seed(self.seed + 1)

        def step(windows: np.ndarray) -> dict[str, float]:
            x = self._to_input(windows[:, 0])
            noise = None
            if self.variational:
                noise = torch.randn(len(x), cfg.latent_dim, generator=noise_generator).to(self.device)
            logits, mean, log_var = self.model(x, noise)
            reconstruction = summed_bce(logits, x).mean()
            kl = kl_to_standard_normal(mean, log_var).mean() if self.variational else torch.zeros(())
            loss = reconstruction + kl
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            values = {"loss": loss.item(), "reconstruction": reconstruction.item()}
            return {**values, "kl": kl.item()} if self.variational else values

        log, n_batches = train_epochs(
            index=index, step=step, model=self.model,
            parts={"model": self.model, "optimizer": optimizer, "noise_generator": noise_generator},
            seed=self.seed, epochs=cfg.epochs, batch_size=cfg.batch_size, checkpoints=self.checkpoints,
            progress=progress, runtime=self.runtime, hint=f"lower the detector setting lr (now {cfg.lr:g})")
        return {
            **log,
            "loss": "binary cross-entropy summed over a frame's pixels" + (" + KL to N(0, I)" if self.variational
                                                                          else "") + ", mean over frames",
            "n_train_frames": int(len(index)),
            "n_batches_per_epoch": n_batches,
            "n_parameters": sum(p.numel() for p in self.model.parameters()),
        }

    # -- scoring -------------------------------------------------------------------------------------------------

    def score(self, video: "PreparedVideo", progress: "Progress") -> np.ndarray:
        """Per frame, the binary cross-entropy between the frame and its reconstruction (from the posterior mean
        for the VAE), summed over its pixels. The window is one frame, so value ``i`` is frame ``i``'s score."""
        check_frames(video, self.input_spec, self.name)

        def score_batch(frames: np.ndarray, n: int) -> torch.Tensor:
            x = self._to_input(frames)
            logits, _, _ = self.model(x)
            per_pixel = pixel_bce(logits, x)
            self.emit_maps(per_pixel[:, 0])
            return per_pixel.flatten(1).sum(1)

        return score_windows(video, 1, self.config.score_batch_size, score_batch, self.model, self.runtime,
                             progress)

    def provides_maps(self) -> bool:
        """On the frames view, ``score`` emits each frame's per-pixel binary cross-entropy, whose sum is the
        score."""
        return self.config.view == "frames"

    # -- checkpoints ---------------------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        save_model(path, self.name, self.version, self.config, self.model)

    def load(self, path: Path) -> None:
        load_model(path, self.name, self.version, self.config, self.model, _ARCHITECTURE_FIELDS)


class AE(_FramewiseDetector):
    """The AE baseline of the skeleton LSTM-VAE paper: convolutional autoencoder on single frames; score = the
    frame's BCE."""

    variational = False
    name = "ae"


class VAE(_FramewiseDetector):
    """The VAE baseline of the skeleton LSTM-VAE paper: convolutional VAE on single frames; score = the frame's BCE
    from the mean."""

    variational = True
    name = "vae"
