"""The AE / VAE network of the skeleton LSTM-VAE paper's frame-wise baselines; the detector glue and the design choices
are in detector.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from bench_core.torch_layer import frame_decoder_layers, frame_encoder_layers

if TYPE_CHECKING:
    from anobench_framewise.detector import Config


class FrameAutoencoder(nn.Module):
    """28x28 (or input_size) frame -> J-dimensional code (or mean and log-variance) -> one logit per pixel."""

    def __init__(self, config: Config, variational: bool):
        super().__init__()
        self.side = config.side
        self.variational = variational
        self.bottom = config.side // 4
        flat = config.channels[1] * self.bottom * self.bottom
        self.encoder = nn.Sequential(*frame_encoder_layers(config.channels, config.batch_norm), nn.Flatten())
        self.to_code = nn.Linear(flat, config.latent_dim * (2 if variational else 1))
        self.from_code = nn.Sequential(nn.Linear(config.latent_dim, flat), nn.ReLU(inplace=True))
        self.decoder = nn.Sequential(*frame_decoder_layers(config.channels, config.batch_norm))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(mean, log-variance) for the VAE; (code, None) for the AE."""
        out = self.to_code(self.encoder(x))
        if self.variational:
            mean, log_var = out.chunk(2, dim=1)
            return mean, log_var
        return out, None

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        h = self.from_code(code).view(len(code), -1, self.bottom, self.bottom)
        return self.decoder(h)

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None):
        """Logits of the reconstruction, and the posterior (mean, log-variance; log-variance None for the AE).

        ``noise`` (standard normal, like the mean) draws z = mean + exp(log_var / 2) * noise; None uses the mean.
        """
        mean, log_var = self.encode(x)
        code = mean if noise is None or log_var is None else mean + torch.exp(0.5 * log_var) * noise
        return self.decode(code), mean, log_var
