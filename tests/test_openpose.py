"""OpenPose JSON parsing (1.3, 1.0's key, COCO-18, refusals) and main-person tracking, on real OpenPose output."""

from __future__ import annotations

import json

import numpy as np
import pytest

from anobench_formats.openpose import (BODY_25_LIMBS, JOINT, NECK, frame_document, list_pose_files,
                                       parse_pose_file_name, people_from_json, pose_file_name, read_people)
from anobench_industrial.tracking import REACQUIRE_AFTER, MainPersonTracker, prominence, track_main_person
from bench_core.errors import DataError
from conftest import SHARED_DATA

FALL_DOWN = SHARED_DATA / "openpose-fall-down" / "json"
needs_sample = pytest.mark.skipif(not FALL_DOWN.is_dir(), reason=f"real OpenPose sample not found at {FALL_DOWN}")


@pytest.fixture(scope="module")
def sample_people() -> list[np.ndarray]:
    if not FALL_DOWN.is_dir():
        pytest.skip(f"real OpenPose sample not found at {FALL_DOWN}")
    files, _ = list_pose_files(FALL_DOWN, "")
    assert sorted(files) == list(range(469))
    return [read_people(files[frame]) for frame in range(469)]


def neck_jumps(poses: np.ndarray) -> np.ndarray:
    """Distances the neck moves between consecutive frames where it is found in both."""
    neck = poses[:, NECK]
    both = (neck[1:, 2] > 0.05) & (neck[:-1, 2] > 0.05)
    return np.linalg.norm(np.diff(neck[:, :2], axis=0), axis=1)[both]


# -- parsing --------------------------------------------------------------------------------------------------------

@needs_sample
def test_version_1_3_file_parses_to_people_by_25_joints():
    path = FALL_DOWN / "000000000000_keypoints.json"
    raw = json.loads(path.read_text())
    people = read_people(path)
    assert raw["version"] == 1.3
    assert people.dtype == np.float32 and people.shape == (len(raw["people"]), 25, 3) == (10, 25, 3)
    np.testing.assert_allclose(people[1].reshape(-1), raw["people"][1]["pose_keypoints_2d"], rtol=1e-6)
    # A joint OpenPose did not find is 0,0,0: person 1 lacks its left wrist.
    assert people[1, JOINT["LWrist"]].tolist() == [0, 0, 0]


@needs_sample
def test_version_1_0_key_reads_the_same(tmp_path):
    raw = json.loads((FALL_DOWN / "000000000007_keypoints.json").read_text())
    old = {"version": 1.0, "people": [{"pose_keypoints": p["pose_keypoints_2d"], "face_keypoints": [],
                                       "hand_left_keypoints": [], "hand_right_keypoints": []} for p in raw["people"]]}
    path = tmp_path / "old_000000000007_keypoints.json"
    path.write_text(json.dumps(old))
    np.testing.assert_array_equal(read_people(path), read_people(FALL_DOWN / "000000000007_keypoints.json"))


def test_coco_18_is_moved_to_body_25_places(tmp_path):
    coco = np.zeros((18, 3))
    coco[:, 0] = np.arange(18) * 10 + 5  # x says which COCO joint it was
    coco[:, 1], coco[:, 2] = 100.0, 0.5
    coco[11, 2] = 0.4  # LHip a little less sure
    path = tmp_path / "a_000000000000_keypoints.json"
    path.write_text(json.dumps({"version": 1.3, "people": [{"pose_keypoints_2d": coco.reshape(-1).tolist()}]}))
    body = read_people(path)[0]
    assert body[JOINT["Neck"], 0] == 15 and body[JOINT["RWrist"], 0] == 45
    assert body[JOINT["RHip"], 0] == 85 and body[JOINT["LAnkle"], 0] == 135 and body[JOINT["LEar"], 0] == 175
    # Mid-hip: between the hips, as sure as the less sure of them.
    np.testing.assert_allclose(body[JOINT["MidHip"]], [(85 + 115) / 2, 100, 0.4], rtol=1e-6)
    assert not body[[JOINT[n] for n in ("LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel")]].any()


def test_coco_mid_hip_stays_missing_without_both_hips():
    coco = np.ones((18, 3))
    coco[8] = 0  # RHip missing
    body = people_from_json({"people": [{"pose_keypoints_2d": coco.reshape(-1).tolist()}]})[0]
    assert body[JOINT["MidHip"]].tolist() == [0, 0, 0]


def test_other_keypoint_models_are_refused_naming_the_file(tmp_path):
    path = tmp_path / "v_000000000003_keypoints.json"
    path.write_text(json.dumps({"version": 1.3, "people": [{"pose_keypoints_2d": [1.0] * 45}]}))  # MPI-15
    with pytest.raises(DataError) as caught:
        read_people(path)
    assert str(path) in str(caught.value) and "45" in str(caught.value) and "BODY_25" in str(caught.value)


@needs_sample
def test_malformed_json_names_the_file(tmp_path):
    path = tmp_path / "v_000000000000_keypoints.json"
    path.write_bytes((FALL_DOWN / "000000000000_keypoints.json").read_bytes()[:700])  # truncated
    with pytest.raises(DataError) as caught:
        read_people(path)
    assert str(caught.value).startswith(f"{path}: malformed JSON")


