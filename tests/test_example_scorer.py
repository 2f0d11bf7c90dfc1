"""The example scorer plugin (examples/anobench-example-scorer): its metric reaches the leaderboard (markdown and
--json), --sort-by and the report through the metadata it declares, with nothing in bench_core naming it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from bench_core import hookimpl
from bench_core.plugins import pm
from bench_core.report import build_report
from bench_core.run import RunRequest, run
from bench_core.scoring import OperatingPoint
from test_sweep import invoke

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "anobench-example-scorer"
#: Not "detection-delay": that would clash with the example's own entry point where it is installed.
UNDER_TEST = "detection-delay-under-test"
TITLE = "Detection delay (s)"


@pytest.fixture
def example_scorer(monkeypatch, toy_plugin):
    """The example's scorer registered as a plugin object, from its source folder (as installing it would)."""
    monkeypatch.syspath_prepend(str(EXAMPLE))

    class ExampleScorerUnderTest:
        @hookimpl
        def register_scorers(self, register):
            register(UNDER_TEST, "anobench_example_scorer.scorer:DetectionDelay", summary="under test")

    pm.register(ExampleScorerUnderTest(), name="example-scorer-under-test")
    try:
        yield
    finally:
        pm.unregister(name="example-scorer-under-test")
        for name in [m for m in sys.modules if m.startswith("anobench_example_scorer")]:
            del sys.modules[name]


def test_the_delay_is_the_time_to_the_first_alert_of_each_alerted_event(example_scorer):
    from anobench_example_scorer.scorer import DetectionDelay

    labels = [np.array([0, 0, 1, 1, 1, 1, 0, 0, 1, 1]), np.array([0, 1, 1, 0])]
    raw = [np.array([0, 0, 0, 0, 5, 5, 0, 0, 0, 0]), np.array([0, 5, 0, 0])]  # the second video's event at once
    point = OperatingPoint(threshold=1.0, false_alarm_rate=0.01, raw_scores=raw, fps=[2.0, 10.0])
    metrics = DetectionDelay().compute(raw, labels, operating_point=point)
    # video 0: event at 2 alerts at frame 4 (1 s at 2 fps), the event at 8 never; video 1: at once (0 s)
    assert metrics == {"detection_delay_s": 0.5, "detection_delay_median_s": 0.5, "detection_delay_events": 2}
    assert set(DetectionDelay().compute(raw, labels).values()) == {None}  # no hold-out: no threshold


def test_the_example_scorers_metric_shows_in_leaderboard_json_sort_by_and_report(example_scorer, tmp_path):
    out = tmp_path / "results"
    for settings in ([], ["scale=-1"]):  # a detector that catches the square, and one that never alerts on it
        record, _ = run(RunRequest(detector="toy-detector", dataset="toy-dataset", device="cpu", out=out,
                                   settings=settings, scorers=("frame-auroc", UNDER_TEST)))
        assert "detection_delay_s" in record["metrics"]
    delays = sorted(json.loads(p.read_text())["metrics"]["detection_delay_s"] is None
                    for p in out.rglob("record.json"))
    assert delays == [False, True]  # one run alerted, the flipped one did not

    markdown = invoke("leaderboard", str(out))
    assert markdown.exit_code == 0, markdown.output
    header = next(line for line in markdown.stdout.splitlines() if line.startswith("|") and "Rank" in line)
    assert TITLE in header
    assert "Median detection delay" not in header  # declared show="wide"
    assert "Median detection delay (s)" in invoke("leaderboard", str(out), "--wide").stdout

    data = json.loads(invoke("leaderboard", str(out), "--json").stdout)
    assert data["metrics"]["detection_delay_s"]["label"] == TITLE
    assert data["metrics"]["detection_delay_s"]["higher_is_better"] is False
    values = [row["detection_delay_s"] for row in data["rows"]]
    assert sorted(v["n"] for v in values) == [0, 1] and any(v["mean"] is not None and v["mean"] >= 0 for v in values)

    # Lower is better, and a row without a value ranks last without a rank.
    ranked = json.loads(invoke("leaderboard", str(out), "--json", "--sort-by", "detection_delay_s").stdout)
    assert ranked["sort_by"] == "detection_delay_s"
    assert [row["rank"] for row in ranked["rows"]] == [1, None]
    assert ranked["rows"][0]["detection_delay_s"]["n"] == 1
    typo = invoke("leaderboard", str(out), "--sort-by", "detection_delay")
    assert typo.exit_code == 2 and "detection_delay_s" in typo.output  # did you mean

    page = build_report(out, tmp_path / "report").read_text()
    leaderboard = page[page.index("<h2>Leaderboard</h2>"):page.index("<h2>Per-video")]
    assert f"<th>{TITLE}</th>" in leaderboard
    assert f"{TITLE} " in page[page.index("<h2>ROC of each run</h2>"):]  # each run's headline figures


# --- packaging: a real pip install, found through its entry point -----------------------------------------------

@pytest.fixture(scope="module")
def installed_scorer(tmp_path_factory):
    from test_example_plugin import pip_installed

    yield from pip_installed(EXAMPLE, tmp_path_factory.mktemp("example-scorer"))


@pytest.mark.slow
def test_the_installed_example_scorer_declares_its_metrics_through_its_entry_point(installed_scorer):
    from test_example_plugin import run_with

    anobench = Path(sys.executable).with_name("anobench")
    if not anobench.exists():
        pytest.skip(f"the anobench command is not installed next to {sys.executable}")
    info = run_with(installed_scorer, [str(anobench), "info", "detection-delay", "--json"])
    assert info.returncode == 0, info.stderr
    data = json.loads(info.stdout)
    assert data["plugin"] == "example-scorer"
    specs = {spec["name"]: spec for spec in data["metric_specs"]}
    assert specs["detection_delay_s"]["label"] == TITLE and specs["detection_delay_s"]["better"] == "lower"
    assert specs["detection_delay_s"]["headline"] and specs["detection_delay_events"]["show"] == "data"
