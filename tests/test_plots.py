"""Figures from toy runs: ROC, scores over frames with abnormal spans, latent t-SNE and their CLI commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench_core import plots, records
from bench_core.errors import UsageError
from bench_core.run import RunRequest, run
from bench_core.run_record import RunRecord
from test_sweep import invoke

pytestmark = pytest.mark.usefixtures("toy_plugin")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def toy_run(out, seed=0, settings=()):
    record, _ = run(RunRequest(detector="toy-detector", dataset="toy-dataset", seed=seed, device="cpu", out=out,
                               settings=list(settings)))
    return record


def add_latents(record):
    """Give every scores file latent means whose first coordinate is the label of the window's last frame."""
    window = record["detector"]["input_spec"]["window"]
    for video in record["per_video"]:
        path = records.Path(record["_path"]) / video["file"]
        with np.load(path) as saved:
            arrays = dict(saved)
        n_windows = len(arrays["label"]) - window + 1
        ends = np.arange(n_windows) + window - 1
        latent = np.stack([arrays["label"][ends] * 10.0, np.random.default_rng(0).normal(size=n_windows)], 1)
        np.savez_compressed(path, **arrays, window_latent_mean=latent)


def test_abnormal_spans():
    assert plots.abnormal_spans(np.array([0, 1, 1, 0, 0, 1])) == [(1, 3), (5, 6)]
    assert plots.abnormal_spans(np.zeros(4)) == []


def test_roc_and_score_plots_are_written(tmp_path):
    first, second = toy_run(tmp_path / "r", 0), toy_run(tmp_path / "r", 0, ["scale=-1"])
    png = plots.plot_roc([first, second], tmp_path / "roc.png")
    assert png.read_bytes().startswith(PNG_MAGIC)
    written = plots.plot_scores(first, tmp_path / "scores")
    assert [p.name for p in written] == ["scores-test0.png", "scores-test1.png", "scores-test2.png"]
    assert all(p.read_bytes().startswith(PNG_MAGIC) for p in written)


def test_latent_points_take_the_label_of_each_window_s_last_frame(tmp_path):
    record = toy_run(tmp_path / "r")
    with pytest.raises(UsageError, match="has no latent means"):
        plots.latent_points(record)
    add_latents(record)
    x, y = plots.latent_points(record)
    assert len(x) == sum(v["n_frames"] - 2 for v in record["per_video"])  # window 3 in the cpu preset
    assert np.array_equal(x[:, 0] / 10, y) and y.sum() > 0
    png = plots.plot_latent(record, tmp_path / "latent.png")
    assert png.read_bytes().startswith(PNG_MAGIC)


def test_the_plot_commands(tmp_path):
    record = toy_run(tmp_path / "r")
    run_dir = record["_path"]
    roc = invoke("plot", "roc", str(tmp_path / "r"), "--out", str(tmp_path / "figs"))
    assert roc.exit_code == 0, roc.output and (tmp_path / "figs" / "roc.png").is_file()
    low = invoke("plot", "roc", str(tmp_path / "r"), "--out", str(tmp_path / "figs"), "--log-fpr")
    assert low.exit_code == 0 and (tmp_path / "figs" / "roc-log-fpr.png").read_bytes().startswith(PNG_MAGIC)
    pdf = invoke("plot", "roc", str(tmp_path / "r"), "--out", str(tmp_path / "roc.pdf"))
    assert pdf.exit_code == 0 and (tmp_path / "roc.pdf").read_bytes().startswith(b"%PDF")  # a file, not a folder
    scores = invoke("plot", "scores", run_dir, "--out", str(tmp_path / "figs"))
    assert scores.exit_code == 0 and "wrote 3 PNGs" in scores.output
    no_latent = invoke("plot", "latent", run_dir, "--out", str(tmp_path / "lat.png"))
    assert no_latent.exit_code == 2 and "has no latent means" in no_latent.output
    add_latents(record)
    latent = invoke("plot", "latent", run_dir, "--out", str(tmp_path / "lat.png"))
    assert latent.exit_code == 0 and (tmp_path / "lat.png").read_bytes().startswith(PNG_MAGIC)
    not_a_run = invoke("plot", "scores", str(tmp_path), "--out", str(tmp_path / "x"))
    assert not_a_run.exit_code == 2 and "not a run folder" in not_a_run.output


def test_listing_commands_do_not_import_matplotlib():
    code = ("import sys; from bench_core.cli import build_app; from typer.testing import CliRunner; "
            "CliRunner().invoke(build_app(), ['list']); "
            "print(any(m.startswith(('matplotlib', 'sklearn.manifold', 'dask')) for m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False", result.stderr


def test_run_labels_tell_presets_settings_and_dataset_options_apart():
    def record(preset, settings, options):
        return RunRecord.from_data(
            {"seed": 0, "preset": preset, "detector": {"name": "ae", "settings": settings},
             "dataset": {"name": "synthetic-industrial", "options": {"data_root": "/x", **options}},
             "protocol": {}, "metrics": {}, "timing": {}}, Path("x/record.json"))

    labels = {plots.run_label(record(p, s, o)) for p, s, o in (
        ("cpu", [], {"seed": 3}), ("paper", [], {"seed": 3}), ("cpu", ["view=frames"], {"seed": 3}),
        ("cpu", [], {"seed": 4}), ("cpu", [], {"seed": 3, "anomalies": ["runner", "throw"]}))}
    assert len(labels) == 5
    assert plots.run_label(record("cpu", ["view=frames"], {"seed": 3})) == \
        "ae [cpu, view=frames] on synthetic-industrial (seed=3), seed 0"


def test_score_plots_name_the_kind_of_each_shaded_event(tmp_path):
    record = toy_run(tmp_path / "r")
    record.dataset.extras = {"events": {"test0": [{"kind": "square", "start": 10, "stop": 18}]}}
    assert plots.span_kinds(record, "test0") == [(13.5, "square")] and plots.span_kinds(record, "test1") == []
    assert len(plots.plot_scores(record, tmp_path / "figs")) == 3
