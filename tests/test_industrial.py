"""The ``industrial`` loader on generated files: layout, labels, both views, every check, pose coverage; and the
``synthetic-industrial`` generator: real formats, determinism, the cache, the anomalies, and the CLI."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from anobench_generators.factory.choreography import ABNORMAL_ACTIONS, FPS
from anobench_industrial.dataset import Industrial, IndustrialOptions
from anobench_generators.factory.kinematics import F, Camera, joints_3d
from anobench_formats.openpose import JOINT, pose_file_name, read_people
from anobench_generators.factory.synthetic import (GENERATOR_NAME, GENERATOR_VERSION, SyntheticIndustrial,
                                                   SyntheticIndustrialGenerator, SyntheticIndustrialOptions,
                                                   frame_people, plan_video)
from anobench_industrial.tracking import track_main_person
from bench_core.cli import build_app
from bench_core.dataset import GENERATED_MARKER
from bench_core.errors import DataError, UsageError
from bench_core.views import CACHE_ENV

# Small enough to write in about a second; each test video holds normal and abnormal work with this seed.
SMALL = dict(n_train=2, n_test=2, frames_per_video=240, width=160, height=120)
SEED = 5


def small_options(**changes) -> SyntheticIndustrialOptions:
    return SyntheticIndustrialOptions(**{**SMALL, **changes})


def industrial(root: Path, **options) -> Industrial:
    return Industrial("industrial", IndustrialOptions(data_root=str(root), **options))


def digest(folder: Path) -> dict[str, str]:
    """sha256 of every file but the marker (which names the folder it is in)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != GENERATED_MARKER}


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("industrial") / "data"
    SyntheticIndustrialGenerator().write(out, SEED, small_options())
    return out


@pytest.fixture
def copy(generated, tmp_path) -> Path:
    """A private copy of the generated set, to break."""
    return Path(shutil.copytree(generated, tmp_path / "data"))


# -- the generated files, read by the real loader -------------------------------------------------------------------

def test_generated_files_follow_the_layout(generated):
    split = json.loads((generated / "split.json").read_text())
    labels = json.loads((generated / "labels.json").read_text())
    assert split == {"train": ["train_00", "train_01"], "test": ["test_00", "test_01"]}
    assert sorted(p.name for p in (generated / "videos").iterdir()) == [f"{n}.avi" for n in sorted(
        split["train"] + split["test"])]
    for name in split["train"] + split["test"]:
        files = sorted(p.name for p in (generated / "openpose" / name).iterdir())
        assert files == [pose_file_name(name, frame) for frame in range(240)]
    assert all(labels[name] == [] for name in split["train"])
    for name in split["test"]:
        assert labels[name] and all(len(i) == 3 and i[2] in ABNORMAL_ACTIONS and 0 <= i[0] <= i[1] < 240
                                    for i in labels[name])


def test_generated_set_loads_through_industrial_in_both_views(generated):
    dataset = industrial(generated)
    assert dataset.check() == []
    assert len(dataset.notes()) == 1 and "a generated copy written by 'anobench data generate'" in dataset.notes()[0]
    labels = json.loads((generated / "labels.json").read_text())
    for split in ("train", "test"):
        frames, skeleton = dataset.videos(split, "frames"), dataset.videos(split, "skeleton")
        assert [v.id for v in frames] == [v.id for v in skeleton] == [f"{split}_0{i}" for i in range(2)]
        for video, maps in zip(frames, skeleton):
            assert len(video) == len(maps) == 240 and video.info.fps == maps.info.fps == FPS
            chunk = video.read(100, 104)
            assert chunk.dtype == np.uint8 and chunk.shape == (4, 120, 160, 3)
            assert np.abs(chunk[0].astype(int) - video.read(0, 1)[0]).mean() > 1  # the worker moves
            drawn = maps.read(0, 240)
            assert drawn.dtype == np.uint8 and drawn.shape == (240, 28, 28, 1)
            assert set(np.unique(drawn)) == {0, 255}
            assert (drawn.reshape(240, -1).max(axis=1) > 0).mean() > 0.95  # a skeleton in almost every frame
            if split == "train":
                assert video.labels is None and maps.labels is None
            else:
                expected = np.zeros(240, np.int8)
                for first, last, _ in labels[video.id]:
                    expected[first:last + 1] = 1  # 0-based, both ends included
                np.testing.assert_array_equal(video.labels, expected)
                np.testing.assert_array_equal(maps.labels, expected)
                assert 0 < expected.mean() < 1


