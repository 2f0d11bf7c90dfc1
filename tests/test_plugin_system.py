"""The plugin system through its Python API: registration, lazy loading, errors a user can act on, blocking."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import bench_core
from bench_core import Detector, PluginError, UsageError, hookimpl
from bench_core.plugins import BLOCK_ENV, ENTRY_POINT_GROUP, _Manager, get_catalogue, manager, pm

BUILTIN_PLUGINS = {"conv-ae", "frame-metrics", "generators"}


@pytest.fixture
def module_dir(tmp_path, monkeypatch):
    """A folder on sys.path for throw-away modules; ``write(source)`` returns a fresh, unique module name."""
    monkeypatch.syspath_prepend(str(tmp_path))
    written = []

    def write(source: str) -> str:
        name = f"anobench_test_{uuid.uuid4().hex[:12]}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        written.append(name)
        return name

    try:
        yield write
    finally:
        for name in written:
            sys.modules.pop(name, None)


class Recorder:
    """Registered directly as a class (not lazily). The catalogue stores and returns targets without using them."""


def detector_plugin(*entries):
    """A plugin object whose register_detectors registers ``(name, target)`` pairs."""

    class Plugin:
        @hookimpl
        def register_detectors(self, register):
            for name, target in entries:
                register(name, target, summary=f"{name} for tests", published={"toy": {"frame_auroc": 0.5}})

    return Plugin()


def fake_entry_point(name: str, module: str) -> importlib.metadata.EntryPoint:
    return importlib.metadata.EntryPoint(name=name, value=module, group=ENTRY_POINT_GROUP)


@pytest.fixture
def extra_entry_points(monkeypatch):
    """Makes ``importlib.metadata.entry_points`` (as bench_core.plugins calls it) also return the given ones."""
    real = importlib.metadata.entry_points

    def install(*extra):
        def entry_points(**selection):
            found = list(real(**selection))
            if selection.get("group") == ENTRY_POINT_GROUP:
                found.extend(extra)
            return found

        monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)

    return install


def infos_of(mgr) -> dict:
    return {info.name: info for info in mgr.plugins()}


def test_an_inline_plugin_is_catalogued_under_its_name_until_unregistered(register_plugin):
    register_plugin(detector_plugin(("recorder", Recorder)), "inline-test")
    registration = get_catalogue().get("detector", "recorder")
    assert registration.plugin == "inline-test"
    assert registration.summary == "recorder for tests"
    assert registration.meta == {"published": {"toy": {"frame_auroc": 0.5}}}
    assert registration.load() is Recorder
    assert registration.target_path == f"{__name__}:Recorder"
    assert infos_of(manager)["inline-test"].hooks == ["register_detectors"]

    pm.unregister(name="inline-test")
    assert "recorder" not in get_catalogue().names("detector")
    assert "inline-test" not in infos_of(manager)


def test_the_builtins_come_through_the_entry_point_group():
    catalogue = get_catalogue()
    providers = {(r.kind, r.name): r.plugin for r in catalogue.all()}
    assert providers[("detector", "conv-ae")] == "conv-ae"
    assert providers[("dataset", "synthetic-avenue")] == "generators"
    assert providers[("generator", "synthetic-avenue")] == "generators"
    assert providers[("scorer", "frame-auroc")] == "frame-metrics"
    infos = infos_of(manager)
    assert {name: infos[name].distribution for name in BUILTIN_PLUGINS} == dict.fromkeys(BUILTIN_PLUGINS, "anobench")
    assert infos["conv-ae"].version == bench_core.__version__


def test_listing_does_not_import_lazy_targets(register_plugin, module_dir):
    module = module_dir("""
        from bench_core import Detector

        class Lazy(Detector):
            pass
    """)
    register_plugin(detector_plugin(("lazy-one", f"{module}:Lazy")), "lazy-test")

    catalogue = get_catalogue()
    listed = [(r.kind, r.name, r.plugin, r.summary, r.target_path) for r in catalogue.all()]
    manager.plugins()
    assert ("detector", "lazy-one", "lazy-test", "lazy-one for tests", f"{module}:Lazy") in listed
    assert module not in sys.modules, "listing imported a lazily registered module"

    loaded = catalogue.get("detector", "lazy-one").load()
    assert module in sys.modules
    assert loaded.__name__ == "Lazy" and issubclass(loaded, Detector)


@pytest.mark.parametrize("problem", ["missing module", "missing class", "module raises on import"])
def test_loading_a_bad_target_raises_a_plugin_error_naming_the_plugin(register_plugin, module_dir, problem):
    if problem == "missing module":
        target, cause = f"anobench_test_absent_{uuid.uuid4().hex[:8]}:Thing", "ModuleNotFoundError"
    elif problem == "missing class":
        target, cause = f"{module_dir('VALUE = 1')}:Thing", "AttributeError"
    else:
        raising = module_dir("raise RuntimeError('needs a GPU driver')")
        target, cause = f"{raising}:Thing", "RuntimeError"
    register_plugin(detector_plugin(("broken-target", target)), "bad-target-test")

    registration = get_catalogue().get("detector", "broken-target")  # listing is fine; loading is not
    with pytest.raises(PluginError) as caught:
        registration.load()
    message = str(caught.value)
    for expected in ("plugin 'bad-target-test'", "detector 'broken-target'", repr(target), cause):
        assert expected in message


def test_duplicate_names_raise_naming_both_plugins(register_plugin):
    register_plugin(detector_plugin(("twin", Recorder)), "first-twin")
    register_plugin(detector_plugin(("twin", Recorder)), "second-twin")
    with pytest.raises(PluginError) as caught:
        get_catalogue()
    assert "detector 'twin'" in str(caught.value)
    assert "plugin 'first-twin'" in str(caught.value) and "plugin 'second-twin'" in str(caught.value)
    assert BLOCK_ENV in caught.value.hint


def test_a_duplicate_of_a_builtin_names_the_builtin_plugin(register_plugin):
    register_plugin(detector_plugin(("conv-ae", Recorder)), "copycat")
    with pytest.raises(PluginError, match="'conv-ae' is registered by both plugin 'conv-ae' and plugin 'copycat'"):
        get_catalogue()


def test_the_same_name_for_different_kinds_is_allowed(register_plugin):
    class DatasetPlugin:
        @hookimpl
        def register_datasets(self, register):
            register("conv-ae", Recorder)

    register_plugin(DatasetPlugin(), "same-name-other-kind")
    catalogue = get_catalogue()
    assert catalogue.get("dataset", "conv-ae").plugin == "same-name-other-kind"
    assert catalogue.get("detector", "conv-ae").plugin == "conv-ae"


@pytest.mark.parametrize("name, target, fault", [
    ("Shouting", Recorder, "invalid name 'Shouting'"),
    ("", Recorder, "invalid name ''"),
    ("no-colon", "some.module.Class", "as 'some.module.Class'"),
])
def test_malformed_registrations_are_refused_naming_the_plugin(register_plugin, name, target, fault):
    register_plugin(detector_plugin((name, target)), "malformed")
    with pytest.raises(PluginError) as caught:
        get_catalogue()
    assert "plugin 'malformed'" in str(caught.value) and fault in str(caught.value)


def test_a_register_hook_that_raises_is_recorded_and_the_others_stay_usable(register_plugin):
    class Faulty:
        @hookimpl
        def register_detectors(self, register):
            register("registered-before-the-fault", Recorder)
            raise ValueError("config file ~/.faulty.toml is missing")

    register_plugin(Faulty(), "faulty")
    register_plugin(detector_plugin(("healthy", Recorder)), "healthy-plugin")

    catalogue = get_catalogue()
    assert catalogue.get("detector", "healthy").plugin == "healthy-plugin"
    assert {"conv-ae", "registered-before-the-fault"} <= set(catalogue.names("detector"))
    assert set(catalogue.names("scorer")) >= {"frame-auroc"}
    infos = infos_of(manager)
    assert infos["faulty"].error == "register_detectors raised ValueError: config file ~/.faulty.toml is missing"
    assert infos["healthy-plugin"].error is None
    assert all(infos[name].error is None for name in BUILTIN_PLUGINS)

    # Once fixed (here: replaced under the same name), the next catalogue forgets the old error.
    pm.unregister(name="faulty")
    register_plugin(detector_plugin(("fixed", Recorder)), "faulty")
    assert "fixed" in get_catalogue().names("detector")
    assert infos_of(manager)["faulty"].error is None

    # And an unregistered plugin is not listed at all, errors included.
    pm.unregister(name="faulty")
    assert "faulty" not in infos_of(manager)


def test_a_misspelled_hook_takes_out_only_its_plugin_with_a_did_you_mean(register_plugin):
    class Misspelled:
        @hookimpl
        def register_detector(self, register):  # the hook is register_detectors
            register("never-seen", Recorder)

        @hookimpl
        def register_scorers(self, register):  # a correct hook of the same plugin goes with it
            register("half-seen", Recorder)

    register_plugin(Misspelled(), "typo-plugin")
    manager.check_pending()
    catalogue = get_catalogue()  # every other plugin keeps working
    assert "conv-ae" in catalogue.names("detector")
    assert "never-seen" not in catalogue.names("detector") and "half-seen" not in catalogue.names("scorer")
    info = infos_of(manager)["typo-plugin"]
    assert info.error == "implements unknown hook 'register_detector' (did you mean 'register_detectors'?)"
    with pytest.raises(UsageError) as caught:
        catalogue.get("detector", "never-seen", "--detector")
    assert "plugin 'typo-plugin' did not load (see 'anobench plugins') and may provide it" in caught.value.hint
    from typer.testing import CliRunner

    from bench_core.cli import build_app

    result = CliRunner().invoke(build_app(), ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    assert "warning: plugin 'typo-plugin' is disabled" in result.stderr and f"{BLOCK_ENV}=typo-plugin" in result.stderr
    listed = {p["name"]: p for p in json.loads(result.stdout)["plugins"]}
    assert "unknown hook 'register_detector'" in listed["typo-plugin"]["error"]
    assert listed["conv-ae"]["error"] is None


def test_an_optional_hook_of_another_version_is_not_an_error(register_plugin):
    class FromTheFuture:
        @hookimpl(optionalhook=True)
        def register_widgets(self, register):
            raise AssertionError("no such hook here, so it must never be called")

    register_plugin(FromTheFuture(), "future-plugin")
    manager.check_pending()
    assert "conv-ae" in get_catalogue().names("detector")


def test_unknown_names_get_a_did_you_mean(register_plugin):
    register_plugin(detector_plugin(("motion-gan", Recorder), ("pose-vae", Recorder)), "papers")
    catalogue = get_catalogue()
    with pytest.raises(UsageError) as caught:
        catalogue.get("detector", "motion-gn", "--detector")
    assert caught.value.message == "unknown detector 'motion-gn' given to --detector"
    assert caught.value.hint == "did you mean 'motion-gan'?"
    with pytest.raises(UsageError) as caught:
        catalogue.get("scorer", "zzzz")
    assert caught.value.hint.startswith("choose one of: ") and "frame-auroc" in caught.value.hint


def test_a_blocked_entry_point_plugin_is_listed_but_never_imported(monkeypatch, module_dir, extra_entry_points):
    probe = module_dir("""
        from bench_core import hookimpl

        @hookimpl
        def register_scorers(register):
            register("probe-scorer", "nowhere:Nothing")
    """)
    extra_entry_points(fake_entry_point("probe", probe))
    monkeypatch.setenv(BLOCK_ENV, " probe, conv-ae ")
    fresh = _Manager()

    catalogue = fresh.catalogue()
    assert "probe-scorer" not in catalogue.names("scorer")
    assert "conv-ae" not in catalogue.names("detector")
    assert "synthetic-avenue" in catalogue.names("dataset")  # the others still load
    assert probe not in sys.modules
    infos = infos_of(fresh)
    assert infos["probe"].blocked and infos["conv-ae"].blocked and not infos["frame-metrics"].blocked
    with pytest.raises(UsageError) as caught:  # "unknown" names the blocked plugin that would provide it
        catalogue.get("detector", "conv-ae", "--detector")
    assert caught.value.hint.split("; ")[1] == f"plugin 'conv-ae' is blocked by {BLOCK_ENV} and may provide it"
    assert "conv-ae" not in fresh.plugin_versions()

    monkeypatch.delenv(BLOCK_ENV)
    unblocked = _Manager()
    assert "probe-scorer" in unblocked.catalogue().names("scorer")
    assert probe in sys.modules  # the check above was not vacuous: unblocked, the module does load


def test_a_broken_entry_point_shows_its_error_and_the_builtins_still_load(module_dir, extra_entry_points):
    raises = module_dir("raise ImportError('anobench_fancy needs opencv: pip install opencv-python-headless')")
    bad_arguments = module_dir("""
        from bench_core import hookimpl

        @hookimpl
        def register_detectors(reg):  # the hook's argument is named 'register'
            reg("bad-arguments", "nowhere:Nothing")
    """)
    missing = f"anobench_test_absent_{uuid.uuid4().hex[:8]}"
    extra_entry_points(fake_entry_point("raises-on-import", raises), fake_entry_point("bad-arguments", bad_arguments),
                       fake_entry_point("not-installed", missing))
    fresh = _Manager()

    infos = infos_of(fresh)
    assert infos["raises-on-import"].error == (
        "ImportError: anobench_fancy needs opencv: pip install opencv-python-headless")
    assert infos["not-installed"].error == f"ModuleNotFoundError: No module named '{missing}'"
    assert infos["bad-arguments"].error.startswith("PluginValidationError: ")
    assert "'reg'" in infos["bad-arguments"].error
    for name in ("raises-on-import", "bad-arguments", "not-installed"):
        assert infos[name].hooks == []
        assert name not in fresh.plugin_versions()
    for name in BUILTIN_PLUGINS:
        assert infos[name].error is None and infos[name].hooks
    catalogue = fresh.catalogue()
    assert {(r.kind, r.name) for r in catalogue.all()} >= {
        ("detector", "conv-ae"), ("dataset", "synthetic-avenue"), ("scorer", "frame-auroc")}
    assert "bad-arguments" not in catalogue.names("detector")


def test_register_commands_adds_a_working_command(register_plugin):
    from bench_core.cli import build_app

    class CommandPlugin:
        @hookimpl
        def register_commands(self, app):
            @app.command("probe-greet")
            def probe_greet(name: str = typer.Argument(..., help="Who to greet."),
                            shout: bool = typer.Option(False, "--shout")):
                """Greets NAME; refuses an empty one."""
                if not name:
                    raise UsageError("probe-greet needs a non-empty NAME", hint="give a name")
                typer.echo(f"hello {name.upper() if shout else name}")

    runner = CliRunner()
    without = runner.invoke(build_app(), ["probe-greet", "ada"])
    assert without.exit_code != 0

    register_plugin(CommandPlugin(), "command-plugin")
    app = build_app()
    result = runner.invoke(app, ["probe-greet", "ada", "--shout"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "hello ADA\n"
    assert "probe-greet" in runner.invoke(app, ["--help"]).stdout
    refused = runner.invoke(app, ["probe-greet", ""])
    assert refused.exit_code == 2
    assert "probe-greet needs a non-empty NAME" in refused.stderr
    assert "Traceback" not in refused.output
    assert infos_of(manager)["command-plugin"].hooks == ["register_commands"]


def _imported_torch(stderr_of_importtime: str) -> list[str]:
    """Modules named in ``-X importtime`` output that are torch or inside it."""
    modules = []
    for line in stderr_of_importtime.splitlines():
        if line.startswith("import time:") and "|" in line:
            module = line.rsplit("|", 1)[1].strip()
            if module == "torch" or module.startswith("torch."):
                modules.append(module)
    return modules


def test_listing_plugins_never_imports_torch():
    script = textwrap.dedent("""
        import json, sys
        import bench_core, bench_core.plugins
        catalogue = bench_core.plugins.get_catalogue()
        bench_core.plugins.manager.plugins()
        rows = [(r.kind, r.name, r.plugin) for r in catalogue.all()]
        print(json.dumps({"rows": rows, "torch": sorted(m for m in sys.modules if m.split(".")[0] == "torch")}))
    """)
    env = {k: v for k, v in os.environ.items() if k != BLOCK_ENV}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    # Not vacuous: conv-ae's module imports torch, and it is listed.
    assert ["detector", "conv-ae", "conv-ae"] in report["rows"]
    assert report["torch"] == []


def test_the_anobench_list_command_never_imports_torch():
    script = Path(sys.executable).with_name("anobench")
    if not script.exists():
        pytest.skip(f"the anobench command is not installed next to {sys.executable}")
    env = {k: v for k, v in os.environ.items() if k != BLOCK_ENV} | {"PYTHONPROFILEIMPORTTIME": "1"}
    result = subprocess.run([str(script), "list", "--json"], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = {(row["kind"], row["name"]): row["plugin"] for row in json.loads(result.stdout)["registrations"]}
    assert rows[("detector", "conv-ae")] == "conv-ae"
    assert "import time:" in result.stderr  # the profile ran, so an empty list below means something
    assert _imported_torch(result.stderr) == []


def test_a_bare_tuple_setting_is_refused_when_the_detector_loads(register_plugin):
    from dataclasses import dataclass

    from bench_core.config import unreadable_annotations

    @dataclass
    class LooseConfig:
        channels: tuple = (8, 16)

    @dataclass
    class TypedConfig:
        channels: tuple[int, ...] = (8, 16)

    class Loose(Recorder):
        Config = LooseConfig

    register_plugin(detector_plugin(("loose", Loose)), "loose-plugin")
    with pytest.raises(PluginError) as caught:
        get_catalogue().get("detector", "loose").load()
    assert caught.value.message == ("detector 'loose' from plugin 'loose-plugin': setting 'channels' is annotated "
                                    "with a bare 'tuple'")
    assert "channels: tuple[int, ...]" in caught.value.hint
    assert unreadable_annotations(TypedConfig) == []
