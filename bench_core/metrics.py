"""What a metric is, for every table that shows one, and the one ROC/AUROC implementation of the code base.

A scorer declares each metric its ``compute`` returns as a :class:`MetricSpec` (its ``metrics`` attribute): the
name in the run record, the column title, whether higher is better (or neither: a count), how to print it, where
tables show it, and which one is its headline. The leaderboard (markdown, CSV, JSON), ``anobench report``, the
sweep summary and ``anobench info`` read these declarations, never a list of names of their own, so an installed
scorer's metric reaches every table without a change here (docs/plugins.md, "Writing a scorer").

Every AUROC (a run's micro and macro, a video's, a kind of anomaly's, a plot's legend) comes from
:func:`roc_curve`: one point per distinct score, ties counted as scikit-learn counts them (a tied positive/negative
pair counts one half), the area summed in integer counts so that it is exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from bench_core.errors import UsageError, did_you_mean

if TYPE_CHECKING:
    from bench_core.plugins import Catalogue

#: Where a metric is shown. "always": a column of the leaderboard's markdown table and of the report's;
#: "wide": only with ``anobench leaderboard --wide`` (and in the report, which shows every column);
#: "localization": the leaderboard's and the report's localization table (metrics of per-pixel maps, which most
#: rows lack); "data": only in ``--json`` and ``--format csv`` (counts, diagnostics, operating points).
SHOW = ("always", "wide", "localization", "data")


@dataclass(frozen=True)
class MetricSpec:
    """One metric a scorer reports: the key of the run record's ``metrics`` and how tables treat it."""

    #: The key in the run record's ``metrics`` (flat, unique across scorers), e.g. ``frame_auroc_micro``.
    name: str
    #: The column title, e.g. ``Frame AUROC (micro)``.
    label: str
    #: True: higher is better; False: lower is better (an error rate, a delay); None: neither (a count), so it
    #: neither ranks rows (``--sort-by`` refuses it) nor gets a bold best value.
    higher_is_better: bool | None = True
    #: A format spec for the mean and the std over seeds, e.g. ``.3f``.
    format: str = ".3f"
    #: One metric per scorer is its headline: the sweep summary and the report's per-run lines show it.
    headline: bool = False
    #: Where tables show it: one of ``SHOW``.
    show: str = "always"
    #: Whether a table cell adds the std over seeds (``0.812 ± 0.010``) or shows the mean only.
    spread: bool = True
    #: Whether tables add Student's t interval of its mean over seeds (a column, and ``NAME_ci95`` in ``--json``).
    interval: bool = False
    #: ``(bad, good)``: ``anobench report`` shades a value below ``bad`` red and one from ``good`` green (an AUROC:
    #: (0.5, 0.8), red below chance); None: no shading.
    grades: tuple[float, float] | None = None
    #: What it measures, for ``anobench info SCORER``.
    description: str = ""

    def text(self, value: float) -> str:
        return format(value, self.format)


#: Not a scorer's: the harness times every run (the record's ``timing.inference_fps``).
INFERENCE_FPS = MetricSpec("inference_fps", "Inference fps", True, format=".1f", show="wide", spread=False,
                           description="test frames scored per second (the detector's scoring alone)")
#: The harness's own metrics, shown after every scorer's.
HARNESS_METRICS = (INFERENCE_FPS,)


#: The shading of an AUROC in the report: red below chance, green from 0.8.
AUROC_GRADES = (0.5, 0.8)


