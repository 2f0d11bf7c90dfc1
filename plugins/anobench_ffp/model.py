"""The networks and losses of future frame prediction (Liu, Luo, Lian and Gao, "Future Frame Prediction for Anomaly
Detection -- A New Baseline", CVPR 2018), apart from the detector's glue (``detector.py``), as anomalib keeps its
torch model apart from its training code.

* ``UNetGenerator``: the U-Net that predicts frame ``t`` from frames ``t-4 .. t-1`` stacked as channels.
* ``PatchDiscriminator``: a small PatchGAN that scores each patch of a frame real or predicted (least squares).
* ``intensity_loss``, ``gradient_loss`` (GDL), the least-squares adversarial losses, and ``psnr``, the score.

Frames are tensors of shape (batch, channels, height, width) with pixels in [-1, 1], as in the paper.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    # One level of the U-Net: two 3x3 'same' convolutions, each followed by batch normalisation and ReLU, as in the
    # common PyTorch port of the paper's code. Without the normalisation the narrow U-Nets of the cpu and standard
    # presets settle on one constant frame, the background, whatever their input (docs/ffp.md).
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class UNetGenerator(nn.Module):
    """U-Net (Ronneberger et al. 2015) as used by Liu et al.: ``len(widths)`` levels of two 3x3 convolutions (each
    with batch normalisation and ReLU), a 2x2 max-pooling between levels on the way down, a 2x2 stride-2 transposed
    convolution and a skip connection (concatenation) on the way up, and a 3x3 convolution with tanh to the
    predicted frame.

    The paper's widths are (64, 128, 256, 512): three poolings, so the input side must be a multiple of 8.
    """

    def __init__(self, in_channels: int, out_channels: int, widths: tuple[int, ...]):
        super().__init__()
        widths = tuple(widths)
        self.down = nn.ModuleList()
        cin = in_channels
        for width in widths:
            self.down.append(_double_conv(cin, width))
            cin = width
        self.upsample = nn.ModuleList()
        self.up = nn.ModuleList()
        for width in reversed(widths[:-1]):
            self.upsample.append(nn.ConvTranspose2d(cin, width, 2, stride=2))
            self.up.append(_double_conv(2 * width, width))
            cin = width
        self.out = nn.Conv2d(cin, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for level, block in enumerate(self.down):
            if level > 0:
                x = F.max_pool2d(x, 2)
            x = block(x)
            skips.append(x)
        skips.pop()  # the bottom level's output is x itself
        for upsample, block in zip(self.upsample, self.up):
            x = block(torch.cat([skips.pop(), upsample(x)], dim=1))
        return torch.tanh(self.out(x))


class PatchDiscriminator(nn.Module):
    """PatchGAN (Isola et al. 2017, as in Liu et al.'s code): 4x4 convolutions of stride 2 (the last of stride 1)
    with LeakyReLU(0.2), then a 4x4 convolution to one linear output per patch -- least squares GAN scores, not
    probabilities. No normalisation layers, so a patch's score does not depend on the rest of the batch."""

    def __init__(self, in_channels: int, widths: tuple[int, ...]):
        super().__init__()
        layers, cin = [], in_channels
        for index, width in enumerate(widths):
            stride = 1 if index == len(widths) - 1 and len(widths) > 1 else 2
            layers += [nn.Conv2d(cin, width, 4, stride=stride, padding=1), nn.LeakyReLU(0.2, inplace=True)]
            cin = width
        layers.append(nn.Conv2d(cin, 1, 4, stride=1, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


# -- losses --------------------------------------------------------------------------------------------------------


def intensity_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The paper's L_int = ||I* - I||_2^2, as the mean squared error over pixels (the paper's code takes the mean)."""
    return (prediction - target).square().mean()


def _gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Absolute differences between horizontally and vertically neighbouring pixels."""
    return (x[..., :, 1:] - x[..., :, :-1]).abs(), (x[..., 1:, :] - x[..., :-1, :]).abs()


def gradient_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The paper's gradient difference loss L_gd (Mathieu et al. 2016, alpha = 1): the L1 distance between the
    absolute image gradients of prediction and target, along x plus along y, each as a mean over pixels."""
    (pred_x, pred_y), (true_x, true_y) = _gradients(prediction), _gradients(target)
    return (pred_x - true_x).abs().mean() + (pred_y - true_y).abs().mean()


def discriminator_lsgan_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Least squares GAN (Mao et al. 2017), the paper's L_adv^D: 1/2 (D(I) - 1)^2 + 1/2 D(I*)^2, mean over patches."""
    return 0.5 * (real_scores - 1).square().mean() + 0.5 * fake_scores.square().mean()


def generator_lsgan_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """The paper's L_adv^G: 1/2 (D(I*) - 1)^2, mean over patches."""
    return 0.5 * (fake_scores - 1).square().mean()


# -- score ---------------------------------------------------------------------------------------------------------

#: The smallest mean squared error PSNR divides by: a perfect prediction scores 100 dB, not infinity.
MIN_MSE = 1e-10


def psnr(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio of each frame of a batch in dB, pixels taken back from [-1, 1] to [0, 1] (peak 1),
    as the paper's code computes it: 10 log10(1 / mean squared error over the frame's pixels and channels)."""
    mse = ((prediction - target) / 2).double().square().flatten(1).mean(1)
    return 10 * torch.log10(1.0 / mse.clamp_min(MIN_MSE))
