"""Localization metrics from per-pixel anomaly maps and ground-truth masks; docs/localization.md defines them.

* ``pixel-auroc``: AUROC over the labelled pixels of every test frame, pooled over videos; above ``MAX_PIXELS``
  pixels, over a uniform subsample drawn with a fixed seed (recorded in the metrics).
* ``region``: RBDC and TBDC, the region- and track-based detection criteria of Ramachandra, Jones and Vatsavai
  ("Street Scene: A new dataset and evaluation protocol for video anomaly detection", WACV 2020): areas under the
  detection-rate vs false-positives-per-frame curves for false positive rates from 0 to 1.

Both read the maps a chunk of frames at a time (``MapSource.chunks``), so memory does not grow with the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from bench_core.errors import RunFailed
from bench_core.localization import MAPS, MapSource
from bench_core.metrics import AUROC_GRADES, MetricSpec, auroc
from bench_core.scoring import Scorer

#: Frames read at a time.
CHUNK_FRAMES = 16
#: pixel-auroc uses at most this many pixels; more are subsampled uniformly without replacement.
MAX_PIXELS = 5_000_000
#: The seed of that subsample (numpy's default_rng), fixed so that a run's figure can be recomputed exactly.
PIXEL_SAMPLE_SEED = 0
#: A detected region detects a ground-truth region when their IoU is at least this (the paper's beta = 0.1).
REGION_IOU = 0.1
#: A ground-truth track is detected when at least this fraction of its regions are (the paper's alpha = 0.1).
TRACK_FRACTION = 0.1
#: Thresholds swept, as fractions of the maps' value range: 0.02, 0.04, ..., 1.0.
THRESHOLD_STEPS = 50
#: The curves are integrated over false positives per frame from 0 to this, and divided by it.
MAX_FALSE_POSITIVES_PER_FRAME = 1.0
#: 8-connectivity: pixels touching at a corner belong to one region (ground truth and detections alike).
CONNECTIVITY = np.ones((3, 3), dtype=bool)


def _not_available(specs: Sequence[MetricSpec]) -> dict:
    return {spec.name: None for spec in specs}


class PixelAUROC(Scorer):
    """AUROC of the per-pixel anomaly maps against the pixel masks, over every pixel of every test frame."""

    version = "1"
    needs = frozenset({MAPS})
    metrics = (
        MetricSpec("pixel_auroc", "Pixel AUROC", True, headline=True, show="localization", grades=AUROC_GRADES,
                   description="AUROC of the per-pixel anomaly maps against the pixel masks, test pixels pooled"),
        MetricSpec("pixel_auroc_pixels_used", "Pixels used", None, format=".0f", show="data",
                   description="pixels that entered the pixel AUROC (a seeded subsample above MAX_PIXELS)"),
        MetricSpec("pixel_auroc_pixels_total", "Test pixels", None, format=".0f", show="data",
                   description="labelled pixels of every test frame"),
    )

    def compute(self, scores, labels, maps: Sequence[MapSource] | None = None) -> dict:
        if maps is None:
            return _not_available(self.metrics)
        total = int(sum(np.prod(source.shape, dtype=np.int64) for source in maps))
        if total == 0:
            raise RunFailed("no test pixels to score", hint="check that the dataset's test split is not empty")
        chosen = None
        if total > MAX_PIXELS:
            # Sorted flat indices into all test pixels, videos in order; each chunk takes those that fall in it.
            chosen = np.sort(np.random.default_rng(PIXEL_SAMPLE_SEED).choice(total, MAX_PIXELS, replace=False))
        values, truth = [], []
        offset = 0
        for source in maps:
            for chunk_maps, chunk_masks in source.chunks(CHUNK_FRAMES):
                size = chunk_maps.size
                if chosen is None:
                    values.append(chunk_maps.ravel())
                    truth.append(chunk_masks.ravel())
                else:
                    lo, hi = np.searchsorted(chosen, (offset, offset + size))
                    local = chosen[lo:hi] - offset
                    values.append(chunk_maps.ravel()[local])
                    truth.append(chunk_masks.ravel()[local])
                offset += size
        values, truth = np.concatenate(values), np.concatenate(truth)
        return {"pixel_auroc": auroc(truth, values), "pixel_auroc_pixels_used": int(len(truth)),
                "pixel_auroc_pixels_total": total}


class RegionDetection(Scorer):
    """RBDC and TBDC: normalised areas under the region- and track-based detection rate curves against false
    positive regions per frame, from 0 to 1, over ``THRESHOLD_STEPS`` thresholds of the maps."""

    version = "1"
    needs = frozenset({MAPS})
    metrics = (
        MetricSpec("rbdc", "RBDC", True, headline=True, show="localization",
                   description="region-based detection criterion: normalised area under the region detection rate "
                               "against false positive regions per frame, from 0 to 1"),
        MetricSpec("tbdc", "TBDC", True, show="localization",
                   description="track-based detection criterion: the same for ground-truth tracks"),
        MetricSpec("n_gt_regions", "Ground-truth regions", None, format=".0f", show="data",
                   description="connected regions of the test masks"),
        MetricSpec("n_gt_tracks", "Ground-truth tracks", None, format=".0f", show="data",
                   description="ground-truth regions linked across consecutive frames"),
    )

    def compute(self, scores, labels, maps: Sequence[MapSource] | None = None) -> dict:
        if maps is None:
            return _not_available(self.metrics)
        counts = region_counts(maps, thresholds(maps))
        if counts.n_regions == 0:
            return {"rbdc": None, "tbdc": None, "n_gt_regions": 0, "n_gt_tracks": 0}
        fpr = counts.false_positives / counts.n_frames
        return {
            "rbdc": curve_area(fpr, counts.regions_detected / counts.n_regions),
            "tbdc": curve_area(fpr, counts.tracks_detected / counts.n_tracks),
            "n_gt_regions": counts.n_regions,
            "n_gt_tracks": counts.n_tracks,
        }


def thresholds(maps: Sequence[MapSource]) -> np.ndarray:
    """``THRESHOLD_STEPS`` thresholds evenly spaced over the maps' pooled value range, above its minimum: with maps
    normalised per video (the default protocol) they are 0.02, 0.04, ..., 1.0."""
    ranges = np.array([source.value_range for source in maps], dtype=np.float64)
    low, high = float(ranges[:, 0].min()), float(ranges[:, 1].max())
    return low + (high - low) * np.arange(1, THRESHOLD_STEPS + 1) / THRESHOLD_STEPS


@dataclass
class RegionCounts:
    """Per threshold (arrays): false positive regions, detected ground-truth regions and tracks; and the totals."""

    false_positives: np.ndarray
    regions_detected: np.ndarray
    tracks_detected: np.ndarray
    n_frames: int
    n_regions: int
    n_tracks: int


def region_counts(maps: Sequence[MapSource], levels: np.ndarray) -> RegionCounts:
    """A detected region is a connected component of ``map >= threshold``; a ground-truth region one of the mask.
    A ground-truth region is detected at a threshold when some detected region of its frame has IoU >= REGION_IOU
    with it; a detected region is a false positive when it has IoU >= REGION_IOU with no ground-truth region of its
    frame. A ground-truth track is a set of ground-truth regions linked by overlapping (sharing a pixel) in
    consecutive frames of one video; it is detected when at least TRACK_FRACTION of its regions are."""
    levels = np.asarray(levels, dtype=np.float64)
    false_positives = np.zeros(len(levels), dtype=np.int64)
    detected_columns: list[np.ndarray] = []  # (levels, regions of one frame) each
    parent: list[int] = []  # union-find over all ground-truth regions, by global index
    n_frames = 0

    def find(node: int) -> int:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for source in maps:
        previous_labels, previous_first = None, 0
        for chunk_maps, chunk_masks in source.chunks(CHUNK_FRAMES):
            for frame_map, mask in zip(chunk_maps, chunk_masks):
                n_frames += 1
                truth, n_truth = ndimage.label(mask, structure=CONNECTIVITY)
                first = len(parent)
                parent.extend(range(first, first + n_truth))
                if previous_labels is not None and n_truth:
                    _link_overlapping(previous_labels, previous_first, truth, first, parent, find)
                previous_labels, previous_first = truth, first
                detected = np.zeros((len(levels), n_truth), dtype=bool)
                _match_frame(frame_map, truth, n_truth, levels, false_positives, detected)
                detected_columns.append(detected)
    n_regions = len(parent)
    detected = (np.concatenate(detected_columns, axis=1) if detected_columns
                else np.zeros((len(levels), 0), dtype=bool))
    track = np.array([find(node) for node in range(n_regions)], dtype=np.int64)
    _, track_index = np.unique(track, return_inverse=True)
    n_tracks = int(track_index.max()) + 1 if n_regions else 0
    track_sizes = np.bincount(track_index, minlength=n_tracks)
    tracks_detected = np.zeros(len(levels), dtype=np.int64)
    for k in range(len(levels)):
        hits = np.bincount(track_index, weights=detected[k], minlength=n_tracks)
        tracks_detected[k] = int(np.count_nonzero(hits >= TRACK_FRACTION * track_sizes))
    return RegionCounts(false_positives, detected.sum(axis=1), tracks_detected, n_frames, n_regions, n_tracks)


def _link_overlapping(previous, previous_first, current, current_first, parent, find) -> None:
    both = (previous > 0) & (current > 0)
    if not both.any():
        return
    pairs = np.unique(np.stack([previous[both], current[both]], axis=1), axis=0)
    for a, b in pairs.tolist():
        root_a, root_b = find(previous_first + a - 1), find(current_first + b - 1)
        if root_a != root_b:
            parent[max(root_a, root_b)] = min(root_a, root_b)


def _match_frame(frame_map, truth, n_truth, levels, false_positives, detected) -> None:
    truth_area = np.bincount(truth.ravel(), minlength=n_truth + 1)[1:]
    for k, level in enumerate(levels):
        above = frame_map >= level
        rows, columns = np.flatnonzero(above.any(axis=1)), np.flatnonzero(above.any(axis=0))
        if len(rows) == 0:
            break  # the levels rise: no higher one finds a region either
        # Only the box around the pixels above the level can hold regions or their overlaps with the truth; at the
        # higher levels it is a small part of the frame.
        box = np.s_[rows[0]:rows[-1] + 1, columns[0]:columns[-1] + 1]
        regions, n_regions = ndimage.label(above[box], structure=CONNECTIVITY)
        if n_truth == 0:
            false_positives[k] += n_regions
            continue
        joint = np.bincount(regions.ravel() * (n_truth + 1) + truth[box].ravel(),
                            minlength=(n_regions + 1) * (n_truth + 1)).reshape(n_regions + 1, n_truth + 1)
        overlap = joint[1:, 1:]
        region_area = joint[1:].sum(axis=1)
        iou = overlap / (region_area[:, None] + truth_area[None, :] - overlap)
        match = iou >= REGION_IOU
        false_positives[k] += int(np.count_nonzero(~match.any(axis=1)))
        detected[k] = match.any(axis=0)


def curve_area(false_positive_rate: np.ndarray, detection_rate: np.ndarray,
               limit: float = MAX_FALSE_POSITIVES_PER_FRAME) -> float:
    """Trapezoid area under detection rate against false positives per frame, from 0 to ``limit``, divided by
    ``limit``. The curve starts at (0, 0) (a threshold above every map value), takes the thresholds' points in order
    of false positive rate (where two tie, the lower detection rate first), is cut at ``limit`` by linear interpolation,
    and where no threshold reaches ``limit`` keeps its last detection rate up to it."""
    x = np.concatenate([[0.0], np.asarray(false_positive_rate, dtype=np.float64)])
    y = np.concatenate([[0.0], np.asarray(detection_rate, dtype=np.float64)])
    order = np.lexsort((y, x))
    x, y = x[order], y[order]
    inside = x <= limit
    xs, ys = list(x[inside]), list(y[inside])
    if not inside.all():
        beyond = int(np.argmin(inside))  # the first point past the limit; the one before it is inside
        x0, y0, x1, y1 = x[beyond - 1], y[beyond - 1], x[beyond], y[beyond]
        xs.append(limit)
        ys.append(y0 + (y1 - y0) * (limit - x0) / (x1 - x0))
    elif xs[-1] < limit:
        xs.append(limit)
        ys.append(ys[-1])
    xs, ys = np.array(xs), np.array(ys)
    return float(np.sum(np.diff(xs) * (ys[1:] + ys[:-1]) / 2) / limit)
