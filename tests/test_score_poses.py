"""``anobench score --poses`` (issue 12): a run trained on the skeleton view scores footage with its OpenPose JSON,
drawing the skeleton maps as the run did, so that its own test videos give its saved raw scores bit for bit; and
each bad input is one line. On a tiny generated ``video-folder`` copy (one ae and one lstm-vae training, shared)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from anobench_generators.video_folder import write_video_folder
from bench_core.cli import build_app
from test_score import read_csv, saved

FRAMES, WIDTH, HEIGHT, SEED = 72, 64, 48, 7
TINY = {
    "ae": ["--set", "epochs=1", "--set", "channels=4,8"],
    # A window of 8 and a scoring batch of 16: the ring buffer carries windows across batches.
    "lstm-vae": ["--set", "epochs=1", "--set", "window=8", "--set", "channels=4,8", "--set", "lstm_units=8",
                 "--set", "feature_dim=8", "--set", "latent_dim=4", "--set", "score_batch_size=16"],
}


def invoke(*args):
    return CliRunner().invoke(build_app(), [str(a) for a in args], env={"COLUMNS": "200"})


def train(root: Path, out: Path, detector: str, *extra: str) -> Path:
    result = invoke("run", "--detector", detector, "--preset", "cpu", *TINY[detector], *extra, "--dataset",
                    "video-folder", "--data-root", root, "--device", "cpu", "--out", out, "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    return out / "video-folder" / detector / record["run_id"]


@pytest.fixture(scope="module")
def field(tmp_path_factory):
    """The generated data (test_00 a video file, test_01 a frame folder), skeleton runs with non-default skeleton
    options (so that scoring must read them from the record), and a frames-view run."""
    base = tmp_path_factory.mktemp("score-poses")
    root = base / "data"
    write_video_folder(root, SEED, frames_per_video=FRAMES, width=WIDTH, height=HEIGHT)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ANOBENCH_CACHE_DIR", str(base / "cache"))
        skeleton_options = ["--data-option", "line_width=14", "--data-option", "threshold=40"]
        runs = {detector: train(root, base / "results", detector, "--set", "view=skeleton", *skeleton_options)
                for detector in TINY}
        runs["frames"] = train(root, base / "results", "ae", "--set", "view=frames", "--set", "input_size=32")
    return {"root": root, "runs": runs}


@pytest.mark.parametrize("detector", sorted(TINY))
def test_scoring_a_runs_own_test_videos_with_their_poses_gives_its_raw_scores_exactly(field, detector, tmp_path):
    """Both kinds of source (a video file and a frame folder), with --poses naming ROOT/poses/ (one subfolder per
    source); each CSV's raw_score is the run's saved raw, bit for bit."""
    root, run = field["root"], field["runs"][detector]
    record = json.loads((run / "record.json").read_text())
    assert record["detector"]["input_spec"]["view"] == "skeleton"
    assert record["dataset"]["fingerprint"]["skeleton"]["line_width"] == 14
    result = invoke("score", run, root / "test", "--poses", root / "poses", "--out", tmp_path, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert [s["source"] for s in summary["sources"]] == ["test_00", "test_01"]
    for source in summary["sources"]:
        assert source["n_frames"] == FRAMES
        raw = read_csv(Path(source["scores_file"]))["raw_score"]
        assert np.array_equal(raw, saved(run, source["source"])["raw"])


def test_one_source_takes_its_pose_files_directly(field, tmp_path):
    root, run = field["root"], field["runs"]["ae"]
    result = invoke("score", run, root / "test" / "test_00.mp4", "--poses", root / "poses" / "test_00", "--out",
                    tmp_path, "--json")
    assert result.exit_code == 0, result.output
    raw = read_csv(tmp_path / "test_00.csv")["raw_score"]
    assert np.array_equal(raw, saved(run, "test_00")["raw"])


def test_other_poses_give_other_scores(field, tmp_path):
    """The maps come from the poses given, not from the pixels: test_01's poses on test_00's frames change the
    scores (same frame count and size)."""
    root, run = field["root"], field["runs"]["ae"]
    result = invoke("score", run, root / "test" / "test_00.mp4", "--poses", root / "poses" / "test_01", "--out",
                    tmp_path)
    assert result.exit_code == 0, result.output
    raw = read_csv(tmp_path / "test_00.csv")["raw_score"]
    assert not np.array_equal(raw, saved(run, "test_00")["raw"])


def one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    message = result.stderr.strip()
    assert len(message.splitlines()) <= 2, message  # the error and its hint
    for fragment in fragments:
        assert fragment in message, message


def test_bad_input_is_one_line(field, tmp_path):
    root, run = field["root"], field["runs"]["ae"]
    video = root / "test" / "test_00.mp4"
    one_line_error(invoke("score", run, video), "trained on the 'skeleton' view", "--poses DIR")
    one_line_error(invoke("score", run, video, "--poses", tmp_path / "nope"), "nope: no such folder")
    few = tmp_path / "few"
    shutil.copytree(root / "poses" / "test_00", few)
    for path in sorted(few.iterdir())[-5:]:
        path.unlink()
    one_line_error(invoke("score", run, video, "--poses", few, "--out", tmp_path / "o"),
                   f"{FRAMES - 5} JSON files for the {FRAMES} frames")
    one_line_error(invoke("score", run, root / "test", "--poses", few, "--out", tmp_path / "o"),
                   "no folder 'test_00'")
    broken = tmp_path / "broken"
    shutil.copytree(root / "poses" / "test_00", broken)
    sorted(broken.iterdir())[3].write_text("{not json")
    one_line_error(invoke("score", run, video, "--poses", broken, "--out", tmp_path / "o"), str(broken))
    one_line_error(invoke("score", field["runs"]["frames"], video, "--poses", root / "poses" / "test_00"),
                   "--poses", "frames view")
    for stream in ("-", "rtsp://camera.local/stream", "/dev/video0"):
        one_line_error(invoke("score", run, stream, "--poses", root / "poses"), "--poses cannot come with the "
                       f"live stream {stream}")
