"""Hostile and damaged files (issue 13, the file half): nothing anobench reads back runs code, no damaged file
changes a result silently, names never collide or leave their folder, and every damaged file is named in one line.

The pickle payloads here would create a marker file when unpickled; each test checks the marker never appears.
"""

from __future__ import annotations

import errno
import json
import pathlib
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from bench_core import Detector, InputSpec, hookimpl, records, sweep, views
from bench_core.cli import build_app
from bench_core.errors import DamagedFile, DataError, UsageError
from bench_core.plugins import pm
from bench_core.run import RunRequest, run, training_dir
from bench_core.runners import RunnerOptions
from bench_core.training import LAST_FILE, TrainingCheckpoints
from bench_core.video_io import first_undecodable_frame, undecodable
from toy_plugin import ArrayVideo, ToyDataset, ToyDetector

cli = CliRunner()


def invoke(*args):
    return cli.invoke(build_app(), [str(a) for a in args])


class Payload:
    """Unpickling this creates ``marker``: proof that a loader ran code from the file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def plant_torch_pickle(path: Path, marker: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": 2, "payload": Payload(marker)}, path)
    assert not marker.exists()


# -- inline plugins: a detector that checkpoints its epochs, a dataset whose video ids collide once sanitised -----

@dataclass
class EpochConfig:
    window: int = 2
    scale: float = 1.0
    epochs: int = 2


class EpochToy(ToyDetector):
    """The toy detector, training 'epochs' through TrainingCheckpoints, so sweeps resume it."""

    Config = EpochConfig
    presets = {"cpu": {}}
    supports_resume = True

    def fit(self, train, progress):
        first, log = self.checkpoints.restore({})
        for epoch in range(first, self.config.epochs + 1):
            self.checkpoints.save_parts(epoch, {}, {"epochs": epoch})
        return super().fit(train, progress)


class CollidingNames(ToyDataset):
    def videos(self, split, view="frames"):
        found = super().videos(split, view)
        if split == "test":
            names = ["test 00", "test_00", "../up"]
            found = [ArrayVideo(name, v._frames, v.labels) for name, v in zip(names, found)]
        return found


class UndecodableVideo(ArrayVideo):
    """A video whose frame 30 on does not decode, as a damaged file's reader says."""

    def read(self, start, stop):
        if stop > 30:
            raise undecodable(Path(f"/data/{self.id}.avi"), max(start, 30), RuntimeError("bad packet"))
        return super().read(start, stop)


class DamagedLate(ToyDataset):
    def videos(self, split, view="frames"):
        found = super().videos(split, view)
        if split == "test":
            found[1] = UndecodableVideo(found[1].id, found[1]._frames, found[1].labels)
        return found


class HostilePlugin:
    __name__ = "hostile"

    @hookimpl
    def register_detectors(self, register):
        register("epoch-toy", EpochToy, summary="toy detector with epoch checkpoints")

    @hookimpl
    def register_datasets(self, register):
        register("colliding-dataset", CollidingNames, summary="test videos named 'test 00' and 'test_00'")
        register("damaged-late", DamagedLate, summary="a test video that stops decoding at frame 30")


@pytest.fixture
def plugins(toy_plugin):
    pm.register(HostilePlugin(), name="hostile")
    try:
        yield
    finally:
        pm.unregister(name="hostile")


def toy_run(out: Path, dataset="toy-dataset", seed=0, detector="toy-detector") -> dict:
    record, _ = run(RunRequest(detector=detector, dataset=dataset, out=out, device="cpu", seed=seed))
    return record


# -- 1. safe loading --------------------------------------------------------------------------------------------

def test_training_state_round_trips_the_random_states_through_safe_loading(tmp_path):
    checkpoints = TrainingCheckpoints(tmp_path, "x")
    random.seed(3), np.random.seed(3), torch.manual_seed(3)
    np.random.standard_normal()  # leaves a cached gaussian in numpy's state
    checkpoints.save(4, {"w": torch.ones(2)}, {"loss": [np.float64(0.5)]})
    expected = (random.random(), np.random.standard_normal(), torch.rand(2))
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    saved = TrainingCheckpoints(tmp_path, "x", resume=True).latest()
    assert saved["epoch"] == 4 and saved["log"] == {"loss": [0.5]} and torch.equal(saved["state"]["w"], torch.ones(2))
    assert (random.random(), np.random.standard_normal()) == expected[:2] and torch.equal(torch.rand(2), expected[2])
    torch.load(tmp_path / LAST_FILE, weights_only=True)  # the file itself is weights-only


