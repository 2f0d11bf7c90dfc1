"""The CLI through typer's CliRunner, on the toy plugin: output, --json, exit codes and one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from bench_core.cli import build_app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(build_app(), list(args))


def run_args(tmp_path, *extra):
    return ["run", "--detector", "toy-detector", "--dataset", "toy-dataset", "--out", str(tmp_path / "results"),
            "--device", "cpu", *extra]


def test_list_shows_every_kind_with_its_plugin(toy_plugin):
    result = invoke("list", "--json")
    assert result.exit_code == 0, result.output
    rows = {(r["kind"], r["name"]): r for r in json.loads(result.stdout)["registrations"]}
    assert rows[("detector", "toy-detector")]["plugin"] == "toy"
    assert rows[("detector", "conv-ae")]["plugin"] == "conv-ae"
    assert rows[("dataset", "synthetic-avenue")]["plugin"] == "generators"
    assert rows[("generator", "synthetic-avenue")]["plugin"] == "generators"
    assert rows[("scorer", "frame-auroc")]["plugin"] == "frame-metrics"
    table = invoke("list")
    assert table.exit_code == 0 and "toy-detector" in table.stdout and "frame-auroc" in table.stdout


def test_list_rejects_an_unknown_kind():
    result = invoke("list", "--kind", "detectr")
    assert result.exit_code == 2
    assert "did you mean 'detector'" in result.stderr


def test_plugins_lists_builtins_with_version_and_hooks(toy_plugin):
    result = invoke("plugins", "--json")
    assert result.exit_code == 0, result.output
    plugins = {p["name"]: p for p in json.loads(result.stdout)["plugins"]}
    assert plugins["conv-ae"]["distribution"] == "anobench" and plugins["conv-ae"]["version"]
    assert plugins["conv-ae"]["hooks"] == ["register_detectors"]
    assert plugins["toy"]["hooks"] == ["register_datasets", "register_detectors"]
    assert all(p["error"] is None for p in plugins.values())


def test_run_json_prints_only_the_record_on_stdout(toy_plugin, tmp_path):
    result = invoke(*run_args(tmp_path, "--json"))
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)  # progress bars went to stderr
    for key in ("frame_auroc_micro", "frame_auroc_macro", "aupr", "eer"):
        assert key in record["metrics"]
    assert record["metrics"]["frame_auroc_micro"] == 1.0  # the bright square is the brightest thing there is
    assert record["n_test_frames"] == 3 * 40
    for key in ("train_seconds", "score_seconds", "inference_fps"):
        assert record["timing"][key] is not None
    assert record["detector"]["config"] == {"window": 3, "scale": 1.0}  # the cpu preset
    assert record["protocol"]["normalization"] == "minmax-per-video"
    assert "first 2 frames" in record["leading_frames_note"]


def test_run_prints_a_metrics_table(toy_plugin, tmp_path):
    result = invoke(*run_args(tmp_path))
    assert result.exit_code == 0, result.output
    assert "frame_auroc_micro" in result.stdout and "inference_fps" in result.stdout
    assert "record.json" in result.stderr


def test_a_complete_run_is_reused_unless_overwrite(toy_plugin, tmp_path):
    first = json.loads(invoke(*run_args(tmp_path, "--json")).stdout)
    again = invoke(*run_args(tmp_path, "--json"))
    assert "already complete" in again.stderr
    assert json.loads(again.stdout)["created"] == first["created"]
    redo = invoke(*run_args(tmp_path, "--json", "--overwrite"))
    assert redo.exit_code == 0 and "already complete" not in redo.stderr


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--set", "windw=3"], "unknown setting 'windw' for detector 'toy-detector' in --set (did you mean 'window'?)"),
        (["--set", "window=three"], "--set window='three' is not a valid int"),
        (["--set", "window"], "--set 'window' is not key=value"),
        (["--preset", "gpu"], "detector 'toy-detector' has no preset 'gpu'"),
        (["--data-option", "sed=1"], "unknown setting 'sed' for dataset 'toy-dataset' in --data-option"),
        (["--data-option", "label_convention=event"], "dataset 'toy-dataset' has no label convention 'event'"),
        (["--scorer", "frame-aurc"], "unknown scorer 'frame-aurc' given to --scorer (did you mean 'frame-auroc'?)"),
    ],
)
def test_bad_input_is_one_line_naming_the_option_with_exit_2(toy_plugin, tmp_path, extra, message):
    result = invoke(*run_args(tmp_path, *extra))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert message in lines[0]
    assert not (tmp_path / "results").exists()


def test_unknown_detector_gets_a_did_you_mean(toy_plugin, tmp_path):
    result = invoke("run", "--detector", "toy-detectr", "--dataset", "toy-dataset", "--out", str(tmp_path))
    assert result.exit_code == 2
    assert "unknown detector 'toy-detectr' given to --detector (did you mean 'toy-detector'?)" in result.stderr


def test_cuda_where_there_is_none_is_a_usage_error(toy_plugin, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = invoke(*run_args(tmp_path)[:-2], "--device", "cuda")
    assert result.exit_code == 2
    assert "--device cuda: no CUDA device is available here" in result.stderr


def test_a_failed_run_exits_1_and_leaves_no_record(toy_plugin, tmp_path):
    result = invoke(*run_args(tmp_path, "--set", "scale=nan", "--calibration-holdout", "0"))
    assert result.exit_code == 1
    assert "gave non-finite scores on test video 'test0'" in result.stderr
    assert not list((tmp_path / "results").rglob("record.json"))
    # With the normal hold-out (the default), its scores come first and fail first.
    result = invoke(*run_args(tmp_path, "--set", "scale=nan"))
    assert result.exit_code == 1 and "non-finite scores on the held-out part of 'train0'" in result.stderr


def test_debug_shows_the_traceback(toy_plugin, tmp_path):
    result = invoke("--debug", *run_args(tmp_path, "--set", "windw=3"))
    assert result.exit_code == 2
    assert "Traceback" in result.stderr and "build_config" in result.stderr


def test_leaderboard_cli_writes_markdown(toy_plugin, tmp_path):
    for seed in (0, 1):
        assert invoke(*run_args(tmp_path, "--seed", str(seed))).exit_code == 0
    out = tmp_path / "board" / "toy.md"
    result = invoke("leaderboard", str(tmp_path / "results"), "--out", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "## toy-dataset" in text
    assert "| toy-detector | frames 8×8, T=3 | cpu" in " ".join(text.split())  # the toy's cpu preset: window 3
    assert "0.500 (nobody, 2026)" in text


def test_leaderboard_on_a_missing_folder_is_a_usage_error(tmp_path):
    result = invoke("leaderboard", str(tmp_path / "nope"))
    assert result.exit_code == 2
    assert "no such results folder" in result.stderr


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout.startswith("anobench ")


class DuplicateConvAE:
    from bench_core import hookimpl

    @hookimpl
    def register_detectors(self, register):
        register("conv-ae", "somewhere:Else")


class BrokenCommands:
    from bench_core import hookimpl

    @hookimpl
    def register_commands(self, app):
        raise RuntimeError("no commands today")


def test_plugins_still_lists_plugins_when_names_clash():
    from bench_core.plugins import pm

    pm.register(DuplicateConvAE(), name="dupe")
    try:
        result = invoke("plugins")
        assert "dupe" in result.stdout and "conv-ae" in result.stdout
        assert result.exit_code == 2
        assert "detector 'conv-ae' is registered by both plugin 'conv-ae' and plugin 'dupe'" in result.stderr
    finally:
        pm.unregister(name="dupe")


def test_a_failing_register_commands_leaves_the_cli_usable():
    from bench_core.plugins import pm

    pm.register(BrokenCommands(), name="broken-commands")
    try:
        result = invoke("plugins", "--json")
        assert result.exit_code == 0, result.output
        plugins = {p["name"]: p for p in json.loads(result.stdout)["plugins"]}
        assert plugins["broken-commands"]["error"] == "register_commands raised RuntimeError: no commands today"
        assert plugins["conv-ae"]["error"] is None
    finally:
        pm.unregister(name="broken-commands")


def test_generating_a_dataset_that_is_not_generated_names_the_ones_that_are(tmp_path):
    result = invoke("data", "generate", "avenue", "--out", str(tmp_path / "copy"))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "dataset 'avenue' is not generated" in lines[0]
    assert "synthetic-avenue" in lines[0] and "synthetic-industrial" in lines[0]
    assert not (tmp_path / "copy").exists()


def test_leaderboard_by_kind_splits_the_auroc_by_the_kinds_the_dataset_names(toy_plugin, tmp_path, monkeypatch):
    from toy_plugin import ToyDataset

    assert invoke(*run_args(tmp_path, "--seed", "0")).exit_code == 0
    # The record predates kinds (the toy names none); asked again, the plugin now names one kind per test video,
    # so the breakdown comes from the dataset itself.
    kinds = {"test0": "square", "test1": "square", "test2": "late-square"}

    def record_extras(self, view, test_videos):
        return {"events": {v.id: [{"kind": kinds[v.id], "start": int(np.flatnonzero(v.labels)[0]),
                                   "stop": int(np.flatnonzero(v.labels)[-1]) + 1}] for v in test_videos}}

    monkeypatch.setattr(ToyDataset, "record_extras", record_extras)
    out = tmp_path / "toy.md"
    result = invoke("leaderboard", str(tmp_path / "results"), "--by-kind", "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    by_kind = json.loads(result.stdout)["rows"][0]["frame_auroc_by_kind"]
    assert set(by_kind) == {"late-square", "square"} and by_kind["square"]["n"] == 1
    # By hand: each kind's abnormal frames against every normal frame, scores pooled over the videos.
    from sklearn.metrics import roc_auc_score

    run = next((tmp_path / "results").rglob("record.json")).parent
    score, label, video_kind = [], [], []
    for video in ("test0", "test1", "test2"):
        with np.load(run / "scores" / f"{video}.npz") as saved:
            score.append(saved["score"])
            label.append(saved["label"])
            video_kind += [kinds[video]] * len(saved["score"])
    score, label, video_kind = np.concatenate(score), np.concatenate(label), np.array(video_kind)
    chosen = (label == 0) | (video_kind == "late-square")
    assert by_kind["late-square"]["mean"] == pytest.approx(roc_auc_score(label[chosen], score[chosen]))
    assert invoke("leaderboard", str(tmp_path / "results"), "--by-kind", "--out", str(out)).exit_code == 0
    text = out.read_text()
    assert "Frame AUROC by kind of anomaly on toy-dataset" in text
    assert "| late-square | square |" in " ".join(text.split())
    assert "--by-kind" in text  # the rebuild command keeps the option
