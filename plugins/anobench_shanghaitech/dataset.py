"""``shanghaitech``: ShanghaiTech Campus (Liu, Luo, Lian, Gao, "Future Frame Prediction for Anomaly Detection - A
New Baseline", CVPR 2018), read from the files as they are distributed::

    DATA_ROOT/training/videos/01_001.avi ...            330 videos, 274,515 frames, 856x480
    DATA_ROOT/training/frames/01_001/000.jpg ...        (accepted instead: the training frames extracted)
    DATA_ROOT/testing/frames/01_0014/000.jpg ...        107 videos, 40,791 frames
    DATA_ROOT/testing/test_frame_mask/01_0014.npy       one 0/1 label per frame
    DATA_ROOT/testing/test_pixel_mask/01_0014.npy       frames x height x width, 0/1

A video's scene is the first two digits of its id; ``--data-option scenes=01,04`` keeps those scenes (the per-scene
protocol). ``--data-option training=videos|frames`` chooses the training variant where a copy has both (``auto``:
the videos). Frames are decoded a range at a time, frame labels are read per video, and pixel masks are memory
mapped and sliced, so nothing holds a whole video, its masks or the split in memory. See datasets/shanghaitech.md.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench_core.dataset import GENERATED_MARKER, Dataset, DatasetOptions, Video, VideoInfo
from bench_core.errors import DataError
from bench_core.records import atomic_write_json
from bench_core.video_io import FrameFolderReader, image_size, open_video
from bench_core.views import cache_dir

from anobench_avenue.dataset import CONTENT_HASH, _memoised, content_hash, probe_video
from anobench_formats.shanghaitech import FRAME_MASKS, PIXEL_MASKS, TEST_FRAMES, TRAIN_FRAMES, TRAIN_VIDEOS

DEFAULT_DATA_ROOT = os.path.join("datasets", "shanghaitech")
TRAINING_VARIANTS = ("auto", "videos", "frames")
#: The official copy: (videos, frames) per split.
OFFICIAL_COUNTS = {"train": (330, 274_515), "test": (107, 40_791)}
#: Extracted frames carry no frame rate; the videos' rate is assumed (it only goes into the record).
FRAME_FOLDER_FPS = 24.0
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
#: Pixel masks are checked for values other than 0 and 1 this many frames at a time (bounded memory).
MASK_CHECK_FRAMES = 64
_CHECK_CACHE_VERSION = 1

_TRAIN_ID = re.compile(r"\d{2}_\d{3}")
_TEST_ID = re.compile(r"\d{2}_\d{4}")
_FRAME_NAME = re.compile(r"\d+")
_RECOPY = "copy it again from the ShanghaiTech Campus archive; see datasets/shanghaitech.md"


def scene_of(video_id: str) -> str:
    return video_id[:2]


@dataclass
class ShanghaiTechOptions(DatasetOptions):
    """Options of ``shanghaitech`` (``--data-option key=value``)."""

    #: Scenes to keep, e.g. ``01,04`` (the first two digits of the video ids); empty keeps every scene.
    scenes: tuple[str, ...] = ()
    #: Which training variant to read: ``videos`` (training/videos/*.avi), ``frames`` (training/frames/*/) or
    #: ``auto`` (the videos where both are there).
    training: str = "auto"

    def __post_init__(self):
        if isinstance(self.scenes, str):
            self.scenes = tuple(s for s in self.scenes.split(",") if s.strip())
        scenes = []
        for scene in self.scenes:
            scene = str(scene).strip()
            if not scene.isdigit() or not 1 <= len(scene) <= 2:
                raise ValueError(f"scenes must be scene numbers such as 01,04, not {scene!r}")
            scenes.append(f"{int(scene):02d}")
        self.scenes = tuple(sorted(set(scenes)))
        if self.training not in TRAINING_VARIANTS:
            raise ValueError(f"training must be one of {', '.join(TRAINING_VARIANTS)}, not {self.training!r}")


# --------------------------------------------------------------------------------------------- frame folders


@dataclass
class FrameListing:
    """The numbered frame images of one folder, in frame order, and what is wrong with their names."""

    folder: Path
    files: list[Path]
    problems: list[str]
    extras: list[str]


def list_frames(folder: Path) -> FrameListing:
    """``000.jpg``, ``001.jpg``, ... sorted by number. One naming per folder: a second suffix or zero padding to
    another width (``000.jpg`` beside ``0001.jpg``) is a problem, as are a duplicate and a gap, since any of them
    shifts later frames against their labels."""
    numbered: dict[int, Path] = {}
    problems, extras = [], []
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_dir() or path.suffix.lower() not in IMAGE_SUFFIXES or not _FRAME_NAME.fullmatch(path.stem):
            extras.append(str(path))
            continue
        number = int(path.stem)
        if number in numbered:
            problems.append(f"{path}: frame {number} again (also {numbered[number].name}); keep one")
            continue
        numbered[number] = path
    files = [numbered[n] for n in sorted(numbered)]
    suffixes = sorted({p.suffix.lower() for p in files})
    padded = {len(p.stem) for p in files if len(p.stem) > 1 and p.stem.startswith("0")}
    short = [p for p in files if not p.stem.startswith("0") and padded and len(p.stem) < max(padded)]
    if len(suffixes) > 1 or len(padded) > 1 or short:
        examples = [files[0].name] + [p.name for p in files if p.suffix.lower() != files[0].suffix.lower()
                                      or (len(p.stem) != len(files[0].stem) and (p.stem.startswith("0") or
                                                                                  p in short))][:1]
        problems.append(f"{folder}: mixed frame naming ({' and '.join(examples)}); name every frame alike, "
                        "e.g. 000.jpg, 001.jpg, ...")
    if files:
        numbers = sorted(numbered)
        if numbers[0] not in (0, 1):
            problems.append(f"{folder}: the first frame is {files[0].name}; frames are numbered from 0 (or 1)")
        gaps = [(a, b) for a, b in zip(numbers, numbers[1:]) if b != a + 1]
        if gaps:
            a, b = gaps[0]
            problems.append(f"{folder}: no frame {a + 1} (the frames jump from {numbered[a].name} to "
                            f"{numbered[b].name})")
    else:
        problems.append(f"{folder}: holds no frame images (000.jpg, 001.jpg, ...)")
    return FrameListing(folder, files, problems, extras)


# --------------------------------------------------------------------------------------------- videos


class ShanghaiTechVideo(Video):
    """One video: a training AVI or a folder of frames. Its reader opens on the first read and is let go after the
    last frame, so a split's videos never hold decoders (or frames) all at once."""

    def __init__(self, info: VideoInfo, source: Path, open_reader):
        self.info = info
        #: The ``.avi`` file or the frame folder.
        self.source = source
        self._open_reader = open_reader
        self._reader = None

    def read(self, start: int, stop: int) -> np.ndarray:
        if self._reader is None:
            self._reader = self._open_reader()
        frames = self._reader.read(start, stop)
        if stop >= self.info.n_frames:
            self._reader = None
        return frames


