"""``ucsd-ped2`` and ``ucsd-ped1``: the UCSD Anomaly Detection Dataset (Mahadevan, Li, Bhalodia, Vasconcelos, CVPR
2010), read from the files its owners publish.

Two on-disk layouts are recognised (``datasets/ucsd-ped2.md`` shows both):

* official, as unpacked from ``UCSD_Anomaly_Dataset.tar.gz``: ``UCSDped2/Train/Train001/001.tif``,
  ``UCSDped2/Test/Test001/001.tif``, pixel masks in ``UCSDped2/Test/Test001_gt/*.bmp`` and the frame-level ranges
  in ``UCSDped2/Test/UCSDped2.m``;
* research, as many public code bases re-pack it: ``ped2/training/frames/01/000.jpg``, ``ped2/testing/frames/01/``,
  with frame labels from ``testing/labels/01.txt``, a copy of ``UCSDped2.m``, or ``frame_labels_ped2.npy``.

Frames are image files, read with Pillow a range at a time and always returned as one grey channel,
(n, height, width, 1) uint8: the footage is greyscale, and a research copy's RGB JPEGs of it are converted with
Pillow's ITU-R 601-2 luma, the weights the harness itself uses.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import warnings
import zlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import ClassVar

import numpy as np
from PIL import Image, UnidentifiedImageError

from bench_core.dataset import Dataset, DatasetOptions, Video, VideoInfo
from bench_core.errors import DataError, UsageError, did_you_mean

from anobench_ucsd.labels import (GroundTruthEntry, LabelFileError, read_ground_truth_script, read_label_array,
                                  read_label_text)

#: Where users put their data (``datasets/`` of the working directory) unless --data-root or the environment says.
DEFAULT_DATA_ROOT = os.path.join("datasets", "ucsd")
#: The UCSD clips were recorded at 10 frames per second.
FPS = 10.0
LAYOUTS = ("auto", "official", "research")
SPLITS = ("train", "test")
ARCHIVE_FOLDER = "UCSD_Anomaly_Dataset.v1p2"
IMAGE_SUFFIXES = frozenset({".tif", ".tiff", ".bmp", ".png", ".jpg", ".jpeg"})
# A frame or mask file: an optional word (`frame042.bmp`) and the frame number, which is what orders them.
_NUMBERED_IMAGE = re.compile(r"[A-Za-z_\-]*?(\d+)")
# Problems and notes list at most this many names, then say how many more there are.
_MAX_NAMES = 5


@dataclass(frozen=True)
class Variant:
    """What the official copy of one UCSD subset holds, to tell a partial copy from a complete one."""

    folder: str  # the official folder, e.g. UCSDped2
    short: str  # the research layout's folder, e.g. ped2
    dataset: str  # the anobench dataset name
    train_videos: int
    test_videos: int
    train_frames: int
    height: int
    width: int
    #: Frames of each official test video, in order (Test001 first).
    test_lengths: tuple[int, ...]
    #: Whether the official copy has a TestNNN_gt mask folder for every test video.
    masks_for_every_test_video: bool

    @property
    def test_frames(self) -> int:
        return sum(self.test_lengths)


PED2 = Variant("UCSDped2", "ped2", "ucsd-ped2", 16, 12, 2550, 240, 360,
               (180, 180, 150, 180, 150, 180, 180, 180, 120, 150, 180, 180), True)
PED1 = Variant("UCSDped1", "ped1", "ucsd-ped1", 34, 36, 6800, 158, 238, (200,) * 36, False)


@dataclass
class UCSDOptions(DatasetOptions):
    """Options of ``ucsd-ped2`` and ``ucsd-ped1`` (``--data-option key=value``)."""

    #: The folder holding ``UCSDped2/`` (or ``UCSD_Anomaly_Dataset.v1p2/``, or the research layout's ``ped2/``);
    #: it may also be that folder itself.
    data_root: str = DEFAULT_DATA_ROOT
    #: ``auto`` (the official layout where both are present), ``official`` or ``research``.
    layout: str = "auto"

    def __post_init__(self):
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, not {self.layout!r}")


def _is_stray(name: str) -> bool:
    """Files macOS leaves behind (AppleDouble ``._*``, Finder's ``.DS_Store``, zip's ``__MACOSX``)."""
    return name.startswith("._") or name in (".DS_Store", "__MACOSX")


def _listdir(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if not _is_stray(p.name)), key=lambda p: p.name)


def _subset_names(root: Path) -> set[str]:
    """The UCSD subsets (UCSDped1, UCSDped2) that ``root`` is, or holds in either layout."""
    return {o.folder for o in (PED1, PED2)
            if root.name in (o.folder, o.short) or (root / o.folder).is_dir() or (root / o.short).is_dir()
            or (root / ARCHIVE_FOLDER / o.folder).is_dir()}


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:_MAX_NAMES])
    return shown + (f" and {len(items) - _MAX_NAMES} more" if len(items) > _MAX_NAMES else "")


@dataclass
class FrameFolder:
    """A folder of numbered images: a video's frames or its masks, in frame order."""

    path: Path
    files: list[Path]
    #: Entries that are not numbered images (listed in notes).
    extras: list[str]


