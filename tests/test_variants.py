"""Sweep variants and docs with leaderboard markers (issue 14, item 6): ``anobench sweep --variant NAME:k=v,...``
adds named rows; ``anobench leaderboard --into DOC --marker NAME`` writes the table into a doc; the published STGAN
ablation is rebuilt by those two commands."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench_core.cli import build_app
from bench_core.doc_markers import markers, write_between_markers
from bench_core.errors import UsageError
from bench_core.plugins import get_catalogue
from bench_core.variants import Variant, parse_variant, parse_variants

ROOT = Path(__file__).resolve().parents[1]
cli = CliRunner()


def invoke(*args):
    return cli.invoke(build_app(), [str(a) for a in args])


def toy_sweep(out: Path, *extra):
    return invoke("sweep", "--detectors", "toy-detector", "--datasets", "toy-dataset", "--seeds", "0,1",
                  "--device", "cpu", "--out", out, *extra)


# -- parsing --------------------------------------------------------------------------------------------------

def test_a_variant_is_a_name_and_set_overrides_whose_list_values_stay_whole():
    assert parse_variant("no-ttur:ttur=false") == Variant("no-ttur", ("ttur=false",))
    assert parse_variant("full") == parse_variant("full:") == Variant("full")
    assert parse_variant("small:channels=4,8, epochs=1").settings == ("channels=4,8", "epochs=1")
    assert parse_variant("small:channels=4,8,epochs=1").text == "small:channels=4,8,epochs=1"
    for bad in (":ttur=false", "no ttur:ttur=false", "x:ttur", "x:=1", "x:a=1,,b=2"):
        with pytest.raises(UsageError, match="--variant"):
            parse_variant(bad)
    with pytest.raises(UsageError, match="names 'a' twice"):
        parse_variants(["a:window=2", "a:window=3"])


@pytest.mark.parametrize("bad", [":window=2", "x:window", "a b:window=2"])
def test_a_malformed_variant_is_one_line_naming_the_option(toy_plugin, tmp_path, bad):
    result = toy_sweep(tmp_path, "--variant", bad)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--variant" in lines[0] and lines[0].startswith("error:")
    assert not (tmp_path / "toy-dataset").exists()


def test_an_unknown_setting_in_a_variant_is_the_error_set_gives(toy_plugin, tmp_path):
    by_variant = toy_sweep(tmp_path, "--variant", "x:windw=2")
    by_set = toy_sweep(tmp_path, "--set", "windw=2")
    assert by_variant.exit_code == by_set.exit_code == 2
    assert by_variant.stderr == by_set.stderr and "window" in by_set.stderr  # with its did-you-mean


# -- sweeping and the leaderboard ---------------------------------------------------------------------------------

def test_two_variants_are_two_named_rows_and_the_name_stays_out_of_the_run_id(toy_plugin, tmp_path):
    out = tmp_path / "r"
    result = toy_sweep(out, "--variant", "short:window=2", "--variant", "long:window=4", "--json")
    assert result.exit_code == 0, result.output
    jobs = json.loads(result.stdout)["jobs"]
    assert len(jobs) == 4 and [j["job"].endswith(f"[{name}]") for j, name in
                               zip(jobs, ["short", "short", "long", "long"])] == [True] * 4
    records = [json.loads(p.read_text()) for p in sorted(out.rglob("record.json"))]
    assert sorted(r["variant"] for r in records) == ["long", "long", "short", "short"]
    log = json.loads((out / "sweeps.json").read_text())[-1]
    assert "--variant short:window=2 --variant long:window=4" in log["command"]
    assert sorted(log["variants"].values()) == ["long", "long", "short", "short"]

    rows = json.loads(invoke("leaderboard", out, "--json").stdout)["rows"]
    assert sorted((r["variant"], r["n_seeds"]) for r in rows) == [("long", 2), ("short", 2)]
    table = invoke("leaderboard", out).stdout
    assert "toy-detector (short)" in table and "toy-detector (long)" in table
    assert "--variant short:window=2" in table  # the sweep command that rebuilds it

    # The same settings without a variant, or under another name, are the same runs: nothing runs again.
    plain = toy_sweep(out, "--set", "window=2", "--json")
    assert json.loads(plain.stdout)["skipped"] == 2
    renamed = toy_sweep(out, "--variant", "two:window=2", "--json")
    assert json.loads(renamed.stdout)["skipped"] == 2
    # ...and the latest sweep's name is the row's name.
    names = {r["variant"] for r in json.loads(invoke("leaderboard", out, "--json").stdout)["rows"]}
    assert names == {"two", "long"}


def test_two_variants_that_resolve_to_the_same_run_are_refused(toy_plugin, tmp_path):
    # The cpu preset's window is 3: variant "a" is the configuration "b" asks for.
    result = toy_sweep(tmp_path, "--variant", "a", "--variant", "b:window=3")
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "--variant a and --variant b plan the same run" in result.stderr


# -- writing into a doc between markers ---------------------------------------------------------------------------

DOC = """# Notes