class ShanghaiTechTestVideo(ShanghaiTechVideo):
    """A test video: frame labels from ``test_frame_mask`` and, where there is one, its ``test_pixel_mask``."""

    def __init__(self, info: VideoInfo, source: Path, open_reader, dataset: "ShanghaiTech", video_id: str):
        super().__init__(info, source, open_reader)
        self._dataset = dataset
        self._video_id = video_id

    @property
    def labels(self) -> np.ndarray:
        return self._dataset.frame_labels(self._video_id)

    @property
    def has_pixel_masks(self) -> bool:
        return self._video_id in self._dataset.scan.pixel_masks

    def pixel_masks(self, start: int, stop: int) -> np.ndarray:
        """Frames start..stop's ground-truth masks: uint8 0/1 of shape (n, height, width) at the video's own size,
        sliced from a memory map of the mask file (never the whole file in memory)."""
        if not self.has_pixel_masks:
            raise DataError(f"test video {self._video_id} has no pixel mask file "
                            f"{self._dataset.root / PIXEL_MASKS / (self._video_id + '.npy')}",
                            hint="copy test_pixel_mask from the ShanghaiTech archive")
        if not 0 <= start <= stop <= self.info.n_frames:
            raise ValueError(f"frames {start}:{stop} are out of range for video {self.id} of {self.info.n_frames}")
        masks = self._dataset.pixel_mask_array(self._video_id)
        return np.asarray(masks[start:stop], dtype=np.uint8)


# --------------------------------------------------------------------------------------------- the dataset


@dataclass
class Scan:
    """What the folders hold, from directory listings only, before the ``scenes`` filter."""

    problems: list[str] = field(default_factory=list)
    #: "videos" or "frames": the training variant read.
    training: str | None = None
    #: id -> the .avi file (videos) or the frame folder (frames; all test videos).
    train: dict[str, Path] = field(default_factory=dict)
    test: dict[str, Path] = field(default_factory=dict)
    frame_masks: dict[str, Path] = field(default_factory=dict)
    pixel_masks: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


