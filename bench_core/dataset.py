"""The Dataset interface: lazily read videos, per-frame labels on the test split, and a fingerprint."""

from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Iterator

import numpy as np


#: ``anobench data generate`` leaves this file in every folder it writes, so loaders can tell a generated copy
#: (which is partial and unofficial by design) from a damaged real one. Generators are not datasets: see
#: bench_core.generator.
GENERATED_MARKER = ".anobench-generated.json"


@dataclass(frozen=True)
class VideoInfo:
    id: str
    fps: float
    height: int
    width: int
    n_frames: int
    channels: int = 3


class Video(abc.ABC):
    """One video of one view. Frames are read a range at a time; nothing keeps them all in memory."""

    info: VideoInfo
    #: One 0/1 label per frame on the test split; None on the train split (normal footage only).
    labels: np.ndarray | None = None
    #: True when ``pixel_masks`` gives this test video's per-pixel ground truth.
    has_pixel_masks: bool = False

    @property
    def id(self) -> str:
        return self.info.id

    def __len__(self) -> int:
        return self.info.n_frames

    @abc.abstractmethod
    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start`` (inclusive) to ``stop`` (exclusive) as uint8 of shape (n, height, width, channels)."""

    def pixel_masks(self, start: int, stop: int) -> np.ndarray:
        """Frames start..stop's ground-truth masks: uint8 0/1 of shape (n, height, width) at the video's own size."""
        raise NotImplementedError(f"video '{self.id}' has no pixel masks (has_pixel_masks is False)")

    def iter_chunks(self, chunk: int = 64) -> Iterator[tuple[int, np.ndarray]]:
        for start in range(0, self.info.n_frames, chunk):
            yield start, self.read(start, min(start + chunk, self.info.n_frames))


@dataclass
class DatasetOptions:
    """Options every dataset accepts; a dataset subclasses this to add its own (set with ``--data-option``).

    A frozen Options class cannot subclass it (Python refuses a frozen dataclass with a non-frozen base): it declares
    the same two fields itself instead (see ``options_class_problem``). Core code never mutates an options object;
    a dataset that resolves one (e.g. a default root) stores a ``dataclasses.replace`` copy."""

    #: Where the files are. Datasets that are generated ignore it.
    data_root: str = ""
    #: Which frame-label convention the test labels follow; '' means the dataset's default.
    label_convention: str = ""


def options_class_problem(cls: object) -> str | None:
    """Why ``cls`` cannot be a dataset's ``Options`` (None when it can): it must be a dataclass with the fields of
    ``DatasetOptions`` (``data_root``, ``label_convention``), by subclassing it or, when frozen, by declaring them."""
    name = getattr(cls, "__qualname__", repr(cls))
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        return f"its Options {name} is not a dataclass"
    fields = {f.name for f in dataclasses.fields(cls)}
    missing = [f.name for f in dataclasses.fields(DatasetOptions) if f.name not in fields]
    if missing:
        return f"its Options {name} has no field {', '.join(repr(m) for m in missing)}"
    return None


class Dataset(abc.ABC):
    """A train split of normal footage and a labelled test split, in one or more views."""

    Options: ClassVar[type[DatasetOptions]] = DatasetOptions
    #: Views this dataset can serve; 'frames' is the raw video.
    views: ClassVar[tuple[str, ...]] = ("frames",)
    label_conventions: ClassVar[tuple[str, ...]] = ("frame",)
    version: ClassVar[str] = "1"
    #: True for loaders of recorded footage (Avenue, UCSD, ShanghaiTech, your own videos): runs on them default to
    #: the detectors' ``standard`` preset, generated datasets to ``cpu`` (bench_core/presets.py).
    real_footage: ClassVar[bool] = False

    def __init__(self, name: str, options: DatasetOptions):
        self.name = name
        self.options = options

    @property
    def label_convention(self) -> str:
        return self.options.label_convention or self.label_conventions[0]

    def check(self) -> list[str]:
        """Problems that make the data unusable, one line each naming the file or folder at fault (empty when all
        is well). ``anobench data check`` prints them all; every run runs them first and stops on the first."""
        return []

    def serves_real_footage(self) -> bool:
        """``real_footage``, unless the data root holds a generated copy (``GENERATED_MARKER``): a generated copy in
        a real layout is test data, partial by design, and gets the generated datasets' defaults."""
        root = getattr(self.options, "data_root", "")
        return self.real_footage and not (root and (Path(root) / GENERATED_MARKER).is_file())

    def notes(self) -> list[str]:
        """Findings that do not stop a run, one line each: a partial copy's missing videos, extra files."""
        return []

    def contents(self) -> list[dict]:
        """What ``anobench data check`` lists per video, one dict per video whose keys are the columns (e.g. split,
        video, frames, label rows); empty for datasets that list only the per-split totals."""
        return []

    def has_pixel_masks(self) -> bool:
        """True when every test video's ``pixel_masks`` gives its per-pixel ground truth, which the localization
        scorers need; runs ask before training. Decide from the file listing, without reading the masks."""
        return False

    def record_extras(self, view: str, test_videos: list[Video]) -> dict:
        """Facts about this run's data to keep in the run record under ``dataset.extras`` (e.g. pose coverage)."""
        return {}

    @abc.abstractmethod
    def videos(self, split: str, view: str = "frames") -> list[Video]:
        """The videos of ``split`` ('train' or 'test') in ``view``."""

    @abc.abstractmethod
    def fingerprint(self) -> dict:
        """What the data is: files with sizes or hashes (or generator parameters), and the label convention."""

    def require_split_and_view(self, split: str, view: str) -> None:
        """The one-line error every ``videos()`` gives for a split or view this dataset does not have."""
        from bench_core.errors import UsageError, did_you_mean

        if view not in self.views:
            raise UsageError(f"dataset '{self.name}' has no view '{view}'",
                             hint=f"available views: {', '.join(self.views)}")
        if split not in ("train", "test"):
            raise UsageError(f"dataset '{self.name}' has no split '{split}'",
                             hint=did_you_mean(split, ("train", "test")))

    def describe_options(self) -> dict:
        return dataclasses.asdict(self.options)

