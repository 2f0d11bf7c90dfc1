"""User-facing text names the two papers anobench implements by what they are ("the STGAN paper", "the skeleton
LSTM-VAE paper"), never by the file numbers they had while the project was planned; docs/references.md lists them
and is linked from the README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench_core.plugins import get_catalogue

ROOT = Path(__file__).resolve().parents[1]
#: Where users and readers of the code meet the papers' names (run records under leaderboards/results are data).
TEXT_FILES = sorted(
    [ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("datasets/*.md"), *ROOT.glob("leaderboards/*.md"),
     *ROOT.glob("bench_core/*.py"), *ROOT.glob("plugins/**/*.py"), *ROOT.glob("benchmarks/*.py"),
     *ROOT.glob("tests/*.py")]
)
TEXT_FILES.remove(Path(__file__).resolve())  # it spells the old names to test the pattern
#: "seed 000", "seed paper 002", "seed-002", "seed00" and "Seed\n002" (wrapped), in any case.
NUMBERED_NAME = re.compile(r"seed[\s#*-]*(?:paper[\s#*-]*)?00[02]|paper 00[02]|\b00[02]'s\b", re.IGNORECASE)


def numbered_mentions(text: str) -> list[str]:
    return [match.group(0) for match in NUMBERED_NAME.finditer(text)]


def test_the_pattern_catches_the_old_names():
    assert numbered_mentions("as in seed 002's Table 1; seed paper 000; Seed\n    # 002; seed-000") == [
        "seed 002", "seed paper 000", "Seed\n    # 002", "seed-000"]
    assert numbered_mentions("detector seed 0, seeds 0,1,2; the STGAN paper's 0.829") == []


@pytest.mark.parametrize("path", TEXT_FILES, ids=lambda path: str(path.relative_to(ROOT)))
def test_no_paper_is_named_by_number(path):
    assert numbered_mentions(path.read_text(encoding="utf-8")) == []


def test_plugin_summaries_and_published_sources_name_the_papers():
    """What ``anobench list`` shows and the leaderboards' Published AUROC column quote."""
    registrations = get_catalogue().all()
    sources = {figure["source"] for registration in registrations
               for figure in (registration.meta.get("published") or {}).values()}
    assert not [text for text in [r.summary for r in registrations] + sorted(sources) if numbered_mentions(text)]
    assert any(source.startswith("STGAN paper") for source in sources)
    assert any(source.startswith("skeleton LSTM-VAE paper") for source in sources)


def test_the_references_page_lists_both_papers_and_is_linked_from_the_readme():
    references = (ROOT / "docs" / "references.md").read_text(encoding="utf-8")
    assert "### The STGAN paper" in references and "### The skeleton LSTM-VAE paper" in references
    assert "(docs/references.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
