"""Figures from run records: ROC curves, anomaly score over frames with abnormal spans shaded, latent t-SNE.

matplotlib (Agg backend) and scikit-learn are imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from bench_core.errors import DamagedFile, UsageError
from bench_core.records import LATENT_KEY, RECORD_FILE, VideoScores, load_record, read_scores, safe_name, skip_damaged
from bench_core.results import ResultsFolder
from bench_core.run_record import RunRecord


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window; must precede the pyplot import
    import matplotlib.pyplot as plt

    return plt


def load_records(paths: Iterable[Path]) -> list[RunRecord]:
    """Every run record in the given run folders or results folders, in a stable order."""
    found = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise UsageError(f"{path}: no such run or results folder", hint="give a folder written by anobench run")
        runs = list(ResultsFolder(path).runs())
        if not runs:
            raise UsageError(f"{path}: holds no complete run records ({RECORD_FILE})",
                             hint="give a run folder or the --out folder of 'anobench run' or 'anobench sweep'")
        found.extend(runs)
    return sorted(found, key=lambda r: (r.dataset.name, r.detector.name, run_label(r)))


def load_run(path: Path) -> RunRecord:
    path = Path(path)
    if not (path / RECORD_FILE).is_file():
        raise UsageError(f"{path}: not a run folder (it has no {RECORD_FILE})",
                         hint="give one run's folder: OUT/<dataset>/<detector>/<run id>")
    return load_record(path)


def video_scores(record: RunRecord) -> list[VideoScores]:
    """Every test video's saved scores; a missing scores file is a one-line error."""
    videos = []
    found = read_scores(record)
    for video in record.per_video:
        scores = found[video.id]
        if scores is None:
            raise DamagedFile(record.scores_file(video), f"the scores of test video '{video.id}' are "
                              "missing", hint="run it again with --overwrite")
        videos.append(scores)
    return videos


def readable_runs(runs: list[RunRecord]) -> list[RunRecord]:
    """The runs whose scores files can all be read; each other one goes to ``records.skip_damaged``."""
    readable = []
    for record in runs:
        try:
            video_scores(record)
        except DamagedFile as exc:
            skip_damaged(exc)
            continue
        readable.append(record)
    return readable


def run_label(record: RunRecord) -> str:
    """``ae [cpu, view=frames] on synthetic-industrial (seed=3), seed 0``: the detector with its preset and --set
    items in brackets, the dataset with the options it was given in parentheses, so that runs differing in any of
    them never share a label."""
    detector = [record.preset or record.detector.preset or "?", *record.detector.settings]
    options = {k: v for k, v in record.dataset.data_options.items() if v not in ("", None)}
    shown = ", ".join(f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in options.items())
    return (f"{record.detector.name} [{', '.join(detector)}] on {record.dataset.name}"
            + (f" ({shown})" if shown else "") + f", seed {record.seed}")


