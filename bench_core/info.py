"""What a detector, dataset or scorer offers, read from the code: ``anobench info NAME`` and ``list --json``.

A setting's documentation is its doc comment, the project's one convention for config fields: ``#:`` lines right
above the field (Sphinx's autodoc convention, which the built-in plugins follow), or a trailing ``# ...`` comment on
the field's line. A plugin that builds its dataclass where no source is at hand may put the line in the field's
metadata instead: ``field(default=..., metadata={"doc": "..."})``. Preset purposes are the comments above each
preset's key in the ``presets`` dict.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import textwrap
import tokenize
import typing
from functools import lru_cache
from pathlib import Path
from typing import Any

from bench_core.config import to_jsonable
from bench_core.errors import UsageError, did_you_mean
from bench_core.plugins import Catalogue, Registration, get_catalogue
from bench_core.view_choice import default_view, detector_views

#: What the two presets every detector has are for, where the plugin's code says nothing above them.
_PRESET_PURPOSES = {"paper": "the published hyper-parameters", "cpu": "fits a CPU machine in minutes"}
#: Dataset cards of the built-in datasets (``datasets/<name>.md`` in a source checkout).
CARDS_DIR = Path(__file__).resolve().parent.parent / "datasets"


def _class_source(cls: type) -> tuple[str, int] | None:
    """The dedented source of ``cls`` and the file line its first line is on, or None where there is no source."""
    try:
        lines, first = inspect.getsourcelines(cls)
    except (OSError, TypeError):
        return None
    return textwrap.dedent("".join(lines)), first


def _comments(source: str) -> dict[int, str]:
    """Comment text by (1-based) line of ``source``, and whether the line holds nothing else."""
    found = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                found[tok.start[0]] = tok.string
    except (tokenize.TokenError, IndentationError):
        pass
    return found


def _comment_above(lines: list[str], comments: dict[int, str], lineno: int, prefix: str) -> str:
    """The run of comment lines starting with ``prefix`` right above ``lineno``, joined into one paragraph."""
    collected = []
    line = lineno - 1
    while line >= 1 and line in comments and lines[line - 1].strip().startswith(prefix):
        collected.append(comments[line][len(prefix):].strip())
        line -= 1
    return " ".join(reversed(collected))


@lru_cache(maxsize=None)
def field_docs(cls: type) -> dict[str, str]:
    """Each dataclass field's doc line: ``metadata["doc"]``, else its ``#:`` comment, else a trailing comment.
    Inherited fields are documented where they are declared."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass) or klass is object:
            continue
        found = _class_source(klass)
        if found is None:
            continue
        source, _ = found
        lines = source.splitlines()
        comments = _comments(source)
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []:
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                doc = _comment_above(lines, comments, node.lineno, "#:")
                trailing = comments.get(node.end_lineno or node.lineno, "")
                if not doc and trailing and not lines[node.lineno - 1].strip().startswith("#"):
                    doc = trailing.lstrip("#:").strip()
                if doc:
                    docs[node.target.id] = doc
    for f in dataclasses.fields(cls):
        if f.metadata.get("doc"):
            docs[f.name] = str(f.metadata["doc"])
    return docs


def preset_purposes(cls: type) -> dict[str, str]:
    """Each preset's purpose: the comment above its key in the ``presets`` dict of the class that defines it."""
    owner = next((k for k in cls.__mro__ if "presets" in vars(k)), cls)
    purposes = {name: _PRESET_PURPOSES.get(name, "") for name in getattr(cls, "presets", {})}
    found = _class_source(owner)
    if found is None:
        return purposes
    source, _ = found
    lines, comments = source.splitlines(), _comments(source)
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return purposes
    for node in ast.walk(tree):
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "presets" for t in node.targets)
                and isinstance(node.value, ast.Dict)):
            for key in node.value.keys:
                if isinstance(key, ast.Constant) and key.value in purposes:
                    doc = _comment_above(lines, comments, key.lineno, "#")
                    if doc:
                        purposes[key.value] = doc
    return purposes


def type_name(annotation: Any) -> str:
    """``int``, ``tuple[int, ...]``, ``str``: how a type reads in a table."""
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def settings_table(cls: type, presets: dict[str, dict] | None = None) -> list[dict]:
    """One entry per field of dataclass ``cls``: name, type, default, value in each preset (where it sets one), doc."""
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    rows = []
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        else:
            default = None
        rows.append({
            "name": f.name, "type": type_name(hints.get(f.name, f.type)), "default": to_jsonable(default),
            "presets": {p: to_jsonable(values[f.name]) for p, values in (presets or {}).items() if f.name in values},
            "doc": docs.get(f.name, ""),
        })
    return rows