@pytest.mark.parametrize("document, message", [
    ({"version": 1.3}, "no 'people' list"),
    ([1, 2], "no 'people' list"),
    ({"people": [{"face_keypoints_2d": []}]}, "neither 'pose_keypoints_2d' nor 'pose_keypoints'"),
    ({"people": [{"pose_keypoints_2d": ["a"] * 75}]}, "not numbers"),
    ({"people": [{"pose_keypoints_2d": [float("nan")] * 75}]}, "not finite"),
])
def test_documents_that_are_not_openpose_output_are_refused(document, message):
    with pytest.raises(DataError, match=message):
        people_from_json(document, "x.json")


def test_no_people_and_empty_arrays_are_an_empty_frame():
    assert people_from_json({"version": 1.3, "people": []}).shape == (0, 25, 3)
    assert people_from_json({"people": [{"pose_keypoints_2d": []}]}).shape == (0, 25, 3)


def test_file_names_and_listing(tmp_path):
    assert pose_file_name("cut_01", 12) == "cut_01_000000000012_keypoints.json"
    assert parse_pose_file_name("cut_01_000000000012_keypoints.json") == ("cut_01", 12)
    assert parse_pose_file_name("000000000468_keypoints.json") == ("", 468)
    assert parse_pose_file_name("cut_01_12_keypoints.json") is None
    for name in (pose_file_name("a", 0), pose_file_name("a", 1), pose_file_name("ab", 0), "notes.txt"):
        (tmp_path / name).write_text("{}")
    frames, others = list_pose_files(tmp_path, "a")
    assert sorted(frames) == [0, 1] and others == sorted([pose_file_name("ab", 0), "notes.txt"])


def test_written_documents_read_back():
    rng = np.random.default_rng(0)
    people = [rng.uniform(0, 600, (25, 3)).astype(np.float32) for _ in range(3)]
    document = json.loads(json.dumps(frame_document(people)))
    assert document["version"] == 1.3 and len(document["people"][0]["pose_keypoints_2d"]) == 75
    np.testing.assert_allclose(people_from_json(document), np.stack(people), atol=1e-3)


def test_limbs_are_the_24_body_25_pairs():
    assert len(BODY_25_LIMBS) == 24 and len(set(BODY_25_LIMBS)) == 24
    assert {j for limb in BODY_25_LIMBS for j in limb} == set(range(25))


# -- tracking -------------------------------------------------------------------------------------------------------

def test_people_zero_is_not_a_person_on_the_real_sample(sample_people):
    naive = np.stack([people[0] for people in sample_people])
    assert neck_jumps(naive).max() > 300  # OpenPose's order changes from frame to frame


def test_tracking_follows_one_person_on_the_real_sample(sample_people):
    track = track_main_person(sample_people, frame_height=720)
    assert track.found.all() and track.poses.shape == (469, 25, 3)
    jumps = neck_jumps(track.poses)
    # Frame 0 to 1 the whole picture shifts by ~60 px (every person does); after that, walking speed only.
    assert jumps[0] < 65 and jumps[1:].max() < 25
    # It starts with the most prominent person of frame 0.
    first = sample_people[0]
    found = first[..., 2] > 0.05
    assert np.array_equal(track.poses[0], first[int(np.argmax([prominence(p, f) for p, f in zip(first, found)]))])


def test_tracking_does_not_depend_on_the_order_of_people(sample_people):
    rng = np.random.default_rng(1)
    shuffled = [people[rng.permutation(len(people))] for people in sample_people]
    np.testing.assert_array_equal(track_main_person(shuffled, 720).poses,
                                  track_main_person(sample_people, 720).poses)


def test_a_missed_main_person_is_not_replaced_and_is_found_again(sample_people):
    reference = track_main_person(sample_people, 720)
    holed = [people.copy() for people in sample_people]
    for frame in range(200, 206):  # OpenPose misses the main person for 6 frames; the other 9 stay
        keep = [i for i, person in enumerate(holed[frame]) if not np.array_equal(person, reference.poses[frame])]
        assert len(keep) == len(holed[frame]) - 1
        holed[frame] = holed[frame][keep]
    track = track_main_person(holed, 720)
    assert not track.found[200:206].any()
    np.testing.assert_array_equal(track.poses[206:], reference.poses[206:])


def test_a_lost_main_person_is_replaced_by_the_most_prominent_after_a_second():
    def person(x, height):
        pose = np.zeros((25, 3), np.float32)
        pose[:, 0] = x + np.linspace(-0.1, 0.1, 25) * height
        pose[:, 1] = 300 - np.linspace(0, 1, 25) * height
        pose[:, 2] = 0.8
        return pose

    worker, small, big = person(100, 200), person(500, 60), person(400, 150)
    frames = [np.stack([worker, small])] * 5 + [np.stack([small, big])] * (REACQUIRE_AFTER + 5)
    track = track_main_person(frames, frame_height=480)
    assert track.found[:5].all() and not track.found[5:5 + REACQUIRE_AFTER].any()
    np.testing.assert_array_equal(track.poses[5 + REACQUIRE_AFTER], big)


def test_stray_detections_are_not_people():
    stray = np.zeros((25, 3), np.float32)
    stray[:3] = [[10, 10, 0.9], [12, 14, 0.9], [15, 20, 0.9]]
    tracker = MainPersonTracker(frame_height=480)
    assert tracker.update(stray[None]) is None
