"""SRNN's stacked RNN: temporally-coherent sparse coding unrolled as ISTA steps (Luo et al., ICCV 2017); the
detector glue and the design choices are in detector.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from anobench_srnn.detector import Config


def soft_threshold(x: torch.Tensor, threshold: float | torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * F.relu(x.abs() - threshold)


class TemporallyCoherentSparseCoding(nn.Module):
    """The stacked RNN: ``n_layers`` ISTA steps per frame with a shared dictionary, carried along time."""

    def __init__(self, config: Config, n_cells: int, n_features: int, generator: torch.Generator):
        super().__init__()
        self.sparsity = config.sparsity
        self.temporal_weight = config.temporal_weight
        self.n_layers = config.n_layers
        self.raw_dictionary = nn.Parameter(torch.randn(n_features, config.n_atoms, generator=generator))
        # Mean patch per position, subtracted from every patch (part of the state: saved with the checkpoint).
        self.register_buffer("mean_patch", torch.zeros(1, n_cells, n_features))

    def dictionary(self) -> torch.Tensor:
        """D with unit-norm atoms (columns)."""
        return self.raw_dictionary / self.raw_dictionary.norm(dim=0, keepdim=True).clamp_min(1e-8)

    def lipschitz(self, dictionary: torch.Tensor, temporal: bool) -> torch.Tensor:
        """L of the smooth part's gradient: ||D||_2^2 (+ temporal_weight when the temporal term is on)."""
        return torch.linalg.matrix_norm(dictionary, ord=2).square() + (self.temporal_weight if temporal else 0.0)

    def precompute(self, dictionary: torch.Tensor) -> dict[str, torch.Tensor]:
        """What every frame's coding reuses: D^T D and the step sizes 1/L with and without the temporal term."""
        return {"gram": dictionary.T @ dictionary, "step": 1.0 / self.lipschitz(dictionary, False),
                "step_temporal": 1.0 / self.lipschitz(dictionary, True)}

    def code_frame(self, x: torch.Tensor, previous: torch.Tensor | None, dictionary: torch.Tensor,
                   n_layers: int | None = None, precomputed: dict | None = None) -> torch.Tensor:
        """Codes (..., n_atoms) of feature vectors x (..., n_features); ``previous`` is the previous frame's codes
        (None for a first frame). ISTA starts from ``previous`` when the temporal term is on, else from zero."""
        temporal = previous is not None and self.temporal_weight > 0
        if precomputed is None:
            precomputed = self.precompute(dictionary)
        gram, step = precomputed["gram"], precomputed["step_temporal" if temporal else "step"]
        drive = x @ dictionary  # D^T x, for every vector at once
        code = previous if temporal else torch.zeros(*x.shape[:-1], dictionary.shape[1], dtype=x.dtype,
                                                     device=x.device)
        for _ in range(self.n_layers if n_layers is None else n_layers):
            gradient = code @ gram - drive
            if temporal:
                gradient = gradient + self.temporal_weight * (code - previous)
            code = soft_threshold(code - step * gradient, self.sparsity * step)
        return code

    def frame_terms(self, x: torch.Tensor, code: torch.Tensor, dictionary: torch.Tensor):
        """Per vector: 1/2 squared reconstruction error, and lambda * L1 norm of the code."""
        reconstruction = 0.5 * (x - code @ dictionary.T).square().sum(-1)
        return reconstruction, self.sparsity * code.abs().sum(-1)

    def objective(self, x: torch.Tensor, code: torch.Tensor, previous: torch.Tensor | None,
                  dictionary: torch.Tensor) -> torch.Tensor:
        """The full TSC objective per vector (the temporal term only where the switch is on)."""
        reconstruction, sparse = self.frame_terms(x, code, dictionary)
        total = reconstruction + sparse
        if previous is not None and self.temporal_weight > 0:
            total = total + 0.5 * self.temporal_weight * (code - previous).square().sum(-1)
        return total

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """Mean TSC objective per frame and patch over clips (batch, time, cells, n_features), coded in order."""
        dictionary = self.dictionary()
        precomputed = self.precompute(dictionary)
        previous, total = None, clips.new_zeros(())
        for t in range(clips.shape[1]):
            code = self.code_frame(clips[:, t], previous, dictionary, precomputed=precomputed)
            total = total + self.objective(clips[:, t], code, previous, dictionary).mean()
            previous = code
        return total / clips.shape[1]
