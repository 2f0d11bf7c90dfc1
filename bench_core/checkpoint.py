"""The final checkpoint of a torch detector (``Detector.save``/``load``): weights plus the config they were
trained with, so that loading into a detector built with other architecture settings fails with a clear message
instead of a wall of tensor-shape errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Iterable

from bench_core.errors import DataError, UsageError

FORMAT = 1


def save_model(path: Path, name: str, version: str, config: Any, model) -> None:
    import torch

    torch.save({
        "format": FORMAT, "detector": name, "detector_version": version, "config": dataclasses.asdict(config),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }, Path(path))


def load_model(path: Path, name: str, version: str, config: Any, model, architecture: Iterable[str],
               defaults: dict[str, Any] | None = None) -> None:
    """Restore ``model`` from ``path`` after checking the checkpoint is ``name``'s and its ``architecture`` settings
    match ``config``'s; ``defaults`` gives the value of a setting that older checkpoints did not record."""
    import torch

    path = Path(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise DataError(f"{name} checkpoint {path} does not exist", hint="train first, or fix the path") from None
    except Exception as exc:
        from bench_core.training import unsafe_load_reason

        raise DataError(f"{name} checkpoint {path} cannot be read: {unsafe_load_reason(exc)}",
                        hint=f"the file is damaged or not a {name} checkpoint; train again") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise DataError(f"{path} is not a {name} checkpoint (format {FORMAT})", hint="train again to write one")
    owner = checkpoint.get("detector", name)  # early checkpoints did not say whose they were
    if owner != name:
        raise UsageError(f"{path} is a {owner} checkpoint, not a {name} one",
                         hint=f"load it with detector {owner}, or train {name}")
    saved, current, defaults = checkpoint["config"], dataclasses.asdict(config), defaults or {}
    differing = [f"{k}={saved.get(k, defaults.get(k))!r} (now {current[k]!r})" for k in architecture
                 if _as_tuple(saved.get(k, defaults.get(k))) != _as_tuple(current[k])]
    if differing:
        raise UsageError(f"{name} checkpoint {path} was trained with other settings: {', '.join(differing)}",
                         hint="use the settings it was trained with, or train again")
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError:
        raise DataError(f"{name} checkpoint {path} does not fit this version of {name} "
                        f"(written by {checkpoint.get('detector_version')}, this is {version})",
                        hint="train again with this version") from None
    model.eval()


def _as_tuple(value):
    # JSON-like round trips turn tuples into lists; compare them as equals.
    return tuple(value) if isinstance(value, (list, tuple)) else value
