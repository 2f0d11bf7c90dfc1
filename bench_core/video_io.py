"""Reading video files behind one small interface, so that decord (x86-64 Linux wheels only) is optional.

``open_video(path)`` returns a reader with ``n_frames``, ``fps``, ``height``, ``width`` and ``read(start, stop)``;
the backend is decord where it is installed and PyAV otherwise (``ANOBENCH_VIDEO_BACKEND`` forces one).
``FrameFolderReader`` gives the same interface over a folder of frame images (extracted frames).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

import numpy as np

from bench_core.errors import DataError


class VideoReader(Protocol):
    n_frames: int
    fps: float
    height: int
    width: int

    def read(self, start: int, stop: int) -> np.ndarray:
        """RGB uint8 frames of shape (stop - start, height, width, 3)."""


class DecordReader:
    def __init__(self, path: Path):
        import decord

        self._path = path
        self._vr = decord.VideoReader(str(path), num_threads=1)
        self.n_frames = len(self._vr)
        self.fps = float(self._vr.get_avg_fps())
        self.height, self.width = self._vr[0].shape[:2] if self.n_frames else (0, 0)
        self._vr.seek(0)
        self._next = 0  # the frame decord's next() returns

    def read(self, start: int, stop: int) -> np.ndarray:
        _check_range(self._path, start, stop, self.n_frames)
        out = np.empty((stop - start, self.height, self.width, 3), np.uint8)
        # Frame by frame with next() decodes a sequential chunk about twice as fast as get_batch (measured on Avenue:
        # 1,742 frames in 1.8 s against 3.3 s); a read that does not continue the last one seeks there first.
        if start == stop:
            return out
        index = 0
        try:
            if start != self._next:
                self._vr.seek_accurate(start)
            for index in range(stop - start):
                out[index] = self._vr.next().asnumpy()
        except Exception as exc:  # noqa: BLE001 - decord raises its own DECORDError and StopIteration on damage
            self._next = -1  # the reader's position is unknown now: seek on the next read
            raise undecodable(self._path, start + index, exc) from None
        self._next = stop
        return out


class PyAVReader:
    """Sequential decoding with PyAV; reading forwards from where the last read stopped costs no seek."""

    def __init__(self, path: Path):
        import av

        self._path = path
        self._container = av.open(str(path))
        stream = self._container.streams.video[0]
        self.fps = float(stream.average_rate or 25)
        self.height, self.width = stream.codec_context.height, stream.codec_context.width
        # The header's count (stream.frames) is what the file was meant to hold: a truncated AVI keeps it. Count the
        # packets actually there instead (demuxing only, no decoding), which is also what decord reports.
        self.n_frames = sum(1 for p in self._container.demux(stream) if p.size)
        self._rewind()

    def _rewind(self) -> None:
        self._container.seek(0)
        self._frames = self._container.decode(video=0)
        self._next = 0

    def read(self, start: int, stop: int) -> np.ndarray:
        _check_range(self._path, start, stop, self.n_frames)
        if start == stop:
            return np.empty((0, self.height, self.width, 3), np.uint8)
        if start < self._next:
            self._rewind()
        out = np.empty((stop - start, self.height, self.width, 3), np.uint8)
        try:
            for frame in self._frames:
                index = self._next
                self._next += 1
                if index >= start:
                    out[index - start] = frame.to_ndarray(format="rgb24")
                if self._next >= stop:
                    break
        except Exception as exc:  # noqa: BLE001 - av.error.InvalidDataError and kin on damaged data
            failed = self._next
            self._rewind()
            raise undecodable(self._path, failed, exc) from None
        if self._next < stop:
            raise DataError(f"{self._path}: video ends at frame {self._next}, expected {stop}", hint="re-copy the file")
        return out


def undecodable(path: Path, frame: int, exc: BaseException) -> DataError:
    """The one-line error for a frame the decoder failed on, naming the file and the frame."""
    detail = (str(exc).strip().splitlines() or [""])[0]
    return DataError(f"{path}: frame {frame} cannot be decoded ({type(exc).__name__}{': ' + detail if detail else ''})",
                     hint="the file is damaged from there on; re-copy it, then 'anobench data check NAME --full'")


def first_undecodable_frame(video, chunk: int = 64, task=None) -> str | None:
    """Decode every frame of ``video`` (any ``bench_core.dataset.Video``): None when all decode, else one line
    naming the first frame that does not (and the file, where the reader names it). ``task`` advances per frame."""
    n_frames = len(video)
    for start in range(0, n_frames, chunk):
        stop = min(start + chunk, n_frames)
        try:
            frames = video.read(start, stop)
            if len(frames) != stop - start:
                return f"video '{video.id}': frames {start}-{stop - 1} gave {len(frames)} frames"
        except DataError as exc:
            return f"video '{video.id}': {exc}"
        except Exception as exc:  # noqa: BLE001 - a plugin's reader: find the frame one at a time
            for index in range(start, stop):
                try:
                    video.read(index, index + 1)
                except Exception:  # noqa: BLE001
                    break
            else:
                index = start
            return f"video '{video.id}': frame {index} cannot be read ({type(exc).__name__}: {exc})"
        if task is not None:
            task.advance(stop - start)
    return None


class FrameFolderReader:
    """A video stored as one image file per frame (``000.jpg``, ``001.jpg``, ...), read with Pillow a range at a
    time as RGB, with the same interface as the video readers. Every frame must be ``height`` x ``width``: a frame
    of another size is a DataError naming its file, not a silently resized one."""

    def __init__(self, files: list[Path], fps: float, height: int | None = None, width: int | None = None):
        self.files = [Path(f) for f in files]
        self.n_frames = len(self.files)
        self.fps = float(fps)
        if (height is None or width is None) and self.files:
            height, width = image_size(self.files[0])
        self.height, self.width = height or 0, width or 0

    def read(self, start: int, stop: int) -> np.ndarray:
        from PIL import Image

        _check_range(self.files[0].parent if self.files else Path("."), start, stop, self.n_frames)
        out = np.empty((stop - start, self.height, self.width, 3), np.uint8)
        for index, path in enumerate(self.files[start:stop]):
            try:
                with Image.open(path) as image:
                    pixels = np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
            except (OSError, SyntaxError, ValueError) as exc:
                raise DataError(f"{path}: not an image Pillow can read ({type(exc).__name__}: {exc})",
                                hint="the file may be truncated; copy it again") from None
            if pixels.shape[:2] != (self.height, self.width):
                raise DataError(f"{path}: {pixels.shape[0]}x{pixels.shape[1]} (height x width), but the video's "
                                f"first frame is {self.height}x{self.width}", hint="copy the frame again")
            out[index] = pixels
        return out


def natural_key(name: str) -> list:
    """Sort key that puts ``frame_2.png`` before ``frame_10.png``: digit runs compare as numbers. The one frame
    order for folders of frame images (``video-folder``, ``anobench score``) and of pose files."""
    import re

    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) of an image from its header, without decoding it; DataError naming the file otherwise."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            width, height = image.size
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{path}: not an image Pillow can read ({type(exc).__name__}: {exc})",
                        hint="the file may be truncated; copy it again") from None
    return height, width


def _check_range(path: Path, start: int, stop: int, n_frames: int) -> None:
    # Without this, a negative start wraps around in decord and reads the wrong frames in PyAV.
    if not 0 <= start <= stop <= n_frames:
        raise ValueError(f"{path}: frames {start}:{stop} are out of range for a video of {n_frames} frames")


_BACKENDS = {"decord": DecordReader, "pyav": PyAVReader}
#: Forces one backend for every reader.
BACKEND_ENV = "ANOBENCH_VIDEO_BACKEND"


def available_backend() -> str:
    forced = os.environ.get(BACKEND_ENV)
    if forced:
        if forced not in _BACKENDS:
            raise DataError(f"ANOBENCH_VIDEO_BACKEND={forced} is not a video backend", hint="use decord or pyav")
        return forced
    try:
        import decord  # noqa: F401

        return "decord"
    except ImportError:
        return "pyav"


def open_video(path: str | os.PathLike, backend: str | None = None) -> VideoReader:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such video file")
    try:
        return _BACKENDS[backend or available_backend()](path)
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{path}: cannot be decoded ({type(exc).__name__}: {exc})", hint="the file may be truncated")
