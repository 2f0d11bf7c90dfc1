"""A run's metrics per test video and per kind of anomaly, computed by the scorers the run used (their
``per_video`` and ``per_kind``) from the run's saved scores, so a breakdown means what its scorer says it means.

Read by ``anobench leaderboard --by-kind`` and ``anobench report``; records written before a scorer declared a
breakdown get one too, since only the saved scores are read.
"""

from __future__ import annotations

import numpy as np

from bench_core.records import read_scores
from bench_core.scoring import Scorer


def _scorers(record: dict) -> list[Scorer]:
    """The installed scorers the run used that declare a breakdown, in the run's order."""
    from bench_core.errors import PluginError, UsageError
    from bench_core.plugins import get_catalogue

    catalogue, found = get_catalogue(), []
    for name in record.get("scorers") or []:
        try:
            scorer_cls = catalogue.get("scorer", name).load()
        except (PluginError, UsageError):  # uninstalled or broken: its breakdown is missing, not wrong
            continue
        if scorer_cls.breakdown:
            found.append(scorer_cls())
    return found


def _labelled_scores(record: dict) -> tuple[list[str], list[np.ndarray], list[np.ndarray]] | None:
    """Video ids, saved scores and labels of every test video; None when a video's scores or labels are missing."""
    ids, scores, labels = [], [], []
    for video_id, saved in read_scores(record).items():
        if saved is None or saved.label is None:
            return None
        ids.append(video_id)
        scores.append(saved.score)
        labels.append(saved.label)
    return ids, scores, labels


def per_video(record: dict) -> dict[str, dict[str, float | None]]:
    """Breakdown metric name → {video id: value} (None where the video has no value, or its scores are missing).
    A damaged scores file is a DamagedFile naming it."""
    result: dict[str, dict[str, float | None]] = {}
    scorers = _scorers(record)
    if not scorers:
        return result
    saved = read_scores(record)
    present = {v: s for v, s in saved.items() if s is not None and s.label is not None}
    ids = list(present)
    for scorer in scorers:
        values = scorer.per_video([present[v].score for v in ids], [present[v].label for v in ids])
        for spec in scorer.breakdown:
            column = {video: None for video in saved}
            column.update({video: value.get(spec.name) for video, value in zip(ids, values)})
            result.setdefault(spec.name, column)
    return result


def per_kind(record: dict, events: dict[str, list[dict]]) -> dict[str, dict[str, float]]:
    """Breakdown metric name → {kind of anomaly: value}, from each test video's labelled events and their kinds
    (``{video: [{"kind", "start", "stop"}]}``, stop exclusive); empty when a video's scores are missing."""
    scorers = _scorers(record)
    data = _labelled_scores(record) if scorers else None
    if not data or not data[0]:
        return {}
    ids, scores, labels = data
    kinds: dict[str, list[np.ndarray]] = {}
    for index, (video_id, label) in enumerate(zip(ids, labels)):
        for event in events.get(video_id, []):
            masks = kinds.setdefault(event["kind"], [np.zeros(len(lab), dtype=bool) for lab in labels])
            masks[index][max(event["start"], 0):event["stop"]] = True
    result: dict[str, dict[str, float]] = {}
    for scorer in scorers:
        for kind, values in scorer.per_kind(scores, labels, kinds).items():
            for name, value in values.items():
                if value is not None:
                    result.setdefault(name, {})[kind] = value
    return result
