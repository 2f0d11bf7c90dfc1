"""``avenue``: CUHK Avenue (Lu, Shi, Jia, "Abnormal Event Detection at 150 FPS in MATLAB", ICCV 2013).

Reads the files exactly as the two official archives unpack, side by side in the data root::

    DATA_ROOT/Avenue Dataset/training_videos/01.avi ... 16.avi
    DATA_ROOT/Avenue Dataset/testing_videos/01.avi ... 21.avi
    DATA_ROOT/ground_truth_demo/testing_label_mask/1_label.mat ... 21_label.mat   (no zero padding)

The data root may also be the ``Avenue Dataset`` folder itself; ``ground_truth_demo`` is then looked for next to it.

Test frames are labelled by one of two conventions (``--data-option label_convention=...``):

* ``mask`` (default): a frame is abnormal where its pixel mask in ``volLabel`` has any pixel set.
* ``event``: the 47 abnormal intervals of the ``avenue.mat`` file most published AUROCs use, shipped with this
  plugin in ``avenue_event_labels.json`` (1-based, inclusive frame numbers).

Masks are read one ``.mat`` file at a time, reduced to one label per frame, and the result is cached in memory and
on disk (keyed by the file's sha256), so no run holds more than one video's masks and later runs read none.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.resources
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench_core.dataset import GENERATED_MARKER, Dataset, DatasetOptions, Video, VideoInfo
from bench_core.errors import DataError, UsageError, did_you_mean
from bench_core.records import atomic_write_json
from bench_core.video_io import open_video
from bench_core.views import cache_dir

from anobench_formats.avenue import AVENUE_DIR, MASK_DIR, SPLIT_DIRS

#: Where the data is when neither --data-root nor ANOBENCH_DATA_ROOT says, relative to the current directory.
DEFAULT_DATA_ROOT = "datasets/avenue"
EVENT_LABELS_FILE = "avenue_event_labels.json"
#: Bump when the shipped event intervals or the mask -> frame-label rule change: it is in every fingerprint.
LABEL_DATA_VERSION = "1"
#: sha256 over the decimal file size, the first MiB and the last MiB (the whole file when under 2 MiB).
CONTENT_HASH = "sha256(size, first 1 MiB, last 1 MiB)"
HASH_EDGE_BYTES = 1 << 20

_VIDEO_NAME = re.compile(r"(\d+)\.avi", re.IGNORECASE)
_MASK_NAME = re.compile(r"(\d+)_label\.mat", re.IGNORECASE)
_RECOPY = "copy it again from Avenue_Dataset.zip; see datasets/avenue.md"
_RECOPY_MASK = "copy it again from ground_truth_demo.zip; see datasets/avenue.md"


# --------------------------------------------------------------------------------------------- label data


@functools.lru_cache(maxsize=1)
def event_label_data() -> dict:
    """The shipped event intervals: ``intervals`` (id -> list of 1-based inclusive (first, last)), the official
    ``test_lengths`` and ``train_lengths`` (id -> frames), and the file's ``sha256``."""
    raw = importlib.resources.files("anobench_avenue").joinpath(EVENT_LABELS_FILE).read_bytes()
    data = json.loads(raw)
    return {
        "intervals": {vid: [tuple(pair) for pair in pairs] for vid, pairs in data["intervals"].items()},
        "test_lengths": dict(data["test_lengths"]),
        "train_lengths": dict(data["train_lengths"]),
        "sha256": hashlib.sha256(raw).hexdigest(),
    }


def official_ids(split: str) -> list[str]:
    return sorted(event_label_data()["train_lengths" if split == "train" else "test_lengths"])


def event_labels(video_id: str) -> np.ndarray:
    """Per-frame 0/1 labels (int8) of test video ``video_id`` ("01" ... "21") under the event convention."""
    data = event_label_data()
    labels = np.zeros(data["test_lengths"][video_id], np.int8)
    for first, last in data["intervals"].get(video_id, ()):
        labels[first - 1:last] = 1
    return labels


