"""Conv-AE's network (Hasan et al., CVPR 2016); the detector glue and the design choices are in detector.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from anobench_convae.detector import Config


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
