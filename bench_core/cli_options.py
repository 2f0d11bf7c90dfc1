"""What the command line's options offer: fixed choices, names completed from the registry, flags shown as flags.

Kept apart from cli.py so the commands there stay a list of options; this module knows how they are presented.
"""

from __future__ import annotations

from typing import Callable, Literal

from bench_core.scoring import NORMALISATIONS

#: The choices that are the harness's own (plugin-defined names are completed from the registry instead).
Device = Literal["auto", "cpu", "cuda"]
Normalization = Literal[NORMALISATIONS]  # type: ignore[valid-type] - the protocol's own list
OverwritePolicy = Literal["never", "failed", "always"]
#: ``--overwrite`` given alone (a flag, as ``run`` always took it) means this policy.
OVERWRITE_ALONE = "always"


def complete_names(kind: str) -> Callable[[str], list[str]]:
    """A completion callback offering the installed names of ``kind`` (detector, dataset, scorer, runner); a
    comma-separated list (``--detectors a,b``) is completed at its last item."""

    def complete(incomplete: str) -> list[str]:
        from bench_core.plugins import get_catalogue

        head, _, last = incomplete.rpartition(",")
        prefix = f"{head}," if head else ""
        try:
            names = get_catalogue().names(kind)
        except Exception:  # noqa: BLE001 - a broken plugin must not break the shell's completion
            return []
        return [prefix + name for name in names if name.startswith(last)]

    return complete


def complete_presets(incomplete: str) -> list[str]:
    """Every preset name some installed detector has (``paper`` and ``cpu`` at least)."""
    from bench_core.plugins import get_catalogue

    names = {"paper", "cpu"}
    try:
        for registration in get_catalogue().all("detector"):
            names.update(getattr(registration.load(), "presets", {}))
    except Exception:  # noqa: BLE001
        pass
    return sorted(n for n in names if n.startswith(incomplete))


def expand_bare_overwrite(args: list[str]) -> list[str]:
    """``--overwrite`` with no policy after it (last, or before another option) becomes ``--overwrite always``, so
    ``run --overwrite`` keeps working while run and sweep both take a policy."""
    result = []
    for index, arg in enumerate(args):
        result.append(arg)
        if arg == "--overwrite" and (index + 1 == len(args) or args[index + 1].startswith("-")):
            result.append(OVERWRITE_ALONE)
    return result


def show_flags_as_flags(command, ctx) -> None:
    """A flag takes no value, so its help shows no ``<bool>`` type (typer's rich help shows one by default)."""
    help_option = command.get_help_option(ctx) if hasattr(command, "get_help_option") else None
    for param in [*getattr(command, "params", []), *([help_option] if help_option else [])]:
        if getattr(param, "is_flag", False) and getattr(param, "metavar", None) is None:
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        show_flags_as_flags(sub, ctx)
