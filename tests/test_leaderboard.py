"""Leaderboards from run records: statistics, published figures, links, order, reproduce commands."""

from __future__ import annotations

import json
import math

import pytest

from bench_core.errors import UsageError
from bench_core.leaderboard import collect, render_markdown, summarise, t_interval
from bench_core.records import atomic_write_json


def fake_record(root, dataset, detector, seed, micro, fps=100.0, preset="cpu", settings=(), config=None):
    # Without an explicit config, each spelling of the settings stands for a different resolved config.
    config = {"resolved": list(settings)} if config is None else config
    record = {
        "run_id": f"{preset}-seed{seed}-x", "seed": seed, "preset": preset,
        "detector": {"name": detector, "settings": list(settings), "version": "1", "config": config},
        "dataset": {"name": dataset, "options": {"data_root": "", "label_convention": "", "seed": 0}},
        "protocol": {"normalization": "minmax-per-video", "smoothing_sigma": 0.0, "label_convention": "frame"},
        "metrics": {"frame_auroc_micro": micro, "frame_auroc_macro": micro - 0.1, "aupr": 0.5, "eer": 0.3},
        "timing": {"inference_fps": fps},
    }
    path = root / dataset / detector / f"{preset}-seed{seed}-{'-'.join(settings) or 'x'}"
    atomic_write_json(path / "record.json", record)
    return path


def table(text: str, section: str | None = None, index: int = 0) -> list[dict[str, str]]:
    """The ``index``-th markdown table (under ``## section`` when given) as one dict of header -> cell per row."""
    if section is not None:
        text = text[text.index(f"\n## {section}\n"):]
        following = text.find("\n## ", 1)
        text = text if following < 0 else text[:following]
    tables, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            current.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif current:
            tables.append(current)
            current = []
    header, _, *body = tables[index]
    return [dict(zip(header, cells)) for cells in body]


def test_summarise_uses_the_sample_std():
    s = summarise([0.7, 0.8, 0.9])
    assert s["n"] == 3 and math.isclose(s["mean"], 0.8) and math.isclose(s["std"], 0.1)
    assert summarise([0.5]) == {"mean": 0.5, "std": None, "n": 1}
    assert summarise([None]) == {"mean": None, "std": None, "n": 0}


def test_rows_group_seeds_and_sort_stably(tmp_path):
    for seed, micro in enumerate((0.7, 0.8, 0.9)):
        fake_record(tmp_path, "avenue", "stgan", seed, micro)
    fake_record(tmp_path, "avenue", "conv-ae", 0, 0.6)
    fake_record(tmp_path, "avenue", "conv-ae", 0, 0.65, settings=("epochs=9",))
    fake_record(tmp_path, "synthetic-avenue", "conv-ae", 0, 0.75)
    rows = collect(tmp_path, {"stgan": {"avenue": {"frame_auroc": 0.829, "source": "STGAN paper, Table 1"}}})
    assert [(r.dataset, r.detector, r.settings) for r in rows] == [
        ("avenue", "conv-ae", ()), ("avenue", "conv-ae", ("epochs=9",)), ("avenue", "stgan", ()),
        ("synthetic-avenue", "conv-ae", ()),
    ]
    stgan = rows[2]
    assert sorted(stgan.seeds) == [0, 1, 2] and stgan.published["frame_auroc"] == 0.829
    out = tmp_path / "boards" / "avenue.md"
    text = render_markdown(rows, tmp_path, out, "anobench leaderboard x", wide=True)
    assert text.startswith("# anobench leaderboard: avenue, synthetic-avenue\n")
    avenue = table(text, "avenue")
    # ranked by the micro AUROC, best first; the best of each column in bold
    assert [(r["Rank"], r["Detector"], r["Preset"]) for r in avenue] == [
        ("1", "stgan", "cpu"), ("2", "conv-ae", "cpu `epochs=9`"), ("3", "conv-ae", "cpu")]
    stgan = avenue[0]
    assert stgan["Input"] == "—"  # these fake records have no input_spec
    assert stgan["Seeds"] == "3" and stgan["Frame AUROC (micro)"] == "**0.800 ± 0.100**"
    assert stgan["Frame AUROC (macro)"] == "**0.700 ± 0.100**"
    # t(0.975, df=2) = 4.303; 4.303 * 0.1 / sqrt(3) = 0.248
    assert stgan["95% interval"] == "[0.552, 1.048]"
    assert stgan["Inference fps"] == "100.0" and stgan["Published AUROC"] == "0.829 (STGAN paper, Table 1)"
    assert "Protocol: minmax-per-video, no smoothing, labels: frame." in text
    assert "[s0](../avenue/stgan/cpu-seed0-x/record.json)" in stgan["Runs"]
    assert avenue[1]["Frame AUROC (micro)"] == "0.650" and avenue[1]["95% interval"] == "—"
    # every table line has the header's number of cells (GitHub renders nothing otherwise)
    lines = [l for l in text.splitlines() if l.startswith("|")]
    assert len({l.count("|") for l in lines}) == 1 and len(lines) == 2 * 2 + len(rows)
    assert "6 runs (run records)" in text and "in 4 rows" in text
    # These records predate the normal hold-out: re-running them needs it turned off.
    assert ("anobench run --detector stgan --dataset avenue --preset cpu --seed 2 --data-option seed=0 "
            f"--calibration-holdout 0 --out {tmp_path}") in text
    # same input, same bytes
    assert render_markdown(collect(tmp_path, {}), tmp_path, out, "x") == render_markdown(
        collect(tmp_path, {}), tmp_path, out, "x")


