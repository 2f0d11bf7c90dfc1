"""Scoring speed: the frame-auroc scorer against scikit-learn on 1,000,000 frames in 200 videos.

Run with:
    .venv/bin/pytest benchmarks/bench_scoring.py --benchmark-only -o python_files='bench_*.py'

The baseline does what a script would do with scikit-learn: roc_auc_score, average_precision_score and
roc_curve (for the EER) on all frames, then roc_auc_score once per video for the macro AUROC. The baseline
runs first; the scorer's benchmark stores ``ratio_to_sklearn`` (its median over the baseline's) in
``extra_info`` and prints it. The target is under 1 s for the scorer on this data.

Two kinds of scores: ``distinct`` (raw float scores, nearly all different: a million tie groups, the
heavier case for the scorer) and ``rounded`` (4 decimals: ~10,000 distinct values, many ties).
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from anobench_frame_metrics.scorer import FrameAUROC

N_FRAMES = 1_000_000
N_VIDEOS = 200
TARGET_SECONDS = 1.0

# The baseline's median seconds per kind of scores, so the scorer's benchmark can report its ratio.
baseline_medians: dict[str, float] = {}


@pytest.fixture(scope="module", params=["distinct", "rounded"])
def frames(request):
    """Scores after min-max per video; videos of uneven length, about 15 % abnormal frames in runs,
    every tenth video normal only (as in real test splits)."""
    rng = np.random.default_rng(2024)
    cuts = np.sort(rng.choice(np.arange(1, N_FRAMES), N_VIDEOS - 1, replace=False))
    lengths = np.diff(np.concatenate([[0], cuts, [N_FRAMES]]))
    scores, labels = [], []
    for index, length in enumerate(lengths):
        abnormal = np.zeros(length, dtype=np.int8)
        if index % 10:
            start = rng.integers(0, max(length - length // 6, 1))
            abnormal[start:start + length // 6] = 1
        raw = rng.normal(size=length) + 1.5 * abnormal
        normalised = (raw - raw.min()) / (raw.max() - raw.min())
        scores.append(np.round(normalised, 4) if request.param == "rounded" else normalised)
        labels.append(abnormal)
    return request.param, scores, labels


def sklearn_metrics(scores: list[np.ndarray], labels: list[np.ndarray]) -> dict:
    pooled_scores, pooled_labels = np.concatenate(scores), np.concatenate(labels)
    fpr, tpr, _ = roc_curve(pooled_labels, pooled_scores)
    fnr = 1.0 - tpr
    after = int(np.argmax(fpr >= fnr))
    gap_before, gap_after = fpr[after - 1] - fnr[after - 1], fpr[after] - fnr[after]
    eer = fpr[after - 1] + (-gap_before / (gap_after - gap_before)) * (fpr[after] - fpr[after - 1])
    per_video = [roc_auc_score(lab, s) for s, lab in zip(scores, labels) if 0 < lab.sum() < len(lab)]
    return {
        "frame_auroc_micro": roc_auc_score(pooled_labels, pooled_scores),
        "frame_auroc_macro": float(np.mean(per_video)),
        "aupr": average_precision_score(pooled_labels, pooled_scores),
        "eer": float(eer),
    }


def test_sklearn_baseline(benchmark, frames):
    kind, scores, labels = frames
    benchmark.group = f"scoring 1M frames / 200 videos, {kind} scores"
    result = benchmark.pedantic(sklearn_metrics, args=(scores, labels), rounds=3, iterations=1, warmup_rounds=1)
    baseline_medians[kind] = benchmark.stats.stats.median
    assert 0.5 < result["frame_auroc_micro"] < 1.0


def test_frame_auroc_scorer(benchmark, frames):
    kind, scores, labels = frames
    benchmark.group = f"scoring 1M frames / 200 videos, {kind} scores"
    scorer = FrameAUROC()
    result = benchmark.pedantic(scorer.compute, args=(scores, labels), rounds=10, iterations=1, warmup_rounds=1)
    median = benchmark.stats.stats.median
    benchmark.extra_info["median_seconds"] = round(median, 4)
    if kind in baseline_medians:  # absent when the baseline was deselected
        baseline = baseline_medians[kind]
        benchmark.extra_info["sklearn_median_seconds"] = round(baseline, 4)
        benchmark.extra_info["ratio_to_sklearn"] = round(median / baseline, 4)
        print(f"\n{kind} scores: frame-auroc {median:.4f} s, sklearn {baseline:.4f} s, "
              f"ratio ours/sklearn {median / baseline:.3f}")

    # The timed result must also be the right one.
    reference = sklearn_metrics(scores, labels)
    for key, value in reference.items():
        assert result[key] == pytest.approx(value, abs=1e-9), key
    one_class = sum(not 0 < lab.sum() < len(lab) for lab in labels)
    assert (result["n_frames"], result["macro_videos_left_out"]) == (N_FRAMES, one_class)
    assert benchmark.stats.stats.min < TARGET_SECONDS