class ShanghaiTech(Dataset):
    """ShanghaiTech Campus: 13 scenes on a university campus, 330 training videos of normal footage and 107 test
    videos (running, cycling, skating, fighting, vehicles...), 856x480, with frame- and pixel-level ground truth."""

    real_footage = True  # recorded footage: runs default to the standard preset (bench_core/presets.py)

    Options = ShanghaiTechOptions
    #: ``anobench data generate shanghaitech`` takes the generator's options, not the loader's.
    views = ("frames",)
    label_conventions = ("frame",)
    version = "1"

    def __init__(self, name: str, options: ShanghaiTechOptions):
        super().__init__(name, options)  # make_dataset has refused a label convention other than 'frame'
        self._root_given = bool(options.data_root)
        # Resolved into a copy (never the caller's object: an Options class may be frozen, docs/plugins.md).
        self.options = dataclasses.replace(options, data_root=options.data_root or DEFAULT_DATA_ROOT,
                                           label_convention=self.label_convention)
        self._scan: Scan | None = None
        self._listings: dict[Path, FrameListing] = {}
        self._probes: dict[Path, object] = {}
        self._labels: dict[str, np.ndarray | DataError] = {}
        self._pixel_checked: dict[str, None | DataError] = {}
        self._fingerprint: dict | None = None

    @property
    def root(self) -> Path:
        return Path(self.options.data_root)

    # ----------------------------------------------------------------------------------------- layout

    @property
    def scan(self) -> Scan:
        if self._scan is None:
            self._scan = self._scan_folders()
        return self._scan

    def _scan_folders(self) -> Scan:
        scan, root = Scan(), self.root
        if not root.is_dir():
            default = "" if self._root_given else " (the default; give --data-root or ANOBENCH_DATA_ROOT)"
            scan.problems.append(f"{root}: no such folder{default}; it should hold training/ and testing/ as "
                                 "unpacked from the ShanghaiTech archive (see datasets/shanghaitech.md)")
            return scan
        videos_dir, frames_dir = root / TRAIN_VIDEOS, root / TRAIN_FRAMES
        present = [variant for variant, folder in (("videos", videos_dir), ("frames", frames_dir)) if folder.is_dir()]
        wanted = self.options.training
        if wanted == "auto":
            scan.training = present[0] if present else None
        elif wanted in present:
            scan.training = wanted
        if scan.training is None:
            which = f"{videos_dir} or {frames_dir}" if wanted == "auto" else str(root / f"training/{wanted}")
            scan.problems.append(f"{root}: no training footage: expected {which}")
        else:
            if len(present) == 2:
                other = "frames" if scan.training == "videos" else "videos"
                scan.notes.append(f"reading training/{scan.training}; training/{other} is ignored "
                                  f"(--data-option training={other} reads it instead)")
            if scan.training == "videos":
                self._scan_ids(scan, videos_dir, _TRAIN_ID, scan.train, ".avi", "01_001.avi")
            else:
                self._scan_ids(scan, frames_dir, _TRAIN_ID, scan.train, "", "01_001/")
        test_dir = root / TEST_FRAMES
        if test_dir.is_dir():
            self._scan_ids(scan, test_dir, _TEST_ID, scan.test, "", "01_0014/")
        else:
            scan.problems.append(f"{test_dir}: no such folder (the test videos' frames, testing/frames/01_0014/...)")
        mask_dir = root / FRAME_MASKS
        if mask_dir.is_dir():
            self._scan_ids(scan, mask_dir, _TEST_ID, scan.frame_masks, ".npy", "01_0014.npy")
        elif test_dir.is_dir():
            scan.problems.append(f"{mask_dir}: no such folder (one 0/1 label per frame for each test video, "
                                 "01_0014.npy, ...)")
        pixel_dir = root / PIXEL_MASKS
        if pixel_dir.is_dir():
            self._scan_ids(scan, pixel_dir, _TEST_ID, scan.pixel_masks, ".npy", "01_0014.npy")
        elif test_dir.is_dir():
            scan.notes.append(f"{pixel_dir}: no such folder; pixel-level metrics are not available")
        for video_id in sorted(scan.test):
            if video_id not in scan.frame_masks and mask_dir.is_dir():
                scan.problems.append(f"{mask_dir / (video_id + '.npy')}: missing: test video {video_id} "
                                     f"({test_dir / video_id}) has no frame labels")
        for kind, found, folder in (("frame", scan.frame_masks, mask_dir), ("pixel", scan.pixel_masks, pixel_dir)):
            orphans = sorted(set(found) - set(scan.test))
            if orphans:
                scan.notes.append(f"{folder}: {kind} masks without a test video, ignored: "
                                  + ", ".join(found[i].name for i in orphans[:5])
                                  + (f" and {len(orphans) - 5} more" if len(orphans) > 5 else ""))
        missing_pixel = sorted(set(scan.test) - set(scan.pixel_masks))
        if pixel_dir.is_dir() and missing_pixel:
            scan.notes.append(f"{pixel_dir}: no pixel masks for {len(missing_pixel)} of {len(scan.test)} test videos "
                              f"(e.g. {missing_pixel[0]}); pixel-level metrics leave them out")
        return scan

    @staticmethod
    def _scan_ids(scan: Scan, folder: Path, pattern: re.Pattern, found: dict[str, Path], suffix: str,
                  example: str) -> None:
        """Entries of ``folder`` named like ``example``: files with ``suffix`` or, with no suffix, folders. A name
        that is almost one (another number of digits, another suffix) is mixed naming, a problem naming it."""
        for path in sorted(folder.iterdir()):
            if path.name.startswith("."):
                continue
            is_entry = path.is_file() and path.suffix.lower() == suffix if suffix else path.is_dir()
            stem = path.name[:-len(suffix)] if suffix and is_entry else path.name
            if is_entry and pattern.fullmatch(stem):
                found[stem] = path
            elif is_entry or re.fullmatch(r"\d+_\d+(\.\w+)?", path.name):
                scan.problems.append(f"{path}: mixed naming: entries of {folder} are named like {example}")
            else:
                scan.ignored.append(str(path))

    def _selected(self, ids: dict[str, Path]) -> dict[str, Path]:
        scenes = self.options.scenes
        return {i: p for i, p in sorted(ids.items()) if not scenes or scene_of(i) in scenes}

    def _scene_problems(self) -> list[str]:
        scan = self.scan
        present = sorted({scene_of(i) for i in [*scan.train, *scan.test]})
        unknown = [s for s in self.options.scenes if s not in present]
        if not unknown or scan.training is None:
            return []
        return [f"--data-option scenes={','.join(self.options.scenes)}: no scene {', '.join(unknown)} in "
                f"{self.root} (its scenes: {', '.join(present) or 'none'})"]

    # ----------------------------------------------------------------------------------------- per video

    def _listing(self, folder: Path) -> FrameListing:
        if folder not in self._listings:
            self._listings[folder] = list_frames(folder)
        return self._listings[folder]

    def _probe(self, path: Path):
        return _memoised(self._probes, path, lambda: probe_video(path))

    def _folder_info(self, video_id: str, folder: Path) -> VideoInfo:
        listing = self._listing(folder)
        if listing.problems:
            raise DataError(listing.problems[0], hint=_RECOPY)
        height, width = image_size(listing.files[0])
        return VideoInfo(id=video_id, fps=FRAME_FOLDER_FPS, height=height, width=width, n_frames=len(listing.files))

    def _info(self, split: str, video_id: str) -> VideoInfo:
        source = (self.scan.train if split == "train" else self.scan.test)[video_id]
        if split == "train" and self.scan.training == "videos":
            probe = self._probe(source)
            return VideoInfo(id=video_id, fps=probe.fps, height=probe.height, width=probe.width,
                             n_frames=probe.n_frames)
        return self._folder_info(video_id, source)

    def frame_labels(self, video_id: str) -> np.ndarray:
        """Per-frame 0/1 labels (read-only int8) of test video ``video_id`` from its ``test_frame_mask`` file,
        checked against the frame count. Raises DataError naming the file at fault."""
        return _memoised(self._labels, video_id, lambda: self._read_frame_labels(video_id))

    def _read_frame_labels(self, video_id: str) -> np.ndarray:
        path = self.scan.frame_masks.get(video_id)
        if path is None:
            raise DataError(f"{self.root / FRAME_MASKS / (video_id + '.npy')}: missing: test video {video_id} has "
                            "no frame labels", hint=_RECOPY)
        values = _load_array(path)
        if values.ndim != 1:
            raise DataError(f"{path}: holds an array of shape {values.shape}, not one label per frame", hint=_RECOPY)
        _check_binary(path, values)
        info = self._info("test", video_id)
        if len(values) != info.n_frames:
            raise DataError(f"{path}: {len(values)} labels, but {self.scan.test[video_id]} has {info.n_frames} "
                            "frames", hint="one of the two is truncated or not the official one")
        labels = values.astype(np.int8)
        labels.setflags(write=False)
        return labels

    def pixel_mask_array(self, video_id: str) -> np.ndarray:
        """The memory-mapped (frames, height, width) 0/1 masks of test video ``video_id``, checked once."""
        path = self.scan.pixel_masks[video_id]
        _memoised(self._pixel_checked, video_id, lambda: self._check_pixel_masks(video_id, path))
        return _load_array(path, mmap=True)

    def _check_pixel_masks(self, video_id: str, path: Path) -> None:
        masks = _load_array(path, mmap=True)
        info = self._info("test", video_id)
        expected = (info.n_frames, info.height, info.width)
        if masks.shape != expected:
            raise DataError(f"{path}: masks of shape {masks.shape}, but test video {video_id} has {info.n_frames} "
                            f"frames of {info.height}x{info.width}: expected {expected} (frames, height, width)",
                            hint=_RECOPY)
        if masks.dtype.kind not in "biuf":
            raise DataError(f"{path}: holds {masks.dtype} values, not 0/1 masks", hint=_RECOPY)
        # The values are read once per file version (a few GB over the full set), then remembered on disk.
        size = path.stat().st_size
        key = hashlib.sha256(json.dumps([_CHECK_CACHE_VERSION, str(path.resolve()), size, path.stat().st_mtime_ns,
                                         content_hash(path, size)]).encode()).hexdigest()
        memo = cache_dir() / "shanghaitech" / "pixel-mask-checks" / f"{key}.json"
        if memo.is_file():
            return
        for start in range(0, len(masks), MASK_CHECK_FRAMES):
            _check_binary(path, masks[start:start + MASK_CHECK_FRAMES])
        try:
            atomic_write_json(memo, {"path": str(path), "size": size, "checked": "values are 0 and 1"})
        except OSError:
            pass  # a read-only cache costs time, not correctness

    # ----------------------------------------------------------------------------------------- Dataset API

    def has_pixel_masks(self) -> bool:
        """True when every selected test video has its ``test_pixel_mask`` file (the localization scorers need
        them all); decided from the listing, without reading the masks."""
        test = self._selected(self.scan.test)
        return bool(test) and all(video_id in self.scan.pixel_masks for video_id in test)

    def check(self) -> list[str]:
        scan = self.scan
        problems = list(scan.problems) + self._scene_problems()
        for split, found in (("train", scan.train), ("test", scan.test)):
            for video_id in self._selected(found):
                try:
                    self._info(split, video_id)
                    if split == "test" and video_id in scan.frame_masks:
                        self.frame_labels(video_id)
                    if split == "test" and video_id in scan.pixel_masks:
                        self.pixel_mask_array(video_id)
                except DataError as exc:
                    problems.append(str(exc))
        return list(dict.fromkeys(problems))

    def notes(self) -> list[str]:
        scan = self.scan
        notes = list(scan.notes)
        generated = (self.root / GENERATED_MARKER).is_file()
        if generated:
            notes.append(f"{self.root}: a generated copy written by 'anobench data generate shanghaitech', not the "
                         "official footage; its results are not comparable with published figures")
        selected = {split: self._selected(found) for split, found in (("train", scan.train), ("test", scan.test))}
        if self.options.scenes and not self._scene_problems():
            notes.append(f"scenes {', '.join(self.options.scenes)} only: {len(selected['train'])} training and "
                         f"{len(selected['test'])} test videos (the per-scene protocol)")
        elif not generated and scan.training is not None:
            for split, label in (("train", "training"), ("test", "test")):
                videos, _ = OFFICIAL_COUNTS[split]
                if len(selected[split]) < videos:
                    notes.append(f"partial copy: {len(selected[split])} of {videos} {label} videos "
                                 f"({videos - len(selected[split])} missing); results are not comparable with "
                                 "full-set figures")
        if scan.ignored:
            notes.append(f"ignored {len(scan.ignored)} entries outside the ShanghaiTech layout: "
                         + ", ".join(scan.ignored[:5]) + (" ..." if len(scan.ignored) > 5 else ""))
        extras = [e for listing in self._listings.values() for e in listing.extras]
        if extras:
            notes.append(f"ignored {len(extras)} files in frame folders that are not numbered images: "
                         + ", ".join(extras[:3]) + (" ..." if len(extras) > 3 else ""))
        return notes

    def _usable(self) -> Scan:
        problems = list(self.scan.problems) + self._scene_problems()
        if problems:
            raise DataError(problems[0], hint=f"run 'anobench data check {self.name}' for the full list")
        return self.scan

    def videos(self, split: str, view: str = "frames") -> list[Video]:
        self.require_split_and_view(split, view)
        scan = self._usable()
        result: list[Video] = []
        for video_id, source in self._selected(scan.train if split == "train" else scan.test).items():
            info = self._info(split, video_id)
            if split == "train" and scan.training == "videos":
                def opener(path=source):
                    return open_video(path)
            else:
                def opener(files=self._listing(source).files, info=info):
                    return FrameFolderReader(files, info.fps, info.height, info.width)
            if split == "train":
                result.append(ShanghaiTechVideo(info, source, opener))
            else:
                result.append(ShanghaiTechTestVideo(info, source, opener, self, video_id))
        return result

    def record_extras(self, view: str, test_videos: list[Video]) -> dict:
        return {
            "training": self.scan.training,
            "scenes": list(self.options.scenes) or "all",
            "abnormal_test_frames": int(sum(int(v.labels.sum()) for v in test_videos)),
            "test_videos_with_pixel_masks": sum(1 for v in test_videos if getattr(v, "has_pixel_masks", False)),
        }

    def fingerprint(self) -> dict:
        """The files the selected videos are made of. AVIs and mask files: size and sha256 over the size, the first
        and the last MiB (the whole file under 2 MiB, so every frame-label file is hashed whole); frame folders:
        the sha256 of their listing (name and size of every frame) and of their first and last frames. That pins
        truncation, re-encoding and swapped files without reading the ~20 GB of a full copy on every run."""
        if self._fingerprint is None:
            scan = self._usable()
            root = self.root
            files, folders = [], []
            for split, found in (("train", scan.train), ("test", scan.test)):
                for video_id, source in self._selected(found).items():
                    if source.is_file():
                        files.append(_file_entry(root, source))
                    else:
                        folders.append(self._folder_entry(root, source))
                    if split == "test":
                        for masks in (scan.frame_masks, scan.pixel_masks):
                            if video_id in masks:
                                files.append(_file_entry(root, masks[video_id]))
            self._fingerprint = {
                "dataset": "shanghaitech-campus",
                "plugin_version": self.version,
                "training": scan.training,
                "scenes": list(self.options.scenes) or "all",
                "label_convention": self.label_convention,
                "content_hash": CONTENT_HASH,
                "files": sorted(files, key=lambda e: e["path"]),
                "frame_folders": sorted(folders, key=lambda e: e["path"]),
            }
        return self._fingerprint

    def _folder_entry(self, root: Path, folder: Path) -> dict:
        listing = self._listing(folder)
        lines, total = [], 0
        for path in listing.files:
            size = path.stat().st_size
            total += size
            lines.append(f"{path.name}\t{size}\n")
        ends = [listing.files[0], listing.files[-1]]
        return {"path": folder.relative_to(root).as_posix(), "frames": len(listing.files), "bytes": total,
                "listing_sha256": hashlib.sha256("".join(lines).encode()).hexdigest(),
                "ends_hash": [content_hash(p, p.stat().st_size) for p in ends]}


def _file_entry(root: Path, path: Path) -> dict:
    size = path.stat().st_size
    return {"path": path.relative_to(root).as_posix(), "size": size, "hash": content_hash(path, size)}


def _load_array(path: Path, mmap: bool = False) -> np.ndarray:
    """A .npy file, never unpickled; DataError naming the file when numpy cannot read it."""
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        text = " ".join(str(exc).split())[:160]
        raise DataError(f"{path}: not a .npy array numpy can read ({type(exc).__name__}: {text})",
                        hint=_RECOPY) from None


def _check_binary(path: Path, values: np.ndarray) -> None:
    if values.dtype.kind not in "biuf":
        raise DataError(f"{path}: holds {values.dtype} values, not 0/1", hint=_RECOPY)
    if values.size and values.dtype.kind != "b":
        bad = values[(values != 0) & (values != 1)]
        if bad.size:
            raise DataError(f"{path}: holds values other than 0 and 1 (e.g. {bad.flat[0]!r})", hint=_RECOPY)
