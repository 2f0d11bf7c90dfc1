"""Frame-level metrics: AUROC (micro over all frames, macro over videos), average precision and equal error rate,
and operating points: the TPR at 1% and 5% FPR and, at the alert threshold set on held-out normal footage, the
false alarms per hour of normal test footage and the share of labelled events that raise an alert.

Every metric follows scikit-learn's definition (roc_auc_score, average_precision_score, roc_curve) and is
computed from one sort of all frames, so scoring a million frames takes a fraction of a second.
Tied scores count as in scikit-learn: a tied positive/negative pair counts one half (midranks), which is
the trapezoid under the ROC curve.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bench_core.calibration import events_of, labelled_spans
from bench_core.errors import RunFailed
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
    metrics = {
        "frame_auroc_micro": "area under the ROC curve of all test frames pooled (the headline metric)",
        "frame_auroc_macro": "mean of the per-video AUROCs, over videos holding both classes",
        "macro_videos_used": "videos that entered the macro AUROC",
        "macro_videos_left_out": "videos left out of the macro AUROC (one class only)",
        "aupr": "average precision, abnormal frames as the positive class",
        "eer": "equal error rate: where the false positive rate equals the false negative rate",
        "n_frames": "test frames scored",
        "n_abnormal_frames": "test frames labelled abnormal",
    }
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

        # One ascending sort serves both the pooled curve and, re-sorted stably by video, every video's ranks.
        order = np.argsort(frame_scores)
        sorted_scores = frame_scores[order]
        sorted_abnormal = frame_abnormal[order]
        starts_tie_group = np.empty(n_frames, dtype=bool)
        starts_tie_group[0] = True
        np.not_equal(sorted_scores[1:], sorted_scores[:-1], out=starts_tie_group[1:])

        micro = _pooled_metrics(sorted_abnormal, starts_tie_group)
        macro_auroc, videos_used = _per_video_auroc(sorted_abnormal, starts_tie_group, order, video_lengths)
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


def _pooled_metrics(sorted_abnormal: np.ndarray, starts_tie_group: np.ndarray) -> dict[str, float]:
    """AUROC, average precision and EER over all frames, from frames sorted by ascending score."""
    group_starts = np.flatnonzero(starts_tie_group)
    group_sizes = np.diff(np.append(group_starts, len(sorted_abnormal)))
    abnormal_per_group = np.add.reduceat(sorted_abnormal.astype(np.int64), group_starts)
    normal_per_group = group_sizes - abnormal_per_group

    # The ROC and PR curves take one point per distinct score, from the highest threshold down, as sklearn does.
    true_pos = np.concatenate([[0], np.cumsum(abnormal_per_group[::-1])])
    false_pos = np.concatenate([[0], np.cumsum(normal_per_group[::-1])])
    n_pos, n_neg = int(true_pos[-1]), int(false_pos[-1])

    # Trapezoids in integer counts: exact, and equal to the midrank (Mann-Whitney) statistic.
    twice_area = int(np.dot(np.diff(false_pos), true_pos[1:] + true_pos[:-1]))
    auroc = twice_area / (2 * n_pos * n_neg)

    # Average precision as sklearn's step sum: each threshold's precision weighted by the recall it adds.
    precision = true_pos[1:] / (true_pos[1:] + false_pos[1:])
    aupr = float(np.dot(abnormal_per_group[::-1], precision) / n_pos)

    # FPR + TPR - 1 rises strictly along the curve (each point adds frames), so it crosses 0 exactly once:
    # there FPR = 1 - TPR = FNR, found by interpolating linearly between the two ROC points around it.
    fpr, tpr = false_pos / n_neg, true_pos / n_pos
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


def _per_video_auroc(
    sorted_abnormal: np.ndarray, starts_tie_group: np.ndarray, order: np.ndarray, video_lengths: np.ndarray
) -> tuple[float | None, int]:
    """Mean AUROC over the videos holding both classes, and how many those are."""
    n_frames, n_videos = len(order), len(video_lengths)
    video_ids = np.arange(n_videos, dtype=np.min_scalar_type(n_videos - 1))
    video_of_frame = np.repeat(video_ids, video_lengths)
    video_starts = np.concatenate([[0], np.cumsum(video_lengths)[:-1]])

    # A stable sort of the score-sorted frames by video leaves each video's frames in ascending score order,
    # with its frames at the positions the video has in the input (numpy radix-sorts small integers).
    by_video = np.argsort(video_of_frame[order], kind="stable")
    tie_group = np.cumsum(starts_tie_group)[by_video]
    abnormal = sorted_abnormal[by_video]

    starts_group = np.empty(n_frames, dtype=bool)
    starts_group[0] = True
    np.not_equal(tie_group[1:], tie_group[:-1], out=starts_group[1:])
    starts_group[video_starts[video_lengths > 0]] = True  # equal scores in two videos are not tied
    group_starts = np.flatnonzero(starts_group)
    group_ends = np.append(group_starts[1:], n_frames)
    video_of_group = video_of_frame[group_starts]
    first_rank = group_starts - video_starts[video_of_group] + 1
    last_rank = group_ends - video_starts[video_of_group]
    abnormal_per_group = np.add.reduceat(abnormal.astype(np.int64), group_starts)

    # Mann-Whitney per video with midranks; twice the rank sum is an integer (< 2**53 below ~60M frames a video).
    twice_rank_sum = np.bincount(
        video_of_group, weights=abnormal_per_group * (first_rank + last_rank), minlength=n_videos
    )
    n_pos = np.bincount(video_of_group, weights=abnormal_per_group, minlength=n_videos)
    n_neg = video_lengths - n_pos
    both_classes = (n_pos > 0) & (n_neg > 0)
    if not both_classes.any():
        return None, 0
    pos, neg = n_pos[both_classes], n_neg[both_classes]
    aurocs = (twice_rank_sum[both_classes] - pos * (pos + 1)) / (2 * pos * neg)
    return float(aurocs.mean()), int(both_classes.sum())
