"""The built-in frame-auroc scorer: hand-computed cases, agreement with scikit-learn, and input validation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from anobench_frame_metrics.scorer import FrameAUROC
from bench_core.errors import RunFailed
from bench_core.plugins import get_catalogue
from bench_core.scoring import Scorer

KEYS = {
    "frame_auroc_micro", "frame_auroc_macro", "macro_videos_used", "macro_videos_left_out",
    "aupr", "eer", "n_frames", "n_abnormal_frames",
    "tpr_at_1pct_fpr", "tpr_at_5pct_fpr", "false_alarms_per_hour", "event_detection_rate",
}


def score(scores, labels) -> dict:
    return FrameAUROC().compute([np.asarray(s, dtype=float) for s in scores], [np.asarray(lab) for lab in labels])


def eer_from_sklearn_roc(labels: np.ndarray, scores: np.ndarray) -> float:
    """EER on sklearn's (thinned) ROC points: walk to the first point where FPR >= FNR, interpolate back."""
    fpr, tpr, _ = roc_curve(labels, scores)
    fnr = 1.0 - tpr
    for i in range(1, len(fpr)):
        if fpr[i] >= fnr[i]:
            gap_before, gap_after = fpr[i - 1] - fnr[i - 1], fpr[i] - fnr[i]
            fraction = -gap_before / (gap_after - gap_before)
            return fpr[i - 1] + fraction * (fpr[i] - fpr[i - 1])
    raise AssertionError("the ROC curve never reaches FPR >= FNR")


# --- hand-computed cases -----------------------------------------------------------------------------------------


def test_four_frames_without_ties():
    # Abnormal frames score 0.35 and 0.8, normal ones 0.1 and 0.4. Of the 2 x 2 (abnormal, normal) pairs,
    # 0.35 > 0.1, 0.35 < 0.4, 0.8 > 0.1, 0.8 > 0.4: 3 of 4 pairs ordered right, AUROC = 3/4.
    # AP, thresholds high to low: 0.8 -> precision 1/1 at recall 1/2; 0.4 adds no recall; 0.35 -> precision 2/3
    # at recall 2/2. AP = 1/2 * 1 + 1/2 * 2/3 = 5/6.
    # ROC points (FPR, TPR): (0,0) (0,1/2) (1/2,1/2) (1/2,1) (1,1); at (1/2,1/2) FPR = 1 - TPR exactly: EER = 1/2.
    result = score([[0.1, 0.4, 0.35, 0.8]], [[0, 0, 1, 1]])
    assert set(result) == KEYS
    assert result["frame_auroc_micro"] == pytest.approx(3 / 4)
    assert result["frame_auroc_macro"] == pytest.approx(3 / 4)
    assert result["aupr"] == pytest.approx(5 / 6)
    assert result["eer"] == pytest.approx(1 / 2)
    assert (result["n_frames"], result["n_abnormal_frames"]) == (4, 2)
    assert (result["macro_videos_used"], result["macro_videos_left_out"]) == (1, 0)


def test_tied_scores_count_one_half():
    # Abnormal frames score 0.5 and 0.9, normal ones 0.5 and 0.5. Pairs: 0.9 beats both normals (2),
    # 0.5 ties both normals (1/2 + 1/2). AUROC = (2 + 1) / 4 = 3/4.
    # Midranks agree: sorted 0.5 0.5 0.5 0.9 take ranks 2 2 2 4; abnormal rank sum 2 + 4 = 6;
    # U = 6 - 2*3/2 = 3; AUROC = 3 / (2*2).
    # AP: threshold 0.9 -> precision 1 at recall 1/2; threshold 0.5 -> 2 abnormal of 4 frames, precision 1/2 at
    # recall 1. AP = 1/2 * 1 + 1/2 * 1/2 = 3/4.
    # ROC points: (0,0) (0,1/2) (1,1). On the last segment FPR = t, TPR = 1/2 + t/2; FPR = 1 - TPR gives
    # t = 1/2 - t/2, t = 1/3: EER = 1/3.
    result = score([[0.5, 0.5, 0.5, 0.9]], [[0, 1, 0, 1]])
    assert result["frame_auroc_micro"] == pytest.approx(3 / 4)
    assert result["aupr"] == pytest.approx(3 / 4)
    assert result["eer"] == pytest.approx(1 / 3)


def test_all_scores_tied_is_chance():
    # One threshold: ROC goes straight from (0,0) to (1,1): AUROC 1/2, EER 1/2; AP = precision = 2/5.
    result = score([[0.3] * 5], [[1, 0, 0, 1, 0]])
    assert result["frame_auroc_micro"] == pytest.approx(1 / 2)
    assert result["eer"] == pytest.approx(1 / 2)
    assert result["aupr"] == pytest.approx(2 / 5)


