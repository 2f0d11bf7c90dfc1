"""Frame-level metrics: AUROC (micro over all frames, macro over videos), average precision and equal error rate,
and operating points: the TPR at 1% and 5% FPR and, at the alert threshold set on held-out normal footage, the
false alarms per hour of normal test footage and the share of labelled events that raise an alert.

Every metric follows scikit-learn's definition (roc_auc_score, average_precision_score, roc_curve) and is
computed from one sort of all frames (``bench_core.metrics.roc_curve``, the code base's one ROC implementation),
so scoring a million frames takes a fraction of a second. Tied scores count as in scikit-learn: a tied
positive/negative pair counts one half (midranks), which is the trapezoid under the ROC curve.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bench_core.calibration import events_of, labelled_spans
from bench_core.errors import RunFailed
from bench_core.metrics import AUROC_GRADES, MetricSpec, auroc, auroc_per_group, roc_from_sorted, sort_scores
from bench_core.scoring import OperatingPoint, Scorer

_INPUT_HINT = "the detector's scores and the dataset's frame labels must line up frame by frame"


class FrameAUROC(Scorer):
    """AUROC micro (all frames pooled) and macro (mean over videos holding both classes), AUPR and EER.

    Frames labelled 1 (abnormal) are the positive class and higher scores mean more abnormal.
    Invalid input raises :class:`bench_core.errors.RunFailed` naming the video index (0-based) at fault.

    Operating points: ``tpr_at_1pct_fpr`` and ``tpr_at_5pct_fpr`` are the highest TPR of the pooled ROC curve at an
    FPR no higher than 1% (5%). Given the run's normal-score threshold (``operating_point``), a frame alerts when
    its raw score is above it; alert frames form events as ``anobench score`` forms them (a run of consecutive
    alert frames). ``false_alarms_per_hour`` counts the events holding no abnormal frame per hour of normal test
    frames (at each video's frame rate); ``event_detection_rate`` is the share of labelled events (runs of frames
    labelled 1) with at least one alert frame. Both are None without a threshold.
    """

    version = "1"
    # In the order of the leaderboard's columns: micro, (macro with --wide), AUPR, EER.
    metrics = (
        MetricSpec("frame_auroc_micro", "Frame AUROC (micro)", True, headline=True, interval=True, grades=AUROC_GRADES,
                   description="area under the ROC curve of all test frames pooled (the headline metric)"),
        MetricSpec("frame_auroc_macro", "Frame AUROC (macro)", True, show="wide", grades=AUROC_GRADES,
                   description="mean of the per-video AUROCs, over videos holding both classes"),
        MetricSpec("aupr", "AUPR", True, description="average precision, abnormal frames as the positive class"),
        MetricSpec("eer", "EER", False,
                   description="equal error rate: where the false positive rate equals the false negative rate"),
        MetricSpec("macro_videos_used", "Videos in the macro AUROC", None, format=".0f", show="data",
                   description="videos that entered the macro AUROC"),
        MetricSpec("macro_videos_left_out", "Videos left out of the macro AUROC", None, format=".0f", show="data",
                   description="videos left out of the macro AUROC (one class only)"),
        MetricSpec("n_frames", "Test frames", None, format=".0f", show="data", description="test frames scored"),
        MetricSpec("n_abnormal_frames", "Abnormal test frames", None, format=".0f", show="data",
                   description="test frames labelled abnormal"),
        MetricSpec("tpr_at_1pct_fpr", "TPR at 1% FPR", True, show="data",
                   description="the highest true positive rate of the pooled ROC curve at a FPR of at most 1%"),
        MetricSpec("tpr_at_5pct_fpr", "TPR at 5% FPR", True, show="data",
                   description="the highest true positive rate of the pooled ROC curve at a FPR of at most 5%"),
        MetricSpec("false_alarms_per_hour", "False alarms per hour", False, format=".1f", show="data",
                   description="alert events holding no abnormal frame, per hour of normal test footage, at the "
                               "threshold set on held-out normal footage (None without a hold-out)"),
        MetricSpec("event_detection_rate", "Event detection rate", True, show="data",
                   description="share of labelled events with an alert frame at that threshold"),
    )
    breakdown = (MetricSpec("frame_auroc", "Frame AUROC", True, grades=AUROC_GRADES,
                            description="AUROC of a part of the test frames: one video's (against its own normal "
                                        "frames), or one kind of anomaly's (against every normal frame)"),)
    needs = frozenset({"operating_point"})

    def compute(self, scores: Sequence[np.ndarray], labels: Sequence[np.ndarray],
                operating_point: OperatingPoint | None = None) -> dict[str, float | int | None]:
        frame_scores, frame_abnormal, video_lengths = _pool_checked(scores, labels)
        n_frames = len(frame_scores)
        n_abnormal = int(np.count_nonzero(frame_abnormal))
        if n_abnormal == 0 or n_abnormal == n_frames:
            missing = "abnormal" if n_abnormal == 0 else "normal"
            raise RunFailed(
                f"no {missing} frame in any of the {len(video_lengths)} test videos ({n_frames} frames): "
                "frame AUROC is undefined",
                hint="check that the dataset's test labels were loaded, and that the test split holds both classes",
            )

        order, starts_tie_group = sort_scores(frame_scores)
        micro = _pooled_metrics(roc_from_sorted(frame_abnormal[order], starts_tie_group))
        video_aurocs = [v for v in auroc_per_group(frame_abnormal, frame_scores, video_lengths, order)
                        if v is not None]
        macro_auroc, videos_used = (float(np.mean(video_aurocs)) if video_aurocs else None), len(video_aurocs)
        at_threshold = (_at_threshold(operating_point, labels) if operating_point is not None
                        else {"false_alarms_per_hour": None, "event_detection_rate": None})
        return {
            "frame_auroc_micro": micro["auroc"],
            "frame_auroc_macro": macro_auroc,
            "macro_videos_used": videos_used,
            "macro_videos_left_out": len(video_lengths) - videos_used,
            "aupr": micro["aupr"],
            "eer": micro["eer"],
            "n_frames": n_frames,
            "n_abnormal_frames": n_abnormal,
            "tpr_at_1pct_fpr": micro["tpr_at_1pct_fpr"],
            "tpr_at_5pct_fpr": micro["tpr_at_5pct_fpr"],
            **at_threshold,
        }

    def per_video(self, scores, labels) -> list[dict[str, float | None]]:
        """Each video's frame AUROC; None for a video holding one class only."""
        lengths = [len(score) for score in scores]
        values = auroc_per_group(np.concatenate(labels), np.concatenate(scores), lengths) if scores else []
        return [{"frame_auroc": value} for value in values]

    def per_kind(self, scores, labels, kinds) -> dict[str, dict[str, float | None]]:
        """Each kind's frame AUROC: the frames labelled abnormal inside its events against every normal frame of
        the test videos, pooled over videos like the micro AUROC. It says which kinds a detector misses; a kind
        with no labelled frames gets no value."""
        score = np.concatenate([np.asarray(s, dtype=np.float64) for s in scores])
        abnormal = np.concatenate([np.asarray(label) == 1 for label in labels])
        normal_scores = score[~abnormal]
        result = {}
        for kind, masks in sorted(kinds.items()):
            inside = np.concatenate(masks) & abnormal
            if inside.any() and len(normal_scores):
                truth = np.concatenate([np.zeros(len(normal_scores)), np.ones(int(inside.sum()))])
                result[kind] = {"frame_auroc": auroc(truth, np.concatenate([normal_scores, score[inside]]))}
        return result


