"""Reading UCSD frame-level labels: the official MATLAB ground-truth script, and the research layout's label files.

The official ``UCSDped1.m``/``UCSDped2.m`` is a MATLAB script, not data: one assignment per test video, in order,

    TestVideoFile{end+1}.gt_frame = [61:180];
    TestVideoFile{end+1}.gt_frame = [1:15, 45:113];

with 1-based inclusive frame ranges. Copies found in the wild differ in whitespace, separators (commas or spaces),
comments and line endings, so the parser reads what MATLAB would read for that kind of statement and refuses
anything else with the line number, instead of guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class LabelFileError(ValueError):
    """A label file that cannot be read; the message names the file (and line) at fault."""


@dataclass(frozen=True)
class FrameRange:
    """MATLAB's ``start:step:stop``: 1-based, both ends included."""

    start: int
    stop: int
    step: int = 1

    def __str__(self) -> str:
        return f"{self.start}:{self.stop}" if self.step == 1 else f"{self.start}:{self.step}:{self.stop}"


@dataclass(frozen=True)
class GroundTruthEntry:
    """One ``gt_frame`` assignment: the ``index``-th test video (1-based, so Test003 is index 3)."""

    index: int
    line: int
    ranges: tuple[FrameRange, ...]

    def last_frame(self) -> int:
        return max((r.stop for r in self.ranges), default=0)

    def labels(self, n_frames: int) -> np.ndarray:
        labels = np.zeros(n_frames, dtype=np.uint8)
        for r in self.ranges:
            labels[r.start - 1:r.stop:r.step] = 1
        return labels


# `<cell array>{<index>}.gt_frame = <value>` up to the end of the statement. The index is `end+1` (append) in the
# official files; an explicit number is accepted because it means the same thing to MATLAB.
_ASSIGNMENT = re.compile(
    r"\b[A-Za-z]\w*\s*\{(?P<index>[^}]*)\}\s*\.\s*gt_frame\s*=\s*(?P<value>\[[^\]]*\]\s*'?|[^;,\n\[]+)"
)
_TOKEN = re.compile(r"\d+(?::\d+){0,2}")


def _strip_comments_and_join(text: str) -> list[tuple[int, str]]:
    """Lines without ``%`` comments, with ``...`` continuations joined onto the line they start from."""
    logical: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        code = raw.split("%", 1)[0].rstrip()
        if pending is not None:
            number, code = pending[0], pending[1] + " " + code
            pending = None
        if code.endswith("..."):
            pending = (number, code[:-3])
            continue
        logical.append((number, code))
    if pending is not None:
        logical.append(pending)
    return logical


def _parse_value(value: str, where: str) -> tuple[FrameRange, ...]:
    inner = value.strip().rstrip("'").strip()
    if inner.startswith("["):
        inner = inner[1:-1]
    # `[1 : 146]` is one range to MATLAB; tighten colons before splitting on commas and blanks.
    inner = re.sub(r"\s*:\s*", ":", inner.strip())
    ranges = []
    for token in filter(None, re.split(r"[\s,]+", inner)):
        if not _TOKEN.fullmatch(token):
            raise LabelFileError(f"{where}: cannot read {token!r} in gt_frame = {value.strip()} "
                                 "(expected 1-based frame ranges like [61:180] or [1:15, 45:113])")
        parts = [int(p) for p in token.split(":")]
        if len(parts) == 1:
            frame_range = FrameRange(parts[0], parts[0])
        elif len(parts) == 2:
            frame_range = FrameRange(parts[0], parts[1])
        else:
            if parts[1] == 0:
                raise LabelFileError(f"{where}: range {token} has a step of 0")
            frame_range = FrameRange(parts[0], parts[2], parts[1])
        if frame_range.start < 1:
            raise LabelFileError(f"{where}: range {token} starts before frame 1 (frames are numbered from 1)")
        if frame_range.stop < frame_range.start:
            raise LabelFileError(f"{where}: range {token} is empty (it ends before it starts)")
        ranges.append(frame_range)
    return tuple(ranges)


def parse_ground_truth_script(text: str, source: str) -> list[GroundTruthEntry]:
    """The ``gt_frame`` assignments of a UCSD ``.m`` script, by test-video index. ``source`` names the file in
    error messages."""
    if "\x00" in text:
        raise LabelFileError(f"{source} is a binary file, not the MATLAB ground-truth script")
    entries: dict[int, GroundTruthEntry] = {}
    for line_number, code in _strip_comments_and_join(text):
        if "gt_frame" not in code:
            continue
        where = f"{source} line {line_number}"
        matches = list(_ASSIGNMENT.finditer(code))
        if len(matches) != code.count("gt_frame"):
            raise LabelFileError(f"{where}: cannot read {code.strip()!r} "
                                 "(expected TestVideoFile{end+1}.gt_frame = [start:stop, ...];)")
        for match in matches:
            index_text = re.sub(r"\s+", "", match["index"])
            if index_text == "end+1":
                index = max(entries, default=0) + 1
            elif index_text.isdigit() and int(index_text) >= 1:
                index = int(index_text)
            else:
                raise LabelFileError(f"{where}: cannot read the index {{{match['index']}}} "
                                     "(expected {end+1} or a test video number)")
            if index in entries:
                raise LabelFileError(f"{where}: assigns gt_frame of test video {index} again "
                                     f"(first at line {entries[index].line})")
            entries[index] = GroundTruthEntry(index, line_number, _parse_value(match["value"], where))
    if not entries:
        raise LabelFileError(f"{source} holds no gt_frame assignments "
                             "(expected lines like TestVideoFile{end+1}.gt_frame = [61:180];)")
    return [entries[i] for i in sorted(entries)]


def read_ground_truth_script(path: Path) -> list[GroundTruthEntry]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise LabelFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    # latin-1 maps every byte, so a file of garbage is reported as holding no assignments, not as a codec error.
    return parse_ground_truth_script(raw.decode("latin-1"), str(path))


def read_label_text(path: Path) -> np.ndarray:
    """A per-video label file: one 0 or 1 per frame, separated by blanks, commas or line breaks."""
    try:
        text = path.read_bytes().decode("latin-1")
    except OSError as exc:
        raise LabelFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    tokens = [t for t in re.split(r"[\s,]+", text) if t]
    bad = next((t for t in tokens if t not in ("0", "1")), None)
    if bad is not None:
        raise LabelFileError(f"{path} holds {bad[:20]!r}; a label file holds only 0 and 1, one per frame")
    return np.array([int(t) for t in tokens], dtype=np.uint8)


def read_label_array(path: Path) -> np.ndarray:
    """A ``.npy`` of 0/1 frame labels concatenated over the test videos, shape (n,) or (1, n)."""
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise LabelFileError(f"{path} is not a readable .npy array ({exc})") from None
    if array.ndim == 2 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 1 or array.dtype.kind not in "biuf":
        raise LabelFileError(f"{path} holds {array.dtype}{list(array.shape)}; expected one 0/1 label per test "
                             "frame, shape (n,) or (1, n)")
    if not np.isin(array, (0, 1)).all():
        raise LabelFileError(f"{path} holds values other than 0 and 1")
    return array.astype(np.uint8)