def test_perfect_and_reversed_ranking():
    perfect = score([[0.1, 0.2, 0.8, 0.9]], [[0, 0, 1, 1]])
    assert (perfect["frame_auroc_micro"], perfect["aupr"], perfect["eer"]) == (1.0, 1.0, 0.0)
    # Reversed: every normal frame outranks every abnormal one. ROC (0,0) (1/2,0) (1,0) (1,1/2) (1,1):
    # FPR = 1 - TPR first at (1,0): EER = 1. AP: recall comes only at thresholds 0.2 (1/3) and 0.1 (2/4):
    # AP = 1/2 * 1/3 + 1/2 * 2/4 = 5/12.
    reversed_ = score([[0.9, 0.8, 0.2, 0.1]], [[0, 0, 1, 1]])
    assert reversed_["frame_auroc_micro"] == 0.0
    assert reversed_["eer"] == pytest.approx(1.0)
    assert reversed_["aupr"] == pytest.approx(5 / 12)


def test_macro_leaves_out_one_class_videos_and_micro_pools_them():
    videos = [
        [0.1, 0.4, 0.35, 0.8],  # labels 0 0 1 1: AUROC 3/4 (see the first test)
        [0.2, 0.9, 0.3],  # labels 1 0 0: the abnormal 0.2 beats neither 0.9 nor 0.3: AUROC 0
        [0.5, 0.6],  # normal only: left out
        [0.7],  # abnormal only: left out
        [],  # no frames: left out
    ]
    labels = [[0, 0, 1, 1], [1, 0, 0], [0, 0], [1], []]
    result = score(videos, labels)
    # Macro = (3/4 + 0) / 2.
    assert result["frame_auroc_macro"] == pytest.approx(3 / 8)
    assert (result["macro_videos_used"], result["macro_videos_left_out"]) == (2, 3)
    # Micro pools all 10 frames. Abnormal: 0.35 0.8 0.2 0.7; normal: 0.1 0.4 0.9 0.3 0.5 0.6.
    # Normals beaten: by 0.35 -> 0.1 0.3 (2); by 0.8 -> all but 0.9 (5); by 0.2 -> 0.1 (1); by 0.7 -> 5.
    # AUROC = 13 / (4*6).
    assert result["frame_auroc_micro"] == pytest.approx(13 / 24)
    assert (result["n_frames"], result["n_abnormal_frames"]) == (10, 4)


def test_macro_is_none_when_no_video_holds_both_classes():
    result = score([[0.1, 0.2], [0.9]], [[0, 0], [1]])
    assert result["frame_auroc_macro"] is None
    assert (result["macro_videos_used"], result["macro_videos_left_out"]) == (0, 2)
    assert result["frame_auroc_micro"] == 1.0


def test_equal_scores_in_different_videos_are_not_tied_for_macro():
    # Within each video the abnormal frame outranks the normal one (AUROC 1 each), although the abnormal 0.5
    # of the first video equals the normal 0.5 of the second: pooling them into one tie would lower the macro.
    result = score([[0.2, 0.5], [0.5, 0.7]], [[0, 1], [0, 1]])
    assert result["frame_auroc_macro"] == 1.0
    # Pooled: abnormal 0.5 0.7 vs normal 0.2 0.5: pairs 1 + 1/2 + 1 + 1 = 3.5 of 4.
    assert result["frame_auroc_micro"] == pytest.approx(3.5 / 4)


def test_ties_within_a_video_count_one_half_for_macro():
    # Video 0: abnormal 0.4 ties one normal 0.4 and beats 0.1: (1/2 + 1) / 2 = 3/4.
    # Video 1: all three frames tied: 1/2. Macro = (3/4 + 1/2) / 2 = 5/8.
    result = score([[0.4, 0.4, 0.1], [0.3, 0.3, 0.3]], [[1, 0, 0], [0, 1, 1]])
    assert result["frame_auroc_macro"] == pytest.approx(5 / 8)


def test_macro_depends_only_on_each_videos_own_ranking():
    rng = np.random.default_rng(3)
    scores = [rng.random(50) for _ in range(6)]
    labels = [(rng.random(50) < 0.3).astype(int) for _ in range(6)]
    before = score(scores, labels)["frame_auroc_macro"]
    # Shifting and stretching one video, and reordering the videos, change no video's own ranking.
    moved = [s * 10 + 100 if i == 2 else s for i, s in enumerate(scores)]
    order = [5, 3, 1, 0, 2, 4]
    after = score([moved[i] for i in order], [labels[i] for i in order])["frame_auroc_macro"]
    assert after == pytest.approx(before, abs=1e-12)


