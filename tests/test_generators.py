"""Generators (issue 14, item 5): a plugin registers them with ``register_generators``; ``anobench data generate``
finds them there; datasets are pure readers without ``generate``; the built-in generators write what they wrote
before they moved into their own plugin."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench_core import Dataset, hookimpl
from bench_core.cli import build_app
from bench_core.dataset import GENERATED_MARKER
from bench_core.generator import Generator, GeneratorOptions, clear_previous_copy
from bench_core.plugins import get_catalogue
from bench_core.records import atomic_write_json

runner = CliRunner()


def invoke(*args):
    return runner.invoke(build_app(), [str(a) for a in args])


# -- a third-party generator, registered as a plugin object ------------------------------------------------------

@dataclass
class EchoOptions(GeneratorOptions):
    #: Lines to write.
    lines: int = 2


class EchoGenerator(Generator):
    """Writes echo.txt: the seed on each of its lines."""

    Options = EchoOptions
    reads_with = "toy-dataset"

    def write(self, out: Path, seed: int, options: EchoOptions) -> list[str]:
        clear_previous_copy(out, "echo", ("echo.txt",))
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out / GENERATED_MARKER, {"generator": "echo"})
        (out / "echo.txt").write_text(f"{seed} {options.seed}\n" * options.lines)
        return [str(out / "echo.txt"), str(out / GENERATED_MARKER)]


class EchoPlugin:
    @hookimpl
    def register_generators(self, register):
        register("echo", EchoGenerator, summary="echo.txt, for tests")


def test_a_plugin_registers_a_generator_that_data_generate_runs_until_it_is_unregistered(register_plugin, tmp_path):
    register_plugin(EchoPlugin(), "echo-plugin")
    listed = json.loads(invoke("list", "--kind", "generator", "--json").stdout)["registrations"]
    assert {(r["name"], r["plugin"]) for r in listed} >= {("echo", "echo-plugin"), ("synthetic-avenue", "generators")}
    info = json.loads(invoke("info", "echo", "--json").stdout)
    assert (info["kind"], info["reads_with"]) == ("generator", "toy-dataset")
    assert [row["name"] for row in info["options"]] == ["seed", "lines"]

    out = tmp_path / "copy"
    result = invoke("data", "generate", "echo", "--out", out, "--seed", "4", "--data-option", "lines=3")
    assert result.exit_code == 0, result.output
    assert (out / "echo.txt").read_text() == "4 4\n" * 3  # --seed reaches both write() and the options' seed
    assert invoke("data", "generate", "echo", "--out", out).exit_code == 0  # its own copy is written again
    assert (out / "echo.txt").read_text() == "0 0\n" * 2

    bad = invoke("data", "generate", "echo", "--out", tmp_path / "other", "--data-option", "line=3")
    assert bad.exit_code == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "--data-option" in bad.stderr and "lines" in bad.stderr  # unknown option, with the near miss
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    refused = invoke("data", "generate", "echo", "--out", foreign)
    assert refused.exit_code == 2 and "is not a folder written by 'anobench data generate echo'" in refused.stderr
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]

    from bench_core.plugins import pm

    pm.unregister(name="echo-plugin")
    gone = invoke("data", "generate", "echo", "--out", tmp_path / "again")
    assert gone.exit_code == 2 and "unknown generator 'echo'" in gone.stderr
    assert "echo" not in get_catalogue().names("generator")


def test_datasets_have_no_generate_and_every_builtin_generator_names_the_dataset_that_reads_it():
    assert not hasattr(Dataset, "generate") and not hasattr(Dataset, "can_generate")
    catalogue = get_catalogue()
    for registration in catalogue.all("dataset"):
        assert not hasattr(registration.load(), "generate"), registration.name
    generators = {r.name: r.load() for r in catalogue.all("generator")}
    assert set(generators) == {"synthetic-avenue", "synthetic-industrial", "video-folder", "shanghaitech"}
    for name, generator_cls in generators.items():
        assert issubclass(generator_cls, Generator)
        assert generator_cls.reads_with in catalogue.names("dataset"), name
    assert generators["synthetic-avenue"].reads_with == "avenue"


def test_info_of_a_name_a_dataset_and_its_generator_share_shows_the_dataset():
    described = json.loads(invoke("info", "synthetic-avenue", "--json").stdout)
    assert (described["kind"], described["generated"]) == ("dataset", True)
    assert json.loads(invoke("info", "avenue", "--json").stdout)["generated"] is False
    generator = json.loads(invoke("info", "synthetic-avenue", "--kind", "generator", "--json").stdout)
    assert (generator["kind"], generator["reads_with"]) == ("generator", "avenue")
    refused = invoke("data", "generate", "avenue", "--out", "unused")
    assert refused.exit_code == 2 and "anobench data generate synthetic-avenue" in refused.stderr


# -- the built-in generators write what they wrote before --------------------------------------------------------

#: Tiny options per built-in generator (``--data-option``), written with --seed 5.
SMALL = {
    "synthetic-avenue": ["n_train=1", "n_test=2", "frames_per_video=64", "height=48", "width=64"],
    "synthetic-industrial": ["n_train=1", "n_test=1", "frames_per_video=60", "width=64", "height=48"],
    "video-folder": ["frames_per_video=60", "width=64", "height=48"],
    "shanghaitech": ["scenes=1", "train_per_scene=1", "test_per_scene=1", "frames_per_video=64", "height=48",
                     "width=64"],
}
#: sha256 over the files written with SMALL, computed with the generators as they were before they left the
#: loaders (Dataset.generate). Encoded pictures (videos, JPEG, PNG: their bytes are the codec builds') are left out;
#: what the generators decide is all in the rest: poses, labels, masks, the marker's options and file list.
BEFORE = {
    "synthetic-avenue": ("ff76327f56a13288824354935f637800a84b05e95e58d32440a1826605909a8c", 3),
    "synthetic-industrial": ("f0b4262a80341a16ae330c2de3e00ae4ad70e86905ba04c4471594fca41f3373", 123),
    "video-folder": ("7a2723b0872140e8897db35be084e325bace5a73b0a6360201c6f34da80d892e", 242),
    "shanghaitech": ("7e5fb1ae8a189d89cf58fe74b7f1980d3708384be01b439537e25de2ea2c724e", 3),
}
ENCODED = (".avi", ".mp4", ".jpg", ".png")


def _bytes(path: Path, out: Path) -> bytes:
    if path.name != GENERATED_MARKER:
        return path.read_bytes()
    marker = json.loads(path.read_text().replace(str(out), "OUT"))  # the marker names the folder it is in
    for entry in marker.get("files", []) if isinstance(marker.get("files"), list) else []:
        if entry["path"].endswith(ENCODED):
            entry.pop("sha256", None), entry.pop("size", None)
    return json.dumps(marker, sort_keys=True).encode()


def digest(out: Path) -> tuple[str, int]:
    found = {p.relative_to(out).as_posix(): hashlib.sha256(_bytes(p, out)).hexdigest()
             for p in sorted(out.rglob("*")) if p.is_file() and p.suffix not in ENCODED}
    return hashlib.sha256(json.dumps(found, sort_keys=True).encode()).hexdigest(), len(found)


@pytest.mark.parametrize("name", list(SMALL))
def test_data_generate_writes_the_same_files_as_before_the_generators_had_a_plugin(name, tmp_path):
    out = tmp_path / name
    options = [arg for option in SMALL[name] for arg in ("--data-option", option)]
    result = invoke("data", "generate", name, "--out", out, "--seed", "5", *options)
    assert result.exit_code == 0, result.output
    assert digest(out) == BEFORE[name]
    assert any(p.suffix in ENCODED for p in out.rglob("*"))  # and the pictures were written too
