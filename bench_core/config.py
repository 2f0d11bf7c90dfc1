"""Turning presets and ``key=value`` overrides into config dataclasses, rejecting unknown keys by name."""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from typing import Any, Iterable

from bench_core.errors import UsageError, did_you_mean

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_assignments(items: Iterable[str], option: str) -> dict[str, str]:
    """``["a=1", "b=x"]`` → ``{"a": "1", "b": "x"}``; a malformed item names the option it came from."""
    result = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{option} {item!r} is not key=value", hint=f"write it as {option} lr=0.001")
        result[key.strip()] = value.strip()
    return result


#: Seeds are what numpy's legacy seeding takes: 0 .. 2**32 - 1.
MAX_SEED = 2**32 - 1


def check_seed(seed: int, option: str) -> int:
    """``seed`` when it is in 0..2**32-1; a UsageError naming ``option`` (--seed, --seeds) otherwise."""
    if not 0 <= seed <= MAX_SEED:
        raise UsageError(f"{option} {seed} is out of range", hint=f"give a seed from 0 to {MAX_SEED}")
    return seed


def _coerce(value: Any, annotation: Any, key: str, option: str) -> Any:
    if not isinstance(value, str):
        return value
    origin = typing.get_origin(annotation)
    try:
        if annotation is bool:
            if value.lower() in _TRUE:
                return True
            if value.lower() in _FALSE:
                return False
            raise ValueError(value)
        if annotation is int:
            return int(value)
        if annotation is float:
            return float(value)
        if annotation is str:
            return value
        if origin is tuple or annotation is tuple:
            args = typing.get_args(annotation)
            parts = [p for p in value.strip("()[]").split(",") if p.strip()]
            inner = args[0] if args else str
            return tuple(_coerce(p.strip(), inner, key, option) for p in parts)
        return json.loads(value)
    except (ValueError, json.JSONDecodeError):
        name = getattr(annotation, "__name__", str(annotation))
        article = "an" if name[:1].lower() in "aeiou" else "a"
        raise UsageError(f"{option} {key}={value!r} is not a valid {name}", hint=f"give {key} {article} {name}") \
            from None


def unreadable_annotations(cls: type) -> list[tuple[str, str, str]]:
    """Fields of dataclass ``cls`` whose annotation ``--set`` cannot read faithfully, as (field, problem, fix).

    A bare ``tuple`` gives no element type, so ``--set channels=8,16`` would become strings (and another run id)."""
    found = []
    for name, annotation in typing.get_type_hints(cls).items():
        if name in {f.name for f in dataclasses.fields(cls)} and (annotation is tuple or annotation is typing.Tuple):
            found.append((name, "is annotated with a bare 'tuple'",
                          f"annotate it with its element type, e.g. '{name}: tuple[int, ...]'"))
    return found


def build_config(cls: type, presets: dict[str, dict], preset: str | None, overrides: dict[str, Any], option: str,
                 owner: str) -> Any:
    """The dataclass ``cls`` with the preset's values, then ``overrides``, applied over its defaults."""
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    if preset is not None:
        if preset not in presets:
            raise UsageError(f"{owner} has no preset '{preset}'", hint=did_you_mean(preset, presets))
        values.update(presets[preset])
    for key, value in overrides.items():
        if key not in fields:
            raise UsageError(
                f"unknown setting '{key}' for {owner} in {option}",
                hint=did_you_mean(key, fields) or f"{owner} has no settings",
            )
        values[key] = _coerce(value, hints[key], key, option)
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{owner}: invalid setting in {option}: {exc}") from None


# The checks every settings dataclass makes in its ``__post_init__``; each raises ValueError with the message
# ``build_config`` turns into a one-line --set error, so every plugin words the same mistake the same way.

def require_at_least(settings: Any, minimum: int, *names: str) -> None:
    """Each named field of ``settings`` is a number >= ``minimum`` (e.g. epochs, batch sizes, windows)."""
    for name in names:
        value = getattr(settings, name)
        if value < minimum:
            raise ValueError(f"{name} must be >= {minimum}, not {value}")


def require_finite(settings: Any, *names: str, positive: bool = True) -> None:
    """Each named field is a finite number, > 0 when ``positive`` (learning rates) and >= 0 otherwise (weights).

    Written as a range check so NaN fails it too: NaN passes a plain ``< 0`` test."""
    for name in names:
        value = getattr(settings, name)
        if not ((0 < value) if positive else (0 <= value)) or not value < math.inf:
            raise ValueError(f"{name} must be a finite number {'>' if positive else '>='} 0, not {value}")


def require_choice(settings: Any, name: str, choices: Iterable[str]) -> None:
    """The named field is one of ``choices`` (listed in the message in their given order)."""
    choices = tuple(choices)
    value = getattr(settings, name)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, not {value!r}")


def to_jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {k: to_jsonable(v) for k, v in dataclasses.asdict(obj).items()}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return obj.item()
    return obj
