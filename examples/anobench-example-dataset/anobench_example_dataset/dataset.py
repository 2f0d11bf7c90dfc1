"""``example-clips``: a dataset of your own recordings, laid out as

    DATA_ROOT/train/<id>.mp4        normal footage only (any extension in ``extensions``)
    DATA_ROOT/test/<id>.mp4         footage with anomalies
    DATA_ROOT/test/labels.json      {"<id>": [[first, last], ...]}: abnormal frame ranges, 0-based, inclusive,
                                    optionally {"<id>": [{"kind": "fall", "first": 10, "last": 40}, ...]}

Videos are read with ``bench_core.video_io.open_video`` (decord or PyAV), a chunk at a time.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench_core import Dataset, DatasetOptions, Video, VideoInfo
from bench_core.errors import DataError
from bench_core.video_io import open_video

LABELS_FILE = "labels.json"


@dataclass
class ClipFolderOptions(DatasetOptions):
    """Options of ``example-clips`` (``--data-option key=value``)."""

    #: File extensions that count as videos, case-insensitive (``--data-option extensions=.mp4,.avi``).
    extensions: tuple[str, ...] = (".mp4", ".avi", ".mkv", ".mov")


class FolderVideo(Video):
    """One video file, opened when first read."""

    def __init__(self, path: Path, labels: np.ndarray | None):
        reader = open_video(path)
        self.path = path
        self.info = VideoInfo(path.stem, reader.fps, reader.height, reader.width, reader.n_frames, 3)
        self.labels = labels
        self._reader = reader

    def read(self, start: int, stop: int) -> np.ndarray:
        return self._reader.read(start, stop)


class ClipFolder(Dataset):
    """A folder of your own videos: normal footage in train/, labelled footage in test/."""

    Options = ClipFolderOptions
    views = ("frames",)

    @property
    def root(self) -> Path:
        return Path(self.options.data_root)

    def _files(self, split: str) -> list[Path]:
        folder = self.root / split
        wanted = {e.lower() for e in self.options.extensions}
        return sorted(p for p in folder.iterdir() if p.suffix.lower() in wanted) if folder.is_dir() else []

    def _events(self) -> dict[str, list[dict]]:
        """``{video id: [{"kind", "start", "stop"}]}`` from labels.json (stop exclusive, as the harness wants)."""
        raw = json.loads((self.root / "test" / LABELS_FILE).read_text())
        events = {}
        for video_id, ranges in raw.items():
            events[video_id] = [
                {"kind": r.get("kind", "abnormal"), "start": int(r["first"]), "stop": int(r["last"]) + 1}
                if isinstance(r, dict) else {"kind": "abnormal", "start": int(r[0]), "stop": int(r[1]) + 1}
                for r in ranges
            ]
        return events

    def check(self) -> list[str]:
        if not self.options.data_root:
            return [f"dataset '{self.name}' needs --data-root DIR (a folder with train/ and test/)"]
        problems = [f"{self.root / split}: no videos ({', '.join(self.options.extensions)})"
                    for split in ("train", "test") if not self._files(split)]
        labels = self.root / "test" / LABELS_FILE
        if not labels.is_file():
            return problems + [f"{labels}: missing (abnormal frame ranges of each test video)"]
        try:
            events = self._events()
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            return problems + [f"{labels}: not {{id: [[first, last], ...]}}: {exc}"]
        test_ids = {p.stem for p in self._files("test")}
        problems += [f"{labels}: names '{i}', which test/ does not hold" for i in sorted(set(events) - test_ids)]
        return problems

    def notes(self) -> list[str]:
        unlabelled = sorted({p.stem for p in self._files("test")} - set(self._events()))
        return [f"test video '{i}' has no entry in {LABELS_FILE}: all its frames count as normal" for i in unlabelled]

    def videos(self, split: str, view: str = "frames") -> list[Video]:
        self.require_split_and_view(split, view)
        if split == "train":
            return [FolderVideo(path, None) for path in self._files("train")]
        events = self._events()
        videos = []
        for path in self._files("test"):
            video = FolderVideo(path, None)
            labels = np.zeros(len(video), dtype=np.int8)
            for event in events.get(path.stem, []):
                if event["start"] >= len(video):
                    raise DataError(f"{self.root / 'test' / LABELS_FILE}: '{path.stem}' has {len(video)} frames, "
                                    f"an event starts at frame {event['start']}")
                labels[event["start"]:event["stop"]] = 1
            video.labels = labels
            videos.append(video)
        return videos

    def record_extras(self, view: str, test_videos: list[Video]) -> dict:
        # The harness reads "events" for `anobench leaderboard --by-kind`.
        events = self._events()
        return {"events": {v.id: events.get(v.id, []) for v in test_videos}}

    def fingerprint(self) -> dict:
        files = {f"{split}/{p.name}": p.stat().st_size for split in ("train", "test") for p in self._files(split)}
        labels = (self.root / "test" / LABELS_FILE).read_bytes()
        return {"dataset": "example-clips", "files": files, "labels_sha256": hashlib.sha256(labels).hexdigest(),
                "label_convention": self.label_convention}
