"""The Scorer interface and the evaluation protocol applied to raw scores before any metric sees them.

The protocol is data: it is recorded in every run, and no step of it may look at test labels.
"""

from __future__ import annotations

import abc
import math
import numbers
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from bench_core.metrics import MetricSpec

NORMALISATIONS = ("minmax-per-video", "none", "train-stats")
LEADING_FRAMES = ("first-window-score",)


@dataclass(frozen=True)
class Protocol:
    #: 'minmax-per-video' (as the papers do), 'none', or 'train-stats' (by the run's held-out normal scores, see
    #: bench_core/calibration.py: the only one that works on a stream, before its end is known).
    normalization: str = "minmax-per-video"
    #: Std of a temporal Gaussian in frames, applied per video (never across videos); 0 turns it off.
    smoothing_sigma: float = 0.0
    #: Which frame-label convention the dataset's test labels follow (filled in from the dataset).
    label_convention: str = ""
    #: How frames before the first full temporal window are scored.
    leading_frames: str = "first-window-score"

    def __post_init__(self):
        if self.normalization not in NORMALISATIONS:
            raise ValueError(f"normalization must be one of {', '.join(NORMALISATIONS)}, not {self.normalization!r}")
        sigma = self.smoothing_sigma
        # NaN would pass a plain `< 0` check and silently turn smoothing off while the record says otherwise.
        if isinstance(sigma, bool) or not isinstance(sigma, numbers.Real) or not math.isfinite(sigma) or sigma < 0:
            raise ValueError(f"smoothing_sigma must be a finite number >= 0, not {sigma!r}")
        if self.leading_frames not in LEADING_FRAMES:
            raise ValueError(
                f"leading_frames must be one of {', '.join(LEADING_FRAMES)}, not {self.leading_frames!r}"
            )


def fill_leading_frames(window_scores: np.ndarray, n_frames: int, window: int) -> np.ndarray:
    """Per-frame scores from per-window scores: frames before the first full window take its score."""
    window_scores = np.asarray(window_scores, dtype=np.float64).reshape(-1)
    if window < 1 or n_frames < 0:
        raise ValueError(f"window must be >= 1 and n_frames >= 0, got window {window} and n_frames {n_frames}")
    # A video shorter than the window still gets one score (for all its frames); an empty video gets none.
    expected = max(n_frames - window + 1, min(n_frames, 1))
    if len(window_scores) != expected:
        raise ValueError(f"expected {expected} window scores for {n_frames} frames and window {window}, "
                         f"got {len(window_scores)}")
    lead = n_frames - len(window_scores)
    return np.concatenate([np.full(lead, window_scores[0]), window_scores]) if lead > 0 else window_scores


def apply_protocol(scores: np.ndarray, protocol: Protocol, normal=None) -> np.ndarray:
    """Smoothing then normalisation of one video's scores. Labels never enter here. ``normal`` (the run's
    ``calibration.NormalScores``) is needed by 'train-stats' only."""
    out = np.asarray(scores, dtype=np.float64)
    if protocol.smoothing_sigma > 0 and len(out) > 1:
        from scipy.ndimage import gaussian_filter1d

        out = gaussian_filter1d(out, protocol.smoothing_sigma, mode="nearest")
    if protocol.normalization == "minmax-per-video" and len(out) > 0:
        lo, hi = out.min(), out.max()
        out = (out - lo) / (hi - lo) if hi > lo else np.zeros_like(out)
    elif protocol.normalization == "train-stats":
        if normal is None:
            raise ValueError("normalization 'train-stats' needs the run's normal-score statistics")
        out = normal.normalise(out)
    return out


@dataclass(frozen=True)
class OperatingPoint:
    """What a scorer whose ``needs`` names ``"operating_point"`` gets besides the scores: the alert threshold set on
    held-out normal footage (on raw scores, as ``anobench score`` alerts), each test video's raw scores and fps."""

    #: Raw score above which a frame alerts: the (1 - false_alarm_rate) quantile of the normal scores.
    threshold: float
    false_alarm_rate: float
    raw_scores: list
    fps: list


class Scorer(abc.ABC):
    """Computes metrics from per-video frame scores (after the protocol) and per-video 0/1 labels."""

    version: ClassVar[str] = "1"
    #: What the scorer reads besides frame scores and labels, each given to ``compute`` as a keyword of that name
    #: (see ``call``). ``"maps"`` (the localization scorers): one ``bench_core.localization.MapSource`` per test
    #: video, or None when the detector gives no maps (its metrics are then None, "not available"); such a scorer is
    #: asked only of datasets with pixel masks. ``"operating_point"``: an ``OperatingPoint``, or None for a run
    #: without a normal hold-out (``--calibration-holdout 0``).
    needs: ClassVar[frozenset[str]] = frozenset()
    #: Every metric ``compute`` returns, declared (``bench_core.MetricSpec``: name, column title, which way is
    #: better, format, where tables show it); one of them the headline. Every table reads these, see
    #: bench_core/metrics.py.
    metrics: ClassVar[tuple[MetricSpec, ...]] = ()
    #: The metrics ``per_video`` and ``per_kind`` report for a part of the test set (empty: no breakdown).
    breakdown: ClassVar[tuple[MetricSpec, ...]] = ()

    @abc.abstractmethod
    def compute(self, scores: list[np.ndarray], labels: list[np.ndarray]) -> dict[str, float | int | None]:
        """Metric name → value. Names are flat and unique across scorers (e.g. ``frame_auroc_micro``)."""

    def per_video(self, scores: list[np.ndarray], labels: list[np.ndarray]) -> list[dict[str, float | None]]:
        """Each test video's ``breakdown`` metrics (None where a video cannot have one, e.g. one class only).
        Called on a run's saved scores (after the protocol) by ``anobench report``."""
        return [{} for _ in scores]

    def per_kind(self, scores: list[np.ndarray], labels: list[np.ndarray],
                 kinds: dict[str, list[np.ndarray]]) -> dict[str, dict[str, float | None]]:
        """Each kind of anomaly's ``breakdown`` metrics: ``kinds`` maps a kind to, per test video, a boolean mask
        of the frames inside its labelled events. Called by ``anobench leaderboard --by-kind`` and the report."""
        return {}


def call_scorer(scorer: "Scorer", scores: list[np.ndarray], labels: list[np.ndarray], **available) -> dict:
    """``scorer.compute(scores, labels)`` plus, as keywords, the ``available`` inputs its ``needs`` names (a need
    nothing offers is given as None)."""
    return scorer.compute(scores, labels, **{name: available.get(name) for name in type(scorer).needs})
