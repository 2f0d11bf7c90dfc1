"""The LSTM-VAE network and its objective (the skeleton LSTM-VAE paper); the detector glue and the design choices are in
detector.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from bench_core.torch_layer import frame_decoder_layers, frame_encoder_layers, kl_to_standard_normal, summed_bce

if TYPE_CHECKING:
    from anobench_lstmvae.detector import Config


class LSTMVAENet(nn.Module):
    """(batch, T, 1, side, side) maps in [0, 1] -> logits of the same shape, posterior mean and log-variance."""

    def __init__(self, config: Config):
        super().__init__()
        self.window = config.window
        self.bottom = config.side // 4
        flat = config.channels[1] * self.bottom * self.bottom
        self.frame_encoder = nn.Sequential(
            *frame_encoder_layers(config.channels, config.batch_norm),
            nn.Flatten(), nn.Linear(flat, config.feature_dim), nn.ReLU(inplace=True),
        )
        self.encoder_lstm = nn.LSTM(config.feature_dim, config.lstm_units, batch_first=True)
        self.to_mean = nn.Linear(config.lstm_units, config.latent_dim)
        self.to_log_var = nn.Linear(config.lstm_units, config.latent_dim)
        self.decoder_lstm = nn.LSTM(config.latent_dim, config.lstm_units, batch_first=True)
        self.frame_decoder_fc = nn.Sequential(nn.Linear(config.lstm_units, flat), nn.ReLU(inplace=True))
        self.frame_decoder = nn.Sequential(*frame_decoder_layers(config.channels, config.batch_norm))

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


def lstm_vae_loss(model: LSTMVAENet, windows: torch.Tensor, noise: torch.Tensor):
    """The skeleton LSTM-VAE paper's objective on a batch: mean over windows of (BCE over the D pixels + KL); also
    both parts."""
    logits, mean, log_var = model(windows, noise)
    reconstruction = summed_bce(logits, windows).mean()
    kl = kl_to_standard_normal(mean, log_var).mean()
    return reconstruction + kl, reconstruction, kl