@dataclass(frozen=True)
class MaskLabels:
    """What one ``N_label.mat`` file says: one 0/1 label per mask (frame), and the masks' (rows, columns)."""

    labels: np.ndarray
    mask_shape: tuple[int, int]


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:160]}"


def read_mask_labels(path: Path) -> MaskLabels:
    """Load ``volLabel`` from an Avenue mask file and reduce each mask to "any pixel set". Raises DataError naming
    the file when it is not a MAT file, lacks ``volLabel``, or holds masks that are not equal-sized 0/1 images."""
    flags = []
    first_shape = None
    for mask, high in _checked_masks(path):
        first_shape = first_shape or mask.shape
        flags.append(high > 0)
    return MaskLabels(np.array(flags, np.int8), (int(first_shape[0]), int(first_shape[1])))


def read_pixel_masks(path: Path) -> np.ndarray:
    """Every mask of an Avenue mask file, checked as ``read_mask_labels`` checks them, as uint8 0/1 of shape
    (n, rows, columns) bit-packed along the rows (``np.packbits(..., axis=-1)``): a 1,439-frame video's masks take
    41 MB instead of 330."""
    return np.stack([np.packbits(mask != 0, axis=-1) for mask, _ in _checked_masks(path)])


def _checked_masks(path: Path):
    """Each mask of ``volLabel`` with its largest value, after checking that it is a 2-D 0/1 image of the first
    mask's size. Raises DataError naming the file and the mask at fault."""
    import scipy.io

    try:
        contents = scipy.io.loadmat(str(path), variable_names=["volLabel"])
    except PermissionError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc})", hint="check the file's permissions") \
            from None
    except Exception as exc:  # scipy raises ValueError, TypeError, OSError or NotImplementedError (v7.3) on garbage
        raise DataError(f"{path}: not a MAT file scipy can read ({_short(exc)})", hint=_RECOPY_MASK) from None
    cell = contents.get("volLabel")
    if cell is None:
        try:
            names = [name for name, _, _ in scipy.io.whosmat(str(path))]
        except Exception:
            names = []
        raise DataError(f"{path}: holds no 'volLabel' variable (it holds: {', '.join(names) or 'nothing'})",
                        hint=_RECOPY_MASK)
    if not isinstance(cell, np.ndarray) or cell.dtype != object or cell.ndim != 2 or 1 not in cell.shape:
        described = f"a {cell.dtype} array of shape {cell.shape}" if isinstance(cell, np.ndarray) else type(cell)
        raise DataError(f"{path}: 'volLabel' is {described}, not a 1xN cell array of per-frame masks",
                        hint=_RECOPY_MASK)
    masks = cell.ravel()
    if masks.size == 0:
        raise DataError(f"{path}: 'volLabel' holds no masks", hint=_RECOPY_MASK)
    first_shape = None
    for index, mask in enumerate(masks):
        where = f"{path}: volLabel{{{index + 1}}}"
        if not isinstance(mask, np.ndarray) or mask.ndim != 2 or mask.size == 0 or mask.dtype.kind not in "biuf":
            described = f"{mask.dtype} of shape {mask.shape}" if isinstance(mask, np.ndarray) else type(mask).__name__
            raise DataError(f"{where} is {described}, not a 2-D 0/1 mask", hint=_RECOPY_MASK)
        if first_shape is None:
            first_shape = mask.shape
        elif mask.shape != first_shape:
            raise DataError(f"{where} is {mask.shape[0]}x{mask.shape[1]}, but volLabel{{1}} is "
                            f"{first_shape[0]}x{first_shape[1]}", hint=_RECOPY_MASK)
        # Two reductions per mask instead of np.isin: the full set is 15,324 masks of 230,400 pixels.
        low, high = mask.min(), mask.max()
        if low < 0 or high > 1 or (mask.dtype.kind == "f" and not np.all((mask == 0) | (mask == 1))):
            raise DataError(f"{where} holds values other than 0 and 1 (from {low} to {high})", hint=_RECOPY_MASK)
        yield mask, high


