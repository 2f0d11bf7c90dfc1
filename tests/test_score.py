"""Field use (issue 12): the normal hold-out of a run, train-stats normalisation, and 'anobench score' on files,
folders and a pipe, on generated videos with a tiny conv-ae (one training shared by the module)."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bench_core import calibration
from bench_core.cli import build_app

ANOBENCH = str(Path(sys.executable).parent / "anobench")


def invoke(*args):
    return CliRunner().invoke(build_app(), [str(a) for a in args])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A conv-ae run on a generated copy of Avenue's layout (4 x 120 training frames, 2 test videos)."""
    root = tmp_path_factory.mktemp("field")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ANOBENCH_CACHE_DIR", str(root / "cache"))
        data = root / "avenue"
        result = invoke("data", "generate", "synthetic-avenue", "--out", data, "--data-option", "n_train=4",
                        "--data-option", "n_test=2", "--data-option", "frames_per_video=120")
        assert result.exit_code == 0, result.output
        result = invoke("run", "--detector", "conv-ae", "--dataset", "avenue", "--data-root", data, "--set",
                        "epochs=4", "--calibration-holdout", "0.25", "--device", "cpu", "--out", root / "results",
                        "--json")
        assert result.exit_code == 0, result.output
        record = json.loads(result.stdout)
    run = root / "results" / "avenue" / "conv-ae" / record["run_id"]
    return {"root": root, "run": run, "record": record, "tests": data / "Avenue Dataset" / "testing_videos"}


def read_csv(path: Path) -> dict[str, np.ndarray]:
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {key: np.array([float(row[key]) for row in rows]) for key in ("frame", "time_s", "raw_score", "score",
                                                                        "alert")}


def saved(run: Path, video_id: str) -> dict:
    with np.load(run / "scores" / f"{video_id}.npz") as npz:
        return {key: npz[key] for key in npz.files}


def test_the_run_keeps_its_hold_out_split_and_normal_scores(trained):
    record, run = trained["record"], trained["run"]
    split = record["calibration"]
    assert split["holdout"] == 0.25 and len(split["videos"]) == 4
    for video in split["videos"]:  # the last 30 of 120 frames held out, the first 90 trained on
        assert video["train"] == [0, 90] and video["held_out"] == [90, 120]
    assert record["dataset"]["n_train_frames"] == 4 * 120  # the whole train split
    normal = calibration.NormalScores.read(run / calibration.NORMAL_SCORES_FILE)
    assert normal.n == 4 * (30 - 10 + 1) == split["n_normal_scores"]  # one score per full window of 10
    assert split["alert_threshold_raw"] == normal.raw_threshold(0.01)
    for key in ("tpr_at_1pct_fpr", "tpr_at_5pct_fpr", "false_alarms_per_hour", "event_detection_rate"):
        assert record["metrics"][key] is not None


