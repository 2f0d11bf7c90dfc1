"""Meta-test, as datasette has: every hook is documented in docs/plugins.md and implemented by some test."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from bench_core import hookspecs

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_DOCS = ROOT / "docs" / "plugins.md"
HOOK_PREFIX = "register_"


def hook_names() -> list[str]:
    return sorted(
        name for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith(HOOK_PREFIX) and hasattr(function, "anobench_spec")
    )


def documented_hooks() -> list[str]:
    """Names in headings written ``## register_xxx`` (or with the name in backticks)."""
    return re.findall(rf"^## `?({HOOK_PREFIX}\w+)`?\s*$", PLUGIN_DOCS.read_text(), flags=re.MULTILINE)


def test_the_hooks_are_found():
    # Guards the two tests below against passing on an empty list.
    assert {"register_detectors", "register_datasets", "register_scorers", "register_commands"} <= set(hook_names())


@pytest.mark.parametrize("hook", hook_names())
def test_every_hook_has_a_heading_in_the_plugin_docs(hook):
    assert hook in documented_hooks(), f"docs/plugins.md has no '## {hook}' heading"


def test_the_plugin_docs_document_no_hook_that_does_not_exist():
    assert sorted(documented_hooks()) == hook_names()


@pytest.mark.parametrize("hook", hook_names())
def test_every_hook_is_implemented_in_a_test(hook):
    """Some tests/test_*.py defines an implementation: ``def <hook>(`` (a @hookimpl function or method)."""
    definition = re.compile(rf"^\s*def {hook}\(", flags=re.MULTILINE)
    implementing = [
        path.name for path in sorted((ROOT / "tests").glob("test_*.py"))
        if path.name != Path(__file__).name and definition.search(path.read_text())
    ]
    assert implementing, f"no test under tests/ registers an implementation of {hook}"
