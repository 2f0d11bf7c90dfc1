"""``synthetic-avenue``: a generated walkway, so that anobench runs anywhere with no data to download.

A fixed camera looks at a paved walkway in front of a building. In every video, pedestrians walk left to right at
walking speed, entering and leaving the frame. Training videos hold only that. Test videos also hold anomalous
events: a runner (3-4x walking speed, longer stride), someone walking the wrong way, an object thrown in an arc,
and someone loitering; a test frame is labelled abnormal while an anomaly is in view.

Each video is drawn once, on first read, into an uint8 ``.npy`` file under the anobench cache; reads are slices of
a memory map of it. The same options give byte-identical videos and labels.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from bench_core.dataset import Dataset, DatasetOptions, Video, VideoInfo
from bench_core.errors import DataError, UsageError, did_you_mean
from bench_core.views import cache_dir

from anobench_generators.walkway.render import (ANOMALY_KINDS, AnomalyEvent, GeneratorParams, Scene, VideoPlan,
                                                build_scene, plan_video, render_video)

#: Bump whenever a change to the generator changes any pixel or label, so that stale caches are never read.
GENERATOR_VERSION = "1"
GENERATOR_NAME = "synthetic-avenue"
FPS = 25.0
SPLITS = ("train", "test")


@dataclass
class SyntheticAvenueOptions(DatasetOptions):
    """Options of ``synthetic-avenue`` (``--data-option key=value``). The defaults give 8 x 240 training frames
    and 6 x 240 test frames at 160x120, ~27% of them abnormal, rendered in about two seconds."""

    #: Dataset seed: the same seed (and options) gives byte-identical videos and labels.
    seed: int = 0
    #: Number of training videos (normal footage only).
    n_train: int = 8
    #: Number of test videos (normal footage and anomalous events, labelled per frame).
    n_test: int = 6
    #: Frames per video, at 25 fps.
    frames_per_video: int = 240
    #: Frame height in pixels; the scene and the people scale with it.
    height: int = 120
    #: Frame width in pixels; a wider frame shows more of the walkway.
    width: int = 160
    #: Mean number of walkers in view at any moment.
    crowd: float = 4.0
    #: Standard deviation of the per-pixel sensor noise, in grey levels (0 turns it off).
    noise: float = 2.0
    #: The kinds of anomalous event in the test videos: any of runner, wrong-way, throw, loiter.
    anomalies: tuple[str, ...] = ANOMALY_KINDS

    def __post_init__(self):
        # ValueError is what the config builder turns into a usage error naming --data-option.
        for name, least in (("n_train", 1), ("n_test", 1), ("frames_per_video", 64), ("height", 48), ("width", 64)):
            value = getattr(self, name)
            if not isinstance(value, int) or value < least:
                raise ValueError(f"{name} must be an integer >= {least}, not {value!r}")
        if self.crowd < 0 or self.noise < 0:
            raise ValueError(f"crowd and noise must be >= 0, not crowd={self.crowd!r} noise={self.noise!r}")
        if isinstance(self.anomalies, str):
            self.anomalies = tuple(kind.strip() for kind in self.anomalies.split(",") if kind.strip())
        self.anomalies = tuple(self.anomalies)
        unknown = [kind for kind in self.anomalies if kind not in ANOMALY_KINDS]
        if unknown or not self.anomalies:
            raise ValueError(f"anomalies must be a non-empty list of {', '.join(ANOMALY_KINDS)}, "
                             f"not {', '.join(self.anomalies) or 'nothing'}")
        if set(self.anomalies) == {"throw"} and self.crowd == 0:
            raise ValueError("anomalies=throw needs walkers to throw things: set crowd > 0")


class SyntheticAvenueVideo(Video):
    """One generated video, drawn into the cache on its first read."""

    def __init__(self, info: VideoInfo, labels: np.ndarray | None, events: tuple[AnomalyEvent, ...], path: Path,
                 plan: VideoPlan, dataset: "SyntheticAvenue"):
        self.info = info
        self.labels = labels
        #: The anomalous events and their labelled frame spans (empty on the train split).
        self.events = events
        #: Where the frames are cached, as an uint8 array (n_frames, height, width, 3).
        self.path = path
        self._plan = plan
        self._dataset = dataset
        self._frames: np.ndarray | None = None
        self._masks: np.ndarray | None = None

    def read(self, start: int, stop: int) -> np.ndarray:
        if not 0 <= start <= stop <= self.info.n_frames:
            raise ValueError(f"frames {start}:{stop} are out of range for video {self.id} "
                             f"of {self.info.n_frames} frames")
        return np.array(self._memory_map()[start:stop])

    @property
    def has_pixel_masks(self) -> bool:
        return self.labels is not None

    def pixel_masks(self, start: int, stop: int) -> np.ndarray:
        """The pixels the labelled anomalous events draw, exactly as ``anobench data generate`` writes them into
        ``N_label.mat``; drawn for the whole video on first use (about 1 s and 5 MB at the default size)."""
        if not self.has_pixel_masks:
            return super().pixel_masks(start, stop)
        if not 0 <= start <= stop <= self.info.n_frames:
            raise ValueError(f"frames {start}:{stop} are out of range for video {self.id} "
                             f"of {self.info.n_frames} frames")
        if self._masks is None:
            from anobench_generators.walkway.export import anomaly_masks

            self._masks = anomaly_masks(self._plan, self._dataset.scene)
        return self._masks[start:stop].astype(np.uint8)

    def _memory_map(self) -> np.ndarray:
        if self._frames is None:
            if not self.path.exists():
                self._render()
            frames = np.load(self.path, mmap_mode="r", allow_pickle=False)
            expected = (self.info.n_frames, self.info.height, self.info.width, 3)
            if frames.shape != expected or frames.dtype != np.uint8:
                raise DataError(f"cached video {self.path} holds {frames.dtype}{list(frames.shape)}, "
                                f"not uint8{list(expected)}", hint="delete the file; it is redrawn on the next run")
            self._frames = frames
        return self._frames

    def _render(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Written under a temporary name and renamed, so that a concurrent or interrupted run never sees half.
        tmp = self.path.with_name(f".{self.path.stem}.{os.getpid()}.tmp.npy")
        try:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8,
                                            shape=(self.info.n_frames, self.info.height, self.info.width, 3))
            render_video(self._plan, self._dataset.scene, self._dataset.generator_params, out=out)
            out.flush()
            del out
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)


class SyntheticAvenue(Dataset):
    """A generated Avenue-like walkway: walkers in training; runners, wrong-way walkers, throws and loiterers
    among the walkers in test."""

    Options = SyntheticAvenueOptions
    views = ("frames",)
    label_conventions = ("frame",)
    version = GENERATOR_VERSION

    def __init__(self, name: str, options: SyntheticAvenueOptions):
        super().__init__(name, options)
        if self.label_convention not in self.label_conventions:
            raise UsageError(f"dataset '{name}' has no label convention '{self.label_convention}'",
                             hint=did_you_mean(self.label_convention, self.label_conventions))
        self._videos: dict[str, list[SyntheticAvenueVideo]] = {}

    @cached_property
    def generator_params(self) -> GeneratorParams:
        o = self.options
        return GeneratorParams(seed=o.seed, frames=o.frames_per_video, height=o.height, width=o.width,
                               crowd=float(o.crowd), noise=float(o.noise), anomalies=tuple(o.anomalies))

    @cached_property
    def scene(self) -> Scene:
        return build_scene(self.generator_params)

    @property
    def cache_path(self) -> Path:
        """The folder of this generator's cached videos. The numbers of videos are left out of its key: video i
        does not depend on them, so asking for more test videos reuses those already drawn."""
        params = dataclasses.asdict(self.generator_params)
        key = json.dumps([GENERATOR_NAME, GENERATOR_VERSION, params], sort_keys=True)
        return cache_dir() / GENERATOR_NAME / hashlib.sha256(key.encode()).hexdigest()[:16]

    def videos(self, split: str, view: str = "frames") -> list[Video]:
        self.require_split_and_view(split, view)
        if split not in self._videos:
            count = self.options.n_train if split == "train" else self.options.n_test
            self._videos[split] = [self._video(split, index) for index in range(count)]
        return list(self._videos[split])

    def _video(self, split: str, index: int) -> SyntheticAvenueVideo:
        plan = plan_video(self.generator_params, self.scene, split, index)
        video_id = f"{split}_{index:02d}"
        info = VideoInfo(id=video_id, fps=FPS, height=self.options.height, width=self.options.width,
                         n_frames=self.options.frames_per_video)
        labels = plan.labels() if split == "test" else None
        return SyntheticAvenueVideo(info, labels, tuple(plan.events), self.cache_path / f"{video_id}.npy", plan,
                                    self)

    def fingerprint(self) -> dict:
        o = self.options
        return {
            "generator": GENERATOR_NAME,
            "generator_version": GENERATOR_VERSION,
            "seed": o.seed,
            "n_train": o.n_train,
            "n_test": o.n_test,
            "frames_per_video": o.frames_per_video,
            "height": o.height,
            "width": o.width,
            "crowd": float(o.crowd),
            "noise": float(o.noise),
            "anomalies": list(o.anomalies),
            "fps": FPS,
            "label_convention": self.label_convention,
        }

    def has_pixel_masks(self) -> bool:
        return True

    def record_extras(self, view: str, test_videos: list[Video]) -> dict:
        """Each test video's anomalous events (kind and labelled frames), so that results can be split by kind."""
        return {"events": {video.id: [{"kind": e.kind, "start": e.start, "stop": e.stop}
                                      for e in sorted(getattr(video, "events", ()), key=lambda e: e.start)]
                           for video in test_videos}}

    def check(self) -> list[str]:
        """Videos not cached yet need a writable cache folder; videos cached already must be whole."""
        problems = []
        missing = []
        for split in SPLITS:
            for video in self.videos(split):
                if not video.path.exists():
                    missing.append(video)
                    continue
                expected = (video.info.n_frames, video.info.height, video.info.width, 3)
                try:
                    frames = np.load(video.path, mmap_mode="r", allow_pickle=False)
                    shape, dtype = frames.shape, frames.dtype
                    del frames
                except (OSError, ValueError) as exc:
                    problems.append(f"cached video {video.path} cannot be read ({exc}); delete it to redraw it")
                    continue
                if shape != expected or dtype != np.uint8:
                    problems.append(f"cached video {video.path} holds {dtype}{list(shape)}, not "
                                    f"uint8{list(expected)}; delete it to redraw it")
        if missing:
            folder = self.cache_path
            nearest = next(p for p in [folder, *folder.parents] if p.exists())
            if not os.access(nearest, os.W_OK | os.X_OK):
                problems.append(f"cannot write the {len(missing)} videos not drawn yet into {folder}: {nearest} is "
                                f"not writable (set ANOBENCH_CACHE_DIR to a writable folder)")
        return problems
