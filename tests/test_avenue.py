"""The ``avenue`` dataset on real CUHK Avenue files (the slice in ../shared/data/avenue-mini): layout, frame counts,
both label conventions against values computed here independently, partial copies, one-line problems on corrupted
copies, lazy cached masks, the fingerprint, decord/PyAV agreement, and ``anobench data check``/``run``."""

from __future__ import annotations

import hashlib
import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from typer.testing import CliRunner

from anobench_avenue import dataset as avenue_module
from anobench_avenue.dataset import Avenue, event_label_data
from bench_core.cli import build_app
from bench_core.dataset import DatasetOptions
from bench_core.errors import DataError, UsageError
from bench_core.plugins import get_catalogue
from bench_core.run import make_dataset
from bench_core.video_io import open_video
from bench_core.views import CACHE_ENV
from conftest import SHARED_DATA

MINI = SHARED_DATA / "avenue-mini"
SHARED_EVENT_LABELS = SHARED_DATA / "avenue-event-labels.json"
VIDEOS = Path("Avenue Dataset")
MASKS = Path("ground_truth_demo/testing_label_mask")
MINI_TRAIN = ["12", "16"]
MINI_TEST = ["08", "17", "18", "19", "20", "21"]

needs_mini = pytest.mark.skipif(not MINI.is_dir(), reason=f"the real Avenue slice is not here: {MINI}")


def make(root, convention: str = "") -> Avenue:
    return Avenue("avenue", DatasetOptions(data_root=str(root), label_convention=convention))


def decoded_frame_count(path: Path) -> int:
    import av

    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


@pytest.fixture(scope="module")
def reference():
    """Counts computed here without the plugin: frames by decoding every frame with PyAV, mask labels with loadmat,
    event labels from the shared JSON with Python sets."""
    if not MINI.is_dir():
        pytest.skip(f"the real Avenue slice is not here: {MINI}")
    frames = {("train", i): decoded_frame_count(MINI / VIDEOS / "training_videos" / f"{i}.avi") for i in MINI_TRAIN}
    frames |= {("test", i): decoded_frame_count(MINI / VIDEOS / "testing_videos" / f"{i}.avi") for i in MINI_TEST}
    mask_labels = {}
    for video_id in MINI_TEST:
        cell = scipy.io.loadmat(str(MINI / MASKS / f"{int(video_id)}_label.mat"))["volLabel"]
        mask_labels[video_id] = np.array([np.count_nonzero(mask) > 0 for mask in cell[0]], np.int8)
    shared = json.loads(SHARED_EVENT_LABELS.read_text())
    event_labels = {}
    for video_id in MINI_TEST:
        abnormal = set()
        for first, last in shared["intervals"].get(video_id, []):
            abnormal |= set(range(first, last + 1))
        event_labels[video_id] = np.array([n in abnormal for n in range(1, frames[("test", video_id)] + 1)],
                                          np.int8)
    return {"frames": frames, "mask": mask_labels, "event": event_labels}


def layout_copy(dest: Path, train=MINI_TRAIN, test=MINI_TEST) -> Path:
    """A data root in the official layout whose files are links to the mini set's; tests replace single files."""
    relative = [VIDEOS / "training_videos" / f"{i}.avi" for i in train]
    relative += [VIDEOS / "testing_videos" / f"{i}.avi" for i in test]
    relative += [MASKS / f"{int(i)}_label.mat" for i in test]
    for folder in (VIDEOS / "training_videos", VIDEOS / "testing_videos", MASKS):
        (dest / folder).mkdir(parents=True, exist_ok=True)
    for path in relative:
        (dest / path).symlink_to((MINI / path).resolve())
    return dest


def replace(path: Path, data: bytes) -> None:
    path.unlink()
    path.write_bytes(data)


def write_masks(path: Path, masks: list) -> None:
    cell = np.empty((1, len(masks)), dtype=object)
    for index, mask in enumerate(masks):
        cell[0, index] = mask
    path.unlink(missing_ok=True)
    scipy.io.savemat(str(path), {"volLabel": cell}, do_compression=True)


