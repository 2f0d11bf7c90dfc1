"""``industrial``: a user's own recordings of factory work with OpenPose output, in the layout of
``datasets/industrial.md``, served as raw frames and as the skeleton LSTM-VAE paper's skeleton maps.

    <data root>/videos/<name>.avi                                   (.avi, .mp4, .mkv or .mov; 640x480, 30 fps)
    <data root>/openpose/<name>/<name>_<12-digit frame>_keypoints.json   (one per frame, from --write_json)
    <data root>/split.json     {"train": [names...], "test": [names...]}
    <data root>/labels.json    {"<name>": [[first, last], ...], ...}  abnormal frames, 0-based, both ends included
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench_core.dataset import GENERATED_MARKER, Dataset, DatasetOptions, Video, VideoInfo
from bench_core.errors import DataError
from bench_core.video_io import open_video

from anobench_formats.industrial import LABELS_FILE, POSES_DIR, SPLIT_FILE, VIDEOS_DIR
from anobench_formats.openpose import list_pose_files, pose_file_name, read_people
from anobench_industrial.skeleton import DEFAULT_LINE_WIDTH, DEFAULT_THRESHOLD, MAP_SIZE, SkeletonRenderer
from anobench_industrial.tracking import DEFAULT_MIN_CONFIDENCE, Track, track_main_person

#: Where the files are when neither --data-root nor ANOBENCH_DATA_ROOT says (relative to the working folder).
DEFAULT_DATA_ROOT = "datasets/industrial"
VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".mov")
SPLITS = ("train", "test")
#: What the seed recorded; other sizes work (the crop is a square of the frame's height) and are noted.
EXPECTED_SIZE, EXPECTED_FPS = (640, 480), 30.0
#: Bump when the skeleton maps change for the same files and options, so cached inputs are not reused.
SKELETON_VERSION = "1"
#: Malformed pose files listed one by one per video before the rest are counted.
MAX_LISTED = 3
LAYOUT_HINT = "see datasets/industrial.md for the layout"


@dataclass
class IndustrialOptions(DatasetOptions):
    """Options of ``industrial`` (``--data-option key=value``); they shape the ``skeleton`` view."""

    #: Limb width, in pixels of the 480x480 crop (the skeleton LSTM-VAE paper's crop of a 640x480 frame).
    line_width: int = DEFAULT_LINE_WIDTH
    #: Grey level (0-254) above which a pixel of the shrunken 28x28 map is set.
    threshold: int = DEFAULT_THRESHOLD
    #: Joints with an OpenPose confidence at or below this are missing (OpenPose's own render threshold).
    min_confidence: float = DEFAULT_MIN_CONFIDENCE

    def __post_init__(self):
        if not isinstance(self.line_width, int) or not 1 <= self.line_width <= 60:
            raise ValueError(f"line_width must be an integer from 1 to 60, not {self.line_width!r}")
        if not isinstance(self.threshold, int) or not 0 <= self.threshold <= 254:
            raise ValueError(f"threshold must be an integer from 0 to 254, not {self.threshold!r}")
        if not 0 <= self.min_confidence < 1:
            raise ValueError(f"min_confidence must be within [0, 1), not {self.min_confidence!r}")


@dataclass(frozen=True)
class Probe:
    n_frames: int
    fps: float
    height: int
    width: int


@dataclass
class Inventory:
    """What the data root holds, read from its folders, split.json and labels.json without decoding anything."""

    train: list[str] = field(default_factory=list)
    test: list[str] = field(default_factory=list)
    videos: dict[str, Path] = field(default_factory=dict)
    intervals: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    #: The action each interval of ``intervals`` is labelled with (labels.json's optional third element), or None.
    actions: dict[str, list[str | None]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def split(self, split: str) -> list[str]:
        return self.train if split == "train" else self.test


class FramesVideo(Video):
    """A recording's frames, decoded on demand."""

    def __init__(self, info: VideoInfo, labels: np.ndarray | None, path: Path):
        self.info = info
        self.labels = labels
        self.path = path
        self._reader = None

    def read(self, start: int, stop: int) -> np.ndarray:
        _check_range(self, start, stop)
        if self._reader is None:
            self._reader = open_video(self.path)
        return self._reader.read(start, stop)