_MASK_CACHE_VERSION = 1


def cached_mask_labels(path: Path) -> MaskLabels:
    """``read_mask_labels`` through a disk cache keyed by the file's full sha256 (mask files are small), so the
    ~0.5 s per 400 frames that loadmat takes is paid once per file, not on every check and run."""
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:  # e.g. no read permission: name the file, not just the error
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc})", hint="check the file's permissions") \
            from None
    entry_path = cache_dir() / "avenue" / "mask-labels" / f"v{_MASK_CACHE_VERSION}-{digest}.json"
    try:
        entry = json.loads(entry_path.read_text())
        text, shape = entry["labels"], entry["mask_shape"]
        if set(text) <= {"0", "1"} and text and len(shape) == 2:
            return MaskLabels(np.frombuffer(text.encode(), np.uint8).astype(np.int8) - ord("0"),
                              (int(shape[0]), int(shape[1])))
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no entry yet, or a damaged one: read the file again
    result = read_mask_labels(path)
    try:
        atomic_write_json(entry_path, {"source": path.name, "mask_shape": list(result.mask_shape),
                                       "labels": "".join("01"[v] for v in result.labels)})
    except OSError:
        pass  # a read-only cache costs time, not correctness
    return result


# --------------------------------------------------------------------------------------------- files


def content_hash(path: Path, size: int) -> str:
    """sha256 over the decimal size, the first MiB and the last MiB (the whole file when it is under 2 MiB):
    cheap on 37 videos, and it changes when a file is truncated, re-encoded or swapped for another."""
    digest = hashlib.sha256(f"{size}\n".encode())
    with open(path, "rb") as handle:
        digest.update(handle.read(HASH_EDGE_BYTES))
        if size > HASH_EDGE_BYTES:
            handle.seek(max(HASH_EDGE_BYTES, size - HASH_EDGE_BYTES))
            digest.update(handle.read())
    return digest.hexdigest()


def declared_frame_count(path: Path) -> int | None:
    """The frame count the AVI header declares (``strh`` length), or None where it declares none. A truncated file
    keeps its header, so comparing this with the frames actually there finds truncation without decoding."""
    import av

    try:
        with av.open(str(path)) as container:
            return int(container.streams.video[0].frames) or None
    except Exception:
        return None  # open_video reports files that cannot be opened, naming the error


@dataclass(frozen=True)
class _Probe:
    n_frames: int
    fps: float
    height: int
    width: int


def probe_video(path: Path) -> _Probe:
    """Frame count and size from the reader (no full decode), the header's count to catch truncation, and the first
    frame decoded. Raises DataError naming the file."""
    reader = open_video(path)
    if reader.n_frames == 0:
        raise DataError(f"{path}: holds no video frames", hint=_RECOPY)
    declared = declared_frame_count(path)
    if declared and reader.n_frames < declared:
        raise DataError(f"{path}: truncated: its header declares {declared} frames, the file holds "
                        f"{reader.n_frames}", hint=_RECOPY)
    try:
        reader.read(0, 1)
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{path}: its first frame cannot be decoded ({_short(exc)})", hint=_RECOPY) from None
    return _Probe(reader.n_frames, reader.fps, reader.height, reader.width)


def _id_ranges(ids: list[str]) -> str:
    """["01", "02", "03", "05"] -> "01-03, 05"."""
    numbers = sorted(int(i) for i in ids)
    width = max(len(i) for i in ids)
    parts, start = [], None
    for index, number in enumerate(numbers):
        if start is None:
            start = number
        if index + 1 == len(numbers) or numbers[index + 1] != number + 1:
            parts.append(f"{start:0{width}d}" if start == number else f"{start:0{width}d}-{number:0{width}d}")
            start = None
    return ", ".join(parts)


