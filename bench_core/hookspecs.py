"""The hooks a plugin can implement. This file is the whole plugin contract; docs/plugins.md explains each hook."""

from pluggy import HookimplMarker, HookspecMarker

hookspec = HookspecMarker("anobench")
hookimpl = HookimplMarker("anobench")


@hookspec
def register_detectors(register):
    """Register detectors: ``register(name, "module:Class" or class, summary=..., published={...})``."""


@hookspec
def register_datasets(register):
    """Register datasets: ``register(name, "module:Class" or class, summary=...)``."""


@hookspec
def register_scorers(register):
    """Register scorers: ``register(name, "module:Class" or class, summary=...)``."""


@hookspec
def register_generators(register):
    """Register generators (``anobench data generate``): ``register(name, "module:Class" or class, summary=...)``;
    see bench_core.generator."""


@hookspec
def register_runners(register):
    """Register sweep runners: ``register(name, "module:Class" or class, summary=...)``; see bench_core.runners."""


@hookspec
def register_commands(app):
    """Add sub-commands to the ``anobench`` typer app."""