def test_score_on_a_runs_own_test_videos_reproduces_its_raw_scores_exactly(trained, tmp_path):
    """A folder SOURCE gives each of its videos; each CSV's raw_score is the run's saved raw, bit for bit."""
    out = tmp_path / "out"
    result = invoke("score", trained["run"], trained["tests"], "--out", out, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert set(summary) == {"run_id", "threshold", "threshold_rule", "sources"}
    assert summary["run_id"] == trained["record"]["run_id"]
    assert [s["source"] for s in summary["sources"]] == ["01", "02"]
    normal = calibration.NormalScores.read(trained["run"] / calibration.NORMAL_SCORES_FILE)
    assert summary["threshold"] == pytest.approx(normal.normalise(normal.raw_threshold(0.01)))
    for source, video_id in zip(summary["sources"], ("test_01", "test_02")):
        assert set(source) == {"source", "n_frames", "fps", "scores_file", "events"}
        assert source["n_frames"] == 120 and source["fps"] == 25.0
        scores = read_csv(Path(source["scores_file"]))
        run_saved = saved(trained["run"], video_id)
        assert np.array_equal(scores["raw_score"], run_saved["raw"])
        assert np.allclose(scores["score"], normal.normalise(run_saved["raw"]), atol=1e-5)
        assert np.array_equal(scores["alert"] == 1, scores["score"] > summary["threshold"])
        assert np.array_equal(scores["frame"], np.arange(120)) and scores["time_s"][25] == 1.0
    with open(out / "events.csv", newline="") as handle:
        events = list(csv.DictReader(handle))
    assert list(events[0]) == ["source", "start", "stop", "start_s", "stop_s", "peak_score"]
    jsonl = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert len(jsonl) == len(events) == sum(len(s["events"]) for s in summary["sources"])


def test_alerts_overlap_the_injected_anomalies_far_above_chance(trained, tmp_path):
    result = invoke("score", trained["run"], trained["tests"], "--out", tmp_path, "--json")
    assert result.exit_code == 0, result.output
    alerts, labels = [], []
    for name, video_id in (("01", "test_01"), ("02", "test_02")):
        alerts.append(read_csv(tmp_path / f"{name}.csv")["alert"] == 1)
        labels.append(saved(trained["run"], video_id)["label"] == 1)
    alert, label = np.concatenate(alerts), np.concatenate(labels)
    base_rate = label.mean()
    assert alert.any() and 0.1 < base_rate < 0.5
    # Chance would put abnormal frames among the alerts at the base rate; the alerts are mostly abnormal.
    assert label[alert].mean() > 1.8 * base_rate


def test_a_frame_folder_source(trained, tmp_path):
    from PIL import Image

    from bench_core.video_io import open_video

    frames = open_video(trained["tests"] / "01.avi").read(0, 30)
    folder = tmp_path / "camera-7"
    folder.mkdir()
    for index, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"{index:05d}.png")
    result = invoke("score", trained["run"], folder, "--out", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    (source,) = json.loads(result.stdout)["sources"]
    assert source["source"] == "camera-7" and source["n_frames"] == 30
    # Lossless PNGs of the decoded frames: the same raw scores as the run's first 30 frames.
    raw = read_csv(Path(source["scores_file"]))["raw_score"]
    assert np.array_equal(raw, saved(trained["run"], "test_01")["raw"][:30])


def test_a_pipe_on_stdin_is_scored_as_a_stream(trained, tmp_path):
    video = trained["tests"] / "02.avi"
    with open(video, "rb") as stdin:
        done = subprocess.run([ANOBENCH, "score", str(trained["run"]), "-", "--out", str(tmp_path), "--json",
                               "--max-seconds", "4", "--device", "cpu"],
                              stdin=stdin, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (source,) = json.loads(done.stdout)["sources"]
    assert source["source"] == "stdin" and source["n_frames"] == 100  # 4 s at 25 fps, then it stops
    raw = read_csv(tmp_path / "stdin.csv")["raw_score"]
    assert np.allclose(raw, saved(trained["run"], "test_02")["raw"][:100], rtol=1e-3)
    # Each event's start (and end) is told on stderr as the stream reaches it.
    assert done.stderr.count("alert stdin: event starts") == len(source["events"])


def test_an_mp4_on_a_pipe_is_one_line_naming_the_containers_a_pipe_can_carry(trained, tmp_path):
    # The generated video-folder's MP4, as a user would pipe it: its index (moov) sits after the frames.
    assert invoke("data", "generate", "video-folder", "--out", tmp_path / "footage").exit_code == 0
    mp4 = tmp_path / "footage" / "test" / "test_00.mp4"
    assert mp4.read_bytes().find(b"moov") > mp4.read_bytes().find(b"mdat")
    # A real pipe: a file on stdin could still be sought, a pipe cannot.
    cat = subprocess.Popen(["cat", str(mp4)], stdout=subprocess.PIPE)
    done = subprocess.run([ANOBENCH, "score", str(trained["run"]), "-", "--out", str(tmp_path / "out"),
                           "--device", "cpu"], stdin=cat.stdout, capture_output=True, text=True, timeout=300)
    cat.stdout.close()
    cat.wait()
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "SOURCE stdin: cannot be decoded" in errors[0]
    assert "a pipe needs a container that can be read front to back" in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr


def test_a_truncated_video_keeps_what_was_scored_and_exits_1(trained, tmp_path):
    data = (trained["tests"] / "01.avi").read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[:len(data) // 2])
    with open(cut, "rb") as stdin:
        done = subprocess.run([ANOBENCH, "score", str(trained["run"]), "-", "--out", str(tmp_path / "out"),
                               "--device", "cpu"], stdin=stdin, capture_output=True, text=True, timeout=300)
    scored = read_csv(tmp_path / "out" / "stdin.csv")
    if done.returncode == 0:  # the demuxer may treat the cut as the end of the stream: then all it had is scored
        assert 0 < len(scored["frame"]) < 120
    else:
        assert done.returncode == 1 and f"stopped after {len(scored['frame'])} frames" in done.stderr


def test_annotate_writes_a_video_with_the_curve(trained, tmp_path):
    import av

    result = invoke("score", trained["run"], trained["tests"] / "01.avi", "--out", tmp_path, "--annotate",
                    "--max-seconds", "2")
    assert result.exit_code == 0, result.output
    with av.open(str(tmp_path / "01.annotated.mp4")) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    # A file is not a stream: --max-seconds leaves it whole. The frame sits on top of a curve strip.
    assert len(frames) == 120 and frames[0].shape[0] > 120


def test_bad_inputs_are_one_line_errors(trained, tmp_path):
    missing = invoke("score", trained["run"], tmp_path / "nope.mp4")
    assert missing.exit_code == 2 and "nope.mp4: no such file or folder" in missing.stderr
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video" * 100)
    undecodable = invoke("score", trained["run"], junk, "--out", tmp_path / "o")
    assert undecodable.exit_code == 2 and "junk.mp4" in undecodable.stderr and "Traceback" not in undecodable.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    assert invoke("score", trained["run"], empty).exit_code == 2

    copy = tmp_path / "old-run"
    shutil.copytree(trained["run"], copy)
    (copy / calibration.NORMAL_SCORES_FILE).unlink()
    old = invoke("score", copy, trained["tests"] / "01.avi")
    assert old.exit_code == 2 and "normal_scores.json" in old.stderr
    assert "anobench run --detector conv-ae --dataset avenue" in old.stderr  # how to re-create it
    (copy / "checkpoint.pt").unlink()
    no_checkpoint = invoke("score", copy, trained["tests"] / "01.avi")
    assert no_checkpoint.exit_code == 2 and "checkpoint.pt" in no_checkpoint.stderr
    bad_rate = invoke("score", trained["run"], trained["tests"] / "01.avi", "--false-alarm-rate", "2")
    assert bad_rate.exit_code == 2 and "--false-alarm-rate" in bad_rate.stderr
    assert invoke("score", tmp_path, trained["tests"] / "01.avi").exit_code == 2  # not a run folder


# -- the hold-out and train-stats, on the toy plugin (fast) ---------------------------------------------------------

def toy_run(tmp_path, *extra):
    return invoke("run", "--detector", "toy-detector", "--dataset", "toy-dataset", "--device", "cpu",
                  "--out", tmp_path / "results", "--json", *extra)


def test_the_threshold_never_reads_test_labels(toy_plugin, tmp_path, monkeypatch):
    from toy_plugin import ToyDataset

    first = toy_run(tmp_path / "a")
    assert first.exit_code == 0, first.output
    original = ToyDataset._video

    def shuffled_labels(self, index, split):
        video = original(self, index, split)
        if video.labels is not None:
            video.labels = np.random.default_rng(index).permutation(video.labels)
        return video

    monkeypatch.setattr(ToyDataset, "_video", shuffled_labels)
    second = toy_run(tmp_path / "b")
    assert second.exit_code == 0, second.output
    a, b = json.loads(first.stdout), json.loads(second.stdout)
    assert a["metrics"]["frame_auroc_micro"] != b["metrics"]["frame_auroc_micro"]  # the labels did change
    assert a["calibration"]["alert_threshold_raw"] == b["calibration"]["alert_threshold_raw"]
    normal = [(tmp_path / x / "results" / "toy-dataset" / "toy-detector" / r["run_id"] /
               calibration.NORMAL_SCORES_FILE).read_text() for x, r in (("a", a), ("b", b))]
    assert normal[0] == normal[1]


def test_train_stats_scales_raw_scores_by_the_normal_statistics(toy_plugin, tmp_path):
    result = toy_run(tmp_path, "--normalization", "train-stats")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["protocol"]["normalization"] == "train-stats"
    run = tmp_path / "results" / "toy-dataset" / "toy-detector" / record["run_id"]
    normal = json.loads((run / calibration.NORMAL_SCORES_FILE).read_text())
    for video in record["per_video"]:
        with np.load(run / video["file"]) as npz:
            assert np.allclose(npz["score"], (npz["raw"] - normal["median"]) / normal["scale"])
    assert normal["scale"] == pytest.approx(
        np.interp(0.99, normal["quantiles"]["levels"], normal["quantiles"]["values"]) - normal["median"])
    refused = toy_run(tmp_path, "--normalization", "train-stats", "--calibration-holdout", "0")
    assert refused.exit_code == 2 and "--calibration-holdout" in refused.stderr


def test_the_hold_out_is_part_of_the_run_id_except_at_zero(toy_plugin, tmp_path):
    from bench_core.run import RunRequest, plan_run

    def run_id(**kw):
        return plan_run(RunRequest(detector="toy-detector", dataset="toy-dataset", out=tmp_path, **kw)).run_id

    assert run_id(calibration_holdout=0.1) != run_id(calibration_holdout=0.0) != run_id(calibration_holdout=0.2)
    zero = toy_run(tmp_path, "--calibration-holdout", "0")
    assert zero.exit_code == 0, zero.output
    record = json.loads(zero.stdout)
    assert record["calibration"] == {"holdout": 0.0} and record["run_id"] == run_id(calibration_holdout=0.0)
    run = tmp_path / "results" / "toy-dataset" / "toy-detector" / record["run_id"]
    assert (run / "record.json").is_file() and not (run / calibration.NORMAL_SCORES_FILE).exists()
    bad = toy_run(tmp_path, "--calibration-holdout", "0.9")
    assert bad.exit_code == 2 and "--calibration-holdout" in bad.stderr


def test_events_from_alerts_merge_gaps_and_drop_short_runs():
    alerts = np.array([0, 1, 1, 0, 1, 0, 0, 0, 1, 0, 1, 1, 1, 1], dtype=bool)
    scores = np.arange(len(alerts), dtype=float)
    assert [(e.start, e.stop) for e in calibration.events_of(alerts, scores)] == [(1, 3), (4, 5), (8, 9), (10, 14)]
    merged = calibration.events_of(alerts, scores, min_frames=1, merge_gap=1)
    assert [(e.start, e.stop, e.peak_score) for e in merged] == [(1, 5, 4.0), (8, 14, 13.0)]
    assert [(e.start, e.stop) for e in calibration.events_of(alerts, scores, min_frames=3)] == [(10, 14)]
    tracker = calibration.EventTracker(min_frames=2)
    told = [(i, what) for i, a in enumerate(alerts) for what, _ in tracker.push(i, bool(a), 0.0)]
    told += [(len(alerts), what) for what, _ in tracker.finish()]
    assert told == [(2, "start"), (3, "end"), (11, "start"), (14, "end")]


def test_published_records_re_plan_to_their_run_ids(tmp_path):
    """Every published synthetic-avenue record (generated: no files needed; synthetic-industrial takes 40 s a plan)
    plans to its own id again: records from before the hold-out re-plan with --calibration-holdout 0, which the
    leaderboard's reproduce command spells."""
    from bench_core.leaderboard import reproduce_command
    from bench_core.records import load_record
    from bench_core.run import RunRequest, plan_run

    published = Path(__file__).resolve().parents[1] / "leaderboards" / "results"
    checked = 0
    for path in sorted(published.rglob("record.json")):
        record = json.loads(path.read_text())
        if record["dataset"]["name"] != "synthetic-avenue":
            continue
        options = [f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}"
                   for k, v in record["dataset"]["options"].items() if k != "data_root" and v not in ("", None)]
        request = RunRequest(
            detector=record["detector"]["name"], dataset=record["dataset"]["name"], preset=record["preset"],
            seed=record["seed"], settings=list(record["detector"]["settings"]), data_options=options,
            normalization=record["protocol"]["normalization"], smoothing_sigma=record["protocol"]["smoothing_sigma"],
            scorers=tuple(record["scorers"]), out=tmp_path, calibration_holdout=load_record(path).holdout)
        assert plan_run(request).run_id == record["run_id"], path
        assert f"--calibration-holdout {load_record(path).holdout:g}" in reproduce_command(load_record(path),
                                                                                           "results")
        checked += 1
    assert checked >= 18


def test_leaderboards_keep_hold_out_runs_apart_and_give_operating_points(toy_plugin, tmp_path):
    from bench_core.leaderboard import collect

    for extra in ((), ("--calibration-holdout", "0")):
        result = toy_run(tmp_path, *extra)
        assert result.exit_code == 0, result.output
    rows = {row.protocol: row.as_dict() for row in collect(tmp_path / "results", {})}
    assert set(rows) == {"minmax-per-video, no smoothing, labels: frame",
                         "minmax-per-video, no smoothing, labels: frame, normal hold-out 0.1"}
    with_holdout = rows["minmax-per-video, no smoothing, labels: frame, normal hold-out 0.1"]
    assert with_holdout["false_alarms_per_hour"]["n"] == 1 and with_holdout["tpr_at_1pct_fpr"]["mean"] is not None
    assert rows["minmax-per-video, no smoothing, labels: frame"]["event_detection_rate"]["mean"] is None


def test_srnn_keeps_its_coding_chain_across_batches_so_streamed_raw_scores_are_the_runs(tmp_path, monkeypatch):
    """srnn codes each frame from the previous one: scored a few frames a call, the chain must still run through
    the whole video, or every batch after the first would score differently from the run."""
    monkeypatch.setenv("ANOBENCH_CACHE_DIR", str(tmp_path / "cache"))
    data = tmp_path / "avenue"
    assert invoke("data", "generate", "synthetic-avenue", "--out", data, "--data-option", "n_train=2",
                  "--data-option", "n_test=1", "--data-option", "frames_per_video=64").exit_code == 0
    result = invoke("run", "--detector", "srnn", "--dataset", "avenue", "--data-root", data, "--set", "epochs=1",
                    "--set", "n_atoms=16", "--set", "n_layers=3", "--device", "cpu", "--out", tmp_path / "results",
                    "--json")
    assert result.exit_code == 0, result.output
    run = tmp_path / "results" / "avenue" / "srnn" / json.loads(result.stdout)["run_id"]
    video = data / "Avenue Dataset" / "testing_videos" / "01.avi"
    result = invoke("score", run, video, "--batch-windows", "7", "--out", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    scores = read_csv(Path(json.loads(result.stdout)["sources"][0]["scores_file"]))
    assert np.array_equal(scores["raw_score"], saved(run, "test_01")["raw"])


def test_a_frame_folder_is_read_in_the_natural_order_video_folder_reads_it(tmp_path):
    from bench_core.field import _images

    for name in ("10.png", "2.png", "1.png", ".hidden.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in _images(tmp_path)] == ["1.png", "2.png", "10.png"]