def one_problem(dataset: Avenue) -> str:
    problems = dataset.check()
    assert len(problems) == 1, problems
    assert "\n" not in problems[0]
    return problems[0]


# ------------------------------------------------------------------------------------------ shipped label data


def test_event_label_data_has_the_published_totals():
    data = event_label_data()
    assert sum(len(pairs) for pairs in data["intervals"].values()) == 47
    assert len(data["test_lengths"]) == 21 and sum(data["test_lengths"].values()) == 15324
    assert len(data["train_lengths"]) == 16 and sum(data["train_lengths"].values()) == 15328
    assert sum(int(avenue_module.event_labels(i).sum()) for i in data["test_lengths"]) == 3867
    for video_id, pairs in data["intervals"].items():
        assert all(1 <= first <= last <= data["test_lengths"][video_id] for first, last in pairs)


@pytest.mark.skipif(not SHARED_EVENT_LABELS.is_file(), reason=f"not here: {SHARED_EVENT_LABELS}")
def test_shipped_event_labels_are_the_shared_file_unchanged():
    import importlib.resources

    shipped = importlib.resources.files("anobench_avenue").joinpath("avenue_event_labels.json").read_bytes()
    assert shipped == SHARED_EVENT_LABELS.read_bytes()


def test_registered_lazily_and_conventions_are_checked():
    registration = get_catalogue().get("dataset", "avenue")
    assert registration.target == "anobench_avenue.dataset:Avenue" and registration.load() is Avenue
    dataset = make_dataset("avenue", [], "somewhere", get_catalogue())
    assert dataset.options.label_convention == "mask" and dataset.options.data_root == "somewhere"
    with pytest.raises(UsageError, match="no label convention 'events'.*did you mean 'event'"):
        make_dataset("avenue", ["label_convention=events"], "somewhere", get_catalogue())


# ------------------------------------------------------------------------------------------ the mini slice


@needs_mini
@pytest.mark.parametrize("convention", ["mask", "event"])
def test_mini_counts_match_independent_values(reference, convention):
    dataset = make(MINI, convention)
    assert dataset.check() == []
    train, test = dataset.videos("train"), dataset.videos("test")
    assert [v.id for v in train] == [f"train_{i}" for i in MINI_TRAIN]
    assert [v.id for v in test] == [f"test_{i}" for i in MINI_TEST]
    for video in train:
        assert len(video) == reference["frames"][("train", video.avenue_id)] and video.labels is None
    for video in test:
        assert len(video) == reference["frames"][("test", video.avenue_id)]
        assert video.labels.dtype == np.int8
        np.testing.assert_array_equal(video.labels, reference[convention][video.avenue_id])
        assert (video.info.height, video.info.width, video.info.fps) == (360, 640, 25.0)
    assert sum(len(v) for v in test) == 1353 and sum(len(v) for v in train) == 389
    abnormal = sum(int(v.labels.sum()) for v in test)
    assert abnormal == sum(int(labels.sum()) for labels in reference[convention].values())
    assert abnormal == {"mask": 1061, "event": 972}[convention]
    extras = dataset.record_extras("frames", test)
    assert extras["label_convention"] == convention and extras["abnormal_test_frames"] == abnormal
    assert extras["missing_official_videos"]["train"] == [f"{i:02d}" for i in range(1, 17) if i not in (12, 16)]


@needs_mini
def test_partial_copy_loads_with_notes_naming_the_missing_videos():
    notes = make(MINI).notes()
    assert any("14 of 16 training_videos missing (01-11, 13-15)" in note for note in notes), notes
    assert any("15 of 21 testing_videos missing (01-07, 09-16)" in note for note in notes), notes
    assert len(notes) == 2