def _read_frame_folder(folder: Path, kind: str, problems: list[str]) -> FrameFolder:
    """The numbered images of ``folder`` sorted by number (``frame10.bmp`` after ``frame9.bmp``); a duplicate or
    missing number is a problem, since it shifts every later frame against its label."""
    numbered: dict[int, Path] = {}
    extras = []
    for path in _listdir(folder):
        match = _NUMBERED_IMAGE.fullmatch(path.stem)
        if path.is_dir() or path.suffix.lower() not in IMAGE_SUFFIXES or match is None:
            extras.append(path.name + ("/" if path.is_dir() else ""))
            continue
        number = int(match[1])
        if number in numbered:
            problems.append(f"{numbered[number]} and {path.name} are both {kind} {number}; remove one")
            continue
        numbered[number] = path
    numbers = sorted(numbered)
    gaps = [(a, b) for a, b in zip(numbers, numbers[1:]) if b != a + 1]
    if gaps:
        a, b = gaps[0]
        missing = f"{kind} {a + 1}" if b == a + 2 else f"{kind}s {a + 1} to {b - 1}"
        problems.append(f"{folder} has no {missing}: its images jump from {numbered[a].name} to {numbered[b].name}")
    return FrameFolder(folder, [numbered[n] for n in numbers], extras)


@dataclass
class VideoFolder:
    """One video as found on disk: its frames and, for an official test video, its mask folder."""

    id: str
    number: int
    frames: FrameFolder
    masks: FrameFolder | None = None


@dataclass
class LabelSource:
    """Where the frame labels of the ``frame`` convention come from."""

    kind: str  # "script" (a UCSDpedN.m), "text" (one file per video) or "array" (one .npy for all videos)
    path: Path  # the file, or the folder of per-video files
    files: list[Path] = field(default_factory=list)


@dataclass
class Scan:
    """The layout, videos and label files found under the data root, and what is wrong or odd about them."""

    layout: str | None = None
    #: The UCSDpedN folder (official) or the folder holding training/ and testing/ (research).
    base: Path | None = None
    videos: dict[str, list[VideoFolder]] = field(default_factory=lambda: {"train": [], "test": []})
    label_source: LabelSource | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Verification:
    """What reading every file found: per-file size and crc32, mask contents, and unreadable files."""

    checksums: dict[Path, tuple[int, int]] = field(default_factory=dict)
    mask_set: dict[Path, bool] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class UCSDVideo(Video):
    """One UCSD clip: a folder of frame images, decoded with Pillow only when read."""

    def __init__(self, info: VideoInfo, frames: list[Path], labels: np.ndarray | None, dataset_name: str,
                 mask_files: list[Path] | None = None):
        self.info = info
        #: The frame image files, in frame order.
        self.frame_files = list(frames)
        self.labels = labels
        self._dataset_name = dataset_name
        #: The pixel masks (a TestNNN_gt folder's images), in frame order; None where the copy has none.
        self.mask_files = list(mask_files) if mask_files is not None else None
        self.has_pixel_masks = mask_files is not None

    def pixel_masks(self, start: int, stop: int) -> np.ndarray:
        """A pixel is abnormal where its mask image is not 0 (the masks are 0/255 BMPs). A mask of another size
        than the frame (a few official ones; 'data check' notes them) is resized to it, nearest neighbour."""
        if self.mask_files is None:
            return super().pixel_masks(start, stop)
        if not 0 <= start <= stop <= self.info.n_frames:
            raise ValueError(f"frames {start}:{stop} are out of range for video {self.id} "
                             f"of {self.info.n_frames} frames")
        out = np.empty((stop - start, self.info.height, self.info.width), dtype=np.uint8)
        for i, path in enumerate(self.mask_files[start:stop]):
            try:
                with Image.open(path) as image:
                    grey = image.convert("L")
                    if grey.size != (self.info.width, self.info.height):
                        grey = grey.resize((self.info.width, self.info.height), Image.Resampling.NEAREST)
                    out[i] = np.asarray(grey) != 0
            except (OSError, SyntaxError, ValueError) as exc:
                raise DataError(f"cannot read mask {path}: {_describe(exc)}",
                                hint=f"run 'anobench data check {self._dataset_name}'") from None
        return out

    def read(self, start: int, stop: int) -> np.ndarray:
        if not 0 <= start <= stop <= self.info.n_frames:
            raise ValueError(f"frames {start}:{stop} are out of range for video {self.id} "
                             f"of {self.info.n_frames} frames")
        out = np.empty((stop - start, self.info.height, self.info.width, 1), dtype=np.uint8)
        for i, path in enumerate(self.frame_files[start:stop]):
            try:
                with Image.open(path) as image:
                    grey = image if image.mode == "L" else image.convert("L")
                    pixels = np.asarray(grey)
            except (OSError, SyntaxError, ValueError) as exc:
                raise DataError(f"cannot read frame {path}: {_describe(exc)}",
                                hint=f"run 'anobench data check {self._dataset_name}'") from None
            if pixels.shape != (self.info.height, self.info.width):
                raise DataError(f"frame {path} is {pixels.shape[0]}x{pixels.shape[1]}, not "
                                f"{self.info.height}x{self.info.width} (height x width) like the first frame of "
                                f"{self.id}",
                                hint=f"run 'anobench data check {self._dataset_name}'")
            out[i, :, :, 0] = pixels
        return out


