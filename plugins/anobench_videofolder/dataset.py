"""``video-folder``: bring your own videos, in the plainest layout there is (``datasets/video-folder.md``).

    ROOT/train/<name>.mp4 | <name>/000.png ...   normal footage: video files (.mp4 .avi .mkv .mov .webm), or
                                                 folders of frame images (.jpg .jpeg .png), read in natural order
    ROOT/test/...                                the same kinds
    ROOT/labels.csv  (or labels.json)            optional: video,start,stop[,kind]; start = first abnormal frame
                                                 (0-based), stop = one past the last; several rows per video
    ROOT/poses/<name>/*.json                     optional OpenPose JSON, one file per frame: the skeleton view

Video files are decoded through ``bench_core.video_io``; the skeleton view is the ``industrial`` pipeline
(OpenPose parsing, main-person tracking, the skeleton LSTM-VAE paper's maps) on the files under ``poses/``. Without a
labels file the test videos are served without labels: a run scores them and reports no metrics.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench_core.dataset import GENERATED_MARKER, Dataset, Video, VideoInfo
from bench_core.errors import DataError, did_you_mean
from bench_core.video_io import FrameFolderReader, image_size, natural_key

from anobench_avenue.dataset import content_hash
from anobench_formats.openpose import read_people
from anobench_formats.video_folder import LABEL_FILES, POSES, SPLITS
from anobench_industrial.dataset import (SKELETON_VERSION, FramesVideo, IndustrialOptions, Probe, SkeletonVideo,
                                         pose_coverage, probe_file, skeleton_renderer)
from anobench_industrial.skeleton import MAP_SIZE, SkeletonRenderer
from anobench_industrial.tracking import Track, track_main_person

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".webm")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
LABEL_COLUMNS = ("video", "start", "stop")
#: Bump when the videos or labels served change for the same files and options.
FORMAT_VERSION = "1"
LAYOUT_HINT = "see datasets/video-folder.md for the layout"
#: Problems of one kind listed one by one per video before the rest are counted.
MAX_LISTED = 3
_INTEGER = re.compile(r"[+-]?\d+")


@dataclass
class VideoFolderOptions(IndustrialOptions):
    """Options of ``video-folder`` (``--data-option key=value``): the skeleton view's (as ``industrial``'s), and
    the frame rate of frame-image folders (video files carry their own)."""

    #: Frames per second of a folder of frame images (a video file's own rate is read from the file).
    fps: float = 30.0

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.fps, (int, float)) or not 0 < self.fps <= 1000:
            raise ValueError(f"fps must be a number of frames per second above 0, not {self.fps!r}")


@dataclass
class Source:
    """One video of the layout: a file, or a folder of frame images (in natural order)."""

    name: str
    split: str
    path: Path
    #: The frame images of a frame folder, in order; None for a video file.
    images: list[Path] | None = None

    @property
    def kind(self) -> str:
        return "frames" if self.images is not None else "file"

    @property
    def relative(self) -> str:
        return f"{self.split}/{self.path.name}"


@dataclass(frozen=True)
class LabelRow:
    video: str
    start: int
    stop: int
    kind: str | None
    #: Where the row is, for messages: "ROOT/labels.csv line 3" or "ROOT/labels.json item 3".
    where: str


@dataclass
class Inventory:
    """What ROOT holds, read from its folders and its labels file without decoding anything."""

    sources: dict[str, Source] = field(default_factory=dict)
    #: None when ROOT has no labels file.
    labels_file: Path | None = None
    rows: list[LabelRow] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def split(self, split: str) -> list[Source]:
        return [source for source in self.sources.values() if source.split == split]

    def rows_of(self, name: str) -> list[LabelRow]:
        return [row for row in self.rows if row.video == name]


class FrameFolderVideo(Video):
    """A folder of frame images, decoded with Pillow a range at a time."""

    def __init__(self, info: VideoInfo, labels: np.ndarray | None, images: list[Path]):
        self.info = info
        self.labels = labels
        self.images = images
        # At the size the inventory found: a file changed after the check cannot slip in at another size.
        self._reader = FrameFolderReader(images, info.fps, info.height, info.width)

    def read(self, start: int, stop: int) -> np.ndarray:
        return self._reader.read(start, stop)


class VideoFolder(Dataset):
    """Your own footage: a folder of normal training videos, a folder of test videos, optional labels and poses."""

    real_footage = True  # recorded footage: runs default to the standard preset (bench_core/presets.py)

    Options = VideoFolderOptions
    views = ("frames", "skeleton")
    label_conventions = ("frame",)
    version = "1"

    def __init__(self, name: str, options: VideoFolderOptions):
        super().__init__(name, options)
        self._inventory: Inventory | None = None
        self._probes: dict[str, Probe] = {}
        self._tracks: dict[str, Track] = {}

    @property
    def root(self) -> Path:
        return Path(self.options.data_root or "datasets/video-folder")

    @property
    def inventory(self) -> Inventory:
        if self._inventory is None:
            self._inventory = read_inventory(self.root)
        return self._inventory

    def usable_inventory(self) -> Inventory:
        """The inventory, or the first of its problems as a DataError (a library caller who skipped check())."""
        if self.inventory.problems:
            raise DataError(self.inventory.problems[0],
                            hint=f"run 'anobench data check {self.name}' for the full list")
        return self.inventory

    # -- the Dataset interface -----------------------------------------------------------------------------------

    def check(self) -> list[str]:
        inventory = self.inventory
        problems = list(inventory.problems)
        for source in inventory.sources.values():
            try:
                self.probe(source.name)
            except DataError as exc:
                problems.append(str(exc))
                continue
            if source.images is not None:
                problems.extend(self._check_frame_sizes(source))
        for row in inventory.rows:
            if row.video in self._probes and row.stop > self._probes[row.video].n_frames:
                n_frames = self._probes[row.video].n_frames
                problems.append(f"{row.where}: stop {row.stop} is past the end of test/{row.video} ({n_frames} "
                                f"frames; stop is one past the last abnormal frame, so at most {n_frames})")
        return problems

    def notes(self) -> list[str]:
        inventory = self.inventory
        notes = list(inventory.notes)
        if inventory.labels_file is None and not inventory.problems:
            notes.append(f"{self.root}: no labels.csv or labels.json: test videos are scored, but a run reports no "
                         "AUROC or other metric")
        if (self.root / GENERATED_MARKER).is_file():
            notes.append(f"{self.root}: a generated copy written by 'anobench data generate video-folder', not "
                         "recordings")
        if (self.root / POSES).is_dir():
            for source in inventory.sources.values():
                problem = self._pose_count_problem(source.name)
                if problem:
                    notes.append(f"{problem}: the skeleton view cannot be used")
        return notes

    def videos(self, split: str, view: str = "frames") -> list[Video]:
        self.require_split_and_view(split, view)
        inventory = self.usable_inventory()
        if view == "skeleton" and not (self.root / POSES).is_dir():
            raise DataError(f"{self.root / POSES}: missing; the skeleton view reads OpenPose JSON, one file per frame, "
                            "from poses/<video>/", hint=f"run OpenPose with --write_json, or use the frames view; "
                                                        f"{LAYOUT_HINT}")
        result: list[Video] = []
        for source in inventory.split(split):
            probe = self.probe(source.name)
            labels = self.labels(source.name) if split == "test" else None
            if view == "skeleton":
                problem = self._pose_count_problem(source.name)
                if problem:
                    raise DataError(problem, hint=f"the skeleton view needs one OpenPose file per frame; {LAYOUT_HINT}")
                info = VideoInfo(source.name, probe.fps, MAP_SIZE, MAP_SIZE, probe.n_frames, 1)
                result.append(SkeletonVideo(info, labels, self, source.name))
            elif source.images is not None:
                info = VideoInfo(source.name, probe.fps, probe.height, probe.width, probe.n_frames, 3)
                result.append(FrameFolderVideo(info, labels, source.images))
            else:
                info = VideoInfo(source.name, probe.fps, probe.height, probe.width, probe.n_frames, 3)
                result.append(FramesVideo(info, labels, source.path))
        return result

    def record_extras(self, view: str, test_videos: list[Video]) -> dict:
        """The labelled events with a kind, by test video, for ``anobench leaderboard --by-kind``; which labels
        file the run read (None: the run has no metrics); on the skeleton view, the pose coverage of the test
        videos, as ``industrial`` records it."""
        inventory = self.inventory
        events = {video.id: [{"kind": row.kind, "start": row.start, "stop": row.stop}
                             for row in inventory.rows_of(video.id) if row.kind]
                  for video in test_videos}
        return {
            **({"events": events} if any(events.values()) else {}),
            "labels_file": inventory.labels_file.name if inventory.labels_file else None,
            **({"pose_coverage": pose_coverage(test_videos, [self.track(video.id) for video in test_videos])}
               if view == "skeleton" else {}),
        }

    def fingerprint(self) -> dict:
        inventory = self.usable_inventory()
        videos, poses = {}, {}
        for name, source in sorted(inventory.sources.items()):
            if source.images is None:
                size = source.path.stat().st_size
                videos[name] = {"path": source.relative, "size": size, "hash": content_hash(source.path, size)}
            else:
                videos[name] = {"path": source.relative, "frames": len(source.images),
                                "hash": _files_digest(source.images)}
            pose_folder = self.root / POSES / name
            if pose_folder.is_dir():
                poses[name] = _files_digest(pose_files(pose_folder))
        labels = inventory.labels_file
        return {
            "dataset": "video-folder",
            "format_version": FORMAT_VERSION,
            "videos": videos,
            "labels": {"file": labels.name, "sha256": hashlib.sha256(labels.read_bytes()).hexdigest()}
            if labels else None,
            "poses": poses,
            # Only where a frame folder reads it, so that the option does not change runs on video files only.
            "frame_folder_fps": self.options.fps if any(s.images is not None for s in inventory.sources.values())
            else None,
            "skeleton": {"version": SKELETON_VERSION, "line_width": self.options.line_width,
                         "threshold": self.options.threshold, "min_confidence": self.options.min_confidence},
            "label_convention": self.label_convention,
        }

    # -- what ``anobench data check`` lists --------------------------------------------------------------------------

    def contents(self) -> list[dict]:
        """One row per video: split, name, what it is, frames, label rows and abnormal frames, pose files."""
        rows = []
        pose_root = self.root / POSES
        for source in self.inventory.sources.values():
            probe = self._probes.get(source.name)
            if probe is None:
                try:
                    probe = self.probe(source.name)
                except DataError:
                    probe = None
            label_rows = self.inventory.rows_of(source.name)
            abnormal = None
            if probe is not None and source.split == "test" and self.inventory.labels_file:
                abnormal = int(self._label_array(source.name, probe.n_frames).sum())
            pose_folder = pose_root / source.name
            rows.append({
                "split": source.split, "video": source.name,
                "source": (f"{len(source.images)} images" if source.images is not None
                           else f"{source.path.suffix.lower()[1:]} file"),
                "frames": probe.n_frames if probe else None,
                "size": f"{probe.width}x{probe.height}" if probe else None,
                "fps": round(probe.fps, 3) if probe else None,
                "label_rows": len(label_rows) if self.inventory.labels_file and source.split == "test" else None,
                "abnormal_frames": abnormal,
                "pose_files": len(pose_files(pose_folder)) if pose_folder.is_dir() else None,
            })
        return rows

    # -- per video -----------------------------------------------------------------------------------------------

    def probe(self, name: str) -> Probe:
        """Frame count, rate and size of a video: from the reader for a file, from the first image of a folder."""
        if name not in self._probes:
            source = self.inventory.sources[name]
            if source.images is None:
                probe = probe_file(source.path)
                if probe.n_frames == 0:
                    raise DataError(f"{source.path}: holds no video frames", hint="re-copy or re-encode the file")
            else:
                height, width = image_size(source.images[0])
                probe = Probe(len(source.images), float(self.options.fps), height, width)
            self._probes[name] = probe
        return self._probes[name]

    def labels(self, name: str) -> np.ndarray | None:
        """int8 (n_frames,): 1 on the frames the labels file marks abnormal; None when ROOT has no labels file."""
        if self.inventory.labels_file is None:
            return None
        n_frames = self.probe(name).n_frames
        for row in self.inventory.rows_of(name):
            if row.stop > n_frames:
                raise DataError(f"{row.where}: stop {row.stop} is past the end of test/{name} ({n_frames} frames)",
                                hint=LAYOUT_HINT)
        return self._label_array(name, n_frames)

    def _label_array(self, name: str, n_frames: int) -> np.ndarray:
        labels = np.zeros(n_frames, np.int8)
        for row in self.inventory.rows_of(name):
            labels[row.start:row.stop] = 1
        return labels

    def renderer(self, name: str) -> SkeletonRenderer:
        return skeleton_renderer(self.probe(name), self.options)

    def track(self, name: str) -> Track:
        """The main person of every frame, from the video's OpenPose files in natural order (once per object)."""
        if name not in self._tracks:
            probe = self.probe(name)
            files = pose_files(self.root / POSES / name)
            self._tracks[name] = track_main_person((read_people(path) for path in files), probe.height,
                                                   self.options.min_confidence)
        return self._tracks[name]

    def _pose_count_problem(self, name: str) -> str | None:
        folder = self.root / POSES / name
        if not folder.is_dir():
            return f"{folder}: missing (the OpenPose JSON of {self.inventory.sources[name].relative})"
        try:
            n_frames = self.probe(name).n_frames
        except DataError:
            return None  # check() reports the video
        count = len(pose_files(folder))
        if count != n_frames:
            return (f"{folder}: {count} JSON files for the {n_frames} frames of "
                    f"{self.inventory.sources[name].relative}; OpenPose writes one per frame")
        return None

    def _check_frame_sizes(self, source: Source) -> list[str]:
        expected = image_size(source.images[0])
        odd = []
        for path in source.images[1:]:
            try:
                size = image_size(path)
            except DataError as exc:
                odd.append(str(exc))
                continue
            if size != expected:  # (height, width), shown as width x height
                odd.append(f"{path}: {size[1]}x{size[0]}, but {source.images[0].name} is {expected[1]}x{expected[0]}; "
                           "all frames of a video must have one size")
        more = len(odd) - MAX_LISTED
        return odd[:MAX_LISTED] + ([f"{source.path}: {more} more frames of another size or unreadable"]
                                   if more > 0 else [])


