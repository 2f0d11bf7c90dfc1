"""Leaderboards ranked per dataset, compact or wide, as markdown, CSV or JSON; reproduce commands that run as
printed; ``sweep --dry-run``; and every published leaderboard's commands replay to nothing left to run."""

from __future__ import annotations

import io
import json
import re
import shlex
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from bench_core.cli import build_app
from bench_core.plugins import get_catalogue
from bench_core.leaderboard import collect, reproduce_command
from bench_core.schemas import LEADERBOARD as LEADERBOARD_SCHEMA
from bench_core.records import atomic_write_json, load_record
from conftest import SHARED_DATA
from test_leaderboard import fake_record, table

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def invoke(*args):
    return runner.invoke(build_app(), list(args))


def _three_detectors(root):
    for detector, micro, eer in (("ae", 0.70, 0.20), ("vae", 0.80, 0.35), ("srnn", 0.75, 0.30)):
        path = fake_record(root, "synthetic-avenue", detector, 0, micro)
        record = json.loads((path / "record.json").read_text())
        record["metrics"]["eer"] = eer
        atomic_write_json(path / "record.json", record)


def test_sort_by_ranks_each_dataset_and_marks_the_best(tmp_path):
    _three_detectors(tmp_path)
    text = invoke("leaderboard", str(tmp_path)).stdout
    rows = table(text, "synthetic-avenue")
    assert [(r["Rank"], r["Detector"]) for r in rows] == [("1", "vae"), ("2", "srnn"), ("3", "ae")]
    assert rows[0]["Frame AUROC (micro)"] == "**0.800**" and rows[1]["Frame AUROC (micro)"] == "0.750"
    assert "Frame AUROC (macro)" not in rows[0] and "Inference fps" not in rows[0]  # compact by default
    by_eer = table(invoke("leaderboard", str(tmp_path), "--sort-by", "eer", "--wide").stdout, "synthetic-avenue")
    assert [r["Detector"] for r in by_eer] == ["ae", "srnn", "vae"]  # lower EER is better
    assert by_eer[0]["EER"] == "**0.200**" and "Frame AUROC (macro)" in by_eer[0]
    assert "--sort-by eer --wide" in invoke("leaderboard", str(tmp_path), "--sort-by", "eer", "--wide").stdout


def test_csv_and_json_exports(tmp_path):
    _three_detectors(tmp_path)
    csv_file = tmp_path / "board.csv"
    assert invoke("leaderboard", str(tmp_path), "--out", str(csv_file)).exit_code == 0  # format from the suffix
    frame = pd.read_csv(csv_file)
    assert list(frame["detector"]) == ["vae", "srnn", "ae"] and list(frame["rank"]) == [1, 2, 3]
    assert frame["frame_auroc_micro_mean"].tolist() == [0.8, 0.75, 0.7] and frame["n_seeds"].tolist() == [1, 1, 1]
    same = pd.read_csv(io.StringIO(invoke("leaderboard", str(tmp_path), "--format", "csv").stdout))
    assert same.equals(frame)
    data = json.loads(invoke("leaderboard", str(tmp_path), "--format", "json").stdout)
    assert data["schema"] == LEADERBOARD_SCHEMA and data["sort_by"] == "frame_auroc_micro"
    assert [(r["rank"], r["detector"]) for r in data["rows"]] == [(1, "vae"), (2, "srnn"), (3, "ae")]
    assert data["n_runs"] == 3 and data["title"] == "anobench leaderboard: synthetic-avenue"


def test_per_run_commands_run_as_printed(tmp_path):
    path = fake_record(tmp_path, "synthetic-avenue", "ae", 0, 0.7)
    record = load_record(path)
    record.dataset.options = {"data_root": "/my/data", "label_convention": "", "seed": 0, "n_test": 1,
                              "anomalies": ["runner", "throw"]}
    command = reproduce_command(record, "results")
    assert "--data-option anomalies=runner,throw" in command and "--data-root DIR" in command
    assert "/my/data" not in command and "[" not in command
    # the option parses back into the recorded tuple
    from bench_core.run import RunRequest, plan_run

    args = shlex.split(command)
    options = [args[i + 1] for i, a in enumerate(args) if a == "--data-option"]
    plan = plan_run(RunRequest(detector="ae", dataset="synthetic-avenue", data_options=options, out=tmp_path))
    assert plan.dataset.options.anomalies == ("runner", "throw")


def test_sweep_dry_run_plans_without_running(toy_plugin, tmp_path):
    out = tmp_path / "r"
    base = ["--detectors", "toy-detector", "--datasets", "toy-dataset", "--device", "cpu", "--out", str(out)]
    assert invoke("sweep", *base, "--seeds", "0").exit_code == 0
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    result = invoke("sweep", *base, "--seeds", "0,1", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["jobs"], summary["to_run"], summary["already_recorded"]) == (2, 1, 1)
    assert [j["will_run"] for j in summary["job_list"]] == [False, True]
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before  # nothing run, nothing logged
    assert "1 to run" in invoke("sweep", *base, "--seeds", "0,1", "--dry-run").stdout


def _published_commands() -> list[tuple[str, list[str]]]:
    found = []
    for board in sorted((ROOT / "leaderboards").glob("*.md")):
        for block in re.findall(r"```sh\n(.*?)```", board.read_text(), flags=re.S):
            found += [(board.name, shlex.split(line)) for line in block.splitlines() if line.startswith("anobench ")]
    return found


@pytest.mark.parametrize("board, argv", _published_commands(), ids=lambda v: v if isinstance(v, str) else v[1])
def test_every_published_command_replays_with_nothing_to_run(board, argv, monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    if "DIR" in argv:
        data = SHARED_DATA / "avenue-mini"
        if not data.is_dir():
            pytest.skip(f"{data} is absent (the avenue slice the table was measured on)")
        argv = [str(data) if a == "DIR" else a for a in argv]
    if argv[1] in ("sweep", "run"):  # a run command replays as the one-job sweep it is (they share options)
        import bench_core.run

        real_check = bench_core.run.check_dataset
        generated = get_catalogue().names("generator")
        # A generated set's run ids come from its generator parameters; checking it would first draw its videos
        # (half a minute each), which is the data tests' business, not this one's. Real data is checked as usual.
        monkeypatch.setattr(bench_core.run, "check_dataset",
                            lambda dataset: None if dataset.name in generated else real_check(dataset))
        result = invoke("sweep", *argv[2:], "--dry-run", "--json")
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
        assert summary["jobs"] > 0 and summary["to_run"] == 0, f"{board}: {summary['to_run']} jobs would run"
    else:
        assert argv[1] == "leaderboard"
        # Without --by-kind: its tables would ask the generated sets for their events, drawing them (minutes).
        argv = [a for a in argv if a != "--by-kind"]
        out = argv.index("--out") + 1
        argv[out] = str(tmp_path / Path(argv[out]).name)  # never write into the tracked leaderboards/
        result = invoke(*argv[1:])
        assert result.exit_code == 0, result.output
        published = (ROOT / "leaderboards" / board).read_text()
        rebuilt = Path(argv[out]).read_text()
        sections = re.findall(r"^## (.+)$", published, flags=re.M)
        assert sections and sections == re.findall(r"^## (.+)$", rebuilt, flags=re.M)

        def unlinked(rows):  # the links' base folder differs
            return [{k: re.sub(r"\]\([^)]*\)", "]", v) for k, v in row.items()} for row in rows]

        for section in sections:  # the same rows in the same order with the same figures
            assert unlinked(table(rebuilt, section)) == unlinked(table(published, section)), section