def _has_set_pixel(mask: Image.Image) -> bool:
    """Whether any pixel of a mask is not 0 (getbbox finds the non-zero region in C, without a numpy copy)."""
    return mask.convert("L").getbbox() is not None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, UnidentifiedImageError):
        return "not an image Pillow can read"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


class UCSDPed(Dataset):
    """A UCSD pedestrian subset; ``UCSDPed2`` and ``UCSDPed1`` say which."""

    real_footage = True  # recorded footage: runs default to the standard preset (bench_core/presets.py)

    Options = UCSDOptions
    views = ("frames",)
    #: ``frame``: the ranges of the official .m file (what published frame AUROCs use); ``mask``: a frame is
    #: abnormal where its pixel mask has any pixel set.
    label_conventions = ("frame", "mask")
    version = "1"
    variant: ClassVar[Variant]

    def __init__(self, name: str, options: UCSDOptions):
        super().__init__(name, options)
        if self.label_convention not in self.label_conventions:
            raise UsageError(f"dataset '{name}' has no label convention '{self.label_convention}'",
                             hint=did_you_mean(self.label_convention, self.label_conventions))
        self._videos: dict[str, list[UCSDVideo]] = {}
        self._mask_labels: dict[str, np.ndarray] = {}

    @property
    def data_root(self) -> Path:
        return Path(self.options.data_root or DEFAULT_DATA_ROOT)

    # ---- finding the files -------------------------------------------------------------------------------------

    @cached_property
    def scan(self) -> Scan:
        scan = Scan()
        self._locate(scan)
        if scan.layout == "official":
            self._scan_official(scan)
        elif scan.layout == "research":
            self._scan_research(scan)
        if scan.layout is not None:
            self._note_partial_copy(scan)
        return scan

    def _locate(self, scan: Scan) -> None:
        v, root, wanted = self.variant, self.data_root, self.options.layout
        if root.is_file():
            scan.problems.append(f"data root {root} is a file, not a folder (give the folder holding "
                                 f"{v.folder} with --data-root or ANOBENCH_DATA_ROOT)")
            return
        if not root.is_dir():
            scan.problems.append(
                f"data root {root} does not exist (put the {v.folder} folder of {ARCHIVE_FOLDER} there, "
                f"or give the folder with --data-root or ANOBENCH_DATA_ROOT)")
            return
        official = [c for c in (root / v.folder, root / ARCHIVE_FOLDER / v.folder) if c.is_dir()]
        if (root / "Train").is_dir() or (root / "Test").is_dir():
            official.append(root)
        research = [c for c in (root / v.short, root) if (c / "training").is_dir() or (c / "testing").is_dir()]
        found = {"official": official, "research": research}
        layouts = [wanted] if wanted != "auto" else ["official", "research"]
        chosen = next((layout for layout in layouts if found[layout]), None)
        if chosen is None:
            expected = {"official": f"{root / v.folder}/Train and Test",
                        "research": f"{root / v.short}/training and testing"}
            other = next((o for o in (PED1, PED2) if o is not v and o.folder in _subset_names(root)), None)
            hint = f"; this looks like {other.folder}: use dataset '{other.dataset}'" if other else ""
            scan.problems.append(f"no {v.folder} files under {root}: expected "
                                 + " or ".join(f"{expected[layout]} ({layout} layout)" for layout in layouts) + hint)
            return
        scan.layout, scan.base = chosen, found[chosen][0]
        other = next((o for o in (PED1, PED2) if o is not v and root.name in (o.folder, o.short)), None)
        if scan.base == root and other is not None:
            scan.problems.append(f"data root {root} is {root.name}, not {v.folder}: use dataset '{other.dataset}', "
                                 "or point --data-root at the right folder")
        ignored = [str(c) for layout in ("official", "research") for c in found[layout] if c != scan.base]
        if ignored:
            scan.notes.append(f"using the {chosen} layout in {scan.base}; also found {_names(ignored)}, which is "
                              "ignored (set --data-option layout=... or --data-root to choose)")

    def _scan_official(self, scan: Scan) -> None:
        v, base = self.variant, scan.base
        for split, prefix in (("train", "Train"), ("test", "Test")):
            folder = base / prefix
            if not folder.is_dir():
                scan.problems.append(f"missing folder {folder} (the official layout has {base}/Train and "
                                     f"{base}/Test)")
                continue
            videos: dict[int, VideoFolder] = {}
            masks: dict[int, Path] = {}
            extras = []
            for path in _listdir(folder):
                video = re.fullmatch(prefix + r"(\d+)", path.name, re.IGNORECASE)
                mask = re.fullmatch(prefix + r"(\d+)_gt", path.name, re.IGNORECASE) if split == "test" else None
                if path.is_dir() and video:
                    number = int(video[1])
                    if number in videos:
                        scan.problems.append(f"{videos[number].frames.path} and {path} are both "
                                             f"{prefix}{number:03d}; remove one")
                        continue
                    videos[number] = VideoFolder(path.name, number, _read_frame_folder(path, "frame", scan.problems))
                elif path.is_dir() and mask:
                    masks[int(mask[1])] = path
                elif split == "test" and path.name.lower() == f"{v.folder}.m".lower() and path.is_file():
                    scan.label_source = LabelSource("script", path, [path])
                else:
                    extras.append(path.name + ("/" if path.is_dir() else ""))
            for number, mask_path in sorted(masks.items()):
                if number not in videos:
                    extras.append(f"{mask_path.name}/ (masks of a video that is not there)")
                    continue
                video = videos[number]
                video.masks = _read_frame_folder(mask_path, "mask", scan.problems)
                if len(video.masks.files) != len(video.frames.files):
                    scan.problems.append(f"{mask_path} has {len(video.masks.files)} masks for the "
                                         f"{len(video.frames.files)} frames of {video.id}")
            scan.videos[split] = [videos[n] for n in sorted(videos)]
            self._note_extras(scan, folder, extras)
        if scan.label_source is None and (base / "Test").is_dir() and self.label_convention == "frame":
            scan.problems.append(f"missing label file {base / 'Test' / (v.folder + '.m')} (the frame-level "
                                 "ranges of the official archive; or use --data-option label_convention=mask)")

    def _scan_research(self, scan: Scan) -> None:
        v, base = self.variant, scan.base
        for split, folder_name in (("train", "training"), ("test", "testing")):
            split_folder = base / folder_name
            if not split_folder.is_dir():
                scan.problems.append(f"missing folder {split_folder} (the research layout has {base}/training "
                                     f"and {base}/testing)")
                continue
            folder = split_folder / "frames" if (split_folder / "frames").is_dir() else split_folder
            videos: dict[int, VideoFolder] = {}
            extras = []
            for path in _listdir(folder):
                if path.is_dir() and path.name.isdigit():
                    number = int(path.name)
                    if number in videos:
                        scan.problems.append(f"{videos[number].frames.path} and {path} are both video {number}; "
                                             "remove one")
                        continue
                    videos[number] = VideoFolder(path.name, number, _read_frame_folder(path, "frame", scan.problems))
                elif not (split == "test" and folder == split_folder and path.name == "labels"):
                    extras.append(path.name + ("/" if path.is_dir() else ""))
            scan.videos[split] = [videos[n] for n in sorted(videos)]
            self._note_extras(scan, folder, extras)
        if self.label_convention == "mask":
            scan.problems.append(f"label_convention=mask needs the pixel masks (TestNNN_gt folders) of the official "
                                 f"layout; the research layout in {base} has none (use label_convention=frame)")
            return
        candidates = []
        labels_folder = base / "testing" / "labels"
        if labels_folder.is_dir():
            candidates.append(LabelSource("text", labels_folder, sorted(labels_folder.glob("*.txt"))))
        for folder in dict.fromkeys((base, self.data_root)):
            for name, kind in ((f"{v.folder}.m", "script"), (f"frame_labels_{v.short}.npy", "array")):
                if (folder / name).is_file():
                    candidates.append(LabelSource(kind, folder / name, [folder / name]))
        if not candidates:
            mat = [p.name for p in (base / f"{v.short}.mat", self.data_root / f"{v.short}.mat") if p.is_file()]
            about_mat = (f" ({mat[0]} is not read: convert it to one of these, see datasets/{self.variant.dataset}"
                         ".md)") if mat else ""
            scan.problems.append(f"no frame labels for the research layout in {base}: expected {labels_folder}/NN.txt "
                                 f"per test video, {base / (v.folder + '.m')} or "
                                 f"{base / f'frame_labels_{v.short}.npy'}{about_mat}")
            return
        scan.label_source = candidates[0]
        if len(candidates) > 1:
            scan.notes.append(f"frame labels are read from {candidates[0].path}; "
                              f"{_names([str(c.path) for c in candidates[1:]])} ignored")

    def _note_extras(self, scan: Scan, folder: Path, extras: list[str]) -> None:
        if extras:
            scan.notes.append(f"anobench does not use these entries of {folder}: {_names(extras)}")
        inner = [(video.frames.path, video.frames.extras) for split in SPLITS for video in scan.videos[split]
                 if video.frames.path.parent == folder and video.frames.extras]
        inner += [(video.masks.path, video.masks.extras) for video in scan.videos["test"]
                  if video.masks is not None and video.masks.path.parent == folder and video.masks.extras]
        if inner:
            scan.notes.append(f"files that are not numbered images are ignored in {len(inner)} video folders of "
                              f"{folder} ({sum(len(e) for _, e in inner)} in all), e.g. {inner[0][0] / inner[0][1][0]}")

    def _note_partial_copy(self, scan: Scan) -> None:
        v = self.variant
        official = scan.layout == "official"
        for split, count in (("train", v.train_videos), ("test", v.test_videos)):
            numbers = {video.number for video in scan.videos[split]}
            name = ("Train" if split == "train" else "Test") if official else ""

            def label(n: int) -> str:
                return f"{name}{n:03d}" if official else f"{n:02d}"

            missing = [label(n) for n in range(1, count + 1) if n not in numbers]
            extra = [label(n) for n in sorted(numbers) if n > count]
            if missing:
                scan.notes.append(f"partial copy: {split} has {count - len(missing)} of the {count} {v.folder} "
                                  f"videos; missing {_names(missing)}")
            if extra:
                scan.notes.append(f"{split} videos {_names(extra)} are not in the official {v.folder} "
                                  f"({count} {split} videos)")
            frames = sum(len(video.frames.files) for video in scan.videos[split])
            official_frames = v.train_frames if split == "train" else v.test_frames
            if not missing and not extra and frames != official_frames:
                scan.notes.append(f"{split} holds {frames:,} frames; the official {v.folder} has {official_frames:,}")
        if official and v.masks_for_every_test_video and self.label_convention == "frame":
            unmasked = [video.id for video in scan.videos["test"] if video.masks is None]
            if unmasked:
                scan.notes.append(f"test videos {_names(unmasked)} have no pixel masks (TestNNN_gt), which the "
                                  "official copy has")

    # ---- labels ------------------------------------------------------------------------------------------------

    @cached_property
    def frame_label_reading(self) -> tuple[dict[str, np.ndarray], list[str]]:
        """Frame labels of the ``frame`` convention per test video id, and the problems found reading them."""
        scan, source = self.scan, self.scan.label_source
        videos = scan.videos["test"]
        if source is None:
            return {}, []
        try:
            if source.kind == "script":
                return self._labels_from_script(source.path, read_ground_truth_script(source.path), videos)
            if source.kind == "text":
                return self._labels_from_text(source, videos)
            return self._labels_from_array(source.path, read_label_array(source.path), videos)
        except LabelFileError as exc:
            return {}, [str(exc)]

    def _labels_from_script(self, path: Path, entries: list[GroundTruthEntry],
                            videos: list[VideoFolder]) -> tuple[dict[str, np.ndarray], list[str]]:
        by_index = {entry.index: entry for entry in entries}
        numbers = {video.number for video in videos}
        labels, problems = {}, []
        for video in videos:
            entry = by_index.get(video.number)
            n_frames = len(video.frames.files)
            if entry is None:
                problems.append(f"{path} has no gt_frame for {video.id} (it assigns test videos "
                                f"{entries[0].index} to {entries[-1].index})")
            elif entry.last_frame() > n_frames:
                ranges = ", ".join(str(r) for r in entry.ranges)
                problems.append(f"{path} line {entry.line}: gt_frame [{ranges}] of {video.id} goes past its "
                                f"{n_frames} frames")
            else:
                labels[video.id] = entry.labels(n_frames)
        for entry in entries:
            if entry.index not in numbers and entry.index > self.variant.test_videos:
                problems.append(f"{path} line {entry.line}: gt_frame for test video {entry.index}, which "
                                f"{self.variant.folder} does not have ({self.variant.test_videos} test videos, "
                                "and no such folder)")
        return labels, problems

    def _labels_from_text(self, source: LabelSource,
                          videos: list[VideoFolder]) -> tuple[dict[str, np.ndarray], list[str]]:
        by_number = {int(p.stem): p for p in source.files if p.stem.isdigit()}
        labels, problems = {}, []
        for video in videos:
            path = by_number.get(video.number)
            if path is None:
                problems.append(f"missing label file {source.path / (video.id + '.txt')} for test video {video.id}")
                continue
            values = read_label_text(path)
            if len(values) != len(video.frames.files):
                problems.append(f"{path} has {len(values)} labels for the {len(video.frames.files)} frames of "
                                f"test video {video.id}")
                continue
            labels[video.id] = values
        return labels, problems

    def _labels_from_array(self, path: Path, values: np.ndarray,
                           videos: list[VideoFolder]) -> tuple[dict[str, np.ndarray], list[str]]:
        """The array concatenates the test videos in order. It is split by the videos present when its length is
        theirs, else by the official video lengths (a full-length file with a partial copy of the frames)."""
        lengths = [len(video.frames.files) for video in videos]
        official = self.variant.test_lengths
        if len(values) == sum(lengths):
            offsets = np.cumsum([0] + lengths)
            return {video.id: values[offsets[i]:offsets[i + 1]] for i, video in enumerate(videos)}, []
        if len(values) == sum(official) and all(1 <= video.number <= len(official) for video in videos):
            offsets = np.cumsum((0,) + official)
            labels, problems = {}, []
            for video in videos:
                expected = official[video.number - 1]
                if len(video.frames.files) != expected:
                    problems.append(f"{path} holds the official {self.variant.folder} labels, with {expected} for "
                                    f"test video {video.id}, which has {len(video.frames.files)} frames")
                    continue
                labels[video.id] = values[offsets[video.number - 1]:offsets[video.number]]
            return labels, problems
        return {}, [f"{path} has {len(values)} labels for the {sum(lengths)} frames of the {len(videos)} test "
                    f"videos here (and the official {self.variant.folder} has {sum(official)})"]

    def _mask_problems(self) -> list[str]:
        if self.label_convention != "mask" or self.scan.layout != "official":
            return []
        unmasked = [video for video in self.scan.videos["test"] if video.masks is None]
        if not unmasked:
            return []
        first = unmasked[0].frames.path
        more = f" (and {len(unmasked) - 1} more test videos)" if len(unmasked) > 1 else ""
        return [f"label_convention=mask needs pixel masks for every test video; {first} has no "
                f"{first.name}_gt folder{more} (use label_convention=frame)"]

    def _labels_from_masks(self, video: VideoFolder) -> np.ndarray:
        if video.id not in self._mask_labels:
            known = self.__dict__.get("verification")
            flags = []
            for path in video.masks.files:
                if known is not None and path in known.mask_set:
                    flags.append(known.mask_set[path])
                    continue
                try:
                    with Image.open(path) as image:
                        flags.append(_has_set_pixel(image))
                except (OSError, SyntaxError, ValueError) as exc:
                    raise DataError(f"cannot read mask {path}: {_describe(exc)}",
                                    hint=f"run 'anobench data check {self.name}'") from None
            self._mask_labels[video.id] = np.array(flags, dtype=np.uint8)
        return self._mask_labels[video.id]

    # ---- reading every file ------------------------------------------------------------------------------------

    @cached_property
    def verification(self) -> Verification:
        """Read and decode every frame and mask once: a truncated or foreign file is found before a run starts,
        and the same bytes give the per-file crc32 of the fingerprint."""
        result = Verification()
        mask_size_mismatch: list[Path] = []
        for split in SPLITS:
            for video in self.scan.videos[split]:
                folders = [(video.frames, False)] + ([(video.masks, True)] if video.masks is not None else [])
                frame_size = None
                for folder, is_mask in folders:
                    bad: list[str] = []
                    for path in folder.files:
                        size, problem = self._verify_file(path, is_mask, result)
                        if problem:
                            bad.append(problem)
                        elif not is_mask:
                            if frame_size is None:
                                frame_size = size
                            elif size != frame_size:
                                bad.append(f"frame {path} is {size[1]}x{size[0]}, not {frame_size[1]}x"
                                           f"{frame_size[0]} (height x width) like the first frame of {video.id}")
                        elif frame_size is not None and size != frame_size:
                            mask_size_mismatch.append(path)
                    if bad:
                        more = f" (and {len(bad) - 1} more in {folder.path})" if len(bad) > 1 else ""
                        result.problems.append(bad[0] + more)
        if mask_size_mismatch:
            result.notes.append(f"{len(mask_size_mismatch)} masks are not the size of their frames, e.g. "
                                f"{mask_size_mismatch[0]} (frame labels use only whether a mask has any pixel set; the "
                                "localization scorers resize masks to their frame, nearest neighbour)")
        for label_file in self.scan.label_source.files if self.scan.label_source else []:
            try:
                self._read_checksummed(label_file, result)
            except OSError as exc:
                result.problems.append(f"cannot read {label_file}: {exc.strerror or exc}")
        return result

    @staticmethod
    def _read_checksummed(path: Path, result: Verification) -> bytes:
        """The file's bytes, with its size and crc32 recorded (OSError where it cannot be read)."""
        data = path.read_bytes()
        result.checksums[path] = (len(data), zlib.crc32(data))
        return data

    def _verify_file(self, path: Path, is_mask: bool, result: Verification) -> tuple[tuple[int, int], str | None]:
        kind = "mask" if is_mask else "frame"
        try:
            data = self._read_checksummed(path, result)
        except OSError as exc:
            return (0, 0), f"cannot read {kind} {path}: {exc.strerror or exc}"
        try:
            with warnings.catch_warnings():
                # Pillow warns about odd metadata (EXIF) it can skip; only pixel data that fails to decode counts.
                warnings.simplefilter("ignore")
                with Image.open(io.BytesIO(data)) as image:
                    image.load()
                    if is_mask:
                        result.mask_set[path] = _has_set_pixel(image)
                    return image.size, None
        except (OSError, SyntaxError, ValueError) as exc:
            return (0, 0), f"unreadable {kind} image {path}: {_describe(exc)}"

    # ---- the Dataset interface ---------------------------------------------------------------------------------

    def _layout_and_label_problems(self) -> list[str]:
        """What stops the videos and their labels from being listed at all (check() adds per-file problems)."""
        problems = list(self.scan.problems) + self._mask_problems()
        if self.label_convention == "frame":
            problems += self.frame_label_reading[1]
        return problems

    def check(self) -> list[str]:
        scan = self.scan
        problems = self._layout_and_label_problems()
        if scan.layout is None:
            return problems
        for split in SPLITS:
            for video in scan.videos[split]:
                if not video.frames.files:
                    problems.append(f"video folder {video.frames.path} is empty (no numbered frame images)")
            if not scan.videos[split] and (scan.base / self._split_folder(split)).is_dir():
                problems.append(f"{scan.base / self._split_folder(split)} holds no {split} videos")
        problems += self.verification.problems
        return problems

    def _split_folder(self, split: str) -> str:
        if self.scan.layout == "official":
            return "Train" if split == "train" else "Test"
        return "training" if split == "train" else "testing"

    def notes(self) -> list[str]:
        notes = list(self.scan.notes)
        if "verification" in self.__dict__:  # only once check() has read the files; notes() alone stays cheap
            notes += self.verification.notes
        official_size = (self.variant.width, self.variant.height)  # Pillow's order
        other_size = []
        for split in SPLITS:
            for video in self.scan.videos[split]:
                size = self._header_size(video.frames.files[0]) if video.frames.files else None
                if size is not None and size != official_size:
                    other_size.append((video.id, size))
        if other_size:
            video_id, (width, height) = other_size[0]
            notes.append(f"{len(other_size)} videos are not {self.variant.height}x{self.variant.width} (height x "
                         f"width) like {self.variant.folder}'s, e.g. {video_id} is {height}x{width}")
        return notes

    @staticmethod
    def _header_size(path: Path) -> tuple[int, int] | None:
        try:
            with Image.open(path) as image:
                return image.size
        except (OSError, SyntaxError, ValueError):
            return None

    def videos(self, split: str, view: str = "frames") -> list[Video]:
        self.require_split_and_view(split, view)
        if split not in self._videos:
            problems = self._layout_and_label_problems()
            if problems:
                raise DataError(problems[0], hint=f"run 'anobench data check {self.name}' for the full list")
            self._videos[split] = [self._video(split, folder) for folder in self.scan.videos[split]]
        return list(self._videos[split])

    def _video(self, split: str, folder: VideoFolder) -> UCSDVideo:
        if not folder.frames.files:
            raise DataError(f"video folder {folder.frames.path} is empty (no numbered frame images)")
        first = folder.frames.files[0]
        try:
            with Image.open(first) as image:
                width, height = image.size
        except (OSError, SyntaxError, ValueError) as exc:
            raise DataError(f"cannot read frame {first}: {_describe(exc)}",
                            hint=f"run 'anobench data check {self.name}'") from None
        labels = None
        if split == "test":
            labels = (self.frame_label_reading[0][folder.id] if self.label_convention == "frame"
                      else self._labels_from_masks(folder))
        info = VideoInfo(id=folder.id, fps=FPS, height=height, width=width, n_frames=len(folder.frames.files),
                         channels=1)
        masks = folder.masks.files if split == "test" and folder.masks is not None else None
        return UCSDVideo(info, folder.frames.files, labels, self.name, masks)

    def has_pixel_masks(self) -> bool:
        """Only the official layout has masks, and Ped1's copy only for some test videos: all must have them."""
        tests = self.scan.videos["test"]
        return not self.scan.problems and bool(tests) and all(video.masks is not None for video in tests)

    def fingerprint(self) -> dict:
        """The layout and label convention, per-split counts, and a sha256 of the listing of every file the data
        is made of (frames, and the label files of the convention): one ``path size crc32`` line per file, paths
        relative to the UCSDpedN (or research) folder, so that where the copy sits does not matter but any change
        to a file's bytes does."""
        problems = self.check()
        if problems:
            raise DataError(problems[0], hint=f"run 'anobench data check {self.name}' for the full list")
        scan, checksums = self.scan, self.verification.checksums
        files = [path for split in SPLITS for video in scan.videos[split] for path in video.frames.files]
        if self.label_convention == "mask":
            files += [path for video in scan.videos["test"] for path in video.masks.files]
            label_files = sorted({os.path.relpath(video.masks.path, scan.base) for video in scan.videos["test"]})
        else:
            files += scan.label_source.files
            label_files = [os.path.relpath(path, scan.base) for path in scan.label_source.files]
        lines = sorted(f"{Path(os.path.relpath(path, scan.base)).as_posix()}\t{checksums[path][0]}\t"
                       f"{checksums[path][1]:08x}\n" for path in files)
        counts = {}
        for split in SPLITS:
            videos = self.videos(split)
            counts[split] = {"videos": len(videos), "frames": sum(len(video) for video in videos)}
        counts["test"]["abnormal_frames"] = int(sum(int(video.labels.sum()) for video in self.videos("test")))
        return {
            "variant": self.variant.folder,
            "loader_version": self.version,
            "layout": scan.layout,
            "label_convention": self.label_convention,
            "label_files": [Path(p).as_posix() for p in label_files],
            "files": len(lines),
            "bytes": sum(checksums[path][0] for path in files),
            "listing_sha256": hashlib.sha256("".join(lines).encode()).hexdigest(),
            **counts,
        }


class UCSDPed2(UCSDPed):
    """UCSD Ped2: 16 training and 12 test clips of 240x360 grey frames, walkers parallel to the camera plane; test
    anomalies are cyclists, skaters and small carts."""

    variant = PED2


class UCSDPed1(UCSDPed):
    """UCSD Ped1: 34 training and 36 test clips of 158x238 grey frames, walkers towards and away from the camera;
    pixel masks for only some test clips, so its ``mask`` convention needs the full set of masks."""

    variant = PED1
