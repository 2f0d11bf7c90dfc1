"""Skeleton maps: limbs that survive the 17x shrink, crops padded at the frame's edge, the neck carried forward."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from anobench_formats.openpose import JOINT, NECK
from anobench_industrial.skeleton import CANVAS, DEFAULT_THRESHOLD, MAP_SIZE, SkeletonRenderer
from anobench_industrial.tracking import Track, crop_centres

CENTRE = np.array([320.0, 240.0])
MAP_PIXEL = CANVAS / MAP_SIZE  # 17.1 canvas pixels


def limb(a, b, first="RElbow", second="RWrist") -> np.ndarray:
    pose = np.zeros((25, 3), np.float32)
    pose[JOINT[first]] = [*a, 0.9]
    pose[JOINT[second]] = [*b, 0.9]
    return pose


def random_limbs(rng, n, length_range, spread=150.0):
    for _ in range(n):
        length = rng.uniform(*length_range)
        angle = rng.uniform(0, np.pi)
        middle = CENTRE + rng.uniform(-spread, spread, 2)
        half = np.array([np.cos(angle), np.sin(angle)]) * length / 2
        yield limb(middle - half, middle + half), length


def grey_map(renderer: SkeletonRenderer, pose, centre=CENTRE) -> np.ndarray:
    return np.asarray(renderer.canvas(pose, centre).resize((MAP_SIZE, MAP_SIZE), Image.BILINEAR))


def standing_pose(neck=(320.0, 200.0), height=250.0) -> np.ndarray:
    """A front-facing person, arms down, about ``height`` px tall, in a 640x480 frame."""
    x, y = neck
    u = height / 250.0
    joints = {
        "Nose": (0, -28), "Neck": (0, 0), "RShoulder": (-28, 2), "RElbow": (-34, 45), "RWrist": (-36, 88),
        "LShoulder": (28, 2), "LElbow": (34, 45), "LWrist": (36, 88), "MidHip": (0, 85), "RHip": (-14, 85),
        "RKnee": (-16, 145), "RAnkle": (-17, 205), "LHip": (14, 85), "LKnee": (16, 145), "LAnkle": (17, 205),
        "REye": (-6, -33), "LEye": (6, -33), "REar": (-12, -30), "LEar": (12, -30), "LBigToe": (22, 215),
        "LSmallToe": (26, 213), "LHeel": (15, 210), "RBigToe": (-22, 215), "RSmallToe": (-26, 213),
        "RHeel": (-15, 210),
    }
    pose = np.zeros((25, 3), np.float32)
    for name, (dx, dy) in joints.items():
        pose[JOINT[name]] = [x + dx * u, y + dy * u, 0.8]
    return pose


def test_maps_are_binary_uint8_28_by_28():
    renderer = SkeletonRenderer(640, 480)
    maps = renderer.render_track(Track(np.stack([standing_pose()] * 3), np.array([True, False, True]),
                                       np.array([[320, 200]] * 3, np.float32)), 0, 3)
    assert maps.dtype == np.uint8 and maps.shape == (3, MAP_SIZE, MAP_SIZE, 1)
    assert set(np.unique(maps)) == {0, 255}
    assert not maps[1].any()  # no main person: a blank map
    assert 40 < (maps[0] > 0).sum() < 150  # a person, not a blob filling the map


def test_every_limb_of_realistic_length_survives_the_shrink():
    renderer = SkeletonRenderer(640, 480)
    rng = np.random.default_rng(0)
    weakest = min(grey_map(renderer, pose).max() for pose, _ in random_limbs(rng, 600, (20, 120)))
    # The documented margin: at least 61 grey levels where the threshold is 32.
    assert weakest >= 58 > 1.75 * DEFAULT_THRESHOLD
    for pose, length in random_limbs(rng, 300, (17, 200)):
        assert renderer.render(pose, CENTRE).any(), f"a limb of {length:.0f} px vanished"


def test_thin_lines_would_vanish_so_the_width_matters():
    """The control: OpenPose's own ~3 px lines do not survive at this threshold."""
    thin = SkeletonRenderer(640, 480, line_width=3)
    rng = np.random.default_rng(1)
    vanished = sum(not thin.render(pose, CENTRE).any() for pose, _ in random_limbs(rng, 200, (20, 120)))
    assert vanished > 20


def test_long_limbs_are_connected_lines_about_one_and_a_half_pixels_wide():
    renderer = SkeletonRenderer(640, 480)
    rng = np.random.default_rng(2)
    widths = []
    for pose, length in random_limbs(rng, 150, (200, 200), spread=30):
        pixels = renderer.render(pose, CENTRE) > 0
        assert ndimage.label(pixels, structure=np.ones((3, 3)))[1] == 1
        widths.append(pixels.sum() / (length / MAP_PIXEL))
    assert 1.0 <= min(widths) and max(widths) <= 2.3 and 1.4 <= np.mean(widths) <= 1.9


