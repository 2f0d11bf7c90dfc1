"""Detection delay: how long an anomaly goes on before the detector raises an alert.

AUROC says how well scores rank frames; an operator also asks how late the alarm comes. At the alert threshold
the run set on held-out normal footage (the one ``anobench score`` alerts at), a labelled event (a run of frames
labelled 1) is detected when one of its frames scores above the threshold; its delay is the time from its first
frame to its first alert frame, at the video's frame rate. An event never alerted has no delay: the frame scorer's
``event_detection_rate`` says how many are missed, so a low delay cannot hide misses.
"""

from __future__ import annotations

import numpy as np

from bench_core import MetricSpec, RunFailed, Scorer
from bench_core.calibration import labelled_spans


class DetectionDelay(Scorer):
    """Mean and median seconds from each labelled event's start to its first alert frame, over detected events."""

    version = "1"
    # The threshold and the raw scores come with the operating point (None for a run without a normal hold-out).
    needs = frozenset({"operating_point"})
    # The metadata every table reads: the column title, that lower is better, how to print it, where to show it.
    metrics = (
        MetricSpec("detection_delay_s", "Detection delay (s)", higher_is_better=False, format=".2f", headline=True,
                   description="mean seconds from a labelled event's first frame to its first alert frame, over "
                               "the events alerted at the normal-calibrated threshold"),
        MetricSpec("detection_delay_median_s", "Median detection delay (s)", higher_is_better=False, format=".2f",
                   show="wide", description="median of the same delays"),
        MetricSpec("detection_delay_events", "Events alerted", higher_is_better=None, format=".0f", show="data",
                   description="labelled events with an alert frame (the delays' count)"),
    )

    def compute(self, scores, labels, operating_point=None) -> dict[str, float | int | None]:
        if operating_point is None:  # no threshold without held-out normal footage: not available
            return {spec.name: None for spec in self.metrics}
        delays = []
        for index, (raw, label, fps) in enumerate(zip(operating_point.raw_scores, labels, operating_point.fps)):
            raw, label = np.asarray(raw, dtype=np.float64), np.asarray(label)
            if len(raw) != len(label):
                raise RunFailed(f"video index {index}: {len(raw)} raw scores but {len(label)} labels",
                                hint="the detector's scores and the dataset's frame labels must line up")
            alerts = raw > operating_point.threshold
            for start, stop in labelled_spans(label):
                alerted = np.flatnonzero(alerts[start:stop])
                if len(alerted):
                    delays.append(alerted[0] / fps)
        return {
            "detection_delay_s": float(np.mean(delays)) if delays else None,
            "detection_delay_median_s": float(np.median(delays)) if delays else None,
            "detection_delay_events": len(delays),
        }
