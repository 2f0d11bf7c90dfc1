"""Per-pixel anomaly maps: written to disk per video while a detector scores, read back with the ground-truth
masks by the localization scorers (docs/localization.md).

A detector that can (``Detector.provides_maps()``) hands each batch's maps at its input size to a ``MapWriter``,
which resizes them to the frame's original size and appends them, float16, to one compressed ``.npz`` per video:
no run holds more than one batch of maps in memory, and the scorers read them back a chunk at a time.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Protocol

import numpy as np

from bench_core.errors import DataError, RunFailed, UsageError

if TYPE_CHECKING:
    from bench_core.dataset import Dataset, Video
    from bench_core.detector import Detector
    from bench_core.plugins import Catalogue
    from bench_core.scoring import Scorer

#: What a scorer lists in ``Scorer.needs`` to be given per-pixel maps and masks.
MAPS = "maps"
#: The members of a video's maps file: the maps, float16 (n_frames, height, width), and their raw [min, max].
MAP_MEMBER = "map.npy"
RANGE_MEMBER = "range.npy"
#: Frames resized and written at a time: bounds memory at full size (16 x 640 x 360 float32 = 15 MB).
_WRITE_FRAMES = 16
_FLOAT16_MAX = float(np.finfo(np.float16).max)
_MASK_HINT = ("pixel masks come with avenue, ucsd-ped1/ucsd-ped2 (official layout, a TestNNN_gt folder for every "
              "test video), shanghaitech and synthetic-avenue")


def needs_maps(scorer_cls: type) -> bool:
    return MAPS in getattr(scorer_cls, "needs", ())


def require_pixel_masks(dataset: "Dataset", scorers: tuple[str, ...], catalogue: "Catalogue") -> None:
    """The one-line usage error (exit 2, before any training) for a localization scorer on data without masks."""
    for name in scorers:
        if needs_maps(catalogue.get("scorer", name).load()) and not dataset.has_pixel_masks():
            raise UsageError(f"scorer '{name}' needs per-pixel ground truth, which dataset '{dataset.name}' does "
                             "not have for its test videos", hint=f"drop --scorer {name}; {_MASK_HINT}")


class MapSource(Protocol):
    """One test video's maps and ground truth as the localization scorers read them."""

    id: str

    @property
    def shape(self) -> tuple[int, int, int]:
        """(frames, height, width)."""

    @property
    def value_range(self) -> tuple[float, float]:
        """The smallest and largest map value, as ``chunks`` gives them."""

    def chunks(self, size: int = 16) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(maps float32 (n, height, width), masks uint8 0/1 (n, height, width)) of consecutive frames, in order."""


@dataclass
class ArrayMaps:
    """A ``MapSource`` over arrays in memory (for library use, and small examples)."""

    id: str
    maps: np.ndarray
    masks: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.maps.shape)

    @property
    def value_range(self) -> tuple[float, float]:
        return float(self.maps.min()), float(self.maps.max())

    def chunks(self, size: int = 16) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        if self.maps.shape != self.masks.shape or self.maps.ndim != 3:
            raise RunFailed(f"video '{self.id}': maps {self.maps.shape} and masks {self.masks.shape} must be "
                            "(frames, height, width) alike")
        for start in range(0, len(self.maps), size):
            yield (np.asarray(self.maps[start:start + size], np.float32),
                   np.asarray(self.masks[start:start + size], np.uint8))


# --------------------------------------------------------------------------------------------- writing


class MapWriter:
    """Receives one video's per-window maps at the detector's input size (``Detector.emit_maps``) and streams them
    to ``path``: frames before the first full window take its map (as they take its score), each map is resized
    bilinearly to the frame size and stored as float16 in a deflated ``.npz`` written member by member."""

    def __init__(self, path: Path, video_id: str, n_frames: int, height: int, width: int, window: int):
        self.path, self.video_id = path, video_id
        self.n_frames, self.height, self.width = n_frames, height, width
        self._lead = n_frames - max(n_frames - window + 1, min(n_frames, 1))
        self._written = 0
        self._low, self._high = np.inf, -np.inf
        self._tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self._zip = zipfile.ZipFile(self._tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1)
        self._stream = self._zip.open(MAP_MEMBER, "w", force_zip64=True)
        np.lib.format.write_array_header_1_0(self._stream, {
            "descr": np.lib.format.dtype_to_descr(np.dtype("<f2")), "fortran_order": False,
            "shape": (n_frames, height, width)})

    def __call__(self, window_maps: np.ndarray) -> None:
        window_maps = np.asarray(window_maps, dtype=np.float32)
        if window_maps.ndim != 3:
            raise RunFailed(f"video '{self.video_id}': anomaly maps must be (windows, height, width), got shape "
                            f"{window_maps.shape}")
        if self._written == 0 and self._lead and len(window_maps):
            window_maps = np.concatenate([np.repeat(window_maps[:1], self._lead, axis=0), window_maps])
        if self._written + len(window_maps) > self.n_frames:
            raise RunFailed(f"video '{self.video_id}': the detector gave maps for more than its {self.n_frames} "
                            "frames")
        for start in range(0, len(window_maps), _WRITE_FRAMES):
            self._write(self._resize(window_maps[start:start + _WRITE_FRAMES]))

    def _resize(self, maps: np.ndarray) -> np.ndarray:
        if maps.shape[1:] == (self.height, self.width):
            return maps
        import torch
        import torch.nn.functional as F

        shrink = maps.shape[1] > self.height or maps.shape[2] > self.width
        resized = F.interpolate(torch.from_numpy(np.ascontiguousarray(maps))[:, None], size=(self.height, self.width),
                                mode="bilinear", align_corners=False, antialias=shrink)
        return resized[:, 0].numpy()

    def _write(self, maps: np.ndarray) -> None:
        if not np.all(np.isfinite(maps)):
            raise RunFailed(f"detector gave non-finite anomaly maps on test video '{self.video_id}'",
                            hint="the model may have diverged; try a lower learning rate with --set")
        half = np.clip(maps, -_FLOAT16_MAX, _FLOAT16_MAX).astype("<f2")
        self._low = min(self._low, float(half.min()))
        self._high = max(self._high, float(half.max()))
        self._stream.write(half.tobytes())
        self._written += len(half)

    def close(self) -> None:
        self._stream.close()
        if self._written != self.n_frames:
            self.abort()
            raise RunFailed(f"video '{self.video_id}': the detector gave anomaly maps for {self._written} of its "
                            f"{self.n_frames} frames")
        buffer = io.BytesIO()
        np.save(buffer, np.array([self._low, self._high], dtype=np.float64))
        self._zip.writestr(RANGE_MEMBER, buffer.getvalue())
        self._zip.close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._stream.close()
        with contextlib.suppress(Exception):
            self._zip.close()
        self._tmp.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------- reading


@dataclass
class VideoMaps:
    """A video's maps file with its ground-truth masks, normalised per video as the run's protocol says
    (``minmax-per-video``: to [0, 1] over the whole video; ``none``: raw)."""

    id: str
    path: Path
    video: "Video"
    normalization: str = "minmax-per-video"

    @property
    def shape(self) -> tuple[int, int, int]:
        return len(self.video), self.video.info.height, self.video.info.width

    def _raw_range(self) -> tuple[float, float]:
        with self._open() as archive:
            values = np.load(io.BytesIO(self._member(archive, RANGE_MEMBER)), allow_pickle=False)
        if values.shape != (2,) or not np.all(np.isfinite(values)) or values[0] > values[1]:
            raise self._damaged(f"its {RANGE_MEMBER} is not a [min, max] pair")
        return float(values[0]), float(values[1])

    @property
    def value_range(self) -> tuple[float, float]:
        low, high = self._raw_range()
        if self.normalization == "minmax-per-video":
            return (0.0, 1.0) if high > low else (0.0, 0.0)
        return low, high

    def chunks(self, size: int = 16) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        low, high = self._raw_range()
        n, height, width = self.shape
        with self._open() as archive:
            try:
                stream = archive.open(MAP_MEMBER)
                if np.lib.format.read_magic(stream) != (1, 0):  # what MapWriter writes
                    raise ValueError("not a version 1.0 .npy header")
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
            except (KeyError, ValueError, zipfile.BadZipFile, OSError) as exc:
                raise self._damaged(f"its {MAP_MEMBER} cannot be read ({exc})") from None
            if shape != (n, height, width) or fortran or dtype != np.dtype("<f2"):
                raise self._damaged(f"it holds {dtype} maps of shape {shape}, not float16 {(n, height, width)}")
            frame_bytes = height * width * 2
            for start in range(0, n, size):
                count = min(size, n - start)
                try:
                    data = stream.read(count * frame_bytes)
                except (zipfile.BadZipFile, OSError, EOFError) as exc:  # a bad CRC or a truncated member
                    raise self._damaged(str(exc)) from None
                if len(data) != count * frame_bytes:
                    raise self._damaged(f"it ends at frame {start + len(data) // frame_bytes} of {n}")
                maps = np.frombuffer(data, "<f2").reshape(count, height, width).astype(np.float32)
                if not np.all(np.isfinite(maps)):  # MapWriter writes finite maps only
                    raise self._damaged(f"frames {start}..{start + count} hold non-finite values")
                if self.normalization == "minmax-per-video":
                    maps = (maps - low) / (high - low) if high > low else np.zeros_like(maps)
                masks = np.asarray(self.video.pixel_masks(start, start + count))
                if masks.shape != maps.shape or masks.dtype != np.uint8 or (masks.size and masks.max() > 1):
                    raise RunFailed(f"test video '{self.id}': its pixel masks of frames {start}..{start + count} are "
                                    f"{masks.dtype} {masks.shape}, not uint8 0/1 {maps.shape}",
                                    hint="a bug in the dataset's pixel_masks")
                yield maps, masks

    def _open(self) -> zipfile.ZipFile:
        try:
            return zipfile.ZipFile(self.path)
        except (OSError, zipfile.BadZipFile) as exc:
            raise self._damaged(str(exc)) from None

    def _member(self, archive: zipfile.ZipFile, name: str) -> bytes:
        try:
            return archive.read(name)
        except (KeyError, zipfile.BadZipFile, OSError) as exc:
            raise self._damaged(f"its {name} cannot be read ({exc})") from None

    def _damaged(self, what: str) -> RunFailed:
        return RunFailed(f"anomaly maps {self.path} of test video '{self.id}' are damaged: {what}",
                         hint="run again with --overwrite to write them anew")


# --------------------------------------------------------------------------------------------- one run


@dataclass
class MapRecording:
    """The maps of one run: whether a scorer needs them, whether the detector gives them, where they go."""

    #: The run's hidden scratch folder; moved to ``maps/`` in the run folder when the record is written.
    folder: Path
    needed: bool
    available: bool
    detector: str
    normalization: str
    sources: list[VideoMaps] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)

    @classmethod
    def for_run(cls, run_path: Path, scorers: list[type], detector: "Detector", detector_name: str,
                normalization: str) -> "MapRecording":
        needed = any(needs_maps(s) for s in scorers)
        folder = run_path.parent / f".{run_path.name}.maps"
        recording = cls(folder, needed, needed and detector.provides_maps(), detector_name, normalization)
        if recording.available:
            shutil.rmtree(folder, ignore_errors=True)  # what an interrupted run left
            folder.mkdir(parents=True)
        return recording

    @contextlib.contextmanager
    def capture(self, detector: "Detector", video: "Video", file_stem: str, window: int) -> Iterator[None]:
        """Around ``detector.score`` of one test video: its maps go to ``maps/<file_stem>.npz``."""
        if not self.available:
            yield
            return
        if not video.has_pixel_masks:
            raise DataError(f"test video '{video.id}' has no pixel masks, though its dataset says it has them for "
                            "every test video", hint="a bug in the dataset's has_pixel_masks")
        path = self.folder / f"{file_stem}.npz"
        writer = MapWriter(path, video.id, len(video), video.info.height, video.info.width, window)
        detector.map_sink = writer
        try:
            yield
        except BaseException:
            writer.abort()
            raise
        finally:
            detector.map_sink = None
        writer.close()
        self.sources.append(VideoMaps(video.id, path, video, self.normalization))
        self.files[video.id] = f"maps/{file_stem}.npz"

    def given(self) -> list | None:
        """What a scorer that needs maps gets: one source per test video, or None when the detector gave none."""
        return self.sources if self.available else None

    def store(self, run_folder: Path) -> None:
        if self.available:
            os.replace(self.folder, run_folder / "maps")

    def describe(self) -> dict | None:
        """The record's ``localization`` entry (None when no scorer needed maps)."""
        if not self.needed:
            return None
        if not self.available:
            return {"maps": None, "note": f"detector '{self.detector}' gives no per-pixel anomaly maps (with this "
                                          "config), so the localization metrics are not available"}
        return {"maps": "maps/", "format": f"one .npz per test video: {MAP_MEMBER} float16 (frames, height, width) "
                                           f"at the frame size, {RANGE_MEMBER} its [min, max]",
                "normalization": self.normalization}
