"""Sweeps on the toy plugin: the grid, deterministic job ids, overwrite policies, failures, resume, CLI."""

from __future__ import annotations

import json
import multiprocessing
import os
import pickle
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench_core import records, sweep
from bench_core.cli import build_app
from bench_core.errors import UsageError
from bench_core.results import ResultsFolder
from bench_core.run import RunRequest
from bench_core.runners import RunnerOptions

pytestmark = pytest.mark.usefixtures("toy_plugin")
cli = CliRunner()


def invoke(*args):
    return cli.invoke(build_app(), list(args))


def toy_jobs(out, seeds=(0, 1), grid=(), settings=()):
    base = RunRequest(detector="", dataset="", out=out, device="cpu", settings=list(settings))
    return sweep.plan_jobs(sweep.expand(base, ["toy-detector"], ["toy-dataset"], list(seeds), list(grid)))


def serial():
    return sweep.load_runner("serial", RunnerOptions())


def test_the_grid_is_the_product_of_its_axes_in_a_stable_order(tmp_path):
    base = RunRequest(detector="", dataset="", out=tmp_path, settings=["scale=1"])
    grid = sweep.parse_grid(["window=2,4", "scale=1,2"])
    requests = sweep.expand(base, ["a", "b"], ["d1", "d2"], [0, 1], grid)
    assert len(requests) == 2 * 2 * 2 * 2 * 2
    first = requests[0]
    assert (first.dataset, first.detector, first.seed, first.settings) == ("d1", "a", 0,
                                                                          ["scale=1", "window=2", "scale=1"])
    # 4 grid points × 2 seeds per detector, then the next detector, then the next dataset
    assert [(r.dataset, r.detector) for r in requests[7:9]] == [("d1", "a"), ("d1", "b")]
    assert requests[16].dataset == "d2"
    assert requests[-1].settings[-2:] == ["window=4", "scale=2"] and requests[-1].seed == 1
    assert sweep.parse_seeds("0,2-4,2") == [0, 2, 3, 4]
    for bad in (["window"], ["window=2", "window=3"], ["=2"]):
        with pytest.raises(UsageError):
            sweep.parse_grid(bad)
    with pytest.raises(UsageError, match="not a seed"):
        sweep.parse_seeds("0,x")


def test_job_ids_are_the_run_ids_and_identical_jobs_merge(tmp_path):
    jobs = toy_jobs(tmp_path, seeds=(0, 1), grid=[("window", ["2", "3"])])
    assert len(jobs) == 4 and len({j.run_id for j in jobs}) == 4
    again = toy_jobs(tmp_path, seeds=(0, 1), grid=[("window", ["2", "3"])])
    assert [j.run_id for j in jobs] == [j.run_id for j in again]
    assert jobs[0].path == records.run_dir(tmp_path, "toy-dataset", "toy-detector", jobs[0].run_id)
    # what a worker receives: the request, never the plan (classes, datasets)
    sent = pickle.loads(pickle.dumps(jobs[0]))
    assert sent.plan is None and jobs[0].plan is not None
    assert (sent.request, sent.run_id, sent.path) == (jobs[0].request, jobs[0].run_id, jobs[0].path)
    merged = toy_jobs(tmp_path, seeds=(0,), grid=[("scale", ["1", "1.0"])])
    assert len(merged) == 1  # both resolve to scale=1.0: one run


def test_a_sweep_records_each_job_and_a_rerun_skips_them(tmp_path):
    jobs = toy_jobs(tmp_path, seeds=(0, 1, 2))
    first = sweep.run_sweep(jobs, serial())
    assert [o.status for o in first.outcomes] == ["done"] * 3 and first.exit_code == 0
    assert all(records.is_complete(j.path) for j in jobs)
    assert first.outcomes[0].metrics["frame_auroc_micro"] > 0.9
    stamp = (jobs[0].path / "record.json").stat().st_mtime_ns
    second = sweep.run_sweep(jobs, serial())
    assert [o.status for o in second.outcomes] == ["skipped"] * 3
    assert (jobs[0].path / "record.json").stat().st_mtime_ns == stamp
    third = sweep.run_sweep(jobs, serial(), overwrite="always")
    assert [o.status for o in third.outcomes] == ["done"] * 3
    assert (jobs[0].path / "record.json").stat().st_mtime_ns != stamp


def test_a_failing_job_is_recorded_and_the_others_still_run(tmp_path):
    jobs = toy_jobs(tmp_path, seeds=(0,), grid=[("scale", ["1", "nan"])])
    result = sweep.run_sweep(jobs, serial())
    assert [o.status for o in result.outcomes] == ["done", "failed"] and result.exit_code == 1
    bad = jobs[1]
    assert not records.is_complete(bad.path)
    failure = json.loads((bad.path / sweep.FAILURE_FILE).read_text())
    assert failure["error"]["type"] == "RunFailed" and "non-finite" in failure["error"]["message"]
    assert "Traceback" in failure["error"]["traceback"] and failure["request"]["settings"] == ["scale=nan"]
    # the failure is not a run record: the leaderboard does not see it
    assert [r["run_id"] for r in records.iter_records(tmp_path)] == [jobs[0].run_id]
    # never: kept as failed, not run again; failed: run again
    assert sweep.to_run(jobs, "never") == ([], jobs)
    assert sweep.to_run(jobs, "failed") == ([bad], [jobs[0]])
    kept = sweep.run_sweep(jobs, serial())
    assert [o.status for o in kept.outcomes] == ["skipped", "failed"] and "kept from an earlier" in kept.outcomes[1].error