def test_the_t_interval_of_the_mean():
    low, high = t_interval([0.7, 0.8, 0.9])
    assert math.isclose(low, 0.8 - 0.24841, abs_tol=1e-4) and math.isclose(high, 0.8 + 0.24841, abs_tol=1e-4)
    assert t_interval([0.7]) is None and t_interval([0.7, None]) is None


def test_the_header_gives_the_sweep_command_when_the_runs_came_from_one(tmp_path):
    from bench_core.sweep import SWEEP_LOG

    fake_record(tmp_path, "avenue", "stgan", 0, 0.7)
    fake_record(tmp_path, "avenue", "stgan", 1, 0.8)
    fake_record(tmp_path, "avenue", "conv-ae", 0, 0.6)
    # the stgan runs came from a sweep; the conv-ae run did not
    atomic_write_json(tmp_path / SWEEP_LOG, [{"command": "anobench sweep --detectors stgan --seeds 0,1",
                                              "run_ids": ["cpu-seed0-x", "cpu-seed1-x"]}])
    text = render_markdown(collect(tmp_path, {}), tmp_path, None, "anobench leaderboard r")
    header = text[:text.index("| ")]
    assert "anobench sweep --detectors stgan --seeds 0,1" in header
    # run ids are shared here by the fake records, so every run counts as swept: no per-run commands
    assert "anobench run --detector" not in header
    atomic_write_json(tmp_path / SWEEP_LOG, [])
    header = render_markdown(collect(tmp_path, {}), tmp_path, None, "x")
    assert header.count("anobench run --detector") == 3


def test_an_empty_results_folder_says_so(tmp_path):
    with pytest.raises(UsageError, match="holds no complete run records"):
        collect(tmp_path, {})


def test_a_dataset_filter_keeps_only_those_datasets_rows(tmp_path):
    fake_record(tmp_path, "synthetic-avenue", "conv-ae", 0, 0.8)
    fake_record(tmp_path, "synthetic-industrial", "conv-ae", 0, 0.6)
    rows = collect(tmp_path, {}, ["synthetic-industrial"])
    assert [(r.dataset, r.values["frame_auroc_micro"]) for r in rows] == [("synthetic-industrial", [0.6])]
    with pytest.raises(UsageError, match="of dataset avenue"):
        collect(tmp_path, {}, ["avenue"])