@dataclass
class _Scan:
    """What the folders hold; built from directory listings only."""

    problems: list[str] = field(default_factory=list)
    videos_parent: Path | None = None
    mask_dir: Path | None = None
    videos: dict[str, dict[str, Path]] = field(default_factory=lambda: {"train": {}, "test": {}})
    masks: dict[str, Path] = field(default_factory=dict)
    ignored: list[Path] = field(default_factory=list)


# --------------------------------------------------------------------------------------------- dataset


def _memoised(cache: dict, key, compute):
    """``compute()`` once per key; a DataError is remembered too, so a bad file is read (and reported) once."""
    if key not in cache:
        try:
            cache[key] = compute()
        except DataError as exc:
            cache[key] = exc
    result = cache[key]
    if isinstance(result, DataError):
        raise result
    return result


class AvenueVideo(Video):
    """One Avenue video, decoded a range at a time; test labels are computed on first use and cached."""

    def __init__(self, info: VideoInfo, path: Path, split: str, avenue_id: str, dataset: "Avenue"):
        self.info = info
        #: The ``.avi`` file.
        self.path = path
        self.split = split
        #: The official number as on disk, "01" ... "21".
        self.avenue_id = avenue_id
        self._dataset = dataset
        self._reader = None

    @property
    def labels(self) -> np.ndarray | None:
        if self.split == "train":
            return None
        return self._dataset.test_labels(self.avenue_id)

    def read(self, start: int, stop: int) -> np.ndarray:
        if self._reader is None:
            self._reader = open_video(self.path)
        return self._reader.read(start, stop)

    @property
    def has_pixel_masks(self) -> bool:
        return self.split == "test" and self.avenue_id in self._dataset._scan().masks

    def pixel_masks(self, start: int, stop: int) -> np.ndarray:
        if not self.has_pixel_masks:
            return super().pixel_masks(start, stop)
        return self._dataset.pixel_masks(self.avenue_id, start, stop)