Some prose.

## Results

```sh
# a shell comment, not a heading
```

{start}
old
{end}

## After

Kept as it is.
"""


def test_the_table_goes_between_the_markers_once_and_the_rest_of_the_doc_is_kept(tmp_path):
    start, end = markers("results")
    doc = tmp_path / "notes.md"
    doc.write_text(DOC.format(start=start, end=end))
    block = "# Board\n\n## data-a\n\n| a |\n|---|\n\n```sh\n# not a heading\n```\n"
    assert write_between_markers(doc, "results", block)
    text = doc.read_text()
    head, rest = text.split(start)
    inside, tail = rest.split(end)
    assert head == DOC.split("{start}")[0] and tail == DOC.split("{end}")[1]
    # The block's headings sit under "## Results"; the code block's comment is not a heading.
    assert inside == "\n### Board\n\n#### data-a\n\n| a |\n|---|\n\n```sh\n# not a heading\n```\n"
    assert not write_between_markers(doc, "results", block)  # idempotent
    assert doc.read_text() == text


def test_a_doc_without_its_markers_is_one_line_and_is_not_touched(toy_plugin, tmp_path):
    out = tmp_path / "r"
    assert toy_sweep(out).exit_code == 0
    doc = tmp_path / "notes.md"
    doc.write_text("# Notes\n\n<!-- anobench:board:start -->\n")
    result = invoke("leaderboard", out, "--into", doc, "--marker", "board")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: --into {doc} has no line <!-- anobench:board:end --> (put the two lines "
        "<!-- anobench:board:start --> and <!-- anobench:board:end --> where the table goes)"]
    assert doc.read_text() == "# Notes\n\n<!-- anobench:board:start -->\n"
    assert "needs --marker" in invoke("leaderboard", out, "--into", doc).stderr
    assert "no such file" in invoke("leaderboard", out, "--into", tmp_path / "nope.md", "--marker", "b").stderr
    doc.write_text("# Notes\n\n<!-- anobench:board:start -->\n<!-- anobench:board:end -->\n")
    written = invoke("leaderboard", out, "--into", doc, "--marker", "board")
    assert written.exit_code == 0, written.output
    assert "toy-detector" in doc.read_text() and "--into" in doc.read_text()  # it says how to rebuild it
    again = invoke("leaderboard", out, "--into", doc, "--marker", "board")
    assert again.exit_code == 0 and "unchanged" in again.stderr


# -- the published STGAN ablation --------------------------------------------------------------------------------

def _documented_ablation() -> list[list[str]]:
    text = (ROOT / "docs" / "stgan.md").read_text()
    section = text[text.index("## Ablation"):]
    block = re.search(r"```sh\n(.*?)```", section, flags=re.S).group(1).replace("\\\n", " ")
    return [shlex.split(line)[1:] if line.startswith("OMP_") else shlex.split(line)
            for line in block.splitlines() if line.strip()]


def test_the_published_ablation_is_rebuilt_by_its_documented_sweep_and_leaderboard(monkeypatch, tmp_path):
    sweep_argv, board_argv = _documented_ablation()
    assert sweep_argv[:2] == ["anobench", "sweep"] and sweep_argv.count("--variant") == 6
    assert board_argv[:2] == ["anobench", "leaderboard"] and "--into" in board_argv
    import bench_core.run

    # A generated set's run ids come from its parameters; checking it would draw its videos first (minutes).
    generated = get_catalogue().names("generator")
    real_check = bench_core.run.check_dataset
    monkeypatch.setattr(bench_core.run, "check_dataset",
                        lambda dataset: None if dataset.name in generated else real_check(dataset))
    monkeypatch.chdir(ROOT)
    planned = invoke(*sweep_argv[1:], "--dry-run", "--json")
    assert planned.exit_code == 0, planned.output
    summary = json.loads(planned.stdout)
    assert (summary["jobs"], summary["to_run"]) == (36, 0)  # every published run re-plans to its id

    # The leaderboard into a copy of the doc (beside the records, as docs/ is) gives the doc as published.
    (tmp_path / "docs").mkdir()
    (tmp_path / "leaderboards").symlink_to(ROOT / "leaderboards")
    copy = tmp_path / "docs" / "stgan.md"
    copy.write_text((ROOT / "docs" / "stgan.md").read_text())
    monkeypatch.chdir(tmp_path)
    rebuilt = invoke(*board_argv[1:])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "unchanged" in rebuilt.stderr and copy.read_text() == (ROOT / "docs" / "stgan.md").read_text()
    published = copy.read_text()
    assert "stgan (no-spectral-norm)" in published and "0.478 ± 0.071" in published  # the published figure
