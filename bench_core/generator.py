"""The Generator interface: write a generated dataset to a folder, in the on-disk format a dataset's loader reads.

Generators are registered apart from datasets (``register_generators``), so that a loader is a pure reader and
``anobench data generate NAME`` finds every generator in one place. A generator usually takes the name of the
dataset it imitates; ``reads_with`` names the dataset that reads what it writes.
"""

from __future__ import annotations

import abc
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from bench_core.dataset import GENERATED_MARKER
from bench_core.errors import UsageError


@dataclass
class GeneratorOptions:
    """Options every generator accepts; a generator subclasses this (or gives any dataclass) to add its own, set
    with ``anobench data generate NAME --data-option key=value``. A field called ``seed`` is filled from --seed."""

    #: The generator seed (``--seed``): the same seed and options write the same files.
    seed: int = 0


class Generator(abc.ABC):
    """Writes a generated copy of a dataset into a folder. Registered by a plugin's ``register_generators``."""

    Options: ClassVar[type] = GeneratorOptions
    #: The dataset whose loader reads the folder written (``anobench data check READS_WITH --data-root OUT``).
    reads_with: ClassVar[str] = ""
    version: ClassVar[str] = "1"

    @abc.abstractmethod
    def write(self, out: Path, seed: int, options) -> list[str]:
        """Write the files to ``out`` (missing, empty, or written by this generator before; anything else is refused
        with a UsageError naming ``out``) and return the paths written. The same seed and options must write the
        same bytes."""


def own_marker(out: Path, generator: str) -> dict | None:
    """The marker a previous ``anobench data generate GENERATOR`` left in ``out``; None when ``out`` is missing or
    empty. A file, or a non-empty folder that generator did not write, is refused (UsageError naming ``out``): a
    generator must never write over a folder of real recordings."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: exists and is not a folder", hint=_NEW_FOLDER)
    if not out.is_dir() or not any(out.iterdir()):
        return None
    try:
        marker = json.loads((out / GENERATED_MARKER).read_text())
        if marker.get("generator") != generator:
            raise ValueError(marker.get("generator"))
    except (OSError, ValueError, AttributeError):
        raise not_written_by(out, generator) from None
    return marker


def not_written_by(out: Path, generator: str) -> UsageError:
    return UsageError(f"{out}: is not empty, and is not a folder written by 'anobench data generate {generator}'",
                      hint=_NEW_FOLDER)


def clear_previous_copy(out: Path, generator: str, written: tuple[str, ...]) -> None:
    """Make ``out`` ready to write into: missing, empty, or a copy ``generator`` wrote, whose ``written`` files and
    folders (names relative to ``out``) are removed. Anything else is refused (see ``own_marker``)."""
    if own_marker(out, generator) is None:
        return
    for name in written:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


_NEW_FOLDER = "pass --out a new or empty folder; nothing was written"


def generator_options(generator_cls: type[Generator], name: str, seed: int, assignments: list[str]):
    """The generator's Options from ``--data-option key=value`` assignments, with ``seed`` from --seed when the
    Options have that field."""
    import dataclasses

    from bench_core.config import build_config, parse_assignments

    values = parse_assignments(assignments, "--data-option")
    if "seed" in {f.name for f in dataclasses.fields(generator_cls.Options)}:
        values["seed"] = str(seed)
    return build_config(generator_cls.Options, {}, None, values, "--data-option", f"generator '{name}'")


def find_generator(catalogue, name: str) -> type[Generator]:
    """The generator called ``name``; a dataset that no generator writes is named as such."""
    generators = catalogue.names("generator")
    if name not in generators and name in catalogue.names("dataset"):
        writers = [g for g in generators if getattr(catalogue.get("generator", g).load(), "reads_with", "") == name]
        writes = [f"generator '{w}' writes its layout (anobench data generate {w} --out DIR)" for w in writers]
        raise UsageError(f"dataset '{name}' is not generated", hint="; ".join(writes + ["generators: "
                                                                                        + ", ".join(generators)]))
    return catalogue.get("generator", name).load()