@needs_mini
def test_frames_read_through_the_video_reader():
    video = {v.avenue_id: v for v in make(MINI).videos("test")}["21"]
    frames = video.read(70, 76)
    assert frames.dtype == np.uint8 and frames.shape == (6, 360, 640, 3)
    np.testing.assert_array_equal(frames, open_video(video.path).read(70, 76))
    assert frames.std() > 10  # real footage, not a blank buffer
    with pytest.raises(ValueError, match="out of range"):
        video.read(70, 77)


@needs_mini
def test_data_root_may_point_inside_avenue_dataset():
    outside, inside = make(MINI), make(MINI / VIDEOS)
    assert inside.check() == []
    assert [len(v) for v in inside.videos("test")] == [len(v) for v in outside.videos("test")]
    assert inside.fingerprint() == outside.fingerprint()


def test_default_data_root_missing_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    problem = one_problem(make(""))
    assert problem.startswith("datasets/avenue: no such folder") and "--data-root" in problem
    with pytest.raises(DataError, match="datasets/avenue: no such folder"):
        make("").videos("test")


@needs_mini
def test_default_data_root_is_datasets_avenue_in_the_current_directory(tmp_path, monkeypatch):
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "avenue").symlink_to(MINI.resolve())
    monkeypatch.chdir(tmp_path)
    dataset = make("")
    assert dataset.check() == [] and dataset.options.data_root == "datasets/avenue"
    assert sum(len(v) for v in dataset.videos("test")) == 1353


# ------------------------------------------------------------------------------------------ problems


@needs_mini
def test_a_copy_of_the_layout_is_clean(tmp_path):
    dataset = make(layout_copy(tmp_path))
    assert dataset.check() == []
    assert len(dataset.notes()) == 2


def test_a_folder_without_avenue_dataset_is_one_problem(tmp_path):
    assert one_problem(make(tmp_path)).startswith(f"{tmp_path}: holds no 'Avenue Dataset' folder")


@needs_mini
def test_missing_split_folder_is_named(tmp_path):
    layout_copy(tmp_path, test=[])
    (tmp_path / VIDEOS / "testing_videos").rmdir()
    problem = one_problem(make(tmp_path))
    assert problem.startswith(f"{tmp_path / VIDEOS / 'testing_videos'}: no such folder")


@needs_mini
def test_missing_mask_folder_is_a_problem_only_for_the_mask_convention(tmp_path):
    layout_copy(tmp_path, train=["12"], test=["21"])
    for path in (tmp_path / MASKS).iterdir():
        path.unlink()
    (tmp_path / MASKS).rmdir()
    problem = one_problem(make(tmp_path, "mask"))
    assert problem.startswith(f"{tmp_path / MASKS}: no such folder") and "label_convention=event" in problem
    assert make(tmp_path, "event").check() == []


@needs_mini
def test_test_video_without_its_mask_file(tmp_path):
    layout_copy(tmp_path, train=["12"], test=["08", "21"])
    (tmp_path / MASKS / "21_label.mat").unlink()
    problem = one_problem(make(tmp_path))
    assert problem.startswith(f"{tmp_path / VIDEOS / 'testing_videos' / '21.avi'}: no mask file")
    assert "21_label.mat" in problem
    assert make(tmp_path, "event").check() == []


@needs_mini
def test_mask_file_without_its_video_is_a_note(tmp_path):
    layout_copy(tmp_path, train=["12"], test=["08", "21"])
    (tmp_path / VIDEOS / "testing_videos" / "21.avi").unlink()
    dataset = make(tmp_path)
    assert dataset.check() == []
    assert any("mask files without a test video, ignored: 21_label.mat" in note for note in dataset.notes())