def test_result_is_plain_json():
    result = score([[0.1, 0.4, 0.35, 0.8], [0.3]], [[0, 0, 1, 1], [0]])
    assert json.loads(json.dumps(result)) == result
    assert all(type(result[k]) is int for k in ("macro_videos_used", "macro_videos_left_out", "n_frames",
                                               "n_abnormal_frames"))
    assert all(type(result[k]) is float for k in ("frame_auroc_micro", "frame_auroc_macro", "aupr", "eer"))


def test_registered_as_frame_auroc_scorer():
    scorer_cls = get_catalogue().get("scorer", "frame-auroc").load()
    assert scorer_cls is FrameAUROC and issubclass(scorer_cls, Scorer)


# --- agreement with scikit-learn ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_agrees_with_sklearn_on_random_tied_data(seed):
    rng = np.random.default_rng(seed)
    n_videos = int(rng.integers(1, 25))
    lengths = rng.integers(0, 300, n_videos)
    abnormal_rate = rng.uniform(0.05, 0.6)
    # Few distinct values make ties common, within and across videos; some videos get one class only.
    decimals = int(rng.integers(1, 4))
    scores = [np.round(rng.normal(size=n), decimals) for n in lengths]
    labels = [(rng.random(n) < (abnormal_rate if rng.random() < 0.8 else 0.0)).astype(np.int8) for n in lengths]
    labels[0] = np.r_[labels[0], 0, 1]  # both classes overall, whatever the draw
    scores[0] = np.r_[scores[0], 0.0, 0.0]
    if seed % 2:
        scores = [s.astype(np.float32) for s in scores]

    result = FrameAUROC().compute(scores, labels)

    pooled_scores, pooled_labels = np.concatenate(scores), np.concatenate(labels)
    assert result["frame_auroc_micro"] == pytest.approx(roc_auc_score(pooled_labels, pooled_scores), abs=1e-12)
    assert result["aupr"] == pytest.approx(average_precision_score(pooled_labels, pooled_scores), abs=1e-12)
    assert result["eer"] == pytest.approx(eer_from_sklearn_roc(pooled_labels, pooled_scores), abs=1e-12)
    per_video = [roc_auc_score(lab, s) for s, lab in zip(scores, labels) if 0 < lab.sum() < len(lab)]
    assert result["macro_videos_used"] == len(per_video)
    assert result["macro_videos_left_out"] == n_videos - len(per_video)
    assert result["frame_auroc_macro"] == pytest.approx(np.mean(per_video), abs=1e-12)
    assert (result["n_frames"], result["n_abnormal_frames"]) == (len(pooled_labels), int(pooled_labels.sum()))


def test_agrees_with_sklearn_without_ties_and_with_bool_labels():
    rng = np.random.default_rng(11)
    scores = [rng.random(400), rng.random(700)]
    labels = [rng.random(400) < 0.1, rng.random(700) < 0.4]
    result = FrameAUROC().compute(scores, labels)
    pooled_scores, pooled_labels = np.concatenate(scores), np.concatenate(labels)
    assert result["frame_auroc_micro"] == pytest.approx(roc_auc_score(pooled_labels, pooled_scores), abs=1e-12)
    assert result["aupr"] == pytest.approx(average_precision_score(pooled_labels, pooled_scores), abs=1e-12)
    assert result["eer"] == pytest.approx(eer_from_sklearn_roc(pooled_labels, pooled_scores), abs=1e-12)
    macro = np.mean([roc_auc_score(lab, s) for s, lab in zip(scores, labels)])
    assert result["frame_auroc_macro"] == pytest.approx(macro, abs=1e-12)


def test_macro_agrees_with_sklearn_beyond_256_videos():
    # Video ids no longer fit one byte here, so the per-video sort runs on wider integers.
    rng = np.random.default_rng(5)
    scores = [np.round(rng.random(12), 1) for _ in range(300)]
    labels = [(rng.random(12) < 0.4).astype(np.int8) for _ in range(300)]
    result = FrameAUROC().compute(scores, labels)
    per_video = [roc_auc_score(lab, s) for s, lab in zip(scores, labels) if 0 < lab.sum() < len(lab)]
    assert result["macro_videos_used"] == len(per_video)
    assert result["frame_auroc_macro"] == pytest.approx(np.mean(per_video), abs=1e-12)