def pose_files(folder: Path) -> list[Path]:
    """A video's OpenPose JSON files in natural order, one per frame: OpenPose's own names for a video
    (``<name>_<12 digits>_keypoints.json``) and for a folder of images (``<image>_keypoints.json``) sort right."""
    return sorted((p for p in folder.iterdir() if p.suffix.lower() == ".json" and not p.name.startswith(".")),
                  key=lambda p: natural_key(p.name))


def _files_digest(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        size = path.stat().st_size
        digest.update(f"{path.name}:{size}:{content_hash(path, size)};".encode())
    return digest.hexdigest()[:16]


# -- reading the layout ---------------------------------------------------------------------------------------------

def read_inventory(root: Path) -> Inventory:
    """The layout of ``root``; every deviation is a problem (one line naming the file or row) or a note."""
    inventory = Inventory()
    problems = inventory.problems
    if not root.is_dir():
        problems.append(f"{root}: no such folder; put your videos there or give --data-root (or "
                        f"ANOBENCH_DATA_ROOT); {LAYOUT_HINT}")
        return inventory
    for split in SPLITS:
        _read_split(root, split, inventory)
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") or entry.name in SPLITS + LABEL_FILES + (POSES,):
            continue
        inventory.notes.append(f"{entry}: not part of the layout (train/, test/, labels.csv or labels.json, "
                               "poses/); ignored")
    present = [root / name for name in LABEL_FILES if (root / name).is_file()]
    if len(present) > 1:
        problems.append(f"{root}: has both labels.csv and labels.json; keep one")
    elif present:
        inventory.labels_file = present[0]
        _read_labels(present[0], inventory)
    poses = root / POSES
    if poses.is_dir():
        for entry in sorted(poses.iterdir()):
            if entry.is_dir() and entry.name not in inventory.sources:
                inventory.notes.append(f"{entry}: no video named '{entry.name}' in train/ or test/; ignored")
    return inventory


def _read_split(root: Path, split: str, inventory: Inventory) -> None:
    folder = root / split
    if not folder.is_dir():
        inventory.problems.append(f"{folder}: missing folder; {LAYOUT_HINT}")
        return
    found = 0
    for entry in sorted(folder.iterdir(), key=lambda p: natural_key(p.name)):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            images = sorted((p for p in entry.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
                             and not p.name.startswith(".")), key=lambda p: natural_key(p.name))
            if not images:
                inventory.problems.append(f"{entry}: a folder without frame images ({', '.join(IMAGE_EXTENSIONS)})")
                continue
            others = [p.name for p in entry.iterdir() if not p.name.startswith(".") and p not in images]
            if others:
                inventory.notes.append(f"{entry}: {len(others)} files that are not frame images ({others[0]}, ...); "
                                       "ignored")
            source = Source(entry.name, split, entry, images)
        elif entry.suffix.lower() in VIDEO_EXTENSIONS:
            source = Source(entry.stem, split, entry)
        else:
            inventory.notes.append(f"{entry}: unknown extension (videos: {' '.join(VIDEO_EXTENSIONS)}; or folders "
                                   "of frame images); ignored")
            continue
        other = inventory.sources.get(source.name)
        if other is not None:
            inventory.problems.append(f"{entry}: another video is named '{source.name}' ({other.relative}); names "
                                      "must be unique across train/ and test/, since labels and poses use them")
            continue
        inventory.sources[source.name] = source
        found += 1
    if not found:
        inventory.problems.append(f"{folder}: no videos ({' '.join(VIDEO_EXTENSIONS)} files or folders of frame "
                                  f"images); {LAYOUT_HINT}")


def _read_labels(path: Path, inventory: Inventory) -> None:
    """Rows of labels.csv or labels.json, each checked on its own (the frame counts are checked later)."""
    problems = inventory.problems
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        problems.append(f"{path}: not a UTF-8 text file")
        return
    if path.suffix == ".csv":
        records = _csv_records(path, text, problems)
    else:
        records = _json_records(path, text, problems)
    test_names = [s.name for s in inventory.split("test")]
    for where, fields in records:
        video, start, stop, kind = (fields.get(k) for k in ("video", "start", "stop", "kind"))
        if not isinstance(video, str) or not video:
            problems.append(f"{where}: no video name")
            continue
        numbers = []
        for column, value in (("start", start), ("stop", stop)):
            number = _frame_number(value)
            if number is None:
                problems.append(f"{where}: {column} {value!r} is not a whole frame number")
            numbers.append(number)
        if None in numbers:
            continue
        start, stop = numbers
        if start < 0:
            problems.append(f"{where}: start {start} is negative; frames are numbered from 0")
            continue
        if stop <= start:
            problems.append(f"{where}: stop {stop} is not after start {start} (stop is one past the last abnormal "
                            "frame)")
            continue
        source = inventory.sources.get(video)
        if source is not None and source.split == "train":
            problems.append(f"{where}: names train video '{video}'; train/ holds normal footage only (move the "
                            "video to test/, or cut the abnormal part)")
            continue
        if source is None:
            hint = did_you_mean(video, test_names)
            problems.append(f"{where}: names video '{video}', which is not in test/"
                            + (f" ({hint})" if hint and hint.startswith("did") else ""))
            continue
        if kind is not None and not isinstance(kind, str):
            problems.append(f"{where}: kind {kind!r} is not text")
            continue
        inventory.rows.append(LabelRow(video, start, stop, (kind or "").strip() or None, where))


def _frame_number(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value.strip())
    return None


def _csv_records(path: Path, text: str, problems: list[str]) -> list[tuple[str, dict]]:
    lines = list(csv.reader(io.StringIO(text)))
    header = [cell.strip().lower() for cell in lines[0]] if lines else []
    if tuple(header) not in (LABEL_COLUMNS, LABEL_COLUMNS + ("kind",)):
        problems.append(f"{path} line 1: header must be 'video,start,stop' or 'video,start,stop,kind', not "
                        f"{','.join(lines[0]) if lines else 'empty'!r}")
        return []
    records = []
    for number, cells in enumerate(lines[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue
        where = f"{path} line {number}"
        if len(cells) != len(header):
            problems.append(f"{where}: {len(cells)} columns, the header has {len(header)}")
            continue
        records.append((where, {column: cell.strip() for column, cell in zip(header, cells)}))
    return records


def _json_records(path: Path, text: str, problems: list[str]) -> list[tuple[str, dict]]:
    shape = 'a list of {"video", "start", "stop"[, "kind"]} objects'
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        problems.append(f"{path}: malformed JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})")
        return []
    if not isinstance(document, list):
        problems.append(f"{path}: must be {shape}")
        return []
    records = []
    for number, item in enumerate(document, start=1):
        where = f"{path} item {number}"
        if not isinstance(item, dict) or not set(LABEL_COLUMNS) <= set(item) or set(item) - {*LABEL_COLUMNS, "kind"}:
            problems.append(f"{where}: must be an object with keys video, start, stop and optionally kind")
            continue
        records.append((where, item))
    return records
