"""The preset a run gets without --preset (bench_core/presets.py): ``standard`` on real footage, ``cpu`` on generated
data and on generated copies in a real layout; a detector without ``standard`` falls back to ``cpu`` with a
one-line notice, and an explicit ``--preset standard`` on it is a one-line error (exit 2) listing its presets."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from bench_core import hookimpl
from bench_core.cli import build_app
from bench_core.dataset import GENERATED_MARKER
from conftest import SHARED_DATA
from toy_plugin import ToyDataset, ToyDetector


class RealToyDataset(ToyDataset):
    real_footage = True


class StandardToyDetector(ToyDetector):
    presets = {**ToyDetector.presets, "standard": {"window": 5}}


class RealFootagePlugin:
    __name__ = "real-footage-toy"

    @hookimpl
    def register_detectors(self, register):
        register("toy-standard", StandardToyDetector, summary="toy detector with a standard preset")

    @hookimpl
    def register_datasets(self, register):
        register("toy-real", RealToyDataset, summary="toy data that calls itself recorded footage")


@pytest.fixture
def plugins(toy_plugin, register_plugin):
    register_plugin(RealFootagePlugin(), "real-footage-toy")


def invoke(*args):
    return CliRunner().invoke(build_app(), [str(a) for a in args])


def run(tmp_path, detector, dataset, *extra):
    return invoke("run", "--detector", detector, "--dataset", dataset, "--out", tmp_path / "results", "--device",
                  "cpu", "--json", *extra)


def test_real_footage_defaults_to_standard_and_generated_data_to_cpu(plugins, tmp_path):
    real = run(tmp_path, "toy-standard", "toy-real")
    assert real.exit_code == 0, real.output
    record = json.loads(real.stdout)
    assert record["preset"] == "standard" and record["detector"]["config"]["window"] == 5
    assert "note:" not in real.stderr
    generated = json.loads(run(tmp_path, "toy-standard", "toy-dataset").stdout)
    assert generated["preset"] == "cpu" and generated["detector"]["config"]["window"] == 3
    explicit = json.loads(run(tmp_path, "toy-standard", "toy-real", "--preset", "cpu").stdout)
    assert explicit["preset"] == "cpu"


def test_a_generated_copy_in_a_real_layout_keeps_the_cpu_default(plugins, tmp_path):
    root = tmp_path / "copy"
    root.mkdir()
    (root / GENERATED_MARKER).write_text("{}")
    result = run(tmp_path, "toy-standard", "toy-real", "--data-root", root)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["preset"] == "cpu"


def test_a_detector_without_standard_falls_back_to_cpu_on_real_footage_with_one_notice(plugins, tmp_path):
    result = run(tmp_path, "toy-detector", "toy-real")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["preset"] == "cpu"
    notices = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert notices == ["note: detector 'toy-detector' has no 'standard' preset, the default on real footage "
                       "('toy-real'): using 'cpu'; give --preset to choose (it has cpu, paper)"]


def test_explicit_standard_on_a_detector_without_it_is_one_line_listing_its_presets_exit_2(plugins, tmp_path):
    result = run(tmp_path, "toy-detector", "toy-real", "--preset", "standard")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0] == "error: detector 'toy-detector' has no preset 'standard' (choose one of: cpu, paper)"
    assert not (tmp_path / "results").exists()


def test_sweep_chooses_the_default_per_detector_and_dataset(plugins, tmp_path):
    result = invoke("sweep", "--detectors", "toy-standard,toy-detector", "--datasets", "toy-real,toy-dataset",
                    "--seeds", "0,1", "--out", tmp_path / "results", "--device", "cpu", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    presets = {(job["job"].split(" / ")[0], job["job"].split(" / ")[1]): job["run_id"].split("-seed")[0]
               for job in json.loads(result.stdout)["job_list"]}
    assert presets == {("toy-standard", "toy-real"): "standard", ("toy-standard", "toy-dataset"): "cpu",
                       ("toy-detector", "toy-real"): "cpu", ("toy-detector", "toy-dataset"): "cpu"}
    # One notice for the detector that lacks standard, not one per seed.
    assert result.stderr.count("has no 'standard' preset") == 1


def test_sweep_grid_is_checked_against_the_default_presets(plugins, tmp_path):
    result = invoke("sweep", "--detectors", "toy-standard", "--datasets", "toy-real", "--grid", "windw=2,4",
                    "--out", tmp_path / "results", "--dry-run")
    assert result.exit_code == 2
    assert "unknown setting 'windw'" in result.stderr and "--grid" in result.stderr


@pytest.mark.skipif(not (SHARED_DATA / "avenue-mini").is_dir(), reason="../shared/data/avenue-mini is absent")
def test_stgan_and_conv_ae_get_standard_on_the_real_avenue_slice(tmp_path):
    result = invoke("sweep", "--detectors", "conv-ae,stgan", "--datasets", "avenue", "--data-root",
                    SHARED_DATA / "avenue-mini", "--out", tmp_path / "results", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    assert {job["run_id"].split("-seed")[0] for job in json.loads(result.stdout)["job_list"]} == {"standard"}


def test_the_sweep_log_spells_out_the_preset_its_jobs_got(plugins, tmp_path):
    result = invoke("sweep", "--detectors", "toy-standard", "--datasets", "toy-real", "--out", tmp_path / "results",
                    "--device", "cpu")
    assert result.exit_code == 0, result.output
    [entry] = json.loads((tmp_path / "results" / "sweeps.json").read_text())
    assert "--preset standard" in entry["command"]