# --- input validation --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scores", "labels", "message"),
    [
        ([[0.1, 0.2]], [[0, 1], [1]], "scores for 1 videos but labels for 2"),
        ([[0.1, 0.9], [0.1, 0.2, 0.3]], [[0, 1], [0, 1]], "video index 1: 3 scores but 2 labels"),
        ([[0.1, 0.9], [], [0.1, 0.2]], [[0, 1], [], [0, 2]], "video index 2: labels must be 0 (normal) or 1"),
        ([[0.1, 0.9], [0.1, 0.2]], [[0, 1], [0.5, 1]], "found 0.5 at frame 0"),
        ([[0.1, 0.9], [0.1, 0.2]], [[0, 1], [1, np.nan]], "video index 1: labels must be 0"),
        ([[], [0.1, np.nan]], [[], [0, 1]], "video index 1: score at frame 1 is nan"),
        ([[0.1, 0.9], [np.inf, 0.2]], [[0, 1], [0, 1]], "video index 1: score at frame 0 is inf"),
        ([[0.1, 0.9], [-np.inf]], [[0, 1], [0]], "video index 1: score at frame 0 is -inf"),
        ([[0.1, 0.9], [[0.1, 0.2]]], [[0, 1], [[0, 1]]], "video index 1: scores and labels must be 1-D"),
        ([[0.1, 0.9], ["a", "b"]], [[0, 1], [0, 1]], "video index 1: scores must be real numbers"),
        ([[0.1, 0.9], [0.3]], [[0, 0], [0]], "no abnormal frame in any of the 2 test videos (3 frames)"),
        ([[0.1, 0.9]], [[1, 1]], "no normal frame in any of the 1 test videos"),
        ([], [], "no test videos"),
    ],
    ids=["video-count", "frame-count", "label-2", "label-half", "label-nan", "score-nan", "score-inf",
         "score-minus-inf", "2-d", "strings", "no-abnormal", "no-normal", "no-videos"],
)
def test_invalid_input_raises_run_failed_naming_the_fault(scores, labels, message):
    with pytest.raises(RunFailed) as caught:
        FrameAUROC().compute([np.asarray(s) for s in scores], [np.asarray(lab) for lab in labels])
    assert message in caught.value.message
    assert "\n" not in str(caught.value)
    assert caught.value.exit_code == 1
    assert caught.value.hint


# --- operating points --------------------------------------------------------------------------------------------

def test_tpr_at_a_false_positive_rate_is_the_best_tpr_within_it():
    # 100 normal frames scored 0..99, 10 abnormal scored 95.5, 96.5 ... 104.5.
    normal, abnormal = np.arange(100.0), 95.5 + np.arange(10.0)
    labels = np.r_[np.zeros(100), np.ones(10)]
    result = score([np.r_[normal, abnormal]], [labels])
    # FPR <= 1% allows one normal frame (99) above the threshold: the abnormal frames above 98 are 98.5 ... 104.5.
    assert result["tpr_at_1pct_fpr"] == pytest.approx(0.7)
    assert result["tpr_at_5pct_fpr"] == pytest.approx(1.0)
    fpr, tpr, _ = roc_curve(labels, np.r_[normal, abnormal])
    assert result["tpr_at_1pct_fpr"] == tpr[fpr <= 0.01].max()
    assert result["tpr_at_5pct_fpr"] == tpr[fpr <= 0.05].max()


def test_false_alarms_per_hour_and_event_detection_at_the_normal_threshold():
    from bench_core.scoring import OperatingPoint

    fps = 10.0
    # Video 0: 3600 frames (6 min at 10 fps), two labelled events (100-110 and 2000-2050); alerts (raw > 1) at
    # 105-107 (inside the first event) and in two false alarms, 500-502 and 900 (one frame).
    raw0 = np.zeros(3600)
    raw0[105:108] = 5.0
    raw0[500:503] = 3.0
    raw0[900] = 2.0
    label0 = np.zeros(3600, dtype=np.int8)
    label0[100:110] = 1
    label0[2000:2050] = 1
    # Video 1: 1800 normal frames at 20 fps, one false alarm.
    raw1 = np.zeros(1800)
    raw1[10] = 9.0
    point = OperatingPoint(threshold=1.0, false_alarm_rate=0.01, raw_scores=[raw0, raw1], fps=[fps, 20.0])
    labels = [label0, np.zeros(1800, dtype=np.int8)]
    result = FrameAUROC().compute([raw0, raw1], labels, point)
    normal_hours = ((3600 - 60) / fps + 1800 / 20.0) / 3600
    assert result["false_alarms_per_hour"] == pytest.approx(3 / normal_hours)
    assert result["event_detection_rate"] == 0.5
    # Without a threshold (a run with --calibration-holdout 0) the two are undefined, not zero.
    plain = FrameAUROC().compute([raw0, raw1], labels)
    assert plain["false_alarms_per_hour"] is None and plain["event_detection_rate"] is None