def test_a_sweep_killed_midway_continues_where_it_stopped(tmp_path, monkeypatch):
    jobs = toy_jobs(tmp_path, seeds=(0, 1, 2))
    real_execute = sweep.execute
    calls = []

    def interrupted_on_the_second(plan, progress=None):
        calls.append(plan.run_id)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_execute(plan, progress)

    monkeypatch.setattr(sweep, "execute", interrupted_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        sweep.run_sweep(jobs, serial())
    assert [sweep.job_state(j) for j in jobs] == ["complete", "missing", "missing"]
    monkeypatch.setattr(sweep, "execute", real_execute)
    result = sweep.run_sweep(jobs, serial())
    assert [o.status for o in result.outcomes] == ["skipped", "done", "done"]


def test_the_cli_sweep_table_exit_code_json_and_leaderboard(tmp_path):
    out = tmp_path / "results"
    board = tmp_path / "board.md"
    args = ["sweep", "--detectors", "toy-detector", "--datasets", "toy-dataset", "--seeds", "0,1",
            "--grid", "scale=1,nan", "--device", "cpu", "--out", str(out)]
    result = invoke(*args, "--leaderboard", str(board))
    assert result.exit_code == 1, result.output
    assert "2 done, 0 skipped, 2 failed" in result.output
    assert board.is_file() and "## toy-dataset" in board.read_text() and "toy-detector" in board.read_text()
    assert "anobench sweep --detectors toy-detector" in board.read_text()
    again = invoke(*args, "--json")
    summary = json.loads(again.stdout[again.stdout.index("{"):])
    assert (summary["done"], summary["skipped"], summary["failed"]) == (0, 2, 2) and again.exit_code == 1
    ok = invoke("sweep", "--detectors", "toy-detector", "--datasets", "toy-dataset", "--device", "cpu",
                "--out", str(out))
    assert ok.exit_code == 0, ok.output


def test_planning_errors_stop_the_sweep_before_any_job_runs(tmp_path):
    result = invoke("sweep", "--detectors", "toy-detector,toy-detectr", "--datasets", "toy-dataset",
                    "--out", str(tmp_path))
    assert result.exit_code == 2 and "unknown detector 'toy-detectr'" in result.output
    assert not any(tmp_path.rglob("record.json"))
    bad_grid = invoke("sweep", "--detectors", "toy-detector", "--datasets", "toy-dataset", "--grid", "sclae=1,2",
                      "--out", str(tmp_path))
    assert bad_grid.exit_code == 2 and "sclae" in bad_grid.output
    bad_runner = invoke("sweep", "--detectors", "toy-detector", "--datasets", "toy-dataset", "--runner", "slurm",
                        "--out", str(tmp_path))
    assert bad_runner.exit_code == 2 and "unknown runner 'slurm'" in bad_runner.output
    bad_policy = invoke("sweep", "--detectors", "toy-detector", "--datasets", "toy-dataset", "--overwrite", "some",
                        "--out", str(tmp_path))
    unboxed = " ".join(bad_policy.output.replace("│", " ").split())
    assert bad_policy.exit_code == 2 and "'some' is not one of 'never', 'failed', 'always'" in unboxed


def _log_one_sweep(out: str, command: str) -> None:
    ResultsFolder(Path(out)).log_sweep(command, [])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the test forks a second writer (POSIX only)")
def test_a_second_sweep_logging_to_the_same_folder_waits_for_the_first(tmp_path):
    log = tmp_path / sweep.SWEEP_LOG
    context = multiprocessing.get_context("fork")
    with records.exclusive(log):  # a first sweep in the middle of its read-modify-write
        other = context.Process(target=_log_one_sweep, args=(str(tmp_path), "anobench sweep --seeds 1"))
        other.start()
        time.sleep(0.5)
        assert not log.exists(), "the second sweep wrote while the first held the log"
        records.atomic_write_json(log, [{"command": "anobench sweep --seeds 0", "run_ids": []}])
    other.join(timeout=30)
    assert other.exitcode == 0
    assert [e["command"] for e in json.loads(log.read_text())] == ["anobench sweep --seeds 0",
                                                                   "anobench sweep --seeds 1"]


def test_a_grid_over_a_dataset_option_gives_one_job_per_value(toy_plugin, tmp_path):
    """``--grid data.KEY=a,b`` is an axis over ``--data-option KEY`` (e.g. one job per ShanghaiTech scene)."""
    base = RunRequest(detector="", dataset="", out=tmp_path, device="cpu", data_options=["seed=1"])
    requests = sweep.expand(base, ["toy-detector"], ["toy-dataset"], [0],
                            sweep.parse_grid(["data.n_frames=30,50", "scale=2"]))
    assert [r.data_options for r in requests] == [["seed=1", "n_frames=30"], ["seed=1", "n_frames=50"]]
    assert [r.settings for r in requests] == [["scale=2"], ["scale=2"]]
    jobs = sweep.plan_jobs(requests)
    assert len({job.run_id for job in jobs}) == 2 and "n_frames=50" in jobs[1].label
    result = invoke("sweep", "--detectors", "toy-detector", "--datasets", "toy-dataset", "--device", "cpu",
                    "--grid", "data.n_frames=30,50", "--out", str(tmp_path / "r"), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["done"] == 2
    frames = sorted(r["n_test_frames"] for r in records.iter_records(tmp_path / "r"))
    assert frames[0] < frames[1]
