"""The README's main job, shrunk: conv-ae on synthetic-avenue through the CLI, twice, and a leaderboard."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from bench_core.cli import build_app

SMALL = ["--set", "epochs=1", "--data-option", "n_train=2", "--data-option", "n_test=2",
         "--data-option", "frames_per_video=64"]


@pytest.mark.slow
def test_same_inputs_and_seed_on_cpu_give_identical_results(tmp_path):
    runner = CliRunner()
    base = ["run", "--detector", "conv-ae", "--dataset", "synthetic-avenue", "--preset", "cpu", "--seed", "0",
            "--device", "cpu", "--out", str(tmp_path / "results"), "--json", *SMALL]
    first = runner.invoke(build_app(), base)
    assert first.exit_code == 0, first.output
    second = runner.invoke(build_app(), [*base, "--overwrite"])
    assert second.exit_code == 0, second.output
    a, b = json.loads(first.stdout), json.loads(second.stdout)
    assert a["run_id"] == b["run_id"]
    assert a["metrics"] == b["metrics"]
    assert a["training"]["loss_per_epoch"] == b["training"]["loss_per_epoch"]
    assert 0.0 <= a["metrics"]["frame_auroc_micro"] <= 1.0 and a["n_test_frames"] == 128
    run_dir = tmp_path / "results" / "synthetic-avenue" / "conv-ae" / a["run_id"]
    for entry in b["per_video"]:
        scores = np.load(run_dir / entry["file"])
        assert len(scores["raw"]) == 64 and np.all(scores["raw"][:9] == scores["raw"][9])  # window 10

    other_seed = runner.invoke(build_app(), [*base[:8], "1", *base[9:]])
    assert other_seed.exit_code == 0, other_seed.output
    assert json.loads(other_seed.stdout)["metrics"] != a["metrics"]

    board = tmp_path / "leaderboards" / "synthetic.md"
    result = runner.invoke(build_app(), ["leaderboard", str(tmp_path / "results"), "--out", str(board)])
    assert result.exit_code == 0, result.output
    assert "| 1 | conv-ae | frames 64×64, T=10 | cpu `epochs=1` | 2 |" in " ".join(board.read_text().split())
