"""A toy plugin (numpy only) that tests register as an inline plugin object, as third-party authors would."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench_core import Dataset, DatasetOptions, Detector, InputSpec, Video, VideoInfo, hookimpl


class ArrayVideo(Video):
    def __init__(self, video_id, frames, labels=None, fps=25.0):
        n, h, w, c = frames.shape
        self.info = VideoInfo(video_id, fps, h, w, n, c)
        self._frames = frames
        self.labels = labels

    def read(self, start, stop):
        return self._frames[start:stop]


@dataclass
class ToyOptions(DatasetOptions):
    seed: int = 0
    n_frames: int = 40


class ToyDataset(Dataset):
    """Dark noisy frames; in test videos a bright square appears for a span of frames (the anomaly)."""

    Options = ToyOptions

    def _video(self, index: int, split: str) -> ArrayVideo:
        rng = np.random.default_rng([self.options.seed, index, split == "test"])
        frames = rng.integers(0, 40, size=(self.options.n_frames, 16, 16, 3), dtype=np.uint8)
        if split == "train":
            return ArrayVideo(f"{split}{index}", frames)
        labels = np.zeros(self.options.n_frames, np.int8)
        start = 10 + index * 5
        labels[start:start + 8] = 1
        frames[start:start + 8, 4:10, 4:10] = 250
        return ArrayVideo(f"{split}{index}", frames, labels)

    def videos(self, split, view="frames"):
        return [self._video(i, split) for i in range(2 if split == "train" else 3)]

    def fingerprint(self):
        return {"generator": "toy", "seed": self.options.seed, "n_frames": self.options.n_frames,
                "label_convention": self.label_convention}


@dataclass
class ToyConfig:
    #: Frames per window.
    window: int = 2
    #: Multiplies scores; lets tests produce NaN (scale=nan) to exercise the failure path.
    scale: float = 1.0


class ToyDetector(Detector):
    """Score = mean brightness of the window's last frame minus the training mean."""

    Config = ToyConfig
    presets = {"paper": {}, "cpu": {"window": 3}}

    @property
    def input_spec(self):
        return InputSpec(view="frames", height=8, width=8, channels=1, window=self.config.window)

    def fit(self, train, progress):
        with progress.task("train", total=len(train)) as task:
            self.mean = float(np.mean([v.frames.mean() for v in train]))
            task.advance(len(train))
        return {"train_mean": self.mean}

    def score(self, video, progress):
        per_frame = video.frames.reshape(len(video), -1).mean(1) - self.mean
        return per_frame[self.config.window - 1:] * self.config.scale

    def save(self, path):
        Path(path).write_text(json.dumps({"mean": self.mean}))

    def load(self, path):
        self.mean = json.loads(Path(path).read_text())["mean"]


class ToyPlugin:
    __name__ = "toy"

    @hookimpl
    def register_detectors(self, register):
        register("toy-detector", ToyDetector, summary="brightness of the last frame",
                 published={"toy-dataset": {"frame_auroc": 0.5, "source": "nobody, 2026"}})

    @hookimpl
    def register_datasets(self, register):
        register("toy-dataset", ToyDataset, summary="noise with a bright square")
