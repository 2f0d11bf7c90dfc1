"""bench_core.metrics: the one ROC/AUROC implementation, the MetricSpec contract and the metric catalogue that
every table reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sklearn_roc_curve

from bench_core import MetricSpec, PluginError, Scorer, UsageError, hookimpl
from bench_core.metrics import MetricCatalogue, auroc, auroc_per_group, metric_catalogue, roc_curve, spec_problems

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("seed", range(5))
def test_auroc_and_the_roc_curve_agree_with_scikit_learn_ties_included(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 500)
    scores = rng.integers(0, 20, 500).astype(float) + labels * rng.random(500)  # many ties
    assert auroc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    fpr, tpr, _ = sklearn_roc_curve(labels, scores, drop_intermediate=False)
    curve = roc_curve(labels, scores)
    np.testing.assert_allclose(curve.fpr, fpr)
    np.testing.assert_allclose(curve.tpr, tpr)


def test_auroc_per_group_is_each_groups_own_auroc_from_one_sort():
    rng = np.random.default_rng(7)
    lengths = [50, 0, 1, 30, 40]
    labels = [rng.integers(0, 2, n) for n in lengths]
    labels[3][:] = 1  # one class only
    scores = [rng.integers(0, 5, n).astype(float) for n in lengths]  # ties, also across groups
    got = auroc_per_group(np.concatenate(labels), np.concatenate(scores), lengths)
    assert got[1] is None and got[2] is None and got[3] is None
    for index in (0, 4):
        assert got[index] == pytest.approx(roc_auc_score(labels[index], scores[index]), abs=1e-12)


def test_auroc_without_both_classes_is_none():
    assert auroc([1, 1, 1], [0.1, 0.2, 0.3]) is None
    assert auroc([0, 0], [0.1, 0.2]) is None
    assert auroc([], []) is None


def test_no_other_auroc_implementation_in_the_code_base():
    """One AUROC: everything calls bench_core.metrics (scikit-learn's stays in the tests, as the reference)."""
    offenders = [str(path.relative_to(ROOT)) for folder in ("bench_core", "plugins", "examples")
                 for path in (ROOT / folder).rglob("*.py")
                 if "roc_auc_score(" in path.read_text() or "from sklearn.metrics import" in path.read_text()]
    assert offenders == []


def test_spec_problems_name_what_a_table_could_not_read():
    good = (MetricSpec("a", "A", True, headline=True), MetricSpec("n", "N", None, show="data"))
    assert spec_problems(good) == []
    assert spec_problems({"a": "what a is"})[0].startswith("'metrics' must be a tuple")
    assert "declared twice" in spec_problems((MetricSpec("a", "A"), MetricSpec("a", "B")))[0]
    assert "2 headline" in spec_problems((MetricSpec("a", "A", headline=True), MetricSpec("b", "B", headline=True)))[0]
    assert "show='table'" in spec_problems((MetricSpec("a", "A", show="table"),))[0]
    assert "format 'x'" in spec_problems((MetricSpec("a", "A", format="x"),))[0]
    assert "higher is better" in spec_problems((MetricSpec("a", "A", None, headline=True),))[0]
    assert "not a name like" in spec_problems((MetricSpec("frame auroc", "A"),))[0]
    assert "higher_is_better='yes'" in spec_problems((MetricSpec("a", "A", "yes"),))[0]


class OldStyleScorer(Scorer):
    metrics = {"score": "a metric declared the old way, as a dict"}

    def compute(self, scores, labels):
        return {"score": 1.0}


def test_a_scorer_whose_metrics_are_not_metric_specs_is_refused_when_loaded(register_plugin):
    from bench_core.plugins import get_catalogue

    class Plugin:
        @hookimpl
        def register_scorers(self, register):
            register("old-style", OldStyleScorer)

    register_plugin(Plugin(), "old-style-plugin")
    with pytest.raises(PluginError, match="scorer 'old-style' from plugin 'old-style-plugin': 'metrics' must be"):
        get_catalogue().get("scorer", "old-style").load()
    # The leaderboard still works: that scorer's metrics are undeclared, the others' are not.
    metrics = metric_catalogue()
    assert "old-style" in metrics.broken and metrics.default_ranking() == "frame_auroc_micro"


def test_the_default_ranking_is_the_frame_scorers_headline_and_sort_by_takes_declared_qualities():
    metrics = metric_catalogue()
    assert metrics.sort_metric(None) == "frame_auroc_micro"
    assert metrics.sort_metric("eer") == "eer" and metrics.get("eer").higher_is_better is False
    assert metrics.sort_metric("inference_fps") == "inference_fps"  # the harness's own
    with pytest.raises(UsageError, match="did you mean 'frame_auroc_macro'"):
        metrics.sort_metric("frame_auroc_makro")
    with pytest.raises(UsageError, match="a count, not a quality"):
        metrics.sort_metric("n_frames")
    # Columns in declaration order: the compact table's, then --wide's.
    assert [s.name for s in metrics.shown("compact")][:3] == ["frame_auroc_micro", "aupr", "eer"]
    assert [s.name for s in metrics.shown("wide")][:4] == ["frame_auroc_micro", "frame_auroc_macro", "aupr", "eer"]
    assert [s.name for s in metrics.shown("wide")][-1] == "inference_fps"
    assert [s.name for s in metrics.shown("localization")] == ["pixel_auroc", "rbdc", "tbdc"]


def test_an_undeclared_metric_is_data_only_and_ranks_nothing():
    metrics = MetricCatalogue({"s": (MetricSpec("declared", "Declared", True, headline=True),)})
    unknown = metrics.get("from_an_uninstalled_scorer")
    assert (unknown.label, unknown.higher_is_better, unknown.show) == ("from_an_uninstalled_scorer", None, "data")
    assert metrics.ordered({"zz", "declared", "aa"}) == ["declared", "aa", "zz"]
    with pytest.raises(UsageError, match="no installed scorer declares"):
        metrics.sort_metric("from_an_uninstalled_scorer")


def test_the_leaderboard_reads_the_scorers_declarations_but_loads_no_detector_dataset_or_torch():
    """The metric columns come from the installed scorers, so the leaderboard imports their modules (and every
    plugin's import-cheap hook module, which plugin discovery imports); never a detector's or a dataset's module,
    nor torch."""
    import subprocess
    import sys

    script = f"""
import sys
from importlib.metadata import entry_points
from pathlib import Path
from bench_core.leaderboard import collect, render_markdown
results = Path({str(ROOT / 'leaderboards' / 'results')!r})
rows = collect(results, {{}}, ["synthetic-avenue"], by_kind=True)
assert any(row.by_kind for row in rows)
render_markdown(rows, results, None, "anobench leaderboard")
plugins = {{point.value.split(":")[0].split(".")[0] for point in entry_points(group="anobench")}}
loaded = sorted(name for name in sys.modules if name.split(".")[0] in plugins and name.count(".") == 1
                and not name.endswith(".plugin"))
print(loaded, "torch" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['anobench_frame_metrics.scorer', 'anobench_localization.scorer'] False"
