"""Named configuration variants of a sweep: ``anobench sweep --variant NAME:key=value,key=value`` (repeatable).

A variant is a set of ``--set`` overrides with a name. Each variant multiplies the sweep's jobs, its settings
applied after the sweep's own ``--set`` and ``--grid`` values. The name is a label: it is not part of the run id,
which depends only on the resolved configuration (so a variant that resolves to a published run finds that run).
Sweeps log each job's variant in the results folder's ``sweeps.json``, and the leaderboard names its rows after
them. An ablation is a sweep with a variant per switch: ``--variant full --variant no-ttur:ttur=false``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from bench_core.errors import UsageError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
_SYNTAX = "give NAME or NAME:key=value,key=value, e.g. --variant no-ttur:ttur=false"


@dataclass(frozen=True)
class Variant:
    name: str
    #: ``key=value`` overrides, as ``--set`` takes them.
    settings: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """The variant as ``--variant`` takes it."""
        return f"{self.name}:{','.join(self.settings)}" if self.settings else self.name


def parse_variant(text: str) -> Variant:
    """``"no-ttur:ttur=false,lr=0.001"`` → ``Variant("no-ttur", ("ttur=false", "lr=0.001"))``. A value holding
    commas (a list setting) stays whole: a piece without ``=`` belongs to the value before it
    (``small:channels=4,8,epochs=1`` sets ``channels=4,8`` and ``epochs=1``)."""
    name, _, body = text.partition(":")
    name = name.strip()
    if not _NAME.fullmatch(name):
        problem = "has no name" if not name else f"has a name {name!r} of other than letters, digits, - . _ +"
        raise UsageError(f"--variant {text!r} {problem}", hint=_SYNTAX)
    settings: list[str] = []
    for piece in body.split(",") if body.strip() else []:
        piece = piece.strip()
        if "=" in piece:
            key = piece.partition("=")[0].strip()
            if not key:
                raise UsageError(f"--variant {text!r}: {piece!r} names no setting", hint=_SYNTAX)
            settings.append(piece)
        elif settings and piece:
            settings[-1] += f",{piece}"
        else:
            raise UsageError(f"--variant {text!r}: {piece!r} is not key=value", hint=_SYNTAX)
    return Variant(name, tuple(settings))


def parse_variants(texts: Iterable[str]) -> list[Variant]:
    """Every ``--variant``, in the order given; a name given twice is refused."""
    variants: dict[str, Variant] = {}
    for text in texts:
        variant = parse_variant(text)
        if variant.name in variants:
            raise UsageError(f"--variant names '{variant.name}' twice", hint="give each variant its own name")
        variants[variant.name] = variant
    return list(variants.values())


def check_variants_differ(first, second) -> None:
    """Two requests that plan the same run must not carry two variant names: the run could show only one."""
    if first.variant != second.variant:
        raise UsageError(f"--variant {first.variant or '(none)'} and --variant {second.variant or '(none)'} plan the "
                         f"same run of {first.detector} on {first.dataset} (seed {first.seed}): their settings "
                         "resolve to the same configuration", hint="drop one of them, or make them differ")