def test_a_pickle_planted_as_training_state_is_refused_without_running(tmp_path):
    marker = tmp_path / "marker"
    plant_torch_pickle(tmp_path / LAST_FILE, marker)
    with pytest.raises(DamagedFile, match=f"{tmp_path / LAST_FILE}: training checkpoint cannot be read safely"):
        TrainingCheckpoints(tmp_path, "x", resume=True).latest()
    assert not marker.exists()


def test_training_state_of_the_previous_format_is_refused_with_a_hint_to_delete_it(tmp_path):
    old = {"format": 1, "epoch": 1, "state": {}, "log": {},
           "rng": {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}}
    torch.save(old, tmp_path / LAST_FILE)
    with pytest.raises(DamagedFile) as caught:
        TrainingCheckpoints(tmp_path, "x", resume=True).latest()
    assert str(tmp_path / LAST_FILE) in caught.value.message and "delete it" in caught.value.hint


def test_training_state_missing_keys_is_named(tmp_path):
    torch.save({"format": 2, "epoch": 1, "state": {}, "log": {}}, tmp_path / LAST_FILE)
    with pytest.raises(DamagedFile, match=r"is not a complete training checkpoint \(KeyError: 'rng'\)"):
        TrainingCheckpoints(tmp_path, "x", resume=True).latest()


def test_a_sweep_refuses_a_planted_training_state_and_finishes_the_rest(plugins, tmp_path):
    marker = tmp_path / "marker"
    base = RunRequest(detector="", dataset="", out=tmp_path / "out", device="cpu")
    jobs = sweep.plan_jobs(sweep.expand(base, ["epoch-toy"], ["toy-dataset"], [0, 1]))
    planted = training_dir(jobs[0].path) / LAST_FILE
    plant_torch_pickle(planted, marker)
    result = sweep.run_sweep(jobs, sweep.load_runner("serial", RunnerOptions()))
    assert [o.status for o in result.outcomes] == ["failed", "done"], [o.error for o in result.outcomes]
    assert result.exit_code == 1
    assert str(planted) in result.outcomes[0].error
    assert not marker.exists()
    # through the CLI: named on stderr as damaged, the other job done, exit 1 (2 with --strict)
    args = ["sweep", "--detectors", "epoch-toy", "--datasets", "toy-dataset", "--seeds", "0,1,2", "--device", "cpu",
            "--out", tmp_path / "out", "--overwrite", "failed"]
    cli_result = invoke(*args)
    assert cli_result.exit_code == 1, cli_result.output
    assert f"damaged: {planted}: training checkpoint cannot be read safely" in " ".join(cli_result.stderr.split())
    assert invoke(*args, "--strict").exit_code == 2
    assert not marker.exists()


def test_a_pickle_planted_as_a_checkpoint_is_refused(tmp_path):
    from bench_core.checkpoint import load_model

    marker = tmp_path / "marker"
    plant_torch_pickle(tmp_path / "checkpoint.pt", marker)
    with pytest.raises(DataError, match="checkpoint.pt cannot be read"):
        load_model(tmp_path / "checkpoint.pt", "x", "1", EpochConfig(), torch.nn.Linear(1, 1), ())
    assert not marker.exists()


def test_a_pickle_inside_a_scores_file_is_refused_by_report_and_leaderboard(toy_plugin, tmp_path):
    marker = tmp_path / "marker"
    good, bad = toy_run(tmp_path / "out", seed=0), toy_run(tmp_path / "out", seed=1)
    scores = Path(bad["_path"]) / bad["per_video"][0]["file"]
    np.savez(scores, score=np.array([Payload(marker)], dtype=object), label=np.zeros(1))
    result = invoke("report", tmp_path / "out", "--out", tmp_path / "report")
    assert result.exit_code == 1, result.output
    assert f"damaged: {scores}: is not a readable scores file" in " ".join(result.stderr.split())
    assert (tmp_path / "report" / "index.html").is_file() and good["run_id"] in (tmp_path / "report" /
                                                                               "index.html").read_text()
    assert invoke("report", tmp_path / "out", "--out", tmp_path / "r2", "--strict").exit_code == 2
    board = invoke("leaderboard", tmp_path / "out", "--by-kind")
    assert board.exit_code == 0, board.output  # toy-dataset names no kinds: the leaderboard reads no scores
    assert not marker.exists()


