"""The evaluation protocol: leading-frame filling, per-video smoothing and normalisation, Protocol validation."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from bench_core.scoring import Protocol, apply_protocol, fill_leading_frames

RAW = Protocol(normalization="none", smoothing_sigma=0.0)

# --- fill_leading_frames -----------------------------------------------------------------------------------------


def test_leading_frames_take_the_first_window_score():
    # 5 frames, window 3: windows end on frames 2, 3, 4; frames 0 and 1 precede the first full window.
    filled = fill_leading_frames(np.array([7.0, 8.0, 9.0]), n_frames=5, window=3)
    np.testing.assert_array_equal(filled, [7.0, 7.0, 7.0, 8.0, 9.0])
    assert filled.dtype == np.float64


def test_window_of_one_frame_is_identity():
    np.testing.assert_array_equal(fill_leading_frames([3, 1, 2], n_frames=3, window=1), [3.0, 1.0, 2.0])


def test_column_of_window_scores_is_flattened():
    np.testing.assert_array_equal(fill_leading_frames(np.array([[1.0], [2.0]]), n_frames=3, window=2), [1, 1, 2])


def test_video_shorter_than_window_gets_its_one_score_on_every_frame():
    np.testing.assert_array_equal(fill_leading_frames([0.4], n_frames=2, window=4), [0.4, 0.4])


def test_empty_video_gets_no_scores():
    assert len(fill_leading_frames(np.array([]), n_frames=0, window=4)) == 0
    with pytest.raises(ValueError, match="expected 0 window scores for 0 frames"):
        fill_leading_frames([0.4], n_frames=0, window=4)


@pytest.mark.parametrize(("n_scores", "expected"), [(2, 3), (4, 3)])
def test_wrong_number_of_window_scores_is_refused(n_scores, expected):
    with pytest.raises(ValueError, match=f"expected {expected} window scores for 5 frames and window 3, "
                                         f"got {n_scores}"):
        fill_leading_frames(np.zeros(n_scores), n_frames=5, window=3)


def test_window_below_one_is_refused():
    # Window 0 would otherwise ask for n_frames + 1 scores and hand back more scores than frames.
    with pytest.raises(ValueError, match="window must be >= 1"):
        fill_leading_frames(np.zeros(6), n_frames=5, window=0)


# --- apply_protocol: normalisation ---------------------------------------------------------------------------------


def test_minmax_maps_each_video_onto_zero_one():
    # (x - 2) / (6 - 2)
    out = apply_protocol(np.array([2.0, 6.0, 3.0, 4.0]), Protocol())
    np.testing.assert_allclose(out, [0.0, 1.0, 0.25, 0.5])


def test_minmax_of_integers_gives_floats():
    out = apply_protocol(np.array([1, 3, 2]), Protocol())
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, [0.0, 1.0, 0.5])


@pytest.mark.parametrize("values", [[5.0, 5.0, 5.0], [-2.5], [0.0, 0.0]])
def test_constant_video_normalises_to_zeros_not_nan(values):
    out = apply_protocol(np.array(values), Protocol())
    np.testing.assert_array_equal(out, np.zeros(len(values)))


def test_empty_video_passes_through():
    assert len(apply_protocol(np.array([]), Protocol(smoothing_sigma=2.0))) == 0


def test_no_normalisation_and_sigma_zero_is_identity():
    scores = np.array([3.0, -1.0, 10.0, 10.0, 0.5])
    np.testing.assert_array_equal(apply_protocol(scores, RAW), scores)


def test_sigma_zero_leaves_minmax_alone():
    scores = np.array([0.0, 10.0, 0.0, 0.0, 5.0])
    np.testing.assert_array_equal(apply_protocol(scores, Protocol(smoothing_sigma=0.0)), [0.0, 1.0, 0.0, 0.0, 0.5])


# --- apply_protocol: smoothing -------------------------------------------------------------------------------------


def test_smoothing_spreads_a_spike_as_a_gaussian():
    spike = np.zeros(41)
    spike[20] = 10.0
    out = apply_protocol(spike, Protocol(normalization="none", smoothing_sigma=1.0))
    # A unit Gaussian kernel weighs the centre 1/sqrt(2 pi) and a neighbour exp(-1/2)/sqrt(2 pi); the kernel is
    # cut at 4 sigma and renormalised, which moves these by about 6e-5 relative.
    assert out[20] == pytest.approx(10 / math.sqrt(2 * math.pi), rel=1e-3)
    assert out[21] == pytest.approx(10 * math.exp(-0.5) / math.sqrt(2 * math.pi), rel=1e-3)
    assert out[19] == pytest.approx(out[21])
    assert out.sum() == pytest.approx(10.0)  # the spike is far from both ends, so no mass leaves the video
    assert out[:16].max() == 0.0 and out[25:].max() == 0.0  # the kernel stops at 4 sigma


def test_smoothing_pads_each_video_with_its_own_edge_values():
    # A constant video stays constant: padding from outside the video (zeros, or a neighbour video's frames)
    # would pull the first and last frames away from 5.
    out = apply_protocol(np.full(10, 5.0), Protocol(normalization="none", smoothing_sigma=3.0))
    np.testing.assert_allclose(out, np.full(10, 5.0))


def test_smoothing_one_video_never_depends_on_another():
    rng = np.random.default_rng(0)
    video = rng.random(30)
    protocol = Protocol(smoothing_sigma=2.0)
    alone = apply_protocol(video, protocol)
    for neighbour in (np.full(30, 1e6), np.zeros(5), rng.random(100)):
        # The protocol runs video by video, in any order and beside any neighbour.
        outputs = [apply_protocol(v, protocol) for v in (neighbour, video, neighbour)]
        np.testing.assert_array_equal(outputs[1], alone)
    # What smoothing across the boundary would have given differs: this test could tell the two apart.
    joined = apply_protocol(np.concatenate([video, np.full(30, 1e6)]), Protocol("none", 2.0))[:30]
    assert not np.allclose(joined, apply_protocol(video, Protocol("none", 2.0)))


def test_smoothing_comes_before_minmax():
    # Normalising last guarantees the [0, 1] range whatever the smoothing did to the extremes.
    rng = np.random.default_rng(1)
    out = apply_protocol(rng.random(50) * 7 + 3, Protocol(smoothing_sigma=4.0))
    assert out.min() == 0.0 and out.max() == 1.0


def test_smoothing_a_single_frame_video_is_a_no_op():
    np.testing.assert_array_equal(apply_protocol(np.array([4.0]), Protocol("none", 5.0)), [4.0])


def test_protocol_does_not_modify_its_input():
    scores = np.array([3.0, 1.0, 2.0, 8.0])
    apply_protocol(scores, Protocol(smoothing_sigma=1.5))
    np.testing.assert_array_equal(scores, [3.0, 1.0, 2.0, 8.0])


# --- Protocol ------------------------------------------------------------------------------------------------------


def test_defaults_are_the_papers_protocol():
    protocol = Protocol()
    assert (protocol.normalization, protocol.smoothing_sigma, protocol.leading_frames) == (
        "minmax-per-video", 0.0, "first-window-score")


def test_valid_settings_are_accepted():
    assert Protocol("none", 2, "frame").smoothing_sigma == 2
    assert Protocol(smoothing_sigma=np.float64(1.5)).smoothing_sigma == 1.5


def test_unknown_normalisation_names_the_choices():
    with pytest.raises(ValueError, match="normalization must be one of minmax-per-video, none, train-stats, not 'zscore'"):
        Protocol(normalization="zscore")


@pytest.mark.parametrize("sigma", [-0.5, math.nan, math.inf, "2", True, None])
def test_smoothing_sigma_must_be_a_finite_non_negative_number(sigma):
    # NaN used to slip through a `< 0` check and silently turn smoothing off.
    with pytest.raises(ValueError, match="smoothing_sigma must be a finite number >= 0"):
        Protocol(smoothing_sigma=sigma)


def test_unknown_leading_frames_rule_is_refused():
    with pytest.raises(ValueError, match="leading_frames must be one of first-window-score, not 'zeros'"):
        Protocol(leading_frames="zeros")


def test_protocol_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Protocol().smoothing_sigma = 3.0
