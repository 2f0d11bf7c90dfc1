"""anobench info: settings, presets, views and published figures read from the plugins' code, per kind."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

from typer.testing import CliRunner

from bench_core import info, schemas
from bench_core.cli import build_app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(build_app(), list(args))


def test_info_detector_lists_every_setting_with_type_default_presets_and_doc():
    result = invoke("info", "ae", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["schema"] == schemas.INFO and data["kind"] == "detector"
    from anobench_framewise.detector import AE, Config

    settings = {s["name"]: s for s in data["settings"]}
    assert list(settings) == [f.name for f in dataclasses.fields(Config)]
    assert settings["channels"]["type"] == "tuple[int, ...]"
    assert settings["channels"]["default"] == [32, 64] and settings["channels"]["presets"] == {"cpu": [16, 32],
                                                                                            "standard": [32, 64]}
    assert settings["epochs"]["presets"] == {"paper": 30, "cpu": 10, "standard": 30}
    assert settings["latent_dim"]["doc"].startswith("J, the dimension of the latent code")
    assert all(s["doc"] for s in settings.values()), "every built-in setting has a doc comment"
    assert data["views"] == ["frames", "skeleton"] and data["default_view"] == "skeleton"
    assert data["presets"]["cpu"]["purpose"].startswith("Narrower layers and fewer epochs")
    assert data["presets"]["paper"]["settings"] == AE.presets["paper"]
    assert data["published"]["industrial"]["frame_auroc"] == 0.67
    table = invoke("info", "ae")
    assert table.exit_code == 0 and "latent_dim" in table.stdout and "published frame AUROC" in table.stdout


def test_info_dataset_shows_options_views_and_card():
    data = json.loads(invoke("info", "synthetic-avenue", "--json").stdout)
    options = {o["name"]: o for o in data["options"]}
    assert options["n_test"]["default"] == 6 and options["n_test"]["doc"].startswith("Number of test videos")
    assert options["data_root"]["doc"]  # inherited from DatasetOptions, documented where it is declared
    assert data["views"] == ["frames"] and data["generated"] is True
    assert data["card"].endswith("synthetic-avenue.md") and "Avenue-like" in data["card_intro"]
    real = json.loads(invoke("info", "avenue", "--json").stdout)
    assert real["layout"] and real["generated"] is False
    assert "options (--data-option" in invoke("info", "avenue").stdout


def test_info_scorer_shows_its_metrics():
    data = json.loads(invoke("info", "frame-auroc", "--json").stdout)
    assert {"frame_auroc_micro", "aupr", "eer"} <= set(data["metrics"])
    facts = {metric["name"]: metric for metric in data["metric_specs"]}
    assert facts["eer"]["better"] == "lower" and facts["frame_auroc_micro"]["headline"]
    assert "frame_auroc_micro" in invoke("info", "frame-auroc").stdout


def test_info_unknown_name_gets_did_you_mean():
    result = invoke("info", "conv-a")
    assert result.exit_code == 2 and "did you mean 'conv-ae'" in result.stderr


def test_list_json_carries_the_info_of_each(toy_plugin):
    listed = json.loads(invoke("list", "--json", "--details").stdout)
    assert listed["schema"] == schemas.LIST
    rows = {(r["kind"], r["name"]): r for r in listed["registrations"]}
    toy = rows[("detector", "toy-detector")]
    assert {s["name"]: s["doc"] for s in toy["settings"]}["window"] == "Frames per window."
    assert toy["presets"]["cpu"]["settings"] == {"window": 3}
    assert rows[("dataset", "toy-dataset")]["options"]


def test_field_docs_read_metadata_and_trailing_comments():
    @dataclass
    class Config:
        #: Above,
        #: on two lines.
        above: int = 1
        trailing: float = 0.5  # after the field
        meta: str = field(default="x", metadata={"doc": "from metadata"})
        bare: int = 0

    assert info.field_docs(Config) == {"above": "Above, on two lines.", "trailing": "after the field",
                                       "meta": "from metadata"}


def test_every_json_output_names_its_schema(toy_plugin, tmp_path):
    out = str(tmp_path / "r")
    common = ["--detectors", "toy-detector", "--datasets", "toy-dataset", "--device", "cpu", "--out", out]
    outputs = {
        "list": invoke("list", "--json"), "plugins": invoke("plugins", "--json"), "info": invoke("info", "ae", "--json"),
        "sweep": invoke("sweep", *common, "--grid", "scale=1,nan", "--json"),
        "dry-run": invoke("sweep", *common, "--dry-run", "--json"),
        "leaderboard": invoke("leaderboard", out, "--format", "json"),
        "data check": invoke("data", "check", "synthetic-avenue", "--json"),
        "cache": invoke("cache", "--json"),
    }
    expected = {"list": schemas.LIST, "plugins": schemas.PLUGINS, "info": schemas.INFO, "sweep": schemas.SWEEP_SUMMARY,
                "dry-run": schemas.SWEEP_DRY_RUN, "leaderboard": schemas.LEADERBOARD, "data check": schemas.DATA_CHECK,
                "cache": schemas.CACHE}
    for name, result in outputs.items():
        assert json.loads(result.stdout)["schema"] == expected[name], name
    assert all(entry["schema"] == schemas.SWEEP_LOG_ENTRY
               for entry in json.loads((tmp_path / "r" / "sweeps.json").read_text()))
    failure = json.loads(next((tmp_path / "r").rglob("failed.json")).read_text())
    assert failure["schema"] == schemas.FAILURE