# -- 3. unique, contained names ---------------------------------------------------------------------------------

def test_safe_names_keep_plain_names_and_never_collide():
    assert records.safe_name("test_00") == "test_00" and records.safe_name("Test-01.a") == "Test-01.a"
    names = ["test 00", "test_00", "test/00", "test\\00", "..", ".", "-rf", "", "тест"]
    safe = [records.safe_name(n) for n in names]
    assert len(set(safe)) == len(safe)
    assert all("/" not in s and "\\" not in s and s not in ("", ".", "..") and not s.startswith("-") for s in safe)


def test_colliding_video_ids_get_their_own_scores_files_inside_the_run(plugins, tmp_path):
    record = toy_run(tmp_path / "out", dataset="colliding-dataset")
    files = [v["file"] for v in record["per_video"]]
    assert len(set(files)) == 3 and "scores/test_00.npz" in files
    saved = records.read_scores(records.load_record(record["_path"]))
    assert list(saved) == ["test 00", "test_00", "../up"]
    assert not np.array_equal(saved["test 00"].label, saved["test_00"].label)  # each video kept its own labels
    assert all((Path(record["_path"]) / f).resolve().parent == (Path(record["_path"]) / "scores").resolve()
               for f in files)


def test_a_record_pointing_outside_its_run_folder_is_refused(toy_plugin, tmp_path):
    record = toy_run(tmp_path / "out")
    outside = tmp_path / "secret.npz"
    np.savez(outside, score=np.zeros(3), label=np.zeros(3))
    path = Path(record["_path"]) / records.RECORD_FILE
    data = json.loads(path.read_text())
    data["per_video"][0]["file"] = "../../../../secret.npz"
    path.write_text(json.dumps(data))
    with pytest.raises(DamagedFile, match="lies outside its run folder"):
        records.read_scores(records.load_record(path))
    result = invoke("plot", "scores", record["_path"], "--out", tmp_path / "png")
    assert result.exit_code == 2 and "outside its run folder" in result.stderr


# -- 4+5. the verified cache ------------------------------------------------------------------------------------

SPEC = InputSpec(view="frames", height=8, width=8, channels=1, window=2)


def prepared_entry(video) -> tuple[np.ndarray, Path]:
    first = views.prepare(video, SPEC, "k")
    entries = sorted((views.cache_dir() / "prepared").glob("*.npy"), key=lambda p: p.stat().st_mtime_ns)
    return np.array(first.frames), entries[-1]


@pytest.mark.parametrize("damage", ["zeroed", "truncated", "no sidecar", "wrong shape"])
def test_a_damaged_cache_entry_is_named_and_rebuilt(tmp_path, monkeypatch, capsys, damage):
    monkeypatch.setenv(views.CACHE_ENV, str(tmp_path / "cache"))
    video = ToyDataset("t", ToyDataset.Options(seed=7)).videos("test")[0]
    expected, entry = prepared_entry(video)
    header = entry.stat().st_size - expected.nbytes
    if damage == "zeroed":
        entry.write_bytes(entry.read_bytes()[:header] + bytes(expected.nbytes))
    elif damage == "truncated":
        entry.write_bytes(entry.read_bytes()[:header + 100])
    elif damage == "no sidecar":
        entry.with_suffix(".json").unlink()
    else:
        np.save(entry, expected.reshape(len(expected), 1, 4, 16))
    capsys.readouterr()
    again = views.prepare(video, SPEC, "k")
    assert np.array_equal(np.asarray(again.frames), expected)
    warning = capsys.readouterr().err.strip().splitlines()
    assert len(warning) == 1 and warning[0].startswith(f"warning: prepared-frames cache entry {entry} is damaged")
    capsys.readouterr()
    views.prepare(video, SPEC, "k")
    assert capsys.readouterr().err == ""  # rebuilt and verified: read silently next time


def test_a_full_disk_is_a_one_line_error_and_leaves_no_temp_file(tmp_path, monkeypatch):
    monkeypatch.setenv(views.CACHE_ENV, str(tmp_path / "cache"))
    video = ToyDataset("t", ToyDataset.Options()).videos("test")[0]
    real_open = open

    class FullDisk:
        def __init__(self, handle):
            self._handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._handle.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    def opener(path, mode="r", *args, **kwargs):
        handle = real_open(path, mode, *args, **kwargs)
        return FullDisk(handle) if str(path).endswith(".tmp") and "w" in mode else handle

    monkeypatch.setattr("builtins.open", opener)
    folder = tmp_path / "cache" / "prepared"
    with pytest.raises(DataError) as caught:
        views.prepare(video, SPEC, "k")
    assert caught.value.message == f"no space left on device writing the cache in {folder}"
    assert list(folder.iterdir()) == []