def _at_threshold(point: OperatingPoint, labels: Sequence[np.ndarray]) -> dict[str, float | None]:
    """False alarms per hour of normal footage and the share of labelled events alerted, at ``point.threshold``."""
    if len(point.raw_scores) != len(labels) or len(point.fps) != len(labels):
        raise RunFailed(f"the operating point holds {len(point.raw_scores)} videos' raw scores for {len(labels)} "
                        "videos' labels", hint=_INPUT_HINT)
    false_alarms, normal_seconds, events, alerted = 0, 0.0, 0, 0
    for index, (raw, label, fps) in enumerate(zip(point.raw_scores, labels, point.fps)):
        raw, label = np.asarray(raw, dtype=np.float64), np.asarray(label) == 1
        if len(raw) != len(label) or not fps or fps <= 0:
            raise RunFailed(f"video index {index}: {len(raw)} raw scores, {len(label)} labels, {fps} fps",
                            hint=_INPUT_HINT)
        alert = raw > point.threshold
        false_alarms += sum(1 for e in events_of(alert, raw) if not label[e.start:e.stop].any())
        normal_seconds += np.count_nonzero(~label) / fps
        for start, stop in labelled_spans(label):
            events += 1
            alerted += bool(alert[start:stop].any())
    return {
        "false_alarms_per_hour": false_alarms / (normal_seconds / 3600) if normal_seconds > 0 else None,
        "event_detection_rate": alerted / events if events else None,
    }