def card_path(name: str) -> Path | None:
    path = CARDS_DIR / f"{name}.md"
    return path if path.is_file() else None


def card_intro(path: Path) -> str:
    """The card's first paragraph after its heading."""
    paragraph: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        if line.strip():
            if line.startswith("#"):
                break
            paragraph.append(line.strip())
        elif paragraph:
            break
    return " ".join(paragraph)


def card_section(path: Path, words: tuple[str, ...]) -> str:
    """The first paragraph under the card's first ``##`` heading that holds one of ``words``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        if line.startswith("## ") and any(w in line.lower() for w in words):
            paragraph: list[str] = []
            for body in lines[index + 1:]:
                if body.startswith("#") or (not body.strip() and paragraph) or body.startswith("```"):
                    break
                if body.strip():
                    paragraph.append(body.strip())
            return " ".join(paragraph)
    return ""


def _doc_summary(obj: Any) -> str:
    return " ".join((inspect.getdoc(obj) or "").split("\n\n")[0].split())


def describe(registration: Registration) -> dict:
    """Everything ``anobench info`` shows for one registration, as JSON-ready data."""
    base = {"kind": registration.kind, "name": registration.name, "plugin": registration.plugin,
            "target": registration.target_path, "summary": registration.summary,
            **to_jsonable({k: v for k, v in registration.meta.items()})}
    cls = registration.load()
    if registration.kind == "detector":
        views = detector_views(cls)
        base.update({
            "version": getattr(cls, "version", None), "about": _doc_summary(cls),
            "views": list(views) if views else None, "default_view": default_view(cls),
            "supports_resume": bool(getattr(cls, "supports_resume", False)),
            "presets": {name: {"purpose": purpose, "settings": to_jsonable(cls.presets[name])}
                        for name, purpose in preset_purposes(cls).items()},
            "settings": settings_table(cls.Config, cls.presets),
            "neutral_settings": to_jsonable(getattr(cls, "neutral_settings", {})),
            "published": to_jsonable(registration.meta.get("published", {})),
        })
    elif registration.kind == "dataset":
        card = card_path(registration.name)
        base.update({
            "version": getattr(cls, "version", None), "about": _doc_summary(cls),
            "views": list(cls.views), "label_conventions": list(cls.label_conventions),
            "generated": registration.name in get_catalogue().names("generator"),
            "options": settings_table(cls.Options),
            "layout": (card_section(card, ("layout", "laying", "lay the files")) if card else "")
            or _doc_summary(cls.Options),
            "card": str(card) if card else None, "card_intro": card_intro(card) if card else "",
        })
    elif registration.kind == "generator":
        base.update({"version": getattr(cls, "version", None), "about": _doc_summary(cls),
                     "reads_with": getattr(cls, "reads_with", "") or None, "options": settings_table(cls.Options)})
    elif registration.kind == "scorer":
        from bench_core.metrics import headline

        headline_name = getattr(headline(cls.metrics), "name", None)
        base.update({"version": getattr(cls, "version", None), "about": _doc_summary(cls),
                     # name -> what it measures, as before MetricSpec; the declarations in full beside it
                     "metrics": {spec.name: spec.description for spec in cls.metrics},
                     "metric_specs": [_metric_facts(spec, spec.name == headline_name) for spec in cls.metrics],
                     "breakdown": [_metric_facts(spec, False) for spec in cls.breakdown]})
    else:
        base.update({"about": _doc_summary(cls)})
    return base


def _metric_facts(spec, is_headline: bool) -> dict:
    better = {True: "higher", False: "lower", None: "neither (a count)"}[spec.higher_is_better]
    return {"name": spec.name, "label": spec.label, "better": better, "format": spec.format, "show": spec.show,
            "headline": is_headline, "description": spec.description}


def find(catalogue: Catalogue, name: str, kind: str | None = None) -> Registration:
    """The registration called ``name`` (of ``kind`` when given); a name two kinds share needs ``--kind``."""
    matches = [r for r in catalogue.all(kind) if r.name == name]
    if {r.kind for r in matches} == {"dataset", "generator"}:
        # A generated dataset and its generator share a name; the dataset's info says it is generated.
        matches = [r for r in matches if r.kind == "dataset"]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise UsageError(f"'{name}' names a {' and a '.join(r.kind for r in matches)}",
                         hint="say which with --kind " + " or --kind ".join(r.kind for r in matches))
    names = {r.name for r in catalogue.all(kind)}
    raise UsageError(f"nothing installed is called '{name}'" + (f" (kind {kind})" if kind else ""),
                     hint=did_you_mean(name, names) or "see 'anobench list'")


def _cell(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))  # as --set takes it
    return "—" if value is None or value == "" else str(value)


def render(info: dict, console) -> None:
    """``anobench info`` for people: a heading, the facts, then a table of settings (or options, or metrics)."""
    from rich.markup import escape
    from rich.table import Table

    console.print(f"[bold]{escape(info['name'])}[/] — {info['kind']} from plugin '{escape(info['plugin'])}'"
                  f" ({escape(info['target'])})", highlight=False)
    for line in dict.fromkeys(x for x in (info.get("summary"), info.get("about")) if x):
        console.print(escape(line), highlight=False)
    if info["kind"] == "detector":
        views = ", ".join(info["views"]) if info["views"] else "fixed by the detector (see its input_spec)"
        console.print(f"views: {views}" + (f"; default {info['default_view']} (a dataset without it gets the "
                                           "first view both offer)" if info["default_view"] else ""),
                      highlight=False)
        console.print(f"resumable (--resume): {'yes' if info['supports_resume'] else 'no'}", highlight=False)
        console.print("presets:", highlight=False)
        for name, preset in info["presets"].items():
            console.print(f"  [bold]{name}[/]: {escape(preset['purpose'] or '—')}", highlight=False)
        table = Table(title="settings (--set KEY=VALUE)")
        for column in ("setting", "type", "default", *info["presets"]):
            table.add_column(column, no_wrap=column in ("setting", "type"), overflow="fold")
        table.add_column("what it is", overflow="fold", ratio=1)
        for row in info["settings"]:
            table.add_row(row["name"], escape(row["type"]), escape(_cell(row["default"])),
                          *[escape(_cell(row["presets"][p])) if p in row["presets"] else "" for p in info["presets"]],
                          escape(row["doc"]))
        console.print(table)
        for dataset, figure in (info.get("published") or {}).items():
            console.print(f"published frame AUROC on {dataset}: {figure.get('frame_auroc')} "
                          f"({escape(str(figure.get('source', '')))})", highlight=False)
    elif info["kind"] == "dataset":
        console.print(f"views: {', '.join(info['views'])}; label conventions: {', '.join(info['label_conventions'])}"
                      f"; {'generated (anobench data generate)' if info['generated'] else 'bring the files'}",
                      highlight=False)
        if info["layout"]:
            console.print(f"layout: {escape(info['layout'])}", highlight=False)
        console.print(_options_table(info["options"]))
        if info["card"]:
            console.print(f"card: {info['card']}", highlight=False)
            console.print(escape(info["card_intro"]), highlight=False)
    elif info["kind"] == "generator":
        console.print(f"writes: 'anobench data generate {escape(info['name'])} --out DIR'"
                      + (f", read with 'anobench data check {escape(info['reads_with'])} --data-root DIR'"
                         if info["reads_with"] else ""), highlight=False)
        console.print(_options_table(info["options"]))
    elif info["kind"] == "scorer":
        table = Table(title="metrics (--sort-by takes any whose better is higher or lower)")
        table.add_column("metric", no_wrap=True)  # the name --sort-by takes, whole
        for column in ("title", "better", "shown", "what it is"):
            table.add_column(column, overflow="fold")
        for facts in info["metric_specs"]:
            table.add_row(facts["name"] + (" (headline)" if facts["headline"] else ""), escape(facts["label"]),
                          facts["better"], facts["show"], escape(facts["description"]))
        console.print(table if info["metrics"] else "metrics: not declared (the scorer's 'metrics' attribute)")
        if info["breakdown"]:
            console.print("per video and per kind of anomaly: " + ", ".join(
                f"{facts['name']} ({escape(facts['description'])})" for facts in info["breakdown"]), highlight=False)


def _options_table(rows: list[dict]):
    """A dataset's or a generator's options, as ``--data-option KEY=VALUE`` takes them."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="options (--data-option KEY=VALUE)")
    for column in ("option", "type", "default"):
        table.add_column(column, no_wrap=column != "default", overflow="fold")
    table.add_column("what it is", overflow="fold", ratio=1)
    for row in rows:
        table.add_row(row["name"], escape(row["type"]), escape(_cell(row["default"])), escape(row["doc"]))
    return table


def describe_all(registrations: list[Registration]) -> list[dict]:
    """``describe`` of each; one that cannot be loaded keeps its basic facts and says why under ``error``."""
    described = []
    for registration in registrations:
        try:
            described.append(describe(registration))
        except Exception as exc:  # noqa: BLE001 - one broken plugin must not hide the others
            described.append({"kind": registration.kind, "name": registration.name, "plugin": registration.plugin,
                              "target": registration.target_path, "summary": registration.summary,
                              "error": f"{type(exc).__name__}: {exc}", **to_jsonable(registration.meta)})
    return described
