"""Run ids pin the torch thread count and the device (issue 15, item 5): published records keep their ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench_core import records
from bench_core.cli import build_app
from bench_core.leaderboard import collect, render_markdown, reproduce_command
from bench_core.plugins import get_catalogue
from bench_core.run import RunRequest, compute_identity, identity_config, make_run_id, plan_run
from bench_core.sweep import Job, reproduce_command as sweep_command, run_job

REPO = Path(__file__).resolve().parent.parent
PUBLISHED = sorted((REPO / "leaderboards").rglob(records.RECORD_FILE))
#: The README's main job as published: default threads (1) and the default normal hold-out (0.1).
README_RECORD = REPO / "leaderboards/results/synthetic-avenue/conv-ae/cpu-seed0-5fccf46cf8"


def test_every_published_record_keeps_its_run_id():
    """Each record's id, recomputed from what it recorded (thread count and device included), is the one it
    has: the run id's thread and device parts are neutral at what every published run used (1 thread, cpu)."""
    assert len(PUBLISHED) > 100
    catalogue = get_catalogue()
    for path in PUBLISHED:
        record = json.loads(path.read_text())
        holdout = records.load_record(path).holdout
        detector_cls = catalogue.get("detector", record["detector"]["name"]).load()
        identity = {
            "detector": record["detector"]["name"], "detector_version": record["detector"]["version"],
            "config": identity_config(detector_cls, record["detector"]["config"]),
            "dataset": record["dataset"]["name"], "fingerprint": record["dataset"]["fingerprint"],
            "seed": record["seed"], "protocol": record["protocol"], "scorers": record["scorers"],
            **compute_identity(record["device"], record["timing"]["torch_threads"]),
            **({"calibration_holdout": holdout} if holdout else {}),
        }
        assert make_run_id(record["preset"], identity) == record["run_id"], path


def test_thread_count_and_device_enter_the_id_only_away_from_the_published_values():
    assert compute_identity("cpu", 1) == {}
    assert compute_identity("cpu", 2) == {"torch_threads": 2}
    assert compute_identity("cuda", 1) == {"device": "cuda"}


def _request(tmp_path, **kw):
    return RunRequest(detector="toy-detector", dataset="toy-dataset", out=tmp_path / "results", device="cpu", **kw)


def test_runs_at_1_and_2_threads_get_different_ids_and_record_their_threads(toy_plugin, tmp_path):
    import torch

    before = torch.get_num_threads()
    one, _ = records_of(tmp_path, threads=1)
    two, _ = records_of(tmp_path, threads=2)
    assert one["run_id"] != two["run_id"]
    assert one["timing"]["torch_threads"] == 1 and two["timing"]["torch_threads"] == 2
    assert torch.get_num_threads() == before  # the caller's thread count is restored
    # a leaderboard keeps them apart and says where each ran; each row's command reruns it at its thread count
    rows = collect(tmp_path / "results", {})
    assert sorted(row.compute for row in rows) == ["cpu, 1 thread", "cpu, 2 threads"]
    markdown = render_markdown(rows, tmp_path / "results", None, "anobench leaderboard")
    assert "(cpu, 2 threads)" in markdown and "(cpu, 1 thread)" in markdown
    assert "--threads 2" in reproduce_command(two, "results") and "--threads" not in reproduce_command(one, "r")


def records_of(tmp_path, **kw):
    from bench_core.run import run

    return run(_request(tmp_path, **kw))


def test_one_thread_count_in_a_table_shows_no_compute_column(toy_plugin, tmp_path):
    records_of(tmp_path, threads=1)
    markdown = render_markdown(collect(tmp_path / "results", {}), tmp_path / "results", None, "x")
    assert "(cpu, 1 thread)" not in markdown


def test_a_bad_thread_count_is_a_usage_error(toy_plugin, tmp_path):
    from bench_core.errors import UsageError

    with pytest.raises(UsageError, match="--threads 0"):
        plan_run(_request(tmp_path, threads=0))


def test_a_runner_asking_for_other_threads_than_the_job_was_planned_with_fails_the_job(toy_plugin, tmp_path):
    plan = plan_run(_request(tmp_path, threads=1))
    job = Job(plan.request, plan.run_id, plan.path, "toy", plan=plan)
    outcome = run_job(job, threads=4)
    assert outcome.status == "failed" and "planned with 1" in outcome.error


def test_cli_threads_on_run_and_sweep_and_the_old_sweep_name(toy_plugin, tmp_path):
    app = build_app()
    runner = CliRunner()
    out = tmp_path / "r"
    common = ["--detector", "toy-detector", "--dataset", "toy-dataset", "--device", "cpu", "--out", str(out)]
    result = runner.invoke(app, ["run", *common, "--threads", "2", "--json"])
    assert result.exit_code == 0, result.output
    ran = json.loads(result.stdout)
    assert ran["timing"]["torch_threads"] == 2
    sweep_args = ["sweep", "--detectors", "toy-detector", "--datasets", "toy-dataset", "--device", "cpu",
                  "--out", str(out), "--json"]
    # --threads-per-job is the old name of --threads: the same job, so the run above is reused
    for name in ("--threads", "--threads-per-job"):
        result = runner.invoke(app, [*sweep_args, name, "2"])
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
        assert summary["skipped"] == 1 and summary["jobs"][0]["run_id"] == ran["run_id"]
    result = runner.invoke(app, ["run", *common, "--threads", "0"])
    assert result.exit_code == 2
    assert "--threads 2" in sweep_command(_request(tmp_path, threads=2), "toy-detector", "toy-dataset", "0", [])
    assert "--threads" not in sweep_command(_request(tmp_path), "toy-detector", "toy-dataset", "0", [])


@pytest.mark.slow
def test_the_readme_main_job_is_the_published_experiment(tmp_path):
    """README: anobench run --detector conv-ae --dataset synthetic-avenue --preset cpu --seed 0 (default threads and
    normal hold-out) plans the published record's id and runs it on its thread count. On the CPU model the record
    names (the machines this project runs on) its metrics match exactly; elsewhere CPU kernels may round otherwise
    (see docs/harness.md), so the first epoch's loss must agree to 1e-4 and the micro AUROC to 0.01, which a
    different experiment (data, config, seed) would not."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("--device auto picks cuda here; the published record ran on the CPU")
    published = records.load_record(README_RECORD)
    record, reused = records_of_main_job(tmp_path)
    assert not reused
    assert record["run_id"] == published["run_id"] == "cpu-seed0-5fccf46cf8"
    assert record["timing"]["torch_threads"] == published["timing"]["torch_threads"] == 1
    first_loss = record["training"]["loss_per_epoch"][0]
    assert first_loss == pytest.approx(published["training"]["loss_per_epoch"][0], rel=1e-4)
    assert record["metrics"]["frame_auroc_micro"] == pytest.approx(published["metrics"]["frame_auroc_micro"],
                                                                   abs=0.01)
    if record["cpu"] == published.get("cpu"):
        assert record["metrics"] == published["metrics"]


def records_of_main_job(tmp_path):
    from bench_core.run import run

    return run(RunRequest(detector="conv-ae", dataset="synthetic-avenue", preset="cpu", seed=0,
                          out=tmp_path / "results"))