def _pool_checked(scores, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All videos' scores (float64) and abnormal flags concatenated, and each video's frame count."""
    if len(scores) != len(labels):
        raise RunFailed(f"got scores for {len(scores)} videos but labels for {len(labels)} videos", hint=_INPUT_HINT)
    if len(scores) == 0:
        raise RunFailed("no test videos to score", hint="check that the dataset's test split is not empty")
    score_arrays, label_arrays = [], []
    for index, (video_scores, video_labels) in enumerate(zip(scores, labels)):
        video_scores, video_labels = np.asarray(video_scores), np.asarray(video_labels)
        if video_scores.ndim != 1 or video_labels.ndim != 1:
            raise RunFailed(
                f"video index {index}: scores and labels must be 1-D per-frame arrays, "
                f"got shapes {video_scores.shape} and {video_labels.shape}",
                hint=_INPUT_HINT,
            )
        if len(video_scores) != len(video_labels):
            raise RunFailed(
                f"video index {index}: {len(video_scores)} scores but {len(video_labels)} labels", hint=_INPUT_HINT
            )
        for what, array in (("scores", video_scores), ("labels", video_labels)):
            if array.dtype.kind not in "biuf":
                raise RunFailed(f"video index {index}: {what} must be real numbers, got dtype {array.dtype}",
                                hint=_INPUT_HINT)
        score_arrays.append(video_scores)
        label_arrays.append(video_labels)

    video_lengths = np.array([len(s) for s in score_arrays], dtype=np.int64)
    video_starts = np.concatenate([[0], np.cumsum(video_lengths)[:-1]])
    frame_scores = np.concatenate(score_arrays).astype(np.float64, copy=False)
    frame_labels = np.concatenate(label_arrays)

    def first_bad_frame(bad: np.ndarray) -> tuple[int, int, int]:
        flat = int(np.argmax(bad))
        # The last video starting at or before the frame holds it (empty videos share the next one's start).
        video = int(np.searchsorted(video_starts, flat, side="right")) - 1
        return video, flat - int(video_starts[video]), flat

    not_binary = (frame_labels != 0) & (frame_labels != 1)
    if not_binary.any():
        video, frame, flat = first_bad_frame(not_binary)
        raise RunFailed(
            f"video index {video}: labels must be 0 (normal) or 1 (abnormal), "
            f"found {frame_labels[flat].item()!r} at frame {frame}",
            hint=_INPUT_HINT,
        )
    not_finite = ~np.isfinite(frame_scores)
    if not_finite.any():
        video, frame, flat = first_bad_frame(not_finite)
        raise RunFailed(
            f"video index {video}: score at frame {frame} is {frame_scores[flat]}",
            hint="the detector produced a non-finite score; check its training for divergence",
        )
    return frame_scores, frame_labels == 1, video_lengths


def _pooled_metrics(curve) -> dict[str, float]:
    """AUROC, average precision, EER and TPR at 1% and 5% FPR of all frames pooled, from their ROC curve."""
    true_pos, false_pos, n_pos = curve.true_pos, curve.false_pos, curve.n_pos
    auroc = curve.auroc

    # Average precision as sklearn's step sum: each threshold's precision weighted by the recall it adds.
    precision = true_pos[1:] / (true_pos[1:] + false_pos[1:])
    aupr = float(np.dot(curve.positives_per_step, precision) / n_pos)

    # FPR + TPR - 1 rises strictly along the curve (each point adds frames), so it crosses 0 exactly once:
    # there FPR = 1 - TPR = FNR, found by interpolating linearly between the two ROC points around it.
    fpr, tpr = curve.fpr, curve.tpr
    gap = fpr + tpr - 1.0
    after = int(np.argmax(gap >= 0.0))
    before = after - 1
    if gap[after] == 0.0:
        eer = float(fpr[after])
    else:
        fraction = -gap[before] / (gap[after] - gap[before])
        eer = float(fpr[before] + fraction * (fpr[after] - fpr[before]))
    # The best TPR at a given FPR: the ROC points are in rising FPR, so the last one within it.
    tpr_at = {rate: float(tpr[np.searchsorted(fpr, rate, side="right") - 1]) for rate in (0.01, 0.05)}
    return {"auroc": auroc, "aupr": aupr, "eer": eer, "tpr_at_1pct_fpr": tpr_at[0.01],
            "tpr_at_5pct_fpr": tpr_at[0.05]}
