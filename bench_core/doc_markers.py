"""Writing a generated block (a leaderboard) into a hand-written markdown doc, between two markers::

    <!-- anobench:NAME:start -->
    ...replaced by `anobench leaderboard RESULTS --into DOC --marker NAME`...
    <!-- anobench:NAME:end -->

Everything outside the markers is kept byte for byte, and writing the same block again changes nothing. The
block's headings are moved under the doc's heading above the start marker (a leaderboard's ``# title`` becomes a
``###`` under the doc's ``## Ablation``), so the doc's outline stays whole.
"""

from __future__ import annotations

import re
from pathlib import Path

from bench_core.errors import UsageError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_HEADING = re.compile(r"^(#{1,6}) ", flags=re.M)
_FENCE = re.compile(r"^```.*?^```", flags=re.M | re.S)


def markers(name: str) -> tuple[str, str]:
    return f"<!-- anobench:{name}:start -->", f"<!-- anobench:{name}:end -->"


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name or ""):
        raise UsageError(f"--marker {name!r} is not a marker name", hint="letters, digits, - . _, e.g. stgan-ablation")
    return name


def write_between_markers(doc: Path, name: str, block: str) -> bool:
    """Put ``block`` between the markers called ``name`` in ``doc``; True when the doc changed. A doc that is
    missing, or lacks either marker (or has them twice, or the end first), is refused with one line naming it."""
    from bench_core.records import atomic_write_bytes

    start, end = markers(check_name(name))
    hint = f"put the two lines {start} and {end} where the table goes"
    try:
        text = Path(doc).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"--into {doc}: no such file", hint=hint) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--into {doc}: cannot be read as text ({type(exc).__name__})", hint=hint) from None
    counts = {marker: len(re.findall(rf"^{re.escape(marker)}[ \t]*$", text, flags=re.M)) for marker in (start, end)}
    missing = [marker for marker, count in counts.items() if count == 0]
    if missing:
        raise UsageError(f"--into {doc} has no line {' and no line '.join(missing)}", hint=hint)
    twice = [marker for marker, count in counts.items() if count > 1]
    if twice:
        raise UsageError(f"--into {doc} has the line {twice[0]} more than once", hint="keep one pair of markers")
    head, _, rest = text.partition(start)
    _, _, tail = rest.partition(end)
    if end in head:
        raise UsageError(f"--into {doc} has {end} before {start}", hint=hint)
    updated = f"{head}{start}\n{_under(block.strip(), _level_above(head))}\n{end}{tail}"
    if updated == text:
        return False
    atomic_write_bytes(Path(doc), updated.encode("utf-8"))
    return True


def _level_above(text: str) -> int:
    """The level of the last heading in ``text`` (outside code blocks); 0 when there is none."""
    headings = _HEADING.findall(_FENCE.sub("", text))
    return len(headings[-1]) if headings else 0


def _under(block: str, level: int) -> str:
    """``block`` with its headings moved down so that its first level sits at ``level + 1`` (at most ######); code
    blocks are left alone."""
    top = min((len(h) for h in _HEADING.findall(_FENCE.sub("", block))), default=1)
    shift = max(0, level + 1 - top)
    if not shift:
        return block
    pieces, last = [], 0
    for fence in _FENCE.finditer(block):
        pieces.append(_HEADING.sub(lambda m: "#" * min(6, len(m.group(1)) + shift) + " ", block[last:fence.start()]))
        pieces.append(fence.group(0))
        last = fence.end()
    pieces.append(_HEADING.sub(lambda m: "#" * min(6, len(m.group(1)) + shift) + " ", block[last:]))
    return "".join(pieces)


def check_into(into: Path | None, marker: str | None, fmt: str | None) -> None:
    """``anobench leaderboard --into DOC --marker NAME``: both or neither, and a markdown table."""
    if (into is None) != (marker is None):
        given, wanted = ("--into", "--marker") if into is not None else ("--marker", "--into")
        raise UsageError(f"{given} needs {wanted}", hint="e.g. --into docs/stgan.md --marker stgan-ablation")
    if marker is not None:
        check_name(marker)
        if fmt not in (None, "md"):
            raise UsageError(f"--into writes a markdown table, not --format {fmt}", hint="leave --format out")


def into_argv(into: Path | None, marker: str | None) -> str:
    """The --into and --marker options as the reproduce command spells them."""
    import shlex

    return f" --into {shlex.quote(str(into))} --marker {shlex.quote(marker)}" if into is not None else ""
