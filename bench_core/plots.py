"""Figures from run records: ROC curves, anomaly score over frames with abnormal spans shaded, latent t-SNE.

matplotlib (Agg backend) and scikit-learn are imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from bench_core.errors import DataError, UsageError
from bench_core.records import LATENT_KEY, RECORD_FILE, VideoScores, iter_records, load_record, read_scores


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window; must precede the pyplot import
    import matplotlib.pyplot as plt

    return plt


def load_records(paths: Iterable[Path]) -> list[dict]:
    """Every run record in the given run folders or results folders, in a stable order."""
    found = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise UsageError(f"{path}: no such run or results folder", hint="give a folder written by anobench run")
        runs = list(iter_records(path))
        if not runs:
            raise UsageError(f"{path}: holds no complete run records ({RECORD_FILE})",
                             hint="give a run folder or the --out folder of 'anobench run' or 'anobench sweep'")
        found.extend(runs)
    return sorted(found, key=lambda r: (r["dataset"]["name"], r["detector"]["name"], run_label(r)))


def load_run(path: Path) -> dict:
    path = Path(path)
    if not (path / RECORD_FILE).is_file():
        raise UsageError(f"{path}: not a run folder (it has no {RECORD_FILE})",
                         hint="give one run's folder: OUT/<dataset>/<detector>/<run id>")
    return load_record(path)


def video_scores(record: dict) -> list[VideoScores]:
    """Every test video's saved scores; a missing scores file is a one-line error."""
    videos = []
    found = read_scores(record)
    for video in record.get("per_video", []):
        scores = found[video["id"]]
        if scores is None:
            raise DataError(f"{Path(record['_path']) / video['file']}: the scores of test video '{video['id']}' are "
                            "missing", hint="run it again with --overwrite")
        videos.append(scores)
    return videos


def run_label(record: dict) -> str:
    """``ae [cpu, view=frames] on synthetic-industrial (seed=3), seed 0``: the detector with its preset and --set
    items in brackets, the dataset with the options it was given in parentheses, so that runs differing in any of
    them never share a label."""
    detector = [record.get("preset") or record["detector"].get("preset") or "?",
                *record["detector"].get("settings", [])]
    options = {k: v for k, v in (record["dataset"].get("options") or {}).items()
               if k != "data_root" and v not in ("", None)}
    shown = ", ".join(f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in options.items())
    return (f"{record['detector']['name']} [{', '.join(detector)}] on {record['dataset']['name']}"
            + (f" ({shown})" if shown else "") + f", seed {record['seed']}")


def abnormal_spans(label: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) frame ranges where label is 1."""
    padded = np.concatenate([[0], (np.asarray(label) > 0).astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def plot_roc(runs: list[dict], out_png: Path, log_fpr: bool = False) -> Path:
    """One ROC curve per run (all test frames pooled, as the micro AUROC is), AUROC in the legend. ``log_fpr``
    draws the false positive rate on a log axis from 0.1%: the low-false-alarm end that operators live in."""
    from sklearn.metrics import roc_auc_score, roc_curve

    plt = _pyplot()
    # Beyond a few runs an in-plot legend hides the curves; then it goes below the axes.
    crowded = len(runs) > 4
    fig, ax = plt.subplots(figsize=(6, 5 + (0.22 * len(runs) if crowded else 0)))
    for record in runs:
        videos = video_scores(record)
        score = np.concatenate([v.score for v in videos])
        label = np.concatenate([v.label for v in videos])
        if label.min() == label.max():
            continue  # one class only: no curve to draw
        fpr, tpr, _ = roc_curve(label, score)
        ax.plot(fpr, tpr, label=f"{run_label(record)}: AUROC {roc_auc_score(label, score):.3f}")
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


def span_kinds(record: dict, video_id: str) -> list[tuple[float, str]]:
    """Where to name each labelled event of a test video on its score plot: (middle frame, kind), from the events
    the dataset recorded in the run record (``dataset.extras.events``); none where it recorded no kinds."""
    events = ((record["dataset"].get("extras") or {}).get("events") or {}).get(video_id) or []
    return [((event["start"] + event["stop"] - 1) / 2, str(event["kind"])) for event in events]


def plot_scores(record: dict, out_dir: Path) -> list[Path]:
    """Per test video: the anomaly score over frames, labelled abnormal spans shaded. One PNG per video."""
    plt = _pyplot()
    written = []
    for video in video_scores(record):
        fig, ax = plt.subplots(figsize=(8, 2.6))
        for start, stop in abnormal_spans(video.label):
            ax.axvspan(start - 0.5, stop - 0.5, color="tab:red", alpha=0.2, linewidth=0)
        for middle, kind in span_kinds(record, video.id):
            ax.text(middle, 0.97, kind, transform=ax.get_xaxis_transform(), ha="center", va="top",
                    fontsize="x-small", color="tab:red")
        ax.plot(np.arange(len(video.score)), video.score, color="tab:blue", linewidth=1)
        ax.set(xlabel="frame", ylabel="anomaly score", xlim=(0, max(len(video.score) - 1, 1)),
               title=f"{video.id}: {run_label(record)} (shaded: labelled abnormal)")
        ax.title.set_fontsize("small")
        written.append(_save(fig, Path(out_dir) / f"scores-{_safe(video.id)}.png"))
    return written


def latent_points(record: dict, max_points: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """The test windows' latent means and the label of each window's last frame (window i ends on i+window-1)."""
    window = int(record["detector"].get("input_spec", {}).get("window", 1))
    points, labels = [], []
    for video in video_scores(record):
        if video.latent is None:
            raise UsageError(f"run {record['run_id']} has no latent means ({LATENT_KEY}) in its scores files",
                             hint=f"detector '{record['detector']['name']}' does not provide them "
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


def plot_latent(record: dict, out_png: Path, seed: int = 0) -> Path:
    """2-D t-SNE of the test windows' latent means, coloured normal / abnormal."""
    from sklearn.manifold import TSNE

    x, y = latent_points(record)
    if len(x) < 5:
        raise UsageError(f"run {record['run_id']} has {len(x)} test windows: too few for a t-SNE")
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


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")  # keeps a legend placed outside the axes
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