# -- 8. damaged results folders ---------------------------------------------------------------------------------

def test_damaged_records_are_named_skipped_and_the_exit_code_says_so(toy_plugin, tmp_path):
    out = tmp_path / "out"
    toy_run(out, seed=0)
    truncated = Path(toy_run(out, seed=1)["_path"]) / records.RECORD_FILE
    truncated.write_text(truncated.read_text()[:50])
    missing_keys = Path(toy_run(out, seed=2)["_path"]) / records.RECORD_FILE
    missing_keys.write_text(json.dumps({"run_id": "x"}))
    failed = out / "toy-dataset" / "toy-detector" / "cpu-seed9-f" / "failed.json"
    failed.parent.mkdir(parents=True)
    failed.write_text("{not json")
    (out / sweep.SWEEP_LOG).write_text("[{")
    result = invoke("leaderboard", out)
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("damaged:")]
    for path in (truncated, missing_keys, failed, out / sweep.SWEEP_LOG):
        assert sum(str(path) in line for line in " ".join(result.stderr.split()).split("damaged: ")) == 1, path
    assert len(lines) >= 4
    assert "## toy-dataset" in result.stdout and "| toy-detector |" in result.stdout  # the rest is still there
    assert invoke("leaderboard", out, "--strict").exit_code == 2
    assert invoke("report", out, "--out", tmp_path / "report").exit_code == 1