def spec_problems(specs) -> list[str]:
    """What is wrong with a scorer's ``metrics`` declaration (empty when nothing is)."""
    if not isinstance(specs, (tuple, list)):
        return [f"'metrics' must be a tuple of bench_core.MetricSpec, not {type(specs).__name__}"]
    problems = []
    names = set()
    for spec in specs:
        if not isinstance(spec, MetricSpec):
            problems.append(f"'metrics' holds {spec!r:.60}, not a bench_core.MetricSpec")
            continue
        if not isinstance(spec.name, str) or not spec.name.isidentifier():
            problems.append(f"metric name {spec.name!r} is not a name like 'frame_auroc_micro' (a JSON and CSV key)")
        if spec.higher_is_better not in (True, False, None):
            problems.append(f"metric '{spec.name}' has higher_is_better={spec.higher_is_better!r}, not True, False "
                            "or None")
        if spec.name in names:
            problems.append(f"metric '{spec.name}' is declared twice")
        names.add(spec.name)
        if spec.show not in SHOW:
            problems.append(f"metric '{spec.name}' has show={spec.show!r}, not one of {', '.join(SHOW)}")
        try:
            format(0.5, spec.format)
        except (ValueError, TypeError):
            problems.append(f"metric '{spec.name}' has format {spec.format!r}, which cannot print a number")
    headlines = [spec.name for spec in specs if isinstance(spec, MetricSpec) and spec.headline]
    if len(headlines) > 1:
        problems.append(f"declares {len(headlines)} headline metrics ({', '.join(headlines)}); one at most")
    if any(s.higher_is_better is None for s in specs if isinstance(s, MetricSpec) and s.headline):
        problems.append("its headline metric must say whether higher is better")
    return problems


def headline(specs) -> MetricSpec | None:
    return next((spec for spec in specs if spec.headline), None)


class MetricCatalogue:
    """Every metric the installed scorers declare (in the default scorers' order, then by scorer name), then the
    harness's own; a metric a record holds that no installed scorer declares is shown by name in ``--json`` only."""

    def __init__(self, by_scorer: dict[str, tuple[MetricSpec, ...]],
                 breakdowns: dict[str, tuple[MetricSpec, ...]] | None = None, broken: dict[str, str] | None = None):
        self.by_scorer = by_scorer
        self.breakdowns = breakdowns or {}
        #: Scorer name -> why it could not be loaded (its metrics are then undeclared here).
        self.broken = broken or {}
        self.specs: dict[str, MetricSpec] = {}
        for specs in by_scorer.values():
            for spec in specs:
                self.specs.setdefault(spec.name, spec)
        for spec in HARNESS_METRICS:
            self.specs.setdefault(spec.name, spec)

    def get(self, name: str) -> MetricSpec:
        """The declared spec, or a neutral one (its name as title, never ranked, data only) for an unknown name."""
        return self.specs.get(name) or MetricSpec(name, name, None, show="data")

    def ordered(self, names) -> list[str]:
        """``names`` in declaration order, undeclared ones last (sorted)."""
        names = set(names)
        return [n for n in self.specs if n in names] + sorted(names - set(self.specs))

    def shown(self, level: str) -> list[MetricSpec]:
        """The metrics a table at ``level`` shows: "compact" (show="always"), "wide" (and show="wide"), or
        "localization"."""
        wanted = {"compact": ("always",), "wide": ("always", "wide"), "localization": ("localization",)}[level]
        return [spec for spec in self.specs.values() if spec.show in wanted]

    def declared_by(self, scorers) -> list[str]:
        """The metric names the scorers a run used declare (those installed)."""
        return [spec.name for name in scorers for spec in self.by_scorer.get(name, ())]

    def headlines(self, scorers) -> list[MetricSpec]:
        """The headline metric of each of ``scorers`` that is installed and declares one, in their order."""
        found = (headline(self.by_scorer.get(name, ())) for name in dict.fromkeys(scorers))
        return [spec for spec in found if spec is not None]

    def default_ranking(self) -> str:
        """The headline of the default scorer (``run.DEFAULT_SCORERS[0]``, frame-auroc): the leaderboard's
        default ``--sort-by``."""
        from bench_core.run import DEFAULT_SCORERS

        top = headline(self.by_scorer.get(DEFAULT_SCORERS[0], ()))
        if top is None:
            why = self.broken.get(DEFAULT_SCORERS[0], "it is not installed, or declares no headline metric")
            raise UsageError(f"the default scorer '{DEFAULT_SCORERS[0]}' gives no default ranking: {why}",
                             hint="give --sort-by a metric, or reinstall anobench")
        return top.name

    def rankable(self) -> list[str]:
        return [name for name, spec in self.specs.items() if spec.higher_is_better is not None]

    def sort_metric(self, name: str | None) -> str:
        """``--sort-by``'s metric (the default ranking when None); a UsageError (exit 2) unless it is a declared
        metric that says which way is better."""
        if name is None:
            return self.default_ranking()
        if name in self.specs and self.specs[name].higher_is_better is None:
            raise UsageError(f"--sort-by {name}: '{self.specs[name].label}' is a count, not a quality, and ranks "
                             "nothing", hint="rank by one of: " + ", ".join(self.rankable()))
        if name not in self.specs:
            raise UsageError(f"--sort-by {name}: no installed scorer declares this metric",
                             hint=did_you_mean(name, self.rankable())
                             or "rank by one of: " + ", ".join(self.rankable()))
        return name


