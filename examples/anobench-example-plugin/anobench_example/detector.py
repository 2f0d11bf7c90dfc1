"""frame-difference: how much the picture changes from one frame to the next, compared with normal footage.

A baseline, not a contender: it flags whatever moves more than people did in the training videos (runners,
thrown objects) and misses anomalies that move normally (a wrong-way walker). It needs only numpy, so it shows
the whole Detector interface without a model in the way.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bench_core import DataError, Detector, InputSpec, UsageError

if TYPE_CHECKING:
    from bench_core import Progress
    from bench_core.progress import Task
    from bench_core.views import PreparedVideo

# Frames differenced at a time, so a long memory-mapped video is never read into memory whole.
_CHUNK = 256
# A floor on the spread of normal differences: a perfectly still training scene would otherwise divide by zero.
_MIN_STD = 1e-6


@dataclass(frozen=True)
class FrameDifferenceConfig:
    #: Fraction of pixels, most changed first, averaged into a frame's score. 1.0 is the mean absolute
    #: difference over the whole frame; smaller values let a small moving object stand out from a still scene.
    top_fraction: float = 1.0

    def __post_init__(self):
        if not 0 < self.top_fraction <= 1:
            raise ValueError(f"top_fraction must be in (0, 1], not {self.top_fraction}")


class FrameDifference(Detector):
    """Score of a window of two frames: the mean absolute pixel difference between them, in standard deviations
    above the mean difference seen on the training (normal) videos."""

    Config = FrameDifferenceConfig
    # Nothing was published for this baseline and it is cheap everywhere, so both presets are the defaults.
    presets = {"paper": {}, "cpu": {}}
    version = "1"

    def __init__(self, config: FrameDifferenceConfig, device: str = "cpu", seed: int = 0):
        super().__init__(config, device, seed)
        self.normal_mean: float | None = None
        self.normal_std: float | None = None

    @property
    def input_spec(self) -> InputSpec:
        return InputSpec(view="frames", height=64, width=64, channels=1, window=2)

    def fit(self, train: list["PreparedVideo"], progress: "Progress") -> dict:
        total = sum(max(len(video) - 1, 0) for video in train)
        with progress.task("frame-difference: measuring normal motion", total=total) as task:
            differences = [self._differences(video.frames, task) for video in train]
        normal = np.concatenate(differences) if differences else np.zeros(0)
        if normal.size == 0:
            raise DataError(
                "frame-difference needs at least one training video of 2 frames or more, and got none",
                hint="check that the dataset's train split is not empty",
            )
        self.normal_mean = float(normal.mean())
        self.normal_std = max(float(normal.std()), _MIN_STD)
        return {
            "train_windows": int(normal.size),
            "normal_difference_mean": self.normal_mean,
            "normal_difference_std": self.normal_std,
        }

    def score(self, video: "PreparedVideo", progress: "Progress") -> np.ndarray:
        if self.normal_mean is None or self.normal_std is None:
            raise UsageError("frame-difference was asked to score before it was fitted",
                             hint="call fit() or load() first")
        with progress.task(f"frame-difference: scoring {video.id}", total=max(len(video) - 1, 0)) as task:
            differences = self._differences(video.frames, task)
        if differences.size == 0:
            # A one-frame video has no change to measure; the one score the harness expects for it is "as normal".
            return np.zeros(min(len(video), 1))
        return (differences - self.normal_mean) / self.normal_std

    def save(self, path: Path) -> None:
        if self.normal_mean is None:
            raise UsageError("frame-difference has nothing to save before it is fitted", hint="call fit() first")
        state = {
            "detector": "frame-difference",
            "version": self.version,
            "config": dataclasses.asdict(self.config),
            # json writes floats with repr, which reads back bit for bit, so loaded scores are identical.
            "normal_mean": self.normal_mean,
            "normal_std": self.normal_std,
        }
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(state, indent=2) + "\n")

    def load(self, path: Path) -> None:
        path = Path(path)
        try:
            state = json.loads(path.read_text())
        except FileNotFoundError:
            raise DataError(f"checkpoint {path} does not exist", hint="fit the detector again") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"checkpoint {path} is not JSON ({exc})", hint="fit the detector again") from None
        if not isinstance(state, dict) or state.get("detector") != "frame-difference":
            raise DataError(f"checkpoint {path} was not written by frame-difference",
                            hint="give the checkpoint of a frame-difference run")
        if state.get("version") != self.version:
            raise DataError(
                f"checkpoint {path} is from frame-difference version {state.get('version')}, not {self.version}",
                hint="fit the detector again",
            )
        # The normal statistics depend on the settings, so mixing them would give scores on the wrong scale.
        if state.get("config") != dataclasses.asdict(self.config):
            raise DataError(
                f"checkpoint {path} was fitted with settings {state.get('config')}, "
                f"not {dataclasses.asdict(self.config)}",
                hint="use the settings of the run that wrote it, or fit again",
            )
        self.normal_mean = float(state["normal_mean"])
        self.normal_std = float(state["normal_std"])

    def _differences(self, frames: np.ndarray, task: "Task") -> np.ndarray:
        """One value per pair of consecutive frames: value ``i`` compares frame ``i + 1`` with frame ``i``."""
        n_frames = len(frames)
        if n_frames < 2:
            return np.zeros(0)
        pixels = int(np.prod(frames.shape[1:]))
        kept = max(1, round(self.config.top_fraction * pixels))
        out = np.empty(n_frames - 1)
        for start in range(1, n_frames, _CHUNK):
            stop = min(start + _CHUNK, n_frames)
            # One frame of overlap, so the first frame of this slice is compared with the last of the previous.
            block = np.asarray(frames[start - 1:stop], dtype=np.int16)
            change = np.abs(block[1:] - block[:-1]).reshape(stop - start, pixels)
            if kept < pixels:
                change = np.partition(change, pixels - kept, axis=1)[:, pixels - kept:]
            out[start - 1:stop - 1] = change.mean(axis=1)
            task.advance(stop - start)
        return out