def test_pose_files_look_like_a_pose_estimators(generated):
    frames = [read_people(generated / "openpose" / "test_00" / pose_file_name("test_00", i)) for i in range(240)]
    dataset = industrial(generated)
    worker = dataset.track("test_00").poses
    joints = np.concatenate([people for people in frames])
    missing = (joints[..., 2] == 0).mean()
    assert 0.01 < missing < 0.25
    assert np.all(joints[joints[..., 2] == 0][:, :2] == 0)  # a missing joint is 0,0,0
    assert ((joints[..., :2] >= 0) & (joints[..., 0:1] < 160) & (joints[..., 1:2] < 120)).all()
    # Bystanders are there, and the worker is not always listed first.
    assert max(len(people) for people in frames) >= 2
    assert 0 < np.mean([np.array_equal(people[0], w) for people, w in zip(frames, worker) if len(people)]) < 1


def test_tracking_follows_the_worker_past_bystanders():
    """On plans with two bystanders, the tracked main person is the worker wherever the worker was reported."""
    params = small_options(frames_per_video=500, width=640, height=480, bystanders=2).generator_params()
    camera = Camera(640, 480)
    checked = 0
    for index in range(4):
        plan = plan_video(params, "test", index)
        if not plan.bystanders:
            continue
        people, truth = frame_people(plan, camera, params)
        track = track_main_person(people, frame_height=480)
        reported = truth["worker_reported"]
        is_worker = np.array([np.array_equal(p, w) for p, w in zip(track.poses, truth["worker_keypoints"])])
        assert (is_worker | ~track.found).all()  # never a bystander
        assert is_worker[reported].mean() > 0.97
        checked += 1
    assert checked >= 2


def test_record_extras_report_pose_coverage(copy):
    labels = json.loads((copy / "labels.json").read_text())
    first, last, _ = labels["test_00"][0]
    emptied = list(range(0, 10)) + list(range(first, first + 5))
    for frame in emptied:
        (copy / "openpose" / "test_00" / pose_file_name("test_00", frame)).write_text('{"version":1.3,"people":[]}')
    dataset = industrial(copy)
    assert dataset.check() == []
    test = dataset.videos("test", "skeleton")
    coverage = dataset.record_extras("skeleton", test)["pose_coverage"]
    lost = {v.id: ~dataset.track(v.id).found for v in test}
    assert lost["test_00"][emptied].all()
    assert not dataset.videos("test", "skeleton")[0].read(0, 10).any()  # nobody: blank maps
    all_lost = np.concatenate(list(lost.values()))
    abnormal = np.concatenate([v.labels for v in test]).astype(bool)
    assert all_lost.mean() >= 15 / 480
    assert coverage["frames_without_person"] == pytest.approx(all_lost.mean(), abs=1e-4)
    assert coverage["abnormal_frames_without_person"] == pytest.approx(all_lost[abnormal].mean(), abs=1e-4)
    assert coverage["n_test_frames"] == 480 and coverage["n_abnormal_frames"] == int(abnormal.sum())
    assert set(coverage["per_video_frames_without_person"]) == {"test_00", "test_01"}


def test_coco_18_pose_files_are_read(copy):
    folder = copy / "openpose" / "train_00"
    for path in folder.iterdir():
        document = json.loads(path.read_text())
        for person in document["people"]:
            body = np.asarray(person["pose_keypoints_2d"]).reshape(25, 3)
            person["pose_keypoints_2d"] = np.delete(body, [8, 19, 20, 21, 22, 23, 24], axis=0).reshape(-1).tolist()
        path.write_text(json.dumps(document))
    dataset = industrial(copy)
    assert dataset.check() == []
    maps = dataset.videos("train", "skeleton")[0].read(0, 240)
    assert (maps.reshape(240, -1).max(axis=1) > 0).mean() > 0.95


# -- check(): one line per problem, naming the file -----------------------------------------------------------------

def _replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def _set_labels(root: Path, name: str, intervals) -> None:
    labels = json.loads((root / "labels.json").read_text())
    labels[name] = intervals
    (root / "labels.json").write_text(json.dumps(labels))