def test_a_garbled_sweep_log_is_moved_aside_never_overwritten(toy_plugin, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / sweep.SWEEP_LOG).write_text('[{"command": "anobench sweep ...", "run_ids": [')
    args = ["sweep", "--detectors", "toy-detector", "--datasets", "toy-dataset", "--out", out, "--device", "cpu"]
    result = invoke(*args)
    assert result.exit_code == 1, result.output
    aside = list(out.glob(f"{sweep.SWEEP_LOG}.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_text().startswith('[{"command": "anobench sweep ...')
    assert aside[0].name in result.stderr and "damaged:" in result.stderr
    assert len(json.loads((out / sweep.SWEEP_LOG).read_text())) == 1
    # a damaged record of a finished job: named, the job counts as failed, the sweep goes on
    record = next(out.rglob(records.RECORD_FILE))
    record.write_text("{")
    again = invoke(*args, "--seeds", "0,1")
    assert again.exit_code == 1 and str(record) in " ".join(again.stderr.split())
    assert len(list(out.rglob(records.RECORD_FILE))) == 2


# -- 9. checks before work --------------------------------------------------------------------------------------

def test_seeds_out_of_range_name_their_option(toy_plugin, tmp_path):
    run_args = ["run", "--detector", "toy-detector", "--dataset", "toy-dataset", "--out", tmp_path]
    result = invoke(*run_args, "--seed", "-1")
    assert result.exit_code == 2 and "--seed -1 is out of range" in result.stderr
    assert invoke(*run_args, "--seed", str(2**32)).exit_code == 2
    sweep_args = ["sweep", "--detectors", "toy-detector", "--datasets", "toy-dataset", "--out", tmp_path]
    for seeds in ("-1", "4294967296", "0-4294967296"):
        result = invoke(*sweep_args, "--seeds", seeds)
        assert result.exit_code == 2 and "--seeds" in result.stderr and "out of range" in result.stderr, seeds


def test_out_that_is_a_file_fails_before_training(toy_plugin, tmp_path, monkeypatch):
    monkeypatch.setattr(ToyDetector, "fit", lambda *a: pytest.fail("trained"))
    target = tmp_path / "results"
    target.write_text("")
    result = invoke("run", "--detector", "toy-detector", "--dataset", "toy-dataset", "--out", target)
    assert result.exit_code == 2 and f"--out {target} is a file, not a folder" in result.stderr


def test_grid_errors_name_grid(toy_plugin, tmp_path):
    args = ["sweep", "--detectors", "toy-detector", "--datasets", "toy-dataset", "--out", tmp_path]
    unknown = invoke(*args, "--grid", "windw=2,3")
    assert unknown.exit_code == 2 and "in --grid" in unknown.stderr and "--set" not in unknown.stderr
    bad = invoke(*args, "--grid", "window=2,x")
    assert bad.exit_code == 2 and "--grid window='x'" in bad.stderr
    assert "in --set" in invoke(*args, "--set", "windw=2", "--grid", "window=2").stderr


def test_data_check_full_decodes_every_frame_and_a_run_names_the_frame(plugins, tmp_path, monkeypatch):
    monkeypatch.setenv(views.CACHE_ENV, str(tmp_path / "cache"))  # the toy's frames are not cached yet
    assert invoke("data", "check", "damaged-late").exit_code == 0  # the quick check reads no frames
    result = invoke("data", "check", "damaged-late", "--full")
    assert result.exit_code == 2, result.output
    assert "error: video 'test1': /data/test1.avi: frame 30 cannot be decoded" in " ".join(result.stderr.split())
    ran = invoke("run", "--detector", "toy-detector", "--dataset", "damaged-late", "--out", tmp_path)
    assert ran.exit_code == 2 and "/data/test1.avi: frame 30 cannot be decoded" in " ".join(ran.stderr.split())


def test_first_undecodable_frame_finds_it_inside_a_chunk():
    class Damaged(ArrayVideo):
        def read(self, start, stop):
            if stop > 37:
                raise undecodable(Path("/data/v.avi"), max(start, 37), RuntimeError("bad packet"))
            return super().read(start, stop)

    video = Damaged("v", np.zeros((50, 4, 4, 3), np.uint8))
    assert first_undecodable_frame(video, chunk=16) == "video 'v': /data/v.avi: frame 37 cannot be decoded " \
        "(RuntimeError: bad packet) (the file is damaged from there on; re-copy it, then 'anobench data check " \
        "NAME --full')"
    assert first_undecodable_frame(ArrayVideo("ok", np.zeros((50, 4, 4, 3), np.uint8))) is None


def test_a_decoder_failure_names_the_file_and_frame(tmp_path):
    from bench_core import video_io

    av = pytest.importorskip("av")
    path = tmp_path / "v.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for index in range(20):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), index * 10, np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    reader = video_io.open_video(path, "pyav")

    def failing_decode(*args, **kwargs):
        for index, frame in enumerate(original(*args, **kwargs)):
            if index == 12:
                raise av.error.InvalidDataError(errno.EINVAL, "Invalid data found when processing input")
            yield frame

    original = reader._container.decode
    reader._frames = failing_decode(video=0)  # the container is a C object: replace the reader's frame stream
    with pytest.raises(DataError, match=f"{path}: frame 12 cannot be decoded"):
        reader.read(0, 20)


def test_a_data_root_that_is_a_file_says_so(tmp_path):
    from bench_core.plugins import get_catalogue
    from bench_core.run import make_dataset

    root = tmp_path / "root"
    root.write_text("")
    for name in ("avenue", "industrial", "ucsd-ped2"):
        problems = make_dataset(name, [], str(root), get_catalogue()).check()
        assert problems and "is a file, not a folder" in problems[0], (name, problems)


def test_deeply_nested_pose_json_and_unreadable_labels_are_one_line_errors(tmp_path, monkeypatch):
    from anobench_industrial.dataset import read_inventory
    from anobench_formats.openpose import read_people

    pose = tmp_path / "pose.json"
    pose.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(DataError, match=f"{pose}: nested too deeply"):
        read_people(pose)
    (tmp_path / "videos").mkdir()
    (tmp_path / "openpose").mkdir()
    (tmp_path / "split.json").write_text("{}")
    (tmp_path / "labels.json").write_text("{}")
    real = Path.read_bytes

    def refuse(path):
        if path.name == "labels.json":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    problems = read_inventory(tmp_path).problems
    assert f"{tmp_path / 'labels.json'}: cannot be read (Permission denied); check its permissions" in problems


def test_an_unreadable_mask_file_is_named(tmp_path, monkeypatch):
    from anobench_avenue.dataset import read_mask_labels

    mask = tmp_path / "1_label.mat"
    mask.write_bytes(b"x")

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(mask))

    monkeypatch.setattr("scipy.io.loadmat", refuse)
    with pytest.raises(DataError, match=f"{mask}: cannot be read \\(Permission denied\\)"):
        read_mask_labels(mask)

