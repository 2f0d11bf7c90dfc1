"""Turning a dataset's videos into a detector's input (grayscale, resize), cached on disk as uint8 arrays.

The cache is keyed by the dataset fingerprint, the video and the input size, so a second run reads memory-mapped
arrays instead of decoding again, and no run ever holds more than one chunk of decoded frames in memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench_core.dataset import Video
from bench_core.detector import InputSpec
from bench_core.errors import DataError

# Bump when preprocessing changes, so stale cache entries are never read.
PREP_VERSION = 2
CACHE_ENV = "ANOBENCH_CACHE_DIR"
#: The views the built-in detectors read: video frames, or seed 002's binary skeleton maps.
VIEWS = ("frames", "skeleton")
#: Side of the skeleton view's maps (seed 002's 28x28). Datasets draw them at this size and detectors read them
#: at it, since resizing a binary map would only blur it.
SKELETON_MAP_SIZE = 28


def check_view(view: str) -> None:
    """ValueError (a detector config's usage error) unless ``view`` is one of ``VIEWS``."""
    if view not in VIEWS:
        raise ValueError(f"view must be one of {', '.join(VIEWS)}, not {view!r}")


def view_side(view: str, input_size: int) -> int:
    """The side of a detector's square input: the maps' own size on the skeleton view, ``input_size`` otherwise."""
    return SKELETON_MAP_SIZE if view == "skeleton" else input_size


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "anobench")


@dataclass
class PreparedVideo:
    """A video at the detector's input size: ``frames`` is uint8 of shape (n, channels, height, width)."""

    id: str
    frames: np.ndarray
    fps: float
    labels: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.frames)


def check_frames(video: PreparedVideo, spec: InputSpec, detector: str) -> None:
    """Fail with both shapes when ``video`` was prepared for another input spec (possible in library use, where no
    harness prepared it), rather than deep inside a layer."""
    expected = (spec.channels, spec.height, spec.width)
    if video.frames.ndim != 4 or tuple(video.frames.shape[1:]) != expected:
        raise DataError(
            f"video '{video.id}' has frames of shape {tuple(video.frames.shape)}, {detector} expects "
            f"(n, {', '.join(map(str, expected))}) ({spec.view} view)",
            hint="prepare the video with this detector's input_spec",
        )


def window_frames(video: PreparedVideo, window: int) -> np.ndarray:
    """The video's frames, with its first frame repeated in front when the video is shorter than one window, so
    that it still gives exactly one window (the per-window score rule of docs/plugins.md)."""
    if len(video) == 0:
        raise DataError(f"video '{video.id}' has no frames", hint="check the dataset's files for this video")
    frames = video.frames
    if len(video) < window:
        frames = np.concatenate([np.repeat(frames[:1], window - len(video), axis=0), frames[:]])
    return frames


def window_batches(video: PreparedVideo, window: int, batch: int):
    """The video's windows, ``batch`` at a time, for scoring: yields ``(first, stacks)`` with ``stacks`` uint8 of
    shape (n, window, channels, height, width), the windows that start on frames ``first .. first + n - 1`` of
    ``window_frames`` (so a video shorter than the window gives one). One read covers a batch's overlapping
    windows, which are views of it."""
    frames = window_frames(video, window)
    n_windows = len(frames) - window + 1
    for first in range(0, n_windows, batch):
        chunk = np.asarray(frames[first:min(first + batch, n_windows) + window - 1])
        yield first, np.lib.stride_tricks.sliding_window_view(chunk, window, axis=0).transpose(0, 4, 1, 2, 3)


def _to_input(chunk: np.ndarray, spec: InputSpec):
    import torch
    import torch.nn.functional as F

    # (n, H, W, C) uint8 viewed as (n, C, H, W) is channels-last in memory: torch's fast uint8 antialiased resize.
    # Resizing before the grayscale mix is the same linear map in the other order, 50x fewer pixels to mix (within
    # one grey level of mixing first).
    x = torch.from_numpy(np.ascontiguousarray(chunk)).permute(0, 3, 1, 2)
    if x.shape[-2:] != (spec.height, spec.width):
        if x.shape[1] != 3:
            x = x.float()
        x = F.interpolate(x, size=(spec.height, spec.width), mode="bilinear", align_corners=False, antialias=True)
    x = x.float()
    if spec.channels == 1 and x.shape[1] == 3:
        weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        x = (x * weights).sum(1, keepdim=True)
    elif spec.channels == 3 and x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return x.round_().clamp_(0, 255).to(torch.uint8).numpy()


def prepare(video: Video, spec: InputSpec, dataset_key: str, chunk: int = 128) -> PreparedVideo:
    key = hashlib.sha256(
        json.dumps([PREP_VERSION, dataset_key, video.id, spec.view, spec.height, spec.width, spec.channels])
        .encode()
    ).hexdigest()[:24]
    path = cache_dir() / "prepared" / f"{key}.npy"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Process and thread in the name: sweep workers may be threads of one process preparing the same video.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        out = np.lib.format.open_memmap(
            tmp, mode="w+", dtype=np.uint8, shape=(len(video), spec.channels, spec.height, spec.width)
        )
        for start, frames in video.iter_chunks(chunk):
            out[start:start + len(frames)] = _to_input(frames, spec)
        out.flush()
        del out
        os.replace(tmp, path)
    frames = np.load(path, mmap_mode="r")
    return PreparedVideo(video.id, frames, video.info.fps, video.labels)


def dataset_key(fingerprint: dict) -> str:
    return hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()