class Avenue(Dataset):
    """CUHK Avenue: 16 training videos of normal walkway footage, 21 test videos with abnormal events (running,
    throwing, wrong direction, loitering), 640x360 at 25 fps."""

    real_footage = True  # recorded footage: runs default to the standard preset (bench_core/presets.py)

    Options = DatasetOptions
    views = ("frames",)
    label_conventions = ("mask", "event")
    version = "1"

    def __init__(self, name: str, options: DatasetOptions):
        super().__init__(name, options)
        if self.label_convention not in self.label_conventions:
            raise UsageError(f"dataset '{name}' has no label convention '{self.label_convention}'",
                             hint=did_you_mean(self.label_convention, self.label_conventions))
        self._root_given = bool(options.data_root)
        # Resolved into the options so that run records and 'data check' say which root and convention were used;
        # into a copy, never the caller's object: an Options class may be frozen (docs/plugins.md).
        self.options = dataclasses.replace(options, data_root=options.data_root or DEFAULT_DATA_ROOT,
                                           label_convention=self.label_convention)
        self._scan_result: _Scan | None = None
        self._probes: dict[Path, _Probe | DataError] = {}
        self._labels: dict[str, np.ndarray | DataError] = {}
        self._fingerprint: dict | None = None
        self._pixel_mask_cache: tuple[str | None, np.ndarray | None] = (None, None)

    # ----------------------------------------------------------------------------------------- layout

    def _scan(self) -> _Scan:
        if self._scan_result is None:
            self._scan_result = self._scan_folders()
        return self._scan_result

    def _scan_folders(self) -> _Scan:
        scan = _Scan()
        root = Path(self.options.data_root)
        layout_hint = ("pass --data-root DIR: the folder holding 'Avenue Dataset' and 'ground_truth_demo' as "
                       "unpacked from the official zips; see datasets/avenue.md")
        if not root.is_dir():
            what = "is a file, not a folder" if root.exists() else "no such folder"
            default = ("" if self._root_given
                       else "; it is the default, as neither --data-root nor ANOBENCH_DATA_ROOT was given")
            scan.problems.append(str(DataError(f"{root}: {what}{default}", hint=layout_hint)))
            return scan
        if (root / AVENUE_DIR).is_dir():
            scan.videos_parent, ground_truth_parent = root / AVENUE_DIR, root
        elif any((root / folder).is_dir() for folder in SPLIT_DIRS.values()):
            # Pointed inside 'Avenue Dataset': the masks archive unpacks next to it.
            scan.videos_parent, ground_truth_parent = root, root.parent
        else:
            scan.problems.append(str(DataError(f"{root}: holds no '{AVENUE_DIR}' folder", hint=layout_hint)))
            return scan

        for split, folder in SPLIT_DIRS.items():
            directory = scan.videos_parent / folder
            if not directory.is_dir():
                scan.problems.append(str(DataError(f"{directory}: no such folder",
                                                   hint=f"unpack Avenue_Dataset.zip; '{AVENUE_DIR}' holds "
                                                        f"{' and '.join(SPLIT_DIRS.values())}")))
                continue
            for path in sorted(directory.iterdir()):
                match = _VIDEO_NAME.fullmatch(path.name)
                if match and path.is_file():
                    self._add_unique(scan, scan.videos[split], f"{int(match.group(1)):02d}", path)
                elif not path.name.startswith("."):
                    scan.ignored.append(path)
            if not scan.videos[split]:
                scan.problems.append(str(DataError(f"{directory}: holds no videos (01.avi, 02.avi, ...)",
                                                   hint=_RECOPY)))

        mask_dir = ground_truth_parent.joinpath(*MASK_DIR)
        if mask_dir.is_dir():
            scan.mask_dir = mask_dir
            for path in sorted(mask_dir.iterdir()):
                match = _MASK_NAME.fullmatch(path.name)
                if match and path.is_file():
                    self._add_unique(scan, scan.masks, f"{int(match.group(1)):02d}", path)
                elif not path.name.startswith("."):
                    scan.ignored.append(path)
        elif self.label_convention == "mask":
            scan.problems.append(str(DataError(
                f"{mask_dir}: no such folder",
                hint="unpack ground_truth_demo.zip next to 'Avenue Dataset', or use the shipped event labels "
                     "with --data-option label_convention=event")))
        return scan

    @staticmethod
    def _add_unique(scan: _Scan, found: dict[str, Path], video_id: str, path: Path) -> None:
        if video_id in found:
            scan.problems.append(str(DataError(f"{path}: same video as {found[video_id].name}",
                                               hint="keep one of the two files")))
        else:
            found[video_id] = path

    def _usable_scan(self) -> _Scan:
        scan = self._scan()
        if scan.problems:
            raise DataError(scan.problems[0], hint=f"run 'anobench data check {self.name}' for the full list")
        return scan

    # ----------------------------------------------------------------------------------------- per video

    def _probe(self, path: Path) -> _Probe:
        return _memoised(self._probes, path, lambda: probe_video(path))

    def test_labels(self, video_id: str) -> np.ndarray:
        """Per-frame 0/1 labels (read-only int8) of test video ``video_id`` under this dataset's convention,
        checked against the video's frame count and size. Raises DataError naming the file at fault."""
        def read_only_labels() -> np.ndarray:
            labels = self._compute_test_labels(video_id)
            labels.setflags(write=False)
            return labels

        return _memoised(self._labels, video_id, read_only_labels)

    def _compute_test_labels(self, video_id: str) -> np.ndarray:
        scan = self._scan()
        video_path = scan.videos["test"][video_id]
        probe = self._probe(video_path)
        if self.label_convention == "event":
            if video_id not in event_label_data()["test_lengths"]:
                raise DataError(f"{video_path}: no event labels for this video (they cover test videos "
                                f"{_id_ranges(official_ids('test'))})",
                                hint="use --data-option label_convention=mask with its mask file")
            labels = event_labels(video_id)
            if len(labels) != probe.n_frames:
                raise DataError(f"{video_path}: {probe.n_frames} frames, but the event labels of test video "
                                f"{video_id} cover {len(labels)}", hint=_RECOPY)
            return labels
        if scan.mask_dir is None:
            raise DataError(f"{video_path}: no mask folder {'/'.join(MASK_DIR)} next to '{AVENUE_DIR}'",
                            hint="unpack ground_truth_demo.zip there, or use --data-option label_convention=event")
        mask_path = scan.masks.get(video_id)
        if mask_path is None:
            expected = scan.mask_dir / f"{int(video_id)}_label.mat"
            raise DataError(f"{video_path}: no mask file {expected}",
                            hint="copy it from ground_truth_demo.zip, or remove the video to run on a partial copy")
        result = cached_mask_labels(mask_path)
        if result.mask_shape != (probe.height, probe.width):
            raise DataError(f"{mask_path}: masks are {result.mask_shape[0]}x{result.mask_shape[1]} (rows x columns), "
                            f"but {video_path.name} is {probe.height}x{probe.width}", hint=_RECOPY_MASK)
        if len(result.labels) != probe.n_frames:
            raise DataError(f"{mask_path}: {len(result.labels)} masks, but {video_path.name} has {probe.n_frames} "
                            "frames", hint="one of the two files is truncated or not the official one")
        return result.labels.copy()

    def pixel_masks(self, video_id: str, start: int, stop: int) -> np.ndarray:
        """Masks of frames start..stop of test video ``video_id``, uint8 0/1 (n, height, width). The masks of the
        latest video asked for stay in memory (bit-packed), since scorers read a video's frames in order."""
        scan = self._scan()
        mask_path, video_path = scan.masks[video_id], scan.videos["test"][video_id]
        probe, summary = self._probe(video_path), cached_mask_labels(mask_path)
        # The mask convention checks this with the labels; under the event convention it is checked here.
        if summary.mask_shape != (probe.height, probe.width) or len(summary.labels) != probe.n_frames:
            raise DataError(f"{mask_path}: {len(summary.labels)} masks of {summary.mask_shape[0]}x"
                            f"{summary.mask_shape[1]}, but {video_path.name} has {probe.n_frames} frames of "
                            f"{probe.height}x{probe.width}", hint=_RECOPY_MASK)
        if self._pixel_mask_cache[0] != video_id:
            self._pixel_mask_cache = (None, None)  # free the previous video's masks before reading the next
            self._pixel_mask_cache = (video_id, read_pixel_masks(mask_path))
        return np.unpackbits(self._pixel_mask_cache[1][start:stop], axis=-1, count=probe.width)

    # ----------------------------------------------------------------------------------------- Dataset API

    def has_pixel_masks(self) -> bool:
        scan = self._scan()
        return not scan.problems and bool(scan.videos["test"]) and all(i in scan.masks for i in scan.videos["test"])

    def check(self) -> list[str]:
        scan = self._scan()
        problems = list(scan.problems)
        # A missing mask folder is already one problem; do not repeat it for every test video.
        labels_readable = self.label_convention == "event" or scan.mask_dir is not None
        for split in SPLIT_DIRS:
            for video_id, path in sorted(scan.videos[split].items()):
                try:
                    self._probe(path)
                    if split == "test" and labels_readable:
                        self.test_labels(video_id)
                except DataError as exc:
                    problems.append(str(exc))
        return problems

    def notes(self) -> list[str]:
        scan = self._scan()
        if scan.videos_parent is None:
            return []
        notes = []
        marker = scan.videos_parent.parent / GENERATED_MARKER
        if marker.is_file():
            # Generated copies differ from the official files in count and length by design: say so once.
            notes.append(f"{marker.parent}: a generated copy written by 'anobench data generate', not the official "
                         "videos; its results are not comparable with published figures")
        for split, folder in SPLIT_DIRS.items():
            if marker.is_file():
                break
            official = official_ids(split)
            present = scan.videos[split]
            missing = [i for i in official if i not in present]
            if missing and (scan.videos_parent / folder).is_dir():
                notes.append(f"partial copy: {len(missing)} of {len(official)} {folder} missing "
                             f"({_id_ranges(missing)}); results are not comparable with full-set figures")
            unofficial = [i for i in present if i not in official]
            if unofficial:
                notes.append(f"{scan.videos_parent / folder}: {', '.join(present[i].name for i in unofficial)} "
                             "not part of the official dataset")
            if split == "test" and self.label_convention == "event":
                continue  # a length that differs from the event labels' is a problem there, not a note
            lengths = event_label_data()[f"{split}_lengths"]
            for video_id, path in sorted(present.items()):
                try:
                    probe = self._probe(path)
                except DataError:
                    continue  # check() reports it
                if video_id in lengths and probe.n_frames != lengths[video_id]:
                    notes.append(f"{path}: {probe.n_frames} frames, but the official file has {lengths[video_id]}; "
                                 "this is not the official video")
        orphans = [video_id for video_id in scan.masks if video_id not in scan.videos["test"]]
        if orphans and self.label_convention == "mask":
            notes.append(f"{scan.mask_dir}: mask files without a test video, ignored: "
                         f"{', '.join(scan.masks[i].name for i in orphans)}")
        if scan.ignored:
            notes.append(f"ignored {len(scan.ignored)} files outside the Avenue layout: "
                         f"{', '.join(str(p) for p in scan.ignored)}")
        return notes

    def videos(self, split: str, view: str = "frames") -> list[Video]:
        self.require_split_and_view(split, view)
        scan = self._usable_scan()
        result = []
        for video_id, path in sorted(scan.videos[split].items()):
            probe = self._probe(path)
            info = VideoInfo(id=f"{split}_{video_id}", fps=probe.fps, height=probe.height, width=probe.width,
                             n_frames=probe.n_frames)
            result.append(AvenueVideo(info, path, split, video_id, self))
        return result

    def record_extras(self, view: str, test_videos: list[Video]) -> dict:
        scan = self._scan()
        return {
            "label_convention": self.label_convention,
            "label_data_version": LABEL_DATA_VERSION,
            "abnormal_test_frames": int(sum(int(v.labels.sum()) for v in test_videos)),
            "missing_official_videos": {split: [i for i in official_ids(split) if i not in scan.videos[split]]
                                        for split in SPLIT_DIRS},
        }

    def fingerprint(self) -> dict:
        if self._fingerprint is None:
            scan = self._usable_scan()
            used: list[tuple[str, Path]] = []
            for split, folder in SPLIT_DIRS.items():
                for video_id, path in sorted(scan.videos[split].items()):
                    used.append((f"{AVENUE_DIR}/{folder}/{path.name}", path))
                    if split == "test" and self.label_convention == "mask" and video_id in scan.masks:
                        used.append(("/".join(MASK_DIR) + "/" + scan.masks[video_id].name, scan.masks[video_id]))
            files = []
            for relative, path in sorted(used):
                size = path.stat().st_size
                files.append({"path": relative, "size": size, "hash": content_hash(path, size)})
            fingerprint = {
                "dataset": "cuhk-avenue",
                "plugin_version": self.version,
                "label_convention": self.label_convention,
                "label_data_version": LABEL_DATA_VERSION,
                "content_hash": CONTENT_HASH,
                "files": files,
            }
            if self.label_convention == "event":
                fingerprint["event_labels_sha256"] = event_label_data()["sha256"]
            self._fingerprint = fingerprint
        return self._fingerprint