def test_the_crop_is_centred_on_the_neck():
    renderer = SkeletonRenderer(640, 480)
    a = renderer.render(standing_pose(neck=(300, 200)), np.array([300, 200]))
    b = renderer.render(standing_pose(neck=(340, 150)), np.array([340, 150]))
    np.testing.assert_array_equal(a, b)  # moving the person with the crop changes nothing
    # The neck sits at the map's centre (row and column 14): the head two rows above, the feet 12 below.
    rows, columns = np.flatnonzero(a.any(axis=1)), np.flatnonzero(a.any(axis=0))
    assert (rows.min(), rows.max()) == (11, 26) and (columns.min(), columns.max()) == (11, 16)


def test_outside_the_frame_is_background():
    renderer = SkeletonRenderer(640, 480)
    pose = limb((200, 240), (-200, 240))  # reaches 200 px past the left edge (as only a bad estimate would)
    inside = grey_map(renderer, pose, centre=np.array([20, 240]))
    # The frame's left edge is 20 px left of the centre: the canvas columns left of 240 - 20 are padding.
    edge_column = int((CANVAS / 2 - 20) // MAP_PIXEL)
    assert not inside[:, :edge_column].any() and inside[:, edge_column + 1:].any()
    # The same limb well inside the frame shows on both sides of the centre (the control).
    control = grey_map(renderer, limb((420, 240), (120, 240)), centre=np.array([320, 240]))
    assert control[:, :edge_column].any()


def test_a_crop_near_the_corner_is_padded_not_shifted():
    renderer = SkeletonRenderer(640, 480)
    corner = standing_pose(neck=(8.0, 10.0), height=120)
    corner[:, :2] = np.clip(corner[:, :2], 0, [639, 479])
    canvas = np.asarray(renderer.canvas(corner, corner[NECK, :2]))
    # Neck at the centre of the canvas, frame corner 8 and 10 px (x1) up-left of it: nothing beyond.
    assert canvas[CANVAS // 2 + 40, CANVAS // 2] == 255  # the trunk below the neck
    assert not canvas[:, :CANVAS // 2 - 9].any() and not canvas[:CANVAS // 2 - 11].any()


def test_crop_follows_frame_height_so_any_size_draws_the_same_map():
    big = SkeletonRenderer(640, 480)
    small = SkeletonRenderer(160, 120)
    pose = standing_pose()
    quarter = pose.copy()
    quarter[:, :2] /= 4
    same = (big.render(pose, pose[NECK, :2]) == small.render(quarter, quarter[NECK, :2])).mean()
    assert same > 0.99


def test_the_last_neck_is_carried_forward_and_the_first_backward():
    poses = np.stack([standing_pose(neck=(100 + 10 * i, 200)) for i in range(8)])
    poses[[0, 1, 4, 5], NECK] = 0  # the neck unseen: before the first, and in the middle
    found = np.ones(8, bool)
    found[6] = False
    centres = crop_centres(poses, found)
    np.testing.assert_array_equal(centres[[0, 1]], [[120, 200]] * 2)  # the first neck seen, frame 2
    np.testing.assert_array_equal(centres[[4, 5]], [[130, 200]] * 2)  # the last one, frame 3
    np.testing.assert_array_equal(centres[7], [170, 200])
    # The map of a frame without its neck is the body shifted by its motion since that neck, not re-centred.
    renderer = SkeletonRenderer(640, 480)
    carried = renderer.render(poses[5], centres[5])
    assert not np.array_equal(carried, renderer.render(poses[5], poses[5, JOINT["MidHip"], :2] - [0, 85]))
    expected = renderer.render(standing_pose(neck=(100 + 10 * 5 - 20, 200)), np.array([130 - 20, 200]))
    assert (carried == expected).mean() > 0.97


def test_a_main_person_who_never_shows_a_neck_is_centred_on_their_joints():
    poses = np.stack([standing_pose()] * 3)
    poses[:, NECK] = 0
    centres = crop_centres(poses, np.ones(3, bool))
    np.testing.assert_allclose(centres[0], poses[0, poses[0, :, 2] > 0, :2].mean(axis=0), rtol=1e-5)


def test_rendering_is_fast():
    renderer = SkeletonRenderer(640, 480)
    n = 400
    track = Track(np.stack([standing_pose(neck=(300 + i % 40, 200)) for i in range(n)]), np.ones(n, bool),
                  np.array([[300 + i % 40, 200] for i in range(n)], np.float32))
    started = time.perf_counter()
    renderer.render_track(track, 0, n)
    rate = n / (time.perf_counter() - started)
    assert rate > 400, f"{rate:.0f} maps/s"  # about 2,500 maps/s on one core; loose for slow CI machines


@pytest.mark.parametrize("line_width, threshold", [(0, 32), (10, 255), (10, -1)])
def test_bad_settings_are_refused(line_width, threshold):
    with pytest.raises(ValueError):
        SkeletonRenderer(640, 480, line_width=line_width, threshold=threshold)
