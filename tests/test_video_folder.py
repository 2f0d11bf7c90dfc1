"""The ``video-folder`` dataset on its generated copy: video files and frame folders mixed, labels.csv and
labels.json, runs with and without labels, the skeleton view from poses/, kinds for --by-kind, ``data check``,
the fingerprint, and every bad input named in one line."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from anobench_videofolder.dataset import VideoFolder, VideoFolderOptions
from anobench_generators.video_folder import write_video_folder
from bench_core.cli import build_app
from bench_core.dataset import GENERATED_MARKER
from bench_core.errors import DataError
from bench_core.records import load_record, read_scores
from bench_core.video_io import open_video
from bench_core.video_io import natural_key
from conftest import SHARED_DATA

FRAMES, WIDTH, HEIGHT = 72, 64, 48
SEED = 7  # with 72 frames, both test videos hold an anomaly, of two kinds
# The frame-wise autoencoder, one epoch: a run takes a second or two.
TINY_AE = ["--detector", "ae", "--preset", "cpu", "--set", "epochs=1", "--set", "channels=4,8"]
FRAMES_VIEW = ["--set", "view=frames", "--set", "input_size=32"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("video-folder") / "data"
    write_video_folder(out, SEED, frames_per_video=FRAMES, width=WIDTH, height=HEIGHT)
    return out


@pytest.fixture
def root(generated, tmp_path) -> Path:
    """A private copy of the generated folder, to change or break."""
    return Path(shutil.copytree(generated, tmp_path / "data"))


def dataset(root: Path, **options) -> VideoFolder:
    return VideoFolder("video-folder", VideoFolderOptions(data_root=str(root), **options))


def label_rows(root: Path) -> list[dict]:
    with open(root / "labels.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def write_labels(root: Path, lines: list[str]) -> None:
    (root / "labels.csv").write_text("\n".join(lines) + "\n")


def invoke(*args: str):
    return CliRunner().invoke(build_app(), [str(a) for a in args], env={"COLUMNS": "200"})


def run(root: Path, out: Path, *extra: str):
    return invoke("run", *TINY_AE, "--dataset", "video-folder", "--data-root", root, "--out", out, "--json", *extra)


# -- the generated copy and what the loader makes of it ------------------------------------------------------------

def test_generated_copy_mixes_video_files_and_frame_folders(generated):
    assert (generated / "train" / "train_00.avi").is_file() and (generated / "test" / "test_00.mp4").is_file()
    assert sorted(p.name for p in (generated / "train" / "train_01").iterdir())[:2] == ["000000.png", "000001.png"]
    assert len(list((generated / "test" / "test_01").glob("*.jpg"))) == FRAMES
    rows = label_rows(generated)
    assert rows and {row["video"] for row in rows} <= {"test_00", "test_01"}
    assert all(row["kind"] and 0 <= int(row["start"]) < int(row["stop"]) <= FRAMES for row in rows)
    for name in ("train_00", "train_01", "test_00", "test_01"):
        assert len(list((generated / "poses" / name).glob("*.json"))) == FRAMES
    assert json.loads((generated / GENERATED_MARKER).read_text())["complete"] is True


def test_loader_serves_both_kinds_of_video_with_their_labels(generated):
    ds = dataset(generated)
    assert ds.check() == []
    train, test = ds.videos("train"), ds.videos("test")
    assert [v.id for v in train] == ["train_00", "train_01"] and [v.id for v in test] == ["test_00", "test_01"]
    assert all(v.labels is None for v in train)
    for video in train + test:
        assert (len(video), video.info.height, video.info.width) == (FRAMES, HEIGHT, WIDTH)
        assert video.read(5, 9).shape == (4, HEIGHT, WIDTH, 3)
    # A frame folder reads its images in order, as RGB.
    expected = np.asarray(Image.open(generated / "train" / "train_01" / "000007.png").convert("RGB"))
    assert np.array_equal(train[1].read(7, 8)[0], expected)
    for video in test:
        want = np.zeros(FRAMES, np.int8)
        for row in label_rows(generated):
            if row["video"] == video.id:
                want[int(row["start"]):int(row["stop"])] = 1
        assert np.array_equal(video.labels, want) and want.any()


def test_frame_images_are_read_in_natural_order(tmp_path):
    assert sorted(["f10.png", "f9.png", "f100.png", "F2.png"], key=natural_key) == [
        "F2.png", "f9.png", "f10.png", "f100.png"]
    root = tmp_path / "root"
    for split in ("train", "test"):
        folder = root / split / "clip"
        folder.mkdir(parents=True)
        for index in (1, 2, 10):  # lexical order would put 10 before 2
            Image.fromarray(np.full((8, 8, 3), index, np.uint8)).save(folder / f"f{index}.png")
    (root / "test" / "clip").rename(root / "test" / "other")
    video = dataset(root).videos("train")[0]
    assert video.read(0, 3)[:, 0, 0, 0].tolist() == [1, 2, 10]


def test_labels_json_gives_the_same_labels(root):
    csv_labels = [v.labels for v in dataset(root).videos("test")]
    csv_fingerprint = dataset(root).fingerprint()
    rows = [{"video": r["video"], "start": int(r["start"]), "stop": int(r["stop"]), "kind": r["kind"]}
            for r in label_rows(root)]
    (root / "labels.csv").unlink()
    (root / "labels.json").write_text(json.dumps(rows))
    ds = dataset(root)
    assert ds.check() == []
    for got, want in zip((v.labels for v in ds.videos("test")), csv_labels):
        assert np.array_equal(got, want)
    assert ds.fingerprint()["labels"]["file"] == "labels.json"
    assert ds.fingerprint() != csv_fingerprint


def test_fingerprint_pins_videos_frames_labels_and_poses(root):
    before = dataset(root).fingerprint()
    assert dataset(root).fingerprint() == before
    changes = [
        lambda: Image.new("RGB", (WIDTH, HEIGHT)).save(root / "train" / "train_01" / "000003.png"),
        lambda: (root / "test" / "test_00.mp4").write_bytes((root / "test" / "test_00.mp4").read_bytes() + b"\0"),
        lambda: write_labels(root, ["video,start,stop,kind", "test_00,1,5,run"]),
        lambda: (root / "poses" / "test_01" / "000004_keypoints.json").write_text('{"version":1.3,"people":[]}'),
    ]
    seen = [before]
    for change in changes:
        change()
        fingerprint = dataset(root).fingerprint()
        assert fingerprint not in seen
        seen.append(fingerprint)


# -- runs ------------------------------------------------------------------------------------------------------------

def test_run_with_labels_reports_auroc_and_records_kinds(root, tmp_path):
    result = run(root, tmp_path / "results", *FRAMES_VIEW)
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert 0 <= record["metrics"]["frame_auroc_micro"] <= 1 and "metrics_note" not in record
    events = record["dataset"]["extras"]["events"]
    kinds = {row["kind"] for row in label_rows(root)}
    assert {e["kind"] for video in events.values() for e in video} == kinds
    board = invoke("leaderboard", tmp_path / "results", "--by-kind", "--out", tmp_path / "board.md")
    assert board.exit_code == 0, board.output
    text = (tmp_path / "board.md").read_text()
    assert "by kind of anomaly" in text and all(kind in text for kind in kinds)


def test_run_without_labels_writes_scores_and_says_why_there_is_no_auroc(root, tmp_path):
    (root / "labels.csv").unlink()
    notes = dataset(root).notes()
    assert any("no labels.csv or labels.json" in note for note in notes)
    result = invoke("run", *TINY_AE, *FRAMES_VIEW, "--dataset", "video-folder", "--data-root", root,
                    "--out", tmp_path / "results")
    assert result.exit_code == 0, result.output
    assert "no labels.csv or labels.json" in result.output and "no AUROC" in result.output
    record_file, = (tmp_path / "results").rglob("record.json")
    record = load_record(record_file.parent)
    assert record["metrics"] == {} and "have no labels" in record["metrics_note"]
    assert record["dataset"]["extras"]["labels_file"] is None
    scores = read_scores(record)
    assert set(scores) == {"test_00", "test_01"}
    for saved in scores.values():
        assert saved.label is None and len(saved.score) == FRAMES and np.isfinite(saved.score).all()


def test_skeleton_view_from_poses(root, tmp_path):
    maps = dataset(root).videos("test", "skeleton")
    assert [v.id for v in maps] == ["test_00", "test_01"]
    frames = maps[1].read(0, FRAMES)  # a frame folder, with OpenPose's image-dir file names
    assert frames.shape == (FRAMES, 28, 28, 1) and set(np.unique(frames)) <= {0, 255} and frames.any()
    result = run(root, tmp_path / "results")  # ae reads the skeleton view by default
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["detector"]["input_spec"]["view"] == "skeleton" and record["metrics"]["frame_auroc_micro"] is not None
    coverage = record["dataset"]["extras"]["pose_coverage"]
    assert coverage["n_test_frames"] == 2 * FRAMES and 0 <= coverage["frames_without_person"] < 0.5


def test_skeleton_view_without_poses_is_a_one_line_error(root, tmp_path):
    shutil.rmtree(root / "poses")
    result = run(root, tmp_path / "results")
    assert result.exit_code == 2
    assert "poses: missing; the skeleton view reads OpenPose JSON" in result.output
    assert "Traceback" not in result.output
    # The frames view does not need them.
    assert run(root, tmp_path / "results", *FRAMES_VIEW).exit_code == 0


def test_skeleton_view_with_a_pose_file_missing_names_the_folder(root):
    os.unlink(sorted((root / "poses" / "train_00").iterdir())[-1])
    assert any("poses/train_00" in note and f"{FRAMES - 1} JSON files" in note for note in dataset(root).notes())
    with pytest.raises(DataError, match=f"train_00: {FRAMES - 1} JSON files for the {FRAMES} frames"):
        dataset(root).videos("train", "skeleton")


# -- anobench data check and data generate --------------------------------------------------------------------------

def test_data_check_lists_videos_label_rows_and_poses(generated):
    result = invoke("data", "check", "video-folder", "--data-root", generated, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["problems"] == []
    videos = {row["video"]: row for row in report["videos"]}
    assert videos["train_01"]["source"] == f"{FRAMES} images" and videos["test_00"]["source"] == "mp4 file"
    assert all(row["frames"] == FRAMES and row["pose_files"] == FRAMES for row in videos.values())
    rows = label_rows(generated)
    assert videos["test_00"]["label_rows"] == sum(r["video"] == "test_00" for r in rows)
    assert report["splits"]["test"]["abnormal_frames"] == sum(int(r["stop"]) - int(r["start"]) for r in rows)
    text = invoke("data", "check", "video-folder", "--data-root", generated)
    assert text.exit_code == 0 and "train_00" in text.output and "avi file" in text.output


def test_data_generate_writes_the_layout_the_loader_reads(tmp_path):
    out = tmp_path / "generated"
    small = ["--data-option", f"frames_per_video={FRAMES}", "--data-option", f"width={WIDTH}",
             "--data-option", f"height={HEIGHT}"]
    result = invoke("data", "generate", "video-folder", "--out", out, "--seed", "1", *small)
    assert result.exit_code == 0, result.output
    assert dataset(out).check() == []
    assert open_video(out / "train" / "train_00.avi").n_frames == len(dataset(out).videos("train")[1])
    # Written again into its own copy; a folder it did not write is refused.
    assert invoke("data", "generate", "video-folder", "--out", out, *small).exit_code == 0
    other = tmp_path / "mine"
    (other / "train").mkdir(parents=True)
    refused = invoke("data", "generate", "video-folder", "--out", other, *small)
    assert refused.exit_code == 2 and "is not a folder written by" in refused.output


# -- bad input: one line naming the file or row ---------------------------------------------------------------------

def _bad_labels(lines):
    return lambda root: write_labels(root, lines)


def _undecodable(root):
    (root / "test" / "test_00.mp4").write_bytes(b"not a video at all" * 100)


def _mixed_sizes(root):
    Image.fromarray(np.zeros((HEIGHT // 2, WIDTH // 2, 3), np.uint8)).save(root / "train" / "train_01" / "000010.png")


def _empty(split):
    def change(root):
        shutil.rmtree(root / split)
        (root / split).mkdir()
    return change


BAD_INPUTS = {
    "missing video": (_bad_labels(["video,start,stop", "test_00,1,4", "test_99,1,4"]),
                      "labels.csv line 3: names video 'test_99', which is not in test/"),
    "stop not after start": (_bad_labels(["video,start,stop", "test_00,5,5"]),
                             "labels.csv line 2: stop 5 is not after start 5"),
    "stop past the end": (_bad_labels(["video,start,stop,kind", f"test_01,10,{FRAMES + 1},run"]),
                          f"labels.csv line 2: stop {FRAMES + 1} is past the end of test/test_01 ({FRAMES} frames"),
    "non-integer frame": (_bad_labels(["video,start,stop", "test_00,2.5,9"]),
                          "labels.csv line 2: start '2.5' is not a whole frame number"),
    "bad header": (_bad_labels(["name,first,last", "test_00,1,4"]),
                   "labels.csv line 1: header must be 'video,start,stop' or 'video,start,stop,kind'"),
    "train video labelled": (_bad_labels(["video,start,stop", "train_00,1,4"]),
                             "labels.csv line 2: names train video 'train_00'"),
    "undecodable video": (_undecodable, "test_00.mp4: cannot be decoded"),
    "mixed frame sizes": (_mixed_sizes, f"000010.png: {WIDTH // 2}x{HEIGHT // 2}, but 000000.png is {WIDTH}x{HEIGHT}"),
    "empty train": (_empty("train"), "train: no videos"),
    "empty test": (_empty("test"), "test: no videos"),
    "both label files": (lambda root: (root / "labels.json").write_text("[]"),
                  "has both labels.csv and labels.json"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_naming_the_file_or_row(root, tmp_path, case):
    change, message = BAD_INPUTS[case]
    change(root)
    problems = dataset(root).check()
    assert any(message in problem for problem in problems), problems
    checked = invoke("data", "check", "video-folder", "--data-root", root)
    assert checked.exit_code == 2 and message in " ".join(checked.output.split())
    result = run(root, tmp_path / "results", *FRAMES_VIEW)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.output.strip().startswith("error:")


def test_labels_json_rows_are_named_by_item(root):
    (root / "labels.csv").unlink()
    (root / "labels.json").write_text(json.dumps([{"video": "test_00", "start": 1, "stop": 4},
                                                  {"video": "test_00", "start": 7, "stop": 2},
                                                  {"video": "test_00", "start": 1.0, "stop": 4}]))
    problems = dataset(root).check()
    assert any("labels.json item 2: stop 2 is not after start 7" in p for p in problems)
    assert any("labels.json item 3: start 1.0 is not a whole frame number" in p for p in problems)


def test_unknown_extension_is_a_note_not_an_error(root):
    (root / "test" / "notes.txt").write_text("camera 2")
    ds = dataset(root)
    assert ds.check() == []
    assert any("notes.txt: unknown extension" in note for note in ds.notes())


# -- real files -----------------------------------------------------------------------------------------------------

def test_real_avenue_videos_and_their_event_labels(tmp_path):
    """Avenue's own AVI files laid out as a video folder, with the published event intervals written as labels.csv
    (1-based inclusive there, 0-based start and exclusive stop here): the frames and labels the loader serves are
    the files' and the intervals'."""
    avenue = SHARED_DATA / "avenue-mini" / "Avenue Dataset"
    events = SHARED_DATA / "avenue-event-labels.json"
    if not avenue.is_dir() or not events.is_file():
        pytest.skip(f"real sample data not found at {SHARED_DATA}")
    root = tmp_path / "avenue"
    (root / "train").mkdir(parents=True)
    (root / "test").mkdir()
    os.symlink(avenue / "training_videos" / "12.avi", root / "train" / "12.avi")
    intervals = json.loads(events.read_text())["intervals"]
    lines = ["video,start,stop"]
    for name in ("08", "21"):
        os.symlink(avenue / "testing_videos" / f"{name}.avi", root / "test" / f"{name}.avi")
        lines += [f"{name},{first - 1},{last}" for first, last in intervals[name]]
    write_labels(root, lines)
    ds = dataset(root)
    assert ds.check() == []
    test = ds.videos("test")
    assert [(v.id, len(v), v.info.width, v.info.height) for v in test] == [("08", 36, 640, 360), ("21", 76, 640, 360)]
    for video in test:
        want = np.zeros(len(video), np.int8)
        for first, last in intervals[video.id]:
            want[first - 1:last] = 1
        assert np.array_equal(video.labels, want)
    assert np.array_equal(test[0].read(30, 32), open_video(avenue / "testing_videos" / "08.avi").read(30, 32))