BREAKAGES = {
    "missing pose file": (
        lambda root: (root / "openpose" / "test_01" / pose_file_name("test_01", 17)).unlink(),
        ["test_01_000000000017_keypoints.json: missing"]),
    "pose files past the end": (
        lambda root: shutil.copy(root / "openpose" / "test_01" / pose_file_name("test_01", 0),
                                 root / "openpose" / "test_01" / pose_file_name("test_01", 240)),
        ["test_01_000000000240_keypoints.json: frame 240 is past the end of videos/test_01.avi"]),
    "no pose folder": (
        lambda root: shutil.rmtree(root / "openpose" / "train_01"),
        ["openpose/train_01: missing"]),
    "malformed pose file": (
        lambda root: (root / "openpose" / "train_00" / pose_file_name("train_00", 3)).write_text('{"people": [{"po'),
        ["train_00_000000000003_keypoints.json: malformed JSON"]),
    "unsupported keypoint model": (
        lambda root: (root / "openpose" / "test_00" / pose_file_name("test_00", 9)).write_text(
            json.dumps({"version": 1.3, "people": [{"pose_keypoints_2d": [1.0] * 45}]})),
        ["test_00_000000000009_keypoints.json: person 0 has 45 keypoint values"]),
    "interval past the video": (
        lambda root: _set_labels(root, "test_00", [[200, 240]]),
        ["labels.json: interval [200, 240] of 'test_00' ends past the video's last frame, 239"]),
    "train video with abnormal labels": (
        lambda root: _set_labels(root, "train_01", [[10, 20]]),
        ["labels.json: train video 'train_01' has abnormal intervals"]),
    "malformed interval": (
        lambda root: _set_labels(root, "test_01", [[20, 10]]),
        ["labels.json: 'test_01' must be a list of [first, last] frame intervals"]),
    "test video without labels": (
        lambda root: _replace_in(root / "labels.json", '"test_01"', '"test_99"'),
        ["labels.json: no entry for test video 'test_01'"]),
    "missing video": (
        lambda root: (root / "videos" / "test_00.avi").unlink(),
        ["videos/test_00.avi: missing (listed in the test split"]),
    "undecodable video": (
        lambda root: (root / "videos" / "train_00.avi").write_bytes(b"RIFF" + bytes(500)),
        ["videos/train_00.avi: cannot be decoded"]),
    "no split file": (
        lambda root: (root / "split.json").unlink(),
        ["split.json: missing"]),
    "malformed split file": (
        lambda root: (root / "split.json").write_text('{"train": ["train_00"]'),
        ["split.json: malformed JSON"]),
    "a video in both splits": (
        lambda root: (root / "split.json").write_text('{"train": ["train_00", "test_00"], "test": ["test_00"]}'),
        ["split.json: 'test_00' is listed twice"]),
    "no data root": (
        lambda root: shutil.rmtree(root),
        ["data: no such folder"]),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_check_names_each_problem_and_its_file(copy, breakage):
    breaking, expected = BREAKAGES[breakage]
    breaking(copy)
    dataset = industrial(copy)
    problems = dataset.check()
    for fragment in expected:
        assert any(fragment in problem for problem in problems), problems
    assert all("\n" not in problem for problem in problems)
    assert all(str(copy) in problem for problem in problems)


def test_broken_data_stops_videos_and_tracks(copy):
    (copy / "openpose" / "train_00" / pose_file_name("train_00", 3)).write_text("not json")
    with pytest.raises(DataError, match="train_00_000000000003_keypoints.json: malformed JSON"):
        industrial(copy).videos("train", "skeleton")[0].read(0, 5)
    (copy / "split.json").unlink()
    with pytest.raises(DataError, match="split.json: missing"):
        industrial(copy).videos("train")


def test_extra_files_are_notes_not_problems(copy):
    shutil.copy(copy / "videos" / "train_00.avi", copy / "videos" / "spare.avi")
    (copy / "videos" / "readme.txt").write_text("")
    dataset = industrial(copy)
    assert dataset.check() == []
    notes = dataset.notes()
    assert any("spare.avi: in neither split" in n for n in notes) and any("readme.txt: not a video" in n for n in notes)


def test_unknown_view_and_split_are_usage_errors(generated):
    dataset = industrial(generated)
    with pytest.raises(UsageError, match="no view 'pose'"):
        dataset.videos("test", "pose")
    with pytest.raises(UsageError, match="did you mean 'test'"):
        dataset.videos("tset")


def test_fingerprint_follows_files_and_skeleton_options(copy):
    before = industrial(copy).fingerprint()
    assert before == industrial(copy).fingerprint()
    assert industrial(copy, line_width=12).fingerprint() != before
    _set_labels(copy, "test_00", [[0, 5]])
    assert industrial(copy).fingerprint()["labels.json"] != before["labels.json"]


# -- the generator --------------------------------------------------------------------------------------------------

def test_the_same_seed_writes_the_same_bytes_and_another_seed_does_not(tmp_path):
    tiny = dict(n_train=1, n_test=1, frames_per_video=90, width=96, height=72)
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        SyntheticIndustrialGenerator().write(tmp_path / name, seed, small_options(**tiny))
    a, b, c = (digest(tmp_path / name) for name in "abc")
    assert a == b
    assert a.keys() == c.keys()
    for name in ("labels.json", "videos/test_00.avi", "openpose/train_00/train_00_000000000000_keypoints.json"):
        assert a[name] != c[name], name


def test_other_sizes_are_noted_on_recordings(copy):
    (copy / GENERATED_MARKER).unlink()  # as if these were recordings
    notes = industrial(copy).notes()
    assert len(notes) == 1 and "4 videos are not 640x480 at 30 fps" in notes[0] and "160x120" in notes[0]


def test_generate_refuses_a_folder_of_other_files_and_rewrites_its_own(tmp_path):
    (tmp_path / "recordings").mkdir()
    (tmp_path / "recordings" / "take_01.avi").write_bytes(b"precious")
    with pytest.raises(UsageError, match="is not empty, and is not a folder written by"):
        SyntheticIndustrialGenerator().write(tmp_path / "recordings", 0, small_options())
    assert (tmp_path / "recordings" / "take_01.avi").read_bytes() == b"precious"
    out = tmp_path / "generated"
    tiny = dict(frames_per_video=60, width=64, height=48)
    SyntheticIndustrialGenerator().write(out, 0, small_options(n_train=2, n_test=2, **tiny))
    SyntheticIndustrialGenerator().write(out, 0, small_options(n_train=1, n_test=1, **tiny))
    assert sorted(p.name for p in (out / "videos").iterdir()) == ["test_00.avi", "train_00.avi"]
    assert sorted(p.name for p in (out / "openpose").iterdir()) == ["test_00", "train_00"]
    marker = json.loads((out / GENERATED_MARKER).read_text())
    assert marker["generator"] == GENERATOR_NAME and marker["complete"] and marker["options"]["n_train"] == 1
    assert industrial(out).check() == []


def _worker_joints(plan) -> np.ndarray:
    return np.stack([joints_3d(pose, plan.worker.build.height) for pose in plan.worker.poses])


def test_anomalies_are_there_in_skeleton_terms():
    """Per action over the default-length test and train plans: running is fast, throwing swings the hand fastest,
    digging bends deep, one-handed work lowers one hand below the hip where two-handed work holds both up."""
    params = SyntheticIndustrialOptions(seed=0).generator_params()
    by_action: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    kinds = set()
    for split, count in (("train", 4), ("test", 6)):
        for index in range(count):
            plan = plan_video(params, split, index)
            if split == "train":
                assert plan.intervals == []
            kinds |= {action for _, _, action in plan.intervals}
            poses, joints = np.asarray(plan.worker.poses), _worker_joints(plan)
            for segment in plan.worker.segments:
                stop = min(segment.stop, len(poses))
                if stop - segment.start > 2:
                    by_action.setdefault(segment.action, []).append((poses[segment.start:stop],
                                                                     joints[segment.start:stop]))
    assert kinds == set(ABNORMAL_ACTIONS)

    def ground_speed(action):
        return [np.abs(np.diff(p[:, F["x"]])).mean() * FPS for p, _ in by_action[action]]

    def hand_speed(action):
        return [np.linalg.norm(np.diff(j[:, [JOINT["RWrist"], JOINT["LWrist"]]], axis=0), axis=2).max() * FPS
                for _, j in by_action[action]]

    def lower_hand_above_hip(action):  # metres, mean over the action
        return [(j[:, [JOINT["RWrist"], JOINT["LWrist"]], 1].min(axis=1) - j[:, JOINT["MidHip"], 1]).mean()
                for _, j in by_action[action]]

    normal = ("carry-chair", "carry-box", "cut-paper", "discard-trash")
    assert min(ground_speed("run")) > 2.5 > 1.3 > max(s for a in normal for s in ground_speed(a))
    assert min(hand_speed("throw-trash")) > 7 > 5.5 > max(s for a in normal for s in hand_speed(a))
    assert min(p[:, F["pitch"]].max() for p, _ in by_action["dig-in-trash"]) > 1.1 > 0.5 > max(
        p[:, F["pitch"]].max() for a in normal for p, _ in by_action[a])
    for one_hand, two_hands in (("carry-chair-one-hand", "carry-chair"), ("carry-box-one-hand", "carry-box"),
                                ("cut-paper-one-hand", "cut-paper")):
        assert max(lower_hand_above_hip(one_hand)) < -0.05 < 0.0 < min(lower_hand_above_hip(two_hands)), one_hand


def test_synthetic_dataset_generates_once_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    options = small_options(n_train=1, n_test=1, frames_per_video=90, width=96, height=72)
    dataset = SyntheticIndustrial(GENERATOR_NAME, options)
    assert dataset.check() == []
    root = dataset.root
    assert root.parent == tmp_path / "cache" / GENERATOR_NAME and (root / "split.json").is_file()
    assert [p.name for p in root.parent.iterdir()] == [root.name]  # no temporary folder left
    stamp = (root / "labels.json").stat().st_mtime_ns
    again = SyntheticIndustrial(GENERATOR_NAME, options)
    assert again.root == root and (root / "labels.json").stat().st_mtime_ns == stamp
    for view in ("frames", "skeleton"):
        test = again.videos("test", view)
        assert len(test) == 1 and len(test[0]) == 90 and 0 < test[0].labels.mean() < 1
    fingerprint = again.fingerprint()
    assert fingerprint["generator_version"] == GENERATOR_VERSION and fingerprint["seed"] == 0
    assert SyntheticIndustrial(GENERATOR_NAME, small_options(seed=1)).fingerprint() != fingerprint
    # The files are the generator's: the same as 'data generate' writes.
    SyntheticIndustrialGenerator().write(tmp_path / "out", 0, options)
    assert digest(tmp_path / "out") == digest(root)


@pytest.mark.parametrize("option, value", [("width", "161"), ("frames_per_video", "10"), ("bystanders", "9"),
                                           ("threshold", "300")])
def test_bad_generator_options_are_usage_errors(option, value):
    from bench_core.config import build_config

    with pytest.raises(UsageError, match=option):
        build_config(SyntheticIndustrialOptions, {}, None, {option: value}, "--data-option", "synthetic-industrial")


def test_cli_generates_then_checks(tmp_path):
    runner = CliRunner()
    out = tmp_path / "generated"
    options = [arg for key, value in dict(n_train=1, n_test=1, frames_per_video=90, width=96, height=72).items()
               for arg in ("--data-option", f"{key}={value}")]
    result = runner.invoke(build_app(), ["data", "generate", "synthetic-industrial", "--out", str(out),
                                         "--seed", "2", *options])
    assert result.exit_code == 0, result.output
    result = runner.invoke(build_app(), ["data", "check", "industrial", "--data-root", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["problems"] == []
    assert report["splits"]["train"] == {"videos": 1, "frames": 90, "abnormal_frames": None}
    assert report["splits"]["test"]["frames"] == 90 and report["splits"]["test"]["abnormal_frames"] > 0
    (out / "openpose" / "test_00" / pose_file_name("test_00", 4)).unlink()
    result = runner.invoke(build_app(), ["data", "check", "industrial", "--data-root", str(out)])
    assert result.exit_code == 2
    assert "test_00_000000000004_keypoints.json: missing" in result.stderr


def test_record_extras_name_the_kind_of_each_abnormal_interval_when_labels_json_does(copy):
    labels = json.loads((copy / "labels.json").read_text())
    dataset = industrial(copy)
    test = dataset.videos("test", "skeleton")
    events = dataset.record_extras("skeleton", test)["events"]
    assert events == {name: [{"kind": action, "start": first, "stop": last + 1} for first, last, action in labels[name]]
                      for name in ("test_00", "test_01")}
    assert all(e["kind"] for video in events.values() for e in video)
    # Intervals without an action (the plain [first, last] form) give no events.
    (copy / "labels.json").write_text(json.dumps({k: [v[:2] for v in intervals] for k, intervals in labels.items()}))
    plain = industrial(copy)
    assert "events" not in plain.record_extras("skeleton", plain.videos("test", "skeleton"))