def test_the_cli_filter_is_in_the_reproduce_command(tmp_path):
    from typer.testing import CliRunner

    from bench_core.cli import build_app

    fake_record(tmp_path / "r", "synthetic-avenue", "conv-ae", 0, 0.8)
    fake_record(tmp_path / "r", "synthetic-industrial", "conv-ae", 0, 0.6)
    out = tmp_path / "board.md"
    result = CliRunner().invoke(build_app(), ["leaderboard", str(tmp_path / "r"), "--datasets", "synthetic-avenue",
                                              "--title", "Walkway", "--note", "A generated set.", "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.startswith("# Walkway\n\nA generated set.\n")
    assert table(text, "synthetic-avenue")[0]["Detector"] == "conv-ae" and "synthetic-industrial" not in text
    assert "--datasets synthetic-avenue" in text


def test_runs_of_the_same_config_share_a_row_whatever_the_settings_spelling(tmp_path):
    fake_record(tmp_path, "synthetic-industrial", "lstm-vae", 0, 0.72, settings=["epochs=30"], config={"epochs": 30})
    fake_record(tmp_path, "synthetic-industrial", "lstm-vae", 1, 0.71, config={"epochs": 30})
    fake_record(tmp_path, "synthetic-industrial", "lstm-vae", 2, 0.70, settings=["epochs=6"], config={"epochs": 6})
    rows = collect(tmp_path, {})
    assert [(r.settings, sorted(r.seeds)) for r in rows] == [((), [0, 1]), (("epochs=6",), [2])]


def test_rows_say_what_the_detector_read_and_group_by_view(tmp_path):
    skeleton = fake_record(tmp_path, "synthetic-industrial", "lstm-vae", 0, 0.7, config={"view": "skeleton"})
    frames = fake_record(tmp_path, "synthetic-industrial", "ae", 0, 0.6, settings=["view=frames"])
    for path, spec in ((skeleton, {"view": "skeleton", "height": 28, "width": 28, "window": 30}),
                       (frames, {"view": "frames", "height": 28, "width": 28, "window": 1})):
        record = json.loads((path / "record.json").read_text())
        record["detector"]["input_spec"] = spec
        atomic_write_json(path / "record.json", record)
    rows = collect(tmp_path, {})
    assert [(r.detector, r.input) for r in rows] == [("ae", "frames 28×28"), ("lstm-vae", "skeleton 28×28, T=30")]


def test_failed_jobs_of_the_tables_datasets_are_listed_under_it(tmp_path):
    fake_record(tmp_path, "synthetic-industrial", "ae", 0, 0.7)
    for dataset in ("synthetic-industrial", "synthetic-avenue"):
        atomic_write_json(tmp_path / dataset / "stgan" / "cpu-seed0-y" / "failed.json", {
            "job": f"stgan / {dataset} / seed 0", "request": {"dataset": dataset},
            "error": {"type": "TrainingDiverged", "message": "stgan training collapsed in epoch 4"},
        })
    text = render_markdown(collect(tmp_path, {}, ["synthetic-industrial"]), tmp_path, None, "anobench leaderboard x")
    assert "- stgan / synthetic-industrial / seed 0: stgan training collapsed in epoch 4" in text
    assert "synthetic-avenue / seed 0" not in text


def test_a_later_sweep_covering_every_run_stands_alone_in_the_header(tmp_path):
    from bench_core.leaderboard import reproduce_commands
    from bench_core.sweep import SWEEP_LOG

    for seed in (0, 1):
        fake_record(tmp_path, "synthetic-avenue", "ae", seed, 0.7)
    atomic_write_json(tmp_path / SWEEP_LOG, [
        {"command": "anobench sweep --seeds 0", "run_ids": ["cpu-seed0-x"]},
        {"command": "anobench sweep --seeds 1", "run_ids": ["cpu-seed1-x"]},
        {"command": "anobench sweep --seeds 0,1", "run_ids": ["cpu-seed0-x", "cpu-seed1-x"]},
    ])
    # Logged before sweeps spelled the hold-out out: the command gets the one its runs used (none).
    assert reproduce_commands(collect(tmp_path, {}), tmp_path) == ["anobench sweep --seeds 0,1 --calibration-holdout 0"]


def test_the_cli_says_when_the_dataset_filter_leaves_nothing(tmp_path):
    from typer.testing import CliRunner

    from bench_core.cli import build_app

    fake_record(tmp_path, "synthetic-avenue", "conv-ae", 0, 0.8)
    result = CliRunner().invoke(build_app(), ["leaderboard", str(tmp_path), "--datasets", "avenue"])
    assert result.exit_code == 2
    assert f"error: {tmp_path}: holds no complete run records (record.json) of dataset avenue" in result.output


def test_runs_on_other_generated_data_are_other_rows_named_by_the_option_that_differs(tmp_path):
    for data_seed in (0, 3):
        for seed in (0, 1):
            path = fake_record(tmp_path, "synthetic-industrial", "ae", seed, 0.6 + data_seed / 10)
            path = path.rename(path.with_name(f"{path.name}-d{data_seed}"))
            record = json.loads((path / "record.json").read_text())
            record["dataset"]["options"] = {"data_root": f"/somewhere/{data_seed}", "seed": data_seed, "n_test": 3}
            atomic_write_json(path / "record.json", record)
    fake_record(tmp_path, "synthetic-avenue", "ae", 0, 0.7)
    rows = collect(tmp_path, {})
    assert [(r.dataset_label, sorted(r.seeds), round(r.summary("frame_auroc_micro")["mean"], 3)) for r in rows] == [
        ("synthetic-avenue", [0], 0.7),  # one set of options: the bare name
        ("synthetic-industrial (seed=0)", [0, 1], 0.6),
        ("synthetic-industrial (seed=3)", [0, 1], 0.9),
    ]
    table_text = render_markdown(rows, tmp_path, None, "anobench leaderboard x")
    assert table_text.count("## synthetic-industrial (seed=") == 2
    # the runs read a data root: the commands say where with a placeholder, not the writer's own path
    assert "--data-root DIR" in table_text and "/somewhere" not in table_text.split("## ")[0]
    assert table(table_text, "synthetic-industrial (seed=3)")[0]["Frame AUROC (micro)"] == "0.900 ± 0.000"
