"""A dataset whose Options is a frozen dataclass (which cannot subclass the non-frozen DatasetOptions) works through
every command; an Options class without the fields every dataset's options have is refused at load, by name."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import pytest
from typer.testing import CliRunner

from bench_core import hookimpl
from bench_core.cli import build_app
from toy_plugin import ToyDataset

runner = CliRunner()


def invoke(*args):
    return runner.invoke(build_app(), list(args))


@dataclass(frozen=True)
class FrozenToyOptions:
    #: Where the files are (the toy generates its frames and ignores it).
    data_root: str = ""
    #: Which frame-label convention the test labels follow; '' means the dataset's default.
    label_convention: str = ""
    #: Seeds the toy's noise.
    seed: int = 0
    #: Frames per video.
    n_frames: int = 40


class FrozenToyDataset(ToyDataset):
    """The toy dataset, with frozen options."""

    Options = FrozenToyOptions


@dataclass(frozen=True)
class RootlessOptions:
    seed: int = 0


class RootlessDataset(ToyDataset):
    Options = RootlessOptions


class FrozenPlugin:
    __name__ = "frozen"

    @hookimpl
    def register_datasets(self, register):
        register("frozen-toy", FrozenToyDataset, summary="the toy, with frozen options")
        register("rootless-toy", RootlessDataset, summary="options without data_root")


@pytest.fixture
def frozen_plugin(toy_plugin, register_plugin):
    register_plugin(FrozenPlugin(), "frozen")


def test_a_frozen_options_dataset_runs_end_to_end(frozen_plugin, tmp_path):
    result = invoke("run", "--detector", "toy-detector", "--dataset", "frozen-toy", "--out", str(tmp_path / "r"),
                    "--device", "cpu", "--data-option", "n_frames=30", "--data-root", str(tmp_path), "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["dataset"]["options"]["n_frames"] == 30 and record["n_test_frames"] == 3 * 30
    assert record["metrics"]["frame_auroc_micro"] == 1.0


def test_info_and_data_check_work_on_a_frozen_options_dataset(frozen_plugin):
    info = invoke("info", "frozen-toy", "--json")
    assert info.exit_code == 0, info.output
    options = {row["name"]: row for row in json.loads(info.stdout)["options"]}
    assert list(options) == [f.name for f in dataclasses.fields(FrozenToyOptions)]
    assert options["n_frames"]["default"] == 40 and options["seed"]["doc"] == "Seeds the toy's noise."
    check = invoke("data", "check", "frozen-toy", "--data-option", "seed=3", "--json")
    assert check.exit_code == 0, check.output
    assert json.loads(check.stdout)["options"]["seed"] == 3
    assert invoke("data", "check", "frozen-toy").exit_code == 0  # the table for people too


def test_an_options_class_without_the_dataset_fields_is_refused_naming_it(frozen_plugin, tmp_path):
    result = invoke("run", "--detector", "toy-detector", "--dataset", "rootless-toy", "--out", str(tmp_path),
                    "--device", "cpu")
    assert result.exit_code == 2, result.output
    assert "dataset 'rootless-toy' from plugin 'frozen'" in result.stderr
    assert "RootlessOptions has no field 'data_root', 'label_convention'" in result.stderr
    assert "label_convention: str = ''" in result.stderr  # the hint says what to declare


@pytest.mark.parametrize("module, cls", [("anobench_avenue.dataset", "Avenue"),
                                         ("anobench_shanghaitech.dataset", "ShanghaiTech")])
def test_the_builtin_loaders_resolve_their_defaults_into_a_copy(module, cls):
    import importlib

    loader = importlib.import_module(module)
    dataset_cls = getattr(loader, cls)
    given = dataset_cls.Options()
    before = dataclasses.asdict(given)
    dataset = dataset_cls(cls.lower(), given)
    assert dataclasses.asdict(given) == before  # the caller's object (which may be frozen) is left as it was
    assert dataset.options.data_root == str(loader.DEFAULT_DATA_ROOT) and dataset.options.label_convention