def metric_catalogue(catalogue: "Catalogue | None" = None) -> MetricCatalogue:
    """The metrics of every installed scorer. A scorer that cannot be loaded declares nothing here (its metrics
    in records are shown by name in ``--json``); ``anobench plugins`` says why it did not load."""
    from bench_core.errors import PluginError
    from bench_core.plugins import get_catalogue
    from bench_core.run import DEFAULT_SCORERS

    catalogue = catalogue or get_catalogue()
    names = catalogue.names("scorer")
    order = [n for n in DEFAULT_SCORERS if n in names] + [n for n in names if n not in DEFAULT_SCORERS]
    by_scorer, breakdowns, broken = {}, {}, {}
    for name in order:
        try:
            scorer_cls = catalogue.get("scorer", name).load()
        except PluginError as exc:
            broken[name] = str(exc)
            continue
        by_scorer[name] = tuple(scorer_cls.metrics)
        breakdowns[name] = tuple(scorer_cls.breakdown)
    return MetricCatalogue(by_scorer, breakdowns, broken)


# -- the one ROC / AUROC implementation ----------------------------------------------------------------------------

@dataclass(frozen=True)
class RocCurve:
    """The ROC curve of scores against 0/1 labels: one point per distinct score, from the highest threshold down,
    starting at (0, 0), as scikit-learn's ``roc_curve(drop_intermediate=False)``, in integer counts."""

    #: Positives (negatives) scoring at or above each threshold; [0] is 0 (a threshold above every score).
    true_pos: np.ndarray
    false_pos: np.ndarray
    #: Positives among the frames of each distinct score, highest score first (the precision-recall steps).
    positives_per_step: np.ndarray

    @property
    def n_pos(self) -> int:
        return int(self.true_pos[-1])

    @property
    def n_neg(self) -> int:
        return int(self.false_pos[-1])

    @property
    def fpr(self) -> np.ndarray:
        return self.false_pos / self.n_neg

    @property
    def tpr(self) -> np.ndarray:
        return self.true_pos / self.n_pos

    @property
    def auroc(self) -> float | None:
        """Area under the curve (None without both classes)."""
        negatives = np.diff(self.false_pos)
        # In ascending score order, as _twice_areas takes the steps.
        twice = _twice_areas(self.positives_per_step[::-1], negatives[::-1], np.zeros(len(negatives), np.int64), 1)
        return None if self.n_pos == 0 or self.n_neg == 0 else float(twice[0] / (2 * self.n_pos * self.n_neg))


def _twice_areas(positives: np.ndarray, negatives: np.ndarray, segment: np.ndarray, n_segments: int) -> np.ndarray:
    """Twice the area under each segment's ROC curve times its positives × negatives, from the counts of each
    distinct score (ascending within a segment; ``segment`` numbers them, in order): a positive counts 1 for every
    negative scoring lower and 1/2 for every tied one (the trapezoid; the midrank Mann-Whitney statistic). Exact:
    sums of integers, below 2**53 up to ~60 million frames a segment."""
    below = np.cumsum(negatives) - negatives  # negatives of lower score, from the first segment on
    first = np.searchsorted(segment, np.arange(n_segments))  # each segment's first step
    below = below - below[np.minimum(first, len(below) - 1)][segment] if len(below) else below
    return np.bincount(segment, weights=positives * (2 * below + negatives), minlength=n_segments)


