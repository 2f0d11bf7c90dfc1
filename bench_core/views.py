"""Turning a dataset's videos into a detector's input (grayscale, resize), cached on disk as uint8 arrays.

The cache is keyed by the dataset fingerprint, the video and the input size, so a second run reads memory-mapped
arrays instead of decoding again, and no run ever holds more than one chunk of decoded frames in memory. Each entry
has a sidecar with its shape, dtype and checksum, verified on every read: a damaged entry is named and rebuilt, never
read as frames.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench_core import records
from bench_core.dataset import Video
from bench_core.detector import InputSpec
from bench_core.errors import DataError

# Bump when preprocessing or the entry format changes, so stale cache entries are never read. 3: verified entries.
PREP_VERSION = 3
CACHE_ENV = "ANOBENCH_CACHE_DIR"
#: The views the built-in detectors read: video frames, or the skeleton LSTM-VAE paper's binary skeleton maps.
VIEWS = ("frames", "skeleton")
#: Side of the skeleton view's maps (the skeleton LSTM-VAE paper's 28x28). Datasets draw them at this size and detectors
#: read them at it, since resizing a binary map would only blur it.
SKELETON_MAP_SIZE = 28


def check_view(view: str) -> None:
    """ValueError (a detector config's usage error) unless ``view`` is one of ``VIEWS``."""
    if view not in VIEWS:
        raise ValueError(f"view must be one of {', '.join(VIEWS)}, not {view!r}")


def view_side(view: str, input_size: int) -> int:
    """The side of a detector's square input: the maps' own size on the skeleton view, ``input_size`` otherwise."""
    return SKELETON_MAP_SIZE if view == "skeleton" else input_size


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "anobench")


@dataclass
class PreparedVideo:
    """A video at the detector's input size: ``frames`` is uint8 of shape (n, channels, height, width)."""

    id: str
    frames: np.ndarray
    fps: float
    labels: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.frames)


def check_frames(video: PreparedVideo, spec: InputSpec, detector: str) -> None:
    """Fail with both shapes when ``video`` was prepared for another input spec (possible in library use, where no
    harness prepared it), rather than deep inside a layer."""
    expected = (spec.channels, spec.height, spec.width)
    if video.frames.ndim != 4 or tuple(video.frames.shape[1:]) != expected:
        raise DataError(
            f"video '{video.id}' has frames of shape {tuple(video.frames.shape)}, {detector} expects "
            f"(n, {', '.join(map(str, expected))}) ({spec.view} view)",
            hint="prepare the video with this detector's input_spec",
        )


def window_frames(video: PreparedVideo, window: int) -> np.ndarray:
    """The video's frames, with its first frame repeated in front when the video is shorter than one window, so
    that it still gives exactly one window (the per-window score rule of docs/plugins.md)."""
    if len(video) == 0:
        raise DataError(f"video '{video.id}' has no frames", hint="check the dataset's files for this video")
    frames = video.frames
    if len(video) < window:
        frames = np.concatenate([np.repeat(frames[:1], window - len(video), axis=0), frames[:]])
    return frames


def _to_input(chunk: np.ndarray, spec: InputSpec):
    import torch
    import torch.nn.functional as F

    # (n, H, W, C) uint8 viewed as (n, C, H, W) is channels-last in memory: torch's fast uint8 antialiased resize.
    # Resizing before the grayscale mix is the same linear map in the other order, 50x fewer pixels to mix (within
    # one grey level of mixing first).
    x = torch.from_numpy(np.ascontiguousarray(chunk)).permute(0, 3, 1, 2)
    if x.shape[-2:] != (spec.height, spec.width):
        if x.shape[1] != 3:
            x = x.float()
        x = F.interpolate(x, size=(spec.height, spec.width), mode="bilinear", align_corners=False, antialias=True)
    x = x.float()
    if spec.channels == 1 and x.shape[1] == 3:
        weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        x = (x * weights).sum(1, keepdim=True)
    elif spec.channels == 3 and x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return x.round_().clamp_(0, 255).to(torch.uint8).numpy()


#: A chunk of decoded frames holds at most this many bytes. Above glibc's mmap threshold (32 MiB at most) every
#: chunk is a fresh mapping whose first-touch page faults cost more than decoding it: on ShanghaiTech's 856x480
#: frames, chunks of 128 (158 MiB) prepared at 0.4x the speed of bare decoding, chunks of 24 (28 MiB) at 1.0x.
CHUNK_BYTES = 30 << 20


