"""The view a detector reads fits the dataset: a default it lacks is swapped for one both have, recorded; an
impossible pair is refused while planning (a sweep refuses before starting); a failed sweep keeps exit 1."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from typer.testing import CliRunner

from bench_core.cli import build_app
from bench_core.errors import UsageError
from bench_core.run import RunRequest, plan_run
from bench_core.view_choice import fit_view

runner = CliRunner()


def invoke(*args):
    return runner.invoke(build_app(), list(args))


class _Dataset:
    name = "d"
    views = ("frames",)


@dataclass
class _ViewConfig:
    view: str = "skeleton"


class _SkeletonFirst:
    Config = _ViewConfig
    presets = {"cpu": {}}


class _SkeletonOnly(_SkeletonFirst):
    views = ("skeleton",)


def test_a_default_view_the_dataset_lacks_becomes_one_it_offers():
    assert fit_view(_SkeletonFirst, "x", "cpu", {}, _Dataset()) == {"view": "frames"}
    _Dataset.views = ("frames", "skeleton")
    try:
        assert fit_view(_SkeletonFirst, "x", "cpu", {}, _Dataset()) == {}
    finally:
        _Dataset.views = ("frames",)


def test_no_shared_view_or_an_explicit_missing_one_is_refused_naming_the_pair():
    with pytest.raises(UsageError, match="detector 'x' reads skeleton, none of which dataset 'd' offers"):
        fit_view(_SkeletonOnly, "x", "cpu", {}, _Dataset())
    with pytest.raises(UsageError, match="detector 'x' needs view 'skeleton', which dataset 'd' lacks"):
        fit_view(_SkeletonFirst, "x", "cpu", {"view": "skeleton"}, _Dataset())


def test_ae_on_a_frames_only_dataset_plans_the_frames_run_with_the_same_id(tmp_path):
    base = dict(detector="ae", dataset="synthetic-avenue", out=tmp_path, data_options=["n_train=1", "n_test=1"])
    auto = plan_run(RunRequest(**base))
    explicit = plan_run(RunRequest(**base, settings=["view=frames"]))
    assert auto.detector_config.view == "frames" and auto.resolved_settings == {"view": "frames"}
    assert auto.run_id == explicit.run_id and explicit.resolved_settings == {}


def test_sweep_refuses_an_impossible_pair_before_any_job(tmp_path):
    result = invoke("sweep", "--detectors", "ae", "--datasets", "synthetic-avenue", "--set", "view=skeleton",
                    "--out", str(tmp_path))
    assert result.exit_code == 2
    assert "detector 'ae' needs view 'skeleton', which dataset 'synthetic-avenue' lacks" in result.stderr
    assert not any(tmp_path.iterdir())


def test_a_failed_sweep_keeps_exit_1_when_its_leaderboard_has_no_rows(toy_plugin, tmp_path):
    result = invoke("sweep", "--detectors", "toy-detector", "--datasets", "toy-dataset", "--set", "scale=nan",
                    "--device", "cpu", "--out", str(tmp_path / "r"), "--leaderboard", str(tmp_path / "lb.md"))
    assert result.exit_code == 1, result.output
    assert "leaderboard not written" in result.stderr