def roc_from_sorted(sorted_positive: np.ndarray, starts_tie_group: np.ndarray) -> RocCurve:
    """The curve from labels sorted by ascending score and the flags of where a new score starts (for a caller
    that already sorted, as the frame scorer does once for all its metrics)."""
    group_starts = np.flatnonzero(starts_tie_group)
    group_sizes = np.diff(np.append(group_starts, len(sorted_positive)))
    positives = np.add.reduceat(sorted_positive.astype(np.int64), group_starts) if len(group_starts) else \
        np.zeros(0, np.int64)
    negatives = group_sizes - positives
    true_pos = np.concatenate([[0], np.cumsum(positives[::-1])])
    false_pos = np.concatenate([[0], np.cumsum(negatives[::-1])])
    return RocCurve(true_pos, false_pos, positives[::-1])


def sort_scores(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ascending order of ``scores`` and, in that order, where each distinct score starts."""
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    order = np.argsort(scores)  # the order among equal scores does not matter: they form one step
    ordered = scores[order]
    starts = np.empty(len(ordered), dtype=bool)
    starts[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    return order, starts


def roc_curve(labels, scores) -> RocCurve:
    """The ROC curve of ``scores`` (higher: more likely positive) against ``labels`` (1 positive, else 0)."""
    labels = np.asarray(labels).reshape(-1) == 1
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(labels) != len(scores):
        raise ValueError(f"{len(scores)} scores for {len(labels)} labels")
    order, starts = sort_scores(scores)
    return roc_from_sorted(labels[order], starts)


def auroc(labels, scores) -> float | None:
    """Area under the ROC curve of ``scores`` against ``labels``; None unless both classes are present."""
    return roc_curve(labels, scores).auroc


def auroc_per_group(labels, scores, group_lengths, by_score: np.ndarray | None = None) -> list[float | None]:
    """The AUROC of each group of consecutive elements (e.g. each video's frames of a pooled array), from one
    sort (``by_score``: the scores' ascending order where the caller has it); None for a group without both
    classes."""
    labels = np.asarray(labels).reshape(-1) == 1
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    group_lengths = np.asarray(group_lengths, dtype=np.int64)
    if len(labels) != len(scores) or group_lengths.sum() != len(scores):
        raise ValueError(f"{len(scores)} scores, {len(labels)} labels, groups of {group_lengths.sum()} in all")
    n_groups = len(group_lengths)
    group = np.repeat(np.arange(n_groups, dtype=np.min_scalar_type(max(n_groups - 1, 0))), group_lengths)
    # By group, then by ascending score: one sort of the scores, then a stable (radix) sort of their group numbers.
    by_score = np.argsort(scores) if by_score is None else by_score
    order = by_score[np.argsort(group[by_score], kind="stable")]
    ordered, group = scores[order], group[order]
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = (ordered[1:] != ordered[:-1]) | (group[1:] != group[:-1])  # equal scores of two groups: not tied
    step_starts = np.flatnonzero(starts)
    if len(step_starts) == 0:
        return [None] * n_groups
    positives = np.add.reduceat(labels[order].astype(np.int64), step_starts)
    negatives = np.diff(np.append(step_starts, len(order))) - positives
    step_group = group[step_starts]
    twice = _twice_areas(positives, negatives, step_group, n_groups)
    n_pos = np.bincount(step_group, weights=positives, minlength=n_groups)
    n_neg = group_lengths - n_pos
    return [float(t / (2 * p * n)) if p and n else None for t, p, n in zip(twice, n_pos, n_neg)]