@needs_mini
@pytest.mark.parametrize("backend", ["decord", "pyav"])
@pytest.mark.parametrize("split, name", [("training_videos", "12.avi"), ("testing_videos", "21.avi")])
def test_truncated_video_is_named(tmp_path, monkeypatch, backend, split, name):
    if backend == "decord":
        pytest.importorskip("decord")
    monkeypatch.setenv("ANOBENCH_VIDEO_BACKEND", backend)
    layout_copy(tmp_path, train=["12"], test=["21"])
    path = tmp_path / VIDEOS / split / name
    data = path.read_bytes()
    replace(path, data[:len(data) // 2])
    problem = one_problem(make(tmp_path))
    assert problem.startswith(f"{path}: truncated: its header declares")
    assert "frames, the file holds" in problem


@needs_mini
def test_unreadable_video_is_named(tmp_path):
    layout_copy(tmp_path, train=["12"], test=["21"])
    path = tmp_path / VIDEOS / "training_videos" / "12.avi"
    replace(path, np.random.default_rng(0).integers(0, 256, 50_000, np.uint8).tobytes())
    assert one_problem(make(tmp_path)).startswith(f"{path}: cannot be decoded")


@needs_mini
@pytest.mark.parametrize("content, expected", [
    (b"MATLAB 5.0 MAT-file, but garbage after that" * 10, "not a MAT file scipy can read"),
    ("other", "holds no 'volLabel' variable (it holds: other)"),
    ("cube", "'volLabel' is a uint8 array of shape (360, 640, 76), not a 1xN cell array"),
    ("small", "masks are 240x320 (rows x columns), but 21.avi is 360x640"),
    ("ragged", "volLabel{2} is 240x320, but volLabel{1} is 360x640"),
    ("values", "volLabel{5} holds values other than 0 and 1 (from 0 to 2)"),
    ("short", "75 masks, but 21.avi has 76 frames"),
])
def test_bad_mask_files_are_named(tmp_path, content, expected):
    layout_copy(tmp_path, train=["12"], test=["21"])
    path = tmp_path / MASKS / "21_label.mat"
    blank = np.zeros((360, 640), np.uint8)
    if isinstance(content, bytes):
        replace(path, content)
    elif content == "other":
        path.unlink()
        scipy.io.savemat(str(path), {"other": blank})
    elif content == "cube":
        path.unlink()
        scipy.io.savemat(str(path), {"volLabel": np.zeros((360, 640, 76), np.uint8)})
    elif content == "small":
        write_masks(path, [np.zeros((240, 320), np.uint8)] * 76)
    elif content == "ragged":
        write_masks(path, [blank, np.zeros((240, 320), np.uint8)] + [blank] * 74)
    elif content == "values":
        two = blank.copy()
        two[100, 200] = 2
        write_masks(path, [blank] * 4 + [two] + [blank] * 71)
    elif content == "short":
        write_masks(path, [blank] * 75)
    problem = one_problem(make(tmp_path))
    assert problem.startswith(str(path)) and expected in problem, problem


@needs_mini
def test_event_labels_length_must_match_the_video(tmp_path):
    layout_copy(tmp_path, train=["12"], test=["21"])
    path = tmp_path / VIDEOS / "testing_videos" / "21.avi"
    path.unlink()
    path.symlink_to((MINI / VIDEOS / "testing_videos" / "08.avi").resolve())
    problem = one_problem(make(tmp_path, "event"))
    assert problem.startswith(f"{path}: 36 frames, but the event labels of test video 21 cover 76")
    assert "36 masks" not in make(tmp_path, "mask").check()[0]  # the mask convention names the mask file instead
    assert make(tmp_path, "mask").check()[0].startswith(f"{tmp_path / MASKS / '21_label.mat'}: 76 masks, but 21.avi "
                                                        "has 36 frames")


# ------------------------------------------------------------------------------------------ masks: lazy, cached


@needs_mini
def test_masks_load_lazily_once_and_from_the_disk_cache_after(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    loaded = []
    real_loadmat = scipy.io.loadmat
    monkeypatch.setattr(scipy.io, "loadmat", lambda path, **kw: loaded.append(Path(path).name) or
                        real_loadmat(path, **kw))
    dataset = make(layout_copy(tmp_path / "data", train=["12"], test=["08", "21"]))
    test = dataset.videos("test")
    assert loaded == []  # listing videos reads no masks
    assert int(test[0].labels.sum()) == 36 and int(test[0].labels.sum()) == 36
    assert loaded == ["8_label.mat"]
    assert dataset.check() == [] and loaded == ["8_label.mat", "21_label.mat"]
    again = make(tmp_path / "data")
    assert again.check() == [] and [int(v.labels.sum()) for v in again.videos("test")] == [36, 53]
    assert loaded == ["8_label.mat", "21_label.mat"]  # the second dataset read the disk cache
    with pytest.raises(ValueError):
        test[0].labels[0] = 0  # the cached labels cannot be changed by a caller


@needs_mini
def test_masks_of_one_video_at_a_time_are_in_memory(tmp_path, monkeypatch):
    """Peak traced memory while labelling all six test videos stays near that of the largest one alone (17: 426
    masks of 360x640, ~100 MB); holding every video's masks would need ~310 MB."""
    dataset = make(MINI)
    dataset.videos("test")

    def peak(video_ids, cache):
        monkeypatch.setenv(CACHE_ENV, str(tmp_path / cache))
        tracemalloc.start()
        try:
            fresh = make(MINI)
            for video_id in video_ids:
                fresh.test_labels(video_id)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    largest = peak(["17"], "one")
    every = peak(MINI_TEST, "all")
    assert largest > 90e6  # the measurement sees the masks at all
    assert every < 1.3 * largest, (every, largest)


# ------------------------------------------------------------------------------------------ fingerprint


@needs_mini
def test_fingerprint_lists_the_files_used_with_a_fast_hash(tmp_path):
    mask_print, event_print = make(MINI, "mask").fingerprint(), make(MINI, "event").fingerprint()
    assert mask_print["label_convention"] == "mask" and event_print["label_convention"] == "event"
    assert mask_print["label_data_version"] == avenue_module.LABEL_DATA_VERSION
    assert event_print["event_labels_sha256"] == event_label_data()["sha256"]
    mask_paths = [f["path"] for f in mask_print["files"]]
    assert "Avenue Dataset/testing_videos/17.avi" in mask_paths
    assert "ground_truth_demo/testing_label_mask/8_label.mat" in mask_paths and len(mask_paths) == 2 + 6 + 6
    assert [f["path"] for f in event_print["files"]] == [p for p in mask_paths if not p.endswith(".mat")]

    # The hash, computed here from its documented definition.
    entry = next(f for f in mask_print["files"] if f["path"].endswith("17.avi"))
    data = (MINI / VIDEOS / "testing_videos" / "17.avi").read_bytes()
    mib = 1 << 20
    assert entry["size"] == len(data) > 2 * mib
    assert entry["hash"] == hashlib.sha256(f"{len(data)}\n".encode() + data[:mib] + data[-mib:]).hexdigest()

    # Same files elsewhere: same fingerprint. One byte changed near the end: another.
    copy = layout_copy(tmp_path)
    assert make(copy).fingerprint() == mask_print
    path = copy / VIDEOS / "testing_videos" / "17.avi"
    replace(path, data[:-10] + bytes([data[-10] ^ 1]) + data[-9:])
    assert make(copy).fingerprint() != mask_print


# ------------------------------------------------------------------------------------------ backends


@needs_mini
def test_decord_and_pyav_agree_on_counts_and_pixels(reference):
    pytest.importorskip("decord")
    for (split, video_id), frames in reference["frames"].items():
        folder = "training_videos" if split == "train" else "testing_videos"
        path = MINI / VIDEOS / folder / f"{video_id}.avi"
        assert open_video(path, "decord").n_frames == open_video(path, "pyav").n_frames == frames, path
    for video_id in ("08", "21"):
        path = MINI / VIDEOS / "testing_videos" / f"{video_id}.avi"
        decord_reader, pyav_reader = open_video(path, "decord"), open_video(path, "pyav")
        n = decord_reader.n_frames
        for start in (0, n // 2, n - 2):
            a = decord_reader.read(start, start + 2).astype(np.int16)
            b = pyav_reader.read(start, start + 2).astype(np.int16)
            assert a.shape == b.shape == (2, 360, 640, 3)
            assert np.abs(a - b).mean() < 0.5 and (np.abs(a - b) > 8).mean() < 1e-3, (path, start)


@needs_mini
def test_decord_reads_in_any_order_match_one_batch_read():
    decord = pytest.importorskip("decord")
    path = MINI / VIDEOS / "testing_videos" / "21.avi"
    every_frame = decord.VideoReader(str(path), num_threads=1).get_batch(list(range(76))).asnumpy()
    reader = open_video(path, "decord")
    for start, stop in [(0, 16), (16, 32), (50, 60), (5, 9), (9, 9), (70, 76), (0, 3)]:
        np.testing.assert_array_equal(reader.read(start, stop), every_frame[start:stop], err_msg=f"{start}:{stop}")


@needs_mini
def test_the_dataset_gives_the_same_counts_with_pyav(reference, monkeypatch):
    monkeypatch.setenv("ANOBENCH_VIDEO_BACKEND", "pyav")
    dataset = make(MINI)
    assert dataset.check() == []
    counts = {("test", v.avenue_id): len(v) for v in dataset.videos("test")}
    counts |= {("train", v.avenue_id): len(v) for v in dataset.videos("train")}
    assert counts == reference["frames"]


# ------------------------------------------------------------------------------------------ CLI

runner = CliRunner()


@needs_mini
def test_cli_data_check_on_the_mini_slice():
    result = runner.invoke(build_app(), ["data", "check", "avenue", "--data-root", str(MINI), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["problems"] == [] and report["options"]["label_convention"] == "mask"
    assert report["splits"]["test"] == {"videos": 6, "frames": 1353, "abnormal_frames": 1061}
    assert report["splits"]["train"] == {"videos": 2, "frames": 389, "abnormal_frames": None}
    table = runner.invoke(build_app(), ["data", "check", "avenue", "--data-root", str(MINI),
                                        "--data-option", "label_convention=event"])
    assert table.exit_code == 0 and "972" in table.stdout and "1353" in table.stdout
    assert "warning: partial copy: 15 of 21 testing_videos missing" in table.stderr


def test_cli_data_check_on_a_bad_folder_is_one_line_and_exit_2(tmp_path):
    missing = tmp_path / "no-avenue-here"
    result = runner.invoke(build_app(), ["data", "check", "avenue", "--data-root", str(missing)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [f"error: {missing}: no such folder (pass --data-root DIR: the folder holding 'Avenue Dataset' "
                     "and 'ground_truth_demo' as unpacked from the official zips; see datasets/avenue.md)"]


@needs_mini
def test_a_run_records_the_label_convention(toy_plugin, tmp_path):
    # Two short test videos keep decoding and resizing to a few seconds.
    root = layout_copy(tmp_path / "data", train=["12"], test=["08", "21"])
    result = runner.invoke(build_app(), [
        "run", "--detector", "toy-detector", "--dataset", "avenue", "--data-root", str(root), "--data-option",
        "label_convention=event", "--out", str(tmp_path / "results"), "--device", "cpu", "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["dataset"]["options"]["label_convention"] == "event"
    assert record["dataset"]["fingerprint"]["label_convention"] == "event"
    assert record["dataset"]["extras"]["abnormal_test_frames"] == 10 + 53  # 08: frames 21-30; 21: frames 14-66
    assert record["n_test_frames"] == 36 + 76 and record["dataset"]["n_train_frames"] == 145
    assert any("partial copy" in note for note in record["dataset"]["notes"])
    assert [(v["id"], v["n_abnormal"]) for v in record["per_video"]] == [("test_08", 10), ("test_21", 53)]