class SkeletonVideo(Video):
    """A recording's 28x28 skeleton maps, drawn on demand from the tracked main person."""

    def __init__(self, info: VideoInfo, labels: np.ndarray | None, dataset: "Industrial", name: str):
        self.info = info
        self.labels = labels
        self._dataset = dataset
        self._name = name

    @property
    def track(self) -> Track:
        return self._dataset.track(self._name)

    def read(self, start: int, stop: int) -> np.ndarray:
        _check_range(self, start, stop)
        return self._dataset.renderer(self._name).render_track(self.track, start, stop)


def pose_coverage(test_videos: list[Video], tracks: list[Track]) -> dict:
    """The share of test frames, and of abnormal test frames, where no main person was found (their skeleton maps
    are blank), overall and per video; a video without labels counts as normal throughout."""
    missing = abnormal = missing_abnormal = total = 0
    per_video = {}
    for video, track in zip(test_videos, tracks):
        lost = ~track.found
        labels = np.zeros(len(lost), bool) if video.labels is None else np.asarray(video.labels, dtype=bool)
        total += len(lost)
        missing += int(lost.sum())
        abnormal += int(labels.sum())
        missing_abnormal += int((lost & labels).sum())
        per_video[video.id] = round(float(lost.mean()), 4) if len(lost) else 0.0
    return {
        "frames_without_person": round(missing / total, 4) if total else 0.0,
        "abnormal_frames_without_person": round(missing_abnormal / abnormal, 4) if abnormal else 0.0,
        "n_test_frames": total,
        "n_abnormal_frames": abnormal,
        "per_video_frames_without_person": per_video,
        "rule": "main person tracked by nearest pose to the last one seen; see anobench_industrial.tracking",
    }


def probe_file(path: Path) -> Probe:
    """A video file's frame count, rate and size (decoding nothing beyond what the reader needs)."""
    reader = open_video(path)
    return Probe(int(reader.n_frames), float(reader.fps), int(reader.height), int(reader.width))


def skeleton_renderer(probe: Probe, options: IndustrialOptions) -> SkeletonRenderer:
    """The skeleton maps' renderer for a video of ``probe``'s size, with the dataset options' line and threshold."""
    return SkeletonRenderer(probe.width, probe.height, options.line_width, options.threshold, options.min_confidence)


def _check_range(video: Video, start: int, stop: int) -> None:
    if not 0 <= start <= stop <= len(video):
        raise ValueError(f"frames {start}:{stop} are out of range for video {video.id} of {len(video)} frames")


