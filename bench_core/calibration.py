"""A threshold from normal data, kept with the run: the hold-out split of the training footage, the normal score
distribution measured on it (``normal_scores.json``), thresholds at a false-alarm rate, the ``train-stats``
normalisation, and alert events.

A run holds back the last ``holdout`` fraction of every training video, trains on the rest, and scores the held-out
frames after training. Their per-window raw scores are normal footage the detector never saw: their quantiles give
the threshold for any false-alarm rate. No test label and no test score enters here.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np

from bench_core.errors import DataError, RunFailed

if TYPE_CHECKING:
    from bench_core.detector import Detector
    from bench_core.progress import Progress
    from bench_core.views import PreparedVideo

NORMAL_SCORES_FILE = "normal_scores.json"
#: The share of each training video held back by default (``--calibration-holdout``); 0 holds nothing back and
#: reproduces runs made before the hold-out existed (their ids leave it out).
DEFAULT_HOLDOUT = 0.1
#: The largest hold-out: at least half of every training video stays for training.
MAX_HOLDOUT = 0.5
DEFAULT_FALSE_ALARM_RATE = 0.01
#: Every 0.1% from 0 to 1, plus the far tail, so that any false-alarm rate down to 0.01% has its quantile.
QUANTILE_LEVELS = tuple(sorted({round(i / 1000, 3) for i in range(1001)} | {0.9995, 0.9999}))
#: train-stats maps the normal median to 0 and this quantile of the normal scores to 1.
SCALE_LEVEL = 0.99
_FORMAT = 1


def check_holdout(value: float) -> float:
    """``value`` as a float, or ValueError (the caller's usage error) unless 0 <= value <= MAX_HOLDOUT."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0 <= value <= MAX_HOLDOUT:
        raise ValueError(f"--calibration-holdout must be a fraction from 0 to {MAX_HOLDOUT}, not {value!r}")
    return float(value)


def split_holdout(train: list["PreparedVideo"], fraction: float, window: int
                  ) -> tuple[list["PreparedVideo"], list["PreparedVideo"], dict]:
    """(what to train on, the held-out parts, the split as the record keeps it).

    Each training video keeps its first frames for training and gives its last ``ceil(fraction * n)`` frames (at
    least one window, so each held-out part gets a score) to the hold-out, as long as a full window stays for
    training; a video too short for both keeps all its frames for training (the record lists it)."""
    from bench_core.views import PreparedVideo

    if fraction <= 0:
        return list(train), [], {"holdout": 0.0}
    kept, held, split = [], [], []
    for video in train:
        n = len(video)
        n_held = max(math.ceil(fraction * n), window)
        if n - n_held < window:
            kept.append(video)
            split.append({"id": video.id, "train": [0, n], "held_out": None})
            continue
        cut = n - n_held
        kept.append(PreparedVideo(video.id, video.frames[:cut], video.fps, video.labels))
        held.append(PreparedVideo(video.id, video.frames[cut:], video.fps, None))
        split.append({"id": video.id, "train": [0, cut], "held_out": [cut, n]})
    if not held:
        raise DataError(f"no training video is long enough to hold out {fraction:g} of it and keep a window of "
                        f"{window} frames for training", hint="use --calibration-holdout 0, or longer videos")
    return kept, held, {
        "holdout": fraction,
        "rule": f"the last {fraction:.0%} of each training video (at least one window of {window} frames) is held "
                "out of training and scored after it; its per-window raw scores are the normal score distribution",
        "videos": split,
        "n_held_out_frames": int(sum(len(v) for v in held)),
    }


@dataclass(frozen=True)
class NormalScores:
    """The distribution of raw per-window scores on held-out normal footage."""

    n: int
    mean: float
    std: float
    min: float
    max: float
    levels: tuple[float, ...]
    quantiles: tuple[float, ...]

    @classmethod
    def of(cls, scores: np.ndarray) -> "NormalScores":
        scores = np.asarray(scores, dtype=np.float64)
        if len(scores) == 0 or not np.all(np.isfinite(scores)):
            raise RunFailed("the held-out normal footage gave no finite scores", hint="check the detector's training")
        values = np.quantile(scores, QUANTILE_LEVELS)
        return cls(len(scores), float(scores.mean()), float(scores.std()), float(scores.min()), float(scores.max()),
                   QUANTILE_LEVELS, tuple(float(v) for v in values))

    def quantile(self, level: float) -> float:
        """The ``level`` quantile of the normal scores (linear between the stored levels)."""
        return float(np.interp(level, self.levels, self.quantiles))

    @property
    def median(self) -> float:
        return self.quantile(0.5)

    @property
    def scale(self) -> float:
        """``SCALE_LEVEL`` quantile minus the median; the std, or 1, when normal scores are that concentrated."""
        spread = self.quantile(SCALE_LEVEL) - self.median
        return spread if spread > 0 else (self.std if self.std > 0 else 1.0)

    def normalise(self, raw: np.ndarray) -> np.ndarray:
        """train-stats: 0 at the normal median, 1 at the normal 99th percentile."""
        return (np.asarray(raw, dtype=np.float64) - self.median) / self.scale

    def raw_threshold(self, false_alarm_rate: float) -> float:
        """The raw score above which a fraction ``false_alarm_rate`` of normal windows lie."""
        return self.quantile(1.0 - false_alarm_rate)

    def as_json(self) -> dict:
        return {"format": _FORMAT, "n": self.n, "mean": self.mean, "std": self.std, "min": self.min,
                "max": self.max, "median": self.median, "scale": self.scale,
                "normalization": f"train-stats: (raw - median) / (q{SCALE_LEVEL * 100:g} - median)",
                "quantiles": {"levels": list(self.levels), "values": list(self.quantiles)}}

    @classmethod
    def read(cls, path: Path) -> "NormalScores":
        """The stats in ``path``; a missing or damaged file is a DataError naming it (never a silent default)."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            quantiles = data["quantiles"]
            stats = cls(int(data["n"]), float(data["mean"]), float(data["std"]), float(data["min"]),
                        float(data["max"]), tuple(float(v) for v in quantiles["levels"]),
                        tuple(float(v) for v in quantiles["values"]))
            ok = (data.get("format") == _FORMAT and len(stats.levels) == len(stats.quantiles) >= 2
                  and all(math.isfinite(v) for v in stats.quantiles)
                  and np.all(np.diff(stats.levels) > 0) and np.all(np.diff(stats.quantiles) >= 0))
        except FileNotFoundError:
            raise
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{path} cannot be read: {type(exc).__name__}: {exc}",
                            hint="the file is damaged; re-create the run with 'anobench run ... --overwrite'") from None
        if not ok:
            raise DataError(f"{path} is not a normal-score file of this anobench version (or it is damaged)",
                            hint="re-create the run with 'anobench run ... --overwrite'")
        return stats


def score_normal(detector: "Detector", held_out: list["PreparedVideo"], name: str,
                 progress: "Progress") -> NormalScores:
    """Score the held-out parts with the trained detector; their window scores, pooled, are the normal ones."""
    from bench_core.progress import SharedTask

    scores = []
    with progress.task("hold-out", total=sum(max(len(v) - detector.input_spec.window + 1, 1)
                                             for v in held_out)) as task:
        for video in held_out:
            window_scores = np.asarray(detector.score(video, SharedTask(task)), dtype=np.float64)
            if not np.all(np.isfinite(window_scores)):
                raise RunFailed(f"detector '{name}' gave non-finite scores on the held-out part of '{video.id}'",
                                hint="the model may have diverged; try a lower learning rate with --set")
            scores.append(window_scores)
    return NormalScores.of(np.concatenate(scores))


# -- alerts and events ----------------------------------------------------------------------------------------------

@dataclass
class Event:
    """A run of alert frames: ``start`` to ``stop`` (exclusive), and the highest score in it."""

    start: int
    stop: int
    peak_score: float


class EventTracker:
    """Turns per-frame alerts into events as frames arrive: alert runs closer than ``merge_gap`` non-alert frames
    are one event, and an event counts once it spans ``min_frames`` frames. ``push`` returns what happened at that
    frame: ``("start", event)`` when an event is confirmed, ``("end", event)`` when it is over."""

    def __init__(self, min_frames: int = 1, merge_gap: int = 0):
        if min_frames < 1 or merge_gap < 0:
            raise ValueError(f"min_frames must be >= 1 and merge_gap >= 0, not {min_frames} and {merge_gap}")
        self.min_frames, self.merge_gap = min_frames, merge_gap
        self._open: Event | None = None  # stop is one past its last alert frame
        self._started = False

    def push(self, frame: int, alert: bool, score: float) -> list[tuple[str, Event]]:
        happened: list[tuple[str, Event]] = []
        if alert:
            if self._open is None:
                self._open, self._started = Event(frame, frame + 1, score), False
            else:
                self._open.stop, self._open.peak_score = frame + 1, max(self._open.peak_score, score)
            if not self._started and self._open.stop - self._open.start >= self.min_frames:
                self._started = True
                happened.append(("start", self._open))
        elif self._open is not None and frame - self._open.stop >= self.merge_gap:
            happened += self.finish()
        return happened

    def finish(self) -> list[tuple[str, Event]]:
        """Close the open event (at the end of a stream)."""
        event, started = self._open, self._started
        self._open, self._started = None, False
        return [("end", event)] if event is not None and started else []


def events_of(alerts: np.ndarray, scores: np.ndarray, min_frames: int = 1, merge_gap: int = 0) -> list[Event]:
    """The events of one whole video's alerts (the same rule as a stream's)."""
    tracker = EventTracker(min_frames, merge_gap)
    ended = []
    for frame, (alert, score) in enumerate(zip(np.asarray(alerts, dtype=bool).tolist(), np.asarray(scores).tolist())):
        ended += [e for what, e in tracker.push(frame, alert, score) if what == "end"]
    return ended + [e for what, e in tracker.finish() if what == "end"]


def labelled_spans(labels: np.ndarray) -> Iterator[tuple[int, int]]:
    """(start, stop) of each contiguous run of frames labelled 1."""
    padded = np.concatenate([[0], np.asarray(labels, dtype=np.int8) != 0, [0]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return zip(edges[0::2].tolist(), edges[1::2].tolist())