def abnormal_spans(label: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) frame ranges where label is 1."""
    padded = np.concatenate([[0], (np.asarray(label) > 0).astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def plot_roc(runs: list[RunRecord], out_png: Path, log_fpr: bool = False) -> Path:
    """One ROC curve per run (all test frames pooled, as the micro AUROC is), AUROC in the legend. ``log_fpr``
    draws the false positive rate on a log axis from 0.1%: the low-false-alarm end that operators live in."""
    from bench_core.metrics import roc_curve

    plt = _pyplot()
    # Beyond a few runs an in-plot legend hides the curves; then it goes below the axes.
    crowded = len(runs) > 4
    fig, ax = plt.subplots(figsize=(6, 5 + (0.22 * len(runs) if crowded else 0)))
    for record in runs:
        videos = video_scores(record)
        if any(v.label is None for v in videos):
            continue  # a run on unlabelled test videos: no curve to draw
        score = np.concatenate([v.score for v in videos])
        label = np.concatenate([v.label for v in videos])
        if label.min() == label.max():
            continue  # one class only: no curve to draw
        curve = roc_curve(label, score)
        ax.plot(curve.fpr, curve.tpr, label=f"{run_label(record)}: AUROC {curve.auroc:.3f}")
    chance = np.logspace(-3, 0, 50) if log_fpr else np.array([0.0, 1.0])
    ax.plot(chance, chance, color="grey", linestyle=":", linewidth=1)
    ax.set(xlabel="false positive rate" + (" (log scale)" if log_fpr else ""), ylabel="true positive rate",
           title="Frame-level ROC (micro)" + (", low false-alarm rates" if log_fpr else ""),
           xlim=(1e-3, 1) if log_fpr else (0, 1), ylim=(0, 1.01))
    if log_fpr:
        ax.set_xscale("log")
    if crowded:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize="small", frameon=False)
    else:
        ax.legend(loc="lower right", fontsize="small")
    return _save(fig, out_png)


#: The overview figures (one per dataset or video, over many runs) are drawn at this resolution: a 75-run report
#: page stays under 5 MB.
OVERVIEW_DPI = 80


def config_label(record: RunRecord) -> str:
    """``run_label`` without the seed: what the runs of one configuration, over seeds, share."""
    return run_label(record).rsplit(", seed ", 1)[0]


def data_label(record: RunRecord) -> str:
    """The dataset with its options (data root left out): runs with equal labels scored the same test videos."""
    return config_label(record).split("] on ", 1)[1]


def _colours(n: int) -> list:
    """n distinct colours (tab10, then tab20, then a sampled continuous map), so curves never share one."""
    import matplotlib

    if n <= 10:
        return [matplotlib.colormaps["tab10"](i) for i in range(n)]
    if n <= 20:
        return [matplotlib.colormaps["tab20"](i) for i in range(n)]
    return [matplotlib.colormaps["turbo"](i / max(n - 1, 1)) for i in range(n)]


def plot_roc_bands(runs: list[RunRecord], out_png: Path, log_fpr: bool = False) -> Path:
    """One ROC curve per configuration: the mean true positive rate over its seeds at each false positive rate,
    with a band from the lowest to the highest seed; the legend gives the mean ± std AUROC and the seeds."""
    from bench_core.metrics import roc_curve

    plt = _pyplot()
    groups: dict[str, list[RunRecord]] = {}
    for record in runs:
        groups.setdefault(config_label(record), []).append(record)
    grid = np.logspace(-3, 0, 300) if log_fpr else np.linspace(0, 1, 301)
    fig, ax = plt.subplots(figsize=(7, 5 + 0.22 * len(groups)))
    for colour, (label, members) in zip(_colours(len(groups)), groups.items()):
        curves, aurocs = [], []
        for record in members:
            videos = video_scores(record)
            score = np.concatenate([v.score for v in videos])
            truth = np.concatenate([v.label for v in videos])
            if truth.min() == truth.max():
                continue
            curve = roc_curve(truth, score)
            curves.append(np.interp(grid, curve.fpr, curve.tpr))
            aurocs.append(curve.auroc)
        if not curves:
            continue
        stack = np.array(curves)
        spread = f" ± {np.std(aurocs, ddof=1):.3f}" if len(aurocs) > 1 else ""
        ax.plot(grid, stack.mean(0), color=colour,
                label=f"{label}: AUROC {np.mean(aurocs):.3f}{spread} ({len(aurocs)} seed{'s' if len(aurocs) > 1 else ''})")
        if len(curves) > 1:
            ax.fill_between(grid, stack.min(0), stack.max(0), color=colour, alpha=0.2, linewidth=0)
    ax.plot(grid, grid, color="grey", linestyle=":", linewidth=1)
    ax.set(xlabel="false positive rate" + (" (log scale)" if log_fpr else ""), ylabel="true positive rate",
           title="Frame-level ROC (micro), mean over seeds, band: lowest to highest seed"
           + (", low false-alarm rates" if log_fpr else ""),
           xlim=(1e-3, 1) if log_fpr else (0, 1), ylim=(0, 1.01))
    ax.title.set_fontsize("small")
    if log_fpr:
        ax.set_xscale("log")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize="small", frameon=False)
    return _save(fig, out_png, dpi=OVERVIEW_DPI)


def plot_scores_overlaid(runs: list[RunRecord], out_dir: Path, prefix: str = "scores", data_name: str | None = None
                         ) -> list[Path]:
    """Per test video of runs on the same data: every configuration's score over frames on one plot (its lowest
    seed), labelled abnormal spans shaded and named by kind. One PNG per video, however many runs there are."""
    plt = _pyplot()
    first: dict[str, RunRecord] = {}
    for record in sorted(runs, key=lambda r: r.seed):
        first.setdefault(config_label(record), record)
    by_video: dict[str, list[tuple[str, VideoScores, RunRecord]]] = {}
    for label, record in first.items():
        for video in video_scores(record):
            by_video.setdefault(video.id, []).append((label, video, record))
    written = []
    colours = _colours(len(first))
    colour_of = dict(zip(first, colours))
    for video_id, entries in by_video.items():
        fig, ax = plt.subplots(figsize=(9, 2.8 + 0.1 * len(entries)))  # the legend below has two columns
        _, reference, reference_record = entries[0]
        for start, stop in abnormal_spans(reference.label):
            ax.axvspan(start - 0.5, stop - 0.5, color="tab:red", alpha=0.15, linewidth=0)
        for middle, kind in span_kinds(reference_record, video_id):
            ax.text(middle, 0.97, kind, transform=ax.get_xaxis_transform(), ha="center", va="top",
                    fontsize="x-small", color="tab:red")
        for label, video, _ in entries:
            ax.plot(np.arange(len(video.score)), video.score, linewidth=1, color=colour_of[label],
                    label=label.split(" on ", 1)[0])
        ax.set(xlabel="frame", ylabel="anomaly score", xlim=(0, max(len(reference.score) - 1, 1)),
               title=f"{video_id} of {data_name or data_label(reference_record)} (shaded: labelled abnormal)")
        ax.title.set_fontsize("small")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), fontsize="x-small", frameon=False, ncol=2)
        written.append(_save(fig, Path(out_dir) / f"{prefix}-{safe_name(video_id)}.png", dpi=OVERVIEW_DPI))
    return written


def span_kinds(record: RunRecord, video_id: str) -> list[tuple[float, str]]:
    """Where to name each labelled event of a test video on its score plot: (middle frame, kind), from the events
    the dataset recorded in the run record (``dataset.extras.events``); none where it recorded no kinds."""
    events = (record.dataset.events or {}).get(video_id) or []
    return [((event["start"] + event["stop"] - 1) / 2, str(event["kind"])) for event in events]


def plot_scores(record: RunRecord, out_dir: Path) -> list[Path]:
    """Per test video: the anomaly score over frames, labelled abnormal spans shaded. One PNG per video."""
    plt = _pyplot()
    written = []
    for video in video_scores(record):
        fig, ax = plt.subplots(figsize=(8, 2.6))
        for start, stop in abnormal_spans(video.label) if video.label is not None else ():
            ax.axvspan(start - 0.5, stop - 0.5, color="tab:red", alpha=0.2, linewidth=0)
        for middle, kind in span_kinds(record, video.id):
            ax.text(middle, 0.97, kind, transform=ax.get_xaxis_transform(), ha="center", va="top",
                    fontsize="x-small", color="tab:red")
        ax.plot(np.arange(len(video.score)), video.score, color="tab:blue", linewidth=1)
        ax.set(xlabel="frame", ylabel="anomaly score", xlim=(0, max(len(video.score) - 1, 1)),
               title=f"{video.id}: {run_label(record)} (shaded: labelled abnormal)")
        ax.title.set_fontsize("small")
        written.append(_save(fig, Path(out_dir) / f"scores-{safe_name(video.id)}.png"))
    return written


def latent_points(record: RunRecord, max_points: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """The test windows' latent means and the label of each window's last frame (window i ends on i+window-1)."""
    window = int(record.detector.input_spec.window if record.detector.input_spec else 1)
    points, labels = [], []
    for video in video_scores(record):
        if video.latent is None:
            raise UsageError(f"run {record.run_id} has no latent means ({LATENT_KEY}) in its scores files",
                             hint=f"detector '{record.detector.name}' does not provide them "
                                  "(Detector.last_outputs)")
        latent = video.latent.reshape(len(video.latent), -1)
        ends = np.arange(len(latent)) + window - 1
        points.append(latent)
        labels.append(video.label[np.minimum(ends, len(video.label) - 1)])
    x, y = np.concatenate(points), np.concatenate(labels)
    if len(x) > max_points:  # t-SNE is quadratic; a fixed subsample keeps the figure the same run to run
        keep = np.sort(np.random.default_rng(0).choice(len(x), max_points, replace=False))
        x, y = x[keep], y[keep]
    return x, y


def plot_latent(record: RunRecord, out_png: Path, seed: int = 0) -> Path:
    """2-D t-SNE of the test windows' latent means, coloured normal / abnormal."""
    from sklearn.manifold import TSNE

    x, y = latent_points(record)
    if len(x) < 5:
        raise UsageError(f"run {record.run_id} has {len(x)} test windows: too few for a t-SNE")
    from threadpoolctl import threadpool_limits

    # One thread: sklearn's Barnes-Hut gradient with OpenMP threads crawled (45 s for 100 points) on a busy
    # 2-core machine, against 0.3 s single-threaded; one thread also gives the same picture on every machine.
    with threadpool_limits(limits=1):
        embedded = TSNE(n_components=2, perplexity=min(30.0, (len(x) - 1) / 3), init="pca", random_state=seed,
                        n_jobs=1).fit_transform(x.astype(np.float64))
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 5))
    for value, name, colour in ((0, "normal", "tab:blue"), (1, "abnormal", "tab:red")):
        mask = y == value
        ax.scatter(embedded[mask, 0], embedded[mask, 1], s=6, alpha=0.6, color=colour,
                   label=f"{name} ({int(mask.sum())})")
    ax.set(title=f"t-SNE of latent means: {run_label(record)}", xticks=[], yticks=[])
    ax.title.set_fontsize("small")
    ax.legend(loc="best", fontsize="small")
    return _save(fig, out_png)


def _save(fig, path: Path, dpi: int = 110) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    import warnings

    with warnings.catch_warnings():  # a long legend below the axes cannot fit tight_layout; bbox_inches does it
        warnings.filterwarnings("ignore", message="Tight layout not applied")
        fig.tight_layout()
    fig.savefig(path, dpi=dpi, bbox_inches="tight")  # keeps a legend placed outside the axes
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path

