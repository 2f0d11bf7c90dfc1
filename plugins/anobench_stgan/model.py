"""STGAN's three networks (encoder, decoder, discriminator) and its adversarial losses (the STGAN paper); the
detector glue and the design choices are in detector.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

if TYPE_CHECKING:
    from anobench_stgan.detector import Config


# -- networks ------------------------------------------------------------------------------------------------------


def _conv_shapes(config: Config) -> list[tuple[int, int, int]]:
    """(time, height, width) of the input and after each encoder convolution."""
    t, s = config.window, config.input_size // config.pixel_fold
    shapes = [(t, s, s)]
    for level in range(len(config.channels)):
        if level > 0:
            t //= 2
        s = (s + 2 - 4) // 2 + 1  # kernel 4, stride 2, padding 1
        shapes.append((t, s, s))
    return shapes


def fold_pixels(x: torch.Tensor, r: int) -> torch.Tensor:
    """(b, 1, t, h, w) -> (b, r*r, t, h/r, w/r): each r x r block of pixels becomes r*r channels."""
    if r == 1:
        return x
    b, _, t, h, w = x.shape
    x = x.reshape(b, t, h // r, r, w // r, r).permute(0, 3, 5, 1, 2, 4)
    return x.reshape(b, r * r, t, h // r, w // r)


def unfold_pixels(x: torch.Tensor, r: int) -> torch.Tensor:
    """The inverse of ``fold_pixels``."""
    if r == 1:
        return x
    b, _, t, h, w = x.shape
    x = x.reshape(b, r, r, t, h, w).permute(0, 3, 4, 1, 5, 2)
    return x.reshape(b, 1, t, h * r, w * r)


def _down(cin: int, cout: int, halve_time: bool) -> nn.Conv3d:
    # Kernel 4 with stride 2 in halved dimensions, kernel 3 with stride 1 in time otherwise.
    return nn.Conv3d(cin, cout, (4 if halve_time else 3, 4, 4), stride=(2 if halve_time else 1, 2, 2), padding=1)


def _up(cin: int, cout: int, double_time: bool) -> nn.ConvTranspose3d:
    return nn.ConvTranspose3d(cin, cout, (4 if double_time else 3, 4, 4), stride=(2 if double_time else 1, 2, 2),
                              padding=1)


class SelfAttention3d(nn.Module):
    """SAGAN's self-attention over every (time, y, x) position of a feature map; starts as the identity."""

    def __init__(self, channels: int):
        super().__init__()
        inner = max(channels // 8, 1)
        self.query = nn.Conv3d(channels, inner, 1)
        self.key = nn.Conv3d(channels, inner, 1)
        self.value = nn.Conv3d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[:2]
        q = self.query(x).flatten(2)  # (b, inner, n)
        k = self.key(x).flatten(2)
        v = self.value(x).flatten(2)  # (b, c, n)
        attention = torch.softmax(torch.bmm(q.transpose(1, 2), k), dim=-1)  # (b, n, n): row i attends over j
        out = torch.bmm(v, attention.transpose(1, 2)).view_as(x)
        return x + self.gamma * out


class Encoder(nn.Module):
    def __init__(self, config: Config):
        super().__init__()
        self.fold = config.pixel_fold
        layers, cin = [], self.fold ** 2
        for level, cout in enumerate(config.channels):
            layers += [_down(cin, cout, halve_time=level > 0), nn.LeakyReLU(0.2)]
            cin = cout
        layers.append(nn.Conv3d(cin, config.latent_channels, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(fold_pixels(x, self.fold))


class Decoder(nn.Module):
    def __init__(self, config: Config):
        super().__init__()
        channels = list(config.channels)
        self.shapes = _conv_shapes(config)
        self.fold = config.pixel_fold
        self.project = nn.Conv3d(config.latent_channels, channels[-1], 1)
        self.ups = nn.ModuleList()
        for level in range(len(channels) - 1, -1, -1):
            cout = channels[level - 1] if level > 0 else self.fold ** 2
            self.ups.append(_up(channels[level], cout, double_time=level > 0))
        self.attention = SelfAttention3d(self.ups[0].out_channels) if config.self_attention and len(
            channels) > 1 else None

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.project(z))
        n = len(self.ups)
        for i, up in enumerate(self.ups):
            # Odd sizes floor on the way down; asking for the encoder's sizes makes the output the input's size.
            target = self.shapes[n - 1 - i]
            h = up(h, output_size=target)
            if i == n - 1:
                return unfold_pixels(torch.tanh(h), self.fold)
            h = F.relu(h)
            if i == 0 and self.attention is not None:
                h = self.attention(h)
        raise AssertionError("unreachable")


class Discriminator(nn.Module):
    """Encoder-like 3D convolutions, then a linear score of the last feature map averaged over positions."""

    def __init__(self, config: Config):
        super().__init__()
        self.blocks = nn.ModuleList()
        self.fold = config.pixel_fold
        cin = self.fold ** 2
        for level, cout in enumerate(config.channels):
            self.blocks.append(_down(cin, cout, halve_time=level > 0))
            cin = cout
        self.attention = SelfAttention3d(config.channels[1]) if config.self_attention and len(
            config.channels) > 1 else None
        self.head = nn.Linear(cin, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits of shape (batch,), last hidden feature map) -- the features feed feature matching."""
        h = fold_pixels(x, self.fold)
        for i, block in enumerate(self.blocks):
            h = F.leaky_relu(block(h), 0.2)
            if i == 1 and self.attention is not None:
                h = self.attention(h)
        return self.head(h.mean(dim=(2, 3, 4))).squeeze(1), h


def _apply_spectral_norm(module: nn.Module) -> None:
    for child in list(module.modules()):
        if isinstance(child, (nn.Conv3d, nn.ConvTranspose3d, nn.Linear)):
            # ConvTranspose weights are (in, out, ...): their output dimension is 1.
            _spectral_norm(child, dim=1 if isinstance(child, nn.ConvTranspose3d) else 0)


class STGANNets(nn.Module):
    def __init__(self, config: Config):
        super().__init__()
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.discriminator = Discriminator(config)
        if config.spectral_norm:
            for net in (self.encoder, self.decoder, self.discriminator):
                _apply_spectral_norm(net)

    def generator_parameters(self):
        return [*self.encoder.parameters(), *self.decoder.parameters()]

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


# -- losses --------------------------------------------------------------------------------------------------------


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "hinge":
        return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_adversarial_loss(fake_logits: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "hinge":
        return -fake_logits.mean()
    return F.softplus(-fake_logits).mean()


def feature_matching_loss(real_features: torch.Tensor, fake_features: torch.Tensor) -> torch.Tensor:
    """Salimans et al. (2016): squared distance between the batch means of the discriminator's features."""
    return (real_features.mean(0) - fake_features.mean(0)).square().mean()
