"""Options: fixed choices shown and checked, names completed from the registry, flags shown as flags, the same
spellings on run and sweep, did-you-mean where a name is typed, the resume hint on Ctrl-C, the wording."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from bench_core.cli import build_app

runner = CliRunner()


def unboxed(text: str) -> str:
    """The parser's error panel as one line of words."""
    return " ".join(text.replace("│", " ").split())


def invoke(*args, **kwargs):
    return runner.invoke(build_app(), list(args), **kwargs)


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_help_shows_choices_and_plain_flags(command):
    result = invoke(command, "--help", env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "<bool>" not in result.stdout
    for choices in ("<auto|cpu|cuda>", "<minmax-per-video|none|train-stats>", "<never|failed|always>"):
        assert choices in result.stdout
    assert "--detector,--detectors" in result.stdout or "--detectors,--detector" in result.stdout
    assert "--seed,--seeds" in result.stdout or "--seeds,--seed" in result.stdout


def test_a_choice_outside_the_list_is_a_usage_error():
    result = invoke("run", "--detector", "ae", "--dataset", "synthetic-avenue", "--device", "gpu")
    assert result.exit_code == 2 and "'gpu' is not one of 'auto', 'cpu', 'cuda'" in unboxed(result.output)
    result = invoke("run", "--detector", "ae", "--dataset", "synthetic-avenue", "--normalization", "zscore")
    assert result.exit_code == 2 and "'zscore' is not one of 'minmax-per-video', 'none'" in unboxed(result.output)


def test_plugin_names_are_completed_from_the_registry():
    env = {"_ANOBENCH_COMPLETE": "complete_bash", "COMP_WORDS": "anobench sweep --detectors ae,conv", "COMP_CWORD": "3"}
    result = runner.invoke(build_app(), [], env=env, prog_name="anobench")
    assert "ae,conv-ae" in result.stdout
    env.update(COMP_WORDS="anobench run --dataset synthetic-", COMP_CWORD="3")
    result = runner.invoke(build_app(), [], env=env, prog_name="anobench")
    assert "synthetic-avenue" in result.stdout and "synthetic-industrial" in result.stdout
    assert "--install-completion" in invoke("--help").stdout


def test_run_and_sweep_take_each_others_spellings(toy_plugin, tmp_path):
    out = str(tmp_path / "r")
    first = invoke("run", "--detectors", "toy-detector", "--datasets", "toy-dataset", "--seeds", "1", "--device", "cpu",
                   "--out", out)
    assert first.exit_code == 0, first.output
    swept = invoke("sweep", "--detector", "toy-detector", "--dataset", "toy-dataset", "--seed", "1", "--device", "cpu",
                   "--out", out)
    assert swept.exit_code == 0 and "1 already recorded" in swept.stderr
    again = invoke("sweep", "-m", "toy-detector", "-d", "toy-dataset", "--seed", "1", "--device", "cpu", "--out", out,
                   "--overwrite")  # alone: always, as on run
    assert again.exit_code == 0 and "1 to run" in again.stderr
    two = invoke("run", "--detector", "toy-detector,ae", "--dataset", "toy-dataset", "--out", out)
    assert two.exit_code == 2 and "'run' takes one name" in two.stderr


def test_ctrl_c_in_run_exits_130_with_the_resume_hint(monkeypatch, tmp_path):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("bench_core.run.execute", interrupted)
    result = invoke("run", "--detector", "ae", "--dataset", "synthetic-avenue", "--out", str(tmp_path))
    assert result.exit_code == 130
    assert "re-run the same command with --resume" in result.stderr


def test_leaderboard_datasets_get_did_you_mean(toy_plugin, tmp_path):
    out = str(tmp_path / "r")
    assert invoke("run", "--detector", "toy-detector", "--dataset", "toy-dataset", "--device", "cpu",
                  "--out", out).exit_code == 0
    result = invoke("leaderboard", out, "--datasets", "toy-datset")
    assert result.exit_code == 2 and "did you mean 'toy-dataset'" in result.stderr


def test_a_bad_value_names_the_type_with_the_right_article():
    result = invoke("run", "--detector", "ae", "--dataset", "synthetic-avenue", "--set", "epochs=many")
    assert result.exit_code == 2 and "give epochs an int" in result.stderr