class Industrial(Dataset):
    """The two papers' industrial-accident setting on the user's own recordings: a worker carrying chairs and boxes,
    cutting paper and discarding trash; test videos add one-handed work, throwing, digging in the trash, running."""

    real_footage = True  # recorded footage: runs default to the standard preset (bench_core/presets.py)

    Options = IndustrialOptions
    views = ("frames", "skeleton")
    label_conventions = ("frame",)
    version = "1"

    def __init__(self, name: str, options: IndustrialOptions):
        super().__init__(name, options)
        self._inventory: Inventory | None = None
        self._probes: dict[str, Probe] = {}
        self._tracks: dict[str, Track] = {}

    # -- where the files are -------------------------------------------------------------------------------------

    @property
    def root(self) -> Path:
        return Path(self.options.data_root or DEFAULT_DATA_ROOT)

    def pose_folder(self, name: str) -> Path:
        return self.root / POSES_DIR / name

    @property
    def inventory(self) -> Inventory:
        if self._inventory is None:
            self._inventory = read_inventory(self.root)
        return self._inventory

    # -- the Dataset interface -----------------------------------------------------------------------------------

    def check(self) -> list[str]:
        inventory = self.inventory
        problems = list(inventory.problems)
        if problems:
            return problems
        for name in inventory.train + inventory.test:
            try:
                probe = self.probe(name)
            except DataError as exc:
                problems.append(str(exc))
                continue
            try:
                self.labels(name)
            except DataError as exc:
                problems.append(exc.message)
            problems.extend(self._check_pose_files(name, probe))
        return problems

    def notes(self) -> list[str]:
        notes = list(self.inventory.notes)
        if (self.root / GENERATED_MARKER).is_file():
            # Its sizes and actions are the generator's choice: one note says so, instead of one per video.
            notes.append(f"{self.root}: a generated copy written by 'anobench data generate', not recordings; its "
                         "results are not comparable with the papers' figures")
            return notes
        odd = []
        if self.inventory.problems:
            return notes
        for name in self.inventory.train + self.inventory.test:
            try:
                probe = self.probe(name)
            except DataError:
                continue  # check() reports it
            if ((probe.width, probe.height) != EXPECTED_SIZE or abs(probe.fps - EXPECTED_FPS) > 0.5):
                odd.append(f"{name} ({probe.width}x{probe.height}, {probe.fps:g} fps)")
        if odd:
            notes.append(f"{len(odd)} videos are not 640x480 at 30 fps as the skeleton LSTM-VAE paper's: "
                         f"{', '.join(odd[:5])}"
                         + (" ..." if len(odd) > 5 else "") + "; the skeleton crop is a square of the frame height")
        return notes

    def videos(self, split: str, view: str = "frames") -> list[Video]:
        self.require_split_and_view(split, view)
        inventory = self.inventory
        if inventory.problems:
            raise DataError(inventory.problems[0], hint=f"run 'anobench data check {self.name}' for the full list")
        result: list[Video] = []
        for name in inventory.split(split):
            probe = self.probe(name)
            labels = self.labels(name) if split == "test" else None
            if view == "frames":
                info = VideoInfo(name, probe.fps, probe.height, probe.width, probe.n_frames, 3)
                result.append(FramesVideo(info, labels, inventory.videos[name]))
            else:
                info = VideoInfo(name, probe.fps, MAP_SIZE, MAP_SIZE, probe.n_frames, 1)
                result.append(SkeletonVideo(info, labels, self, name))
        return result

    def record_extras(self, view: str, test_videos: list[Video]) -> dict:
        """Pose coverage of the test split: the share of frames (and of abnormal frames) where no main person was
        found, so the skeleton view's blind spots are on record with its results; and, where labels.json names the
        action of each abnormal interval (as the generator does), the events by kind."""
        events = {video.id: [{"kind": action, "start": first, "stop": last + 1}
                             for (first, last), action in zip(self.inventory.intervals.get(video.id, []),
                                                              self.inventory.actions.get(video.id, []))
                             if action]
                  for video in test_videos}
        return {
            # labels.json may name each interval's action: then results can be split by kind of anomaly.
            **({"events": events} if any(events.values()) else {}),
            "pose_coverage": pose_coverage(test_videos, [self.track(video.id) for video in test_videos]),
        }

    def fingerprint(self) -> dict:
        inventory = self.inventory
        if inventory.problems:
            raise DataError(inventory.problems[0], hint=f"run 'anobench data check {self.name}' for the full list")
        videos, poses = {}, {}
        for name in inventory.train + inventory.test:
            videos[name] = [inventory.videos[name].name, inventory.videos[name].stat().st_size]
            digest = hashlib.sha256()
            folder = self.pose_folder(name)
            if folder.is_dir():
                for entry in sorted(os.scandir(folder), key=lambda e: e.name):
                    digest.update(f"{entry.name}:{entry.stat().st_size};".encode())
            poses[name] = digest.hexdigest()[:16]
        return {
            "dataset": "industrial",
            "videos": videos,
            "openpose": poses,
            "split.json": _file_digest(self.root / "split.json"),
            "labels.json": _file_digest(self.root / "labels.json"),
            "skeleton": {"version": SKELETON_VERSION, "line_width": self.options.line_width,
                         "threshold": self.options.threshold, "min_confidence": self.options.min_confidence},
            "label_convention": self.label_convention,
        }

    # -- per video -----------------------------------------------------------------------------------------------

    def probe(self, name: str) -> Probe:
        """The video's frame count, rate and size (decoding nothing beyond what the reader needs)."""
        if name not in self._probes:
            self._probes[name] = probe_file(self.inventory.videos[name])
        return self._probes[name]

    def labels(self, name: str) -> np.ndarray:
        """int8 (n_frames,): 1 on the frames labels.json marks abnormal."""
        n_frames = self.probe(name).n_frames
        labels = np.zeros(n_frames, np.int8)
        for first, last in self.inventory.intervals.get(name, []):
            if last >= n_frames:
                raise DataError(f"{self.root / 'labels.json'}: interval [{first}, {last}] of '{name}' ends past the "
                                f"video's last frame, {n_frames - 1} (frames are numbered from 0, both ends "
                                "included)", hint=LAYOUT_HINT)
            labels[first:last + 1] = 1
        return labels

    def renderer(self, name: str) -> SkeletonRenderer:
        return skeleton_renderer(self.probe(name), self.options)

    def track(self, name: str) -> Track:
        """The main person of every frame, read from the video's OpenPose files (once per dataset object)."""
        if name not in self._tracks:
            probe = self.probe(name)
            folder = self.pose_folder(name)
            if not folder.is_dir():
                raise DataError(f"{folder}: no OpenPose folder for video '{name}'", hint=LAYOUT_HINT)
            files, _ = list_pose_files(folder, name)
            paths = [files.get(frame) or folder / pose_file_name(name, frame) for frame in range(probe.n_frames)]
            self._tracks[name] = track_main_person((read_people(path) for path in paths), probe.height,
                                                   self.options.min_confidence)
        return self._tracks[name]

    def _check_pose_files(self, name: str, probe: Probe) -> list[str]:
        folder = self.pose_folder(name)
        if not folder.is_dir():
            return [f"{folder}: missing; it should hold OpenPose's --write_json output for videos/"
                    f"{self.inventory.videos[name].name}"]
        files, _ = list_pose_files(folder, name)
        missing = [frame for frame in range(probe.n_frames) if frame not in files]
        extra = sorted(frame for frame in files if frame >= probe.n_frames)
        problems = []
        if missing:
            problems.append(f"{folder / pose_file_name(name, missing[0])}: missing"
                            + (f" (and {len(missing) - 1} more of the video's {probe.n_frames} frames)"
                               if len(missing) > 1 else "")
                            + "; OpenPose must write one file per frame")
        if extra:
            problems.append(f"{folder / pose_file_name(name, extra[0])}: frame {extra[0]} is past the end of "
                            f"videos/{self.inventory.videos[name].name} ({probe.n_frames} frames); is the video "
                            "truncated, or the JSON from another video?")
        if problems:
            return problems
        malformed = []
        people_per_frame = []
        for frame in range(probe.n_frames):
            try:
                people_per_frame.append(read_people(files[frame]))
            except DataError as exc:
                malformed.append(str(exc))
        if malformed:
            more = len(malformed) - MAX_LISTED
            return malformed[:MAX_LISTED] + ([f"{folder}: {more} more pose files that cannot be read"]
                                             if more > 0 else [])
        self._tracks[name] = track_main_person(people_per_frame, probe.height, self.options.min_confidence)
        return []


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def read_inventory(root: Path) -> Inventory:
    """The layout of ``root``; every deviation is a problem (one line naming the file) or a note."""
    inventory = Inventory()
    problems = inventory.problems
    if root.is_file():
        problems.append(f"{root}: is a file, not a folder; give the folder of your recordings with --data-root "
                        f"(or ANOBENCH_DATA_ROOT); {LAYOUT_HINT}")
        return inventory
    if not root.is_dir():
        problems.append(f"{root}: no such folder; put your recordings there or give --data-root "
                        f"(or ANOBENCH_DATA_ROOT); {LAYOUT_HINT}")
        return inventory
    for folder in (VIDEOS_DIR, POSES_DIR):
        if not (root / folder).is_dir():
            problems.append(f"{root / folder}: missing folder; {LAYOUT_HINT}")
    split_document = _read_json(root / SPLIT_FILE, problems)
    labels_document = _read_json(root / LABELS_FILE, problems)
    if problems:
        return inventory

    by_name: dict[str, list[Path]] = {}
    for path in sorted((root / VIDEOS_DIR).iterdir()):
        if path.suffix.lower() in VIDEO_EXTENSIONS and path.is_file():
            by_name.setdefault(path.stem, []).append(path)
        elif not path.name.startswith("."):
            inventory.notes.append(f"{path}: not a video (.avi, .mp4, .mkv or .mov); ignored")
    for name, paths in by_name.items():
        if len(paths) > 1:
            problems.append(f"{root / VIDEOS_DIR}: {len(paths)} videos named '{name}' "
                            f"({', '.join(p.name for p in paths)}); keep one")
        inventory.videos[name] = paths[0]

    split_file = root / SPLIT_FILE
    if not isinstance(split_document, dict) or set(split_document) != set(SPLITS) or not all(
            isinstance(names, list) and all(isinstance(n, str) and n for n in names)
            for names in split_document.values()):
        problems.append(f"{split_file}: must be {{\"train\": [video names], \"test\": [video names]}} and nothing "
                        f"else; {LAYOUT_HINT}")
        return inventory
    inventory.train, inventory.test = list(split_document["train"]), list(split_document["test"])
    seen: set[str] = set()
    for split in SPLITS:
        for name in split_document[split]:
            if name in seen:
                problems.append(f"{split_file}: '{name}' is listed twice; a video belongs to one split only")
            seen.add(name)
            if name not in inventory.videos:
                problems.append(f"{root / VIDEOS_DIR / name}.avi: missing (listed in the {split} split of "
                                f"{split_file.name}; .mp4, .mkv and .mov are read too)")
    if not inventory.train or not inventory.test:
        problems.append(f"{split_file}: the train and the test split each need at least one video")
    for name in sorted(set(inventory.videos) - seen):
        inventory.notes.append(f"{inventory.videos[name]}: in neither split of {split_file.name}; not used")

    labels_file = root / LABELS_FILE
    if not isinstance(labels_document, dict):
        problems.append(f"{labels_file}: must be an object mapping video names to lists of [first, last] "
                        f"abnormal frame intervals; {LAYOUT_HINT}")
        return inventory
    for name, intervals in labels_document.items():
        parsed = _parse_intervals(intervals)
        if parsed is None:
            problems.append(f"{labels_file}: '{name}' must be a list of [first, last] frame intervals (0-based "
                            "integers, first <= last, an optional third element naming the action)")
            continue
        inventory.intervals[name] = [(first, last) for first, last, _ in parsed]
        inventory.actions[name] = [action for _, _, action in parsed]
        if name in inventory.train and parsed:
            problems.append(f"{labels_file}: train video '{name}' has abnormal intervals; the train split holds "
                            "normal footage only (move the video to the test split, or cut the abnormal part)")
        elif name not in seen:
            inventory.notes.append(f"{labels_file}: labels for '{name}', which is in neither split; ignored")
    for name in inventory.test:
        if name not in labels_document:
            problems.append(f"{labels_file}: no entry for test video '{name}'; give its abnormal frame intervals "
                            "([] if it has none)")
    return inventory


def _read_json(path: Path, problems: list[str]):
    if not path.is_file():
        problems.append(f"{path}: missing; {LAYOUT_HINT}")
        return None
    try:
        return json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        problems.append(f"{path}: malformed JSON ({exc})")
        return None
    except RecursionError:
        problems.append(f"{path}: nested too deeply to be a label or split file")
        return None
    except OSError as exc:  # e.g. no read permission
        problems.append(f"{path}: cannot be read ({exc.strerror or exc}); check its permissions")
        return None


def _parse_intervals(value) -> list[tuple[int, int, str | None]] | None:
    if not isinstance(value, list):
        return None
    intervals = []
    for item in value:
        if not isinstance(item, list) or len(item) not in (2, 3) or (len(item) == 3 and not isinstance(item[2], str)):
            return None
        first, last = item[0], item[1]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (first, last)) or not 0 <= first <= last:
            return None
        intervals.append((first, last, item[2] if len(item) == 3 else None))
    return intervals