def chunk_frames(video: Video, chunk: int = 128) -> int:
    """``chunk``, or fewer frames where ``chunk`` frames of ``video`` would exceed ``CHUNK_BYTES``."""
    frame_bytes = video.info.height * video.info.width * video.info.channels
    return max(1, min(chunk, CHUNK_BYTES // max(frame_bytes, 1)))


def prepare(video: Video, spec: InputSpec, dataset_key: str, chunk: int = 128) -> PreparedVideo:
    key = hashlib.sha256(
        json.dumps([PREP_VERSION, dataset_key, video.id, spec.view, spec.height, spec.width, spec.channels])
        .encode()
    ).hexdigest()[:24]
    path = cache_dir() / "prepared" / f"{key}.npy"
    shape = (len(video), spec.channels, spec.height, spec.width)
    frames = _read_verified(path, shape) if path.exists() else None
    if frames is None:
        _write_entry(path, shape, (_to_input(decoded, spec) for _, decoded in video.iter_chunks(chunk_frames(video, chunk))), video.id)
        frames = _read_verified(path, shape, rebuilt=True)
    return PreparedVideo(video.id, frames, video.info.fps, video.labels)


# -- the verified cache: each entry ``<key>.npy`` has a sidecar ``<key>.json`` with its shape, dtype and checksum --

def _new_digest():
    """The checksum of an entry's bytes (blake2b: fast, and not fooled by a zeroed or shifted block)."""
    return hashlib.blake2b(digest_size=16)


def _checksum(chunks) -> str:
    digest = _new_digest()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def _write_entry(path: Path, shape: tuple[int, ...], chunks, video_id: str) -> None:
    """Write the frames ``chunks`` yields as the .npy entry ``path`` with ordinary writes (a full disk is then an
    OSError, not the SIGBUS a memory map gets), hashing them on the way; rename into place when complete."""
    import errno

    folder = path.parent
    # Process and thread in the name: sweep workers may be threads of one process preparing the same video.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    digest, written = _new_digest(), 0
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as handle:
            np.lib.format.write_array_header_1_0(
                handle, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)), "fortran_order": False,
                         "shape": shape})
            for frames in chunks:
                data = np.ascontiguousarray(frames, dtype=np.uint8).tobytes()
                digest.update(data)
                handle.write(data)
                written += len(data)
        if written != int(np.prod(shape)):
            raise DataError(f"video '{video_id}' gave {written} bytes of frames for its {shape} frames",
                            hint="its frame count is wrong; check the dataset's files")
        records.atomic_write_json(_sidecar(path), {"shape": list(shape), "dtype": "uint8",
                                                   "checksum": digest.hexdigest(), "algorithm": "blake2b-128"})
        os.replace(tmp, path)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DataError(f"no space left on device writing the cache in {folder}",
                            hint=f"free some space, or point {CACHE_ENV} at a folder with room") from None
        raise DataError(f"cannot write the cache in {folder}: {exc.strerror or exc}",
                        hint=f"check its permissions, or point {CACHE_ENV} elsewhere") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _read_verified(path: Path, shape: tuple[int, ...], rebuilt: bool = False) -> np.ndarray | None:
    """The entry memory-mapped once its size, shape, dtype and checksum match its sidecar; otherwise None after a
    one-line warning naming it (the caller rebuilds it), or a DataError for an entry just written."""
    problem = None
    try:
        meta = json.loads(_sidecar(path).read_text())
        frames = np.load(path, mmap_mode="r", allow_pickle=False)
        if tuple(meta["shape"]) != shape or tuple(frames.shape) != shape or frames.dtype != np.uint8:
            problem = f"shape {tuple(frames.shape)} {frames.dtype}, expected {shape} uint8"
        elif _checksum(_blocks(frames)) != meta["checksum"]:
            problem = "its bytes do not match their checksum"
    except FileNotFoundError:
        problem = "it has no checksum file"
    except (OSError, ValueError, KeyError, TypeError) as exc:  # truncated: numpy's mmap length / header errors
        problem = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"
    if problem is None:
        return frames
    if rebuilt:
        raise DataError(f"prepared-frames cache entry {path} cannot be read back just after writing: {problem}",
                        hint=f"check the disk, or point {CACHE_ENV} elsewhere")
    sys.stderr.write(f"warning: prepared-frames cache entry {path} is damaged ({problem}); rebuilding it\n")
    for stale in (path, _sidecar(path)):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
    return None


def _blocks(frames: np.ndarray, size: int = 1 << 24):
    """The bytes of a memory-mapped array in 16 MB blocks, so verifying a large entry never copies it whole."""
    flat = frames.reshape(-1)
    for start in range(0, len(flat), size):
        yield memoryview(np.ascontiguousarray(flat[start:start + size]))


def dataset_key(fingerprint: dict) -> str:
    return hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()
