"""Finding plugins: the pluggy manager, entry-point loading, and the catalogue of what they register.

Everything here is import-cheap on purpose: registrations may be lazy ``"module:Class"`` strings, so listing
what is installed never imports torch or a detector's module.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import os
from dataclasses import dataclass, field
from typing import Any

import pluggy

from bench_core import hookspecs
from bench_core.errors import PluginError, UsageError, did_you_mean

ENTRY_POINT_GROUP = "anobench"
# Comma-separated plugin (entry-point) names to skip, as tox's TOX_DISABLED_EXTERNAL_PLUGINS does.
BLOCK_ENV = "ANOBENCH_BLOCK_PLUGINS"
KINDS = ("detector", "dataset", "scorer", "runner", "generator")
_REGISTER_HOOK = {"detector": "register_detectors", "dataset": "register_datasets", "scorer": "register_scorers",
                  "runner": "register_runners", "generator": "register_generators"}


@dataclass(frozen=True)
class Registration:
    """One named thing a plugin provides. ``target`` is a class or a lazy ``"module:Class"`` string."""

    kind: str
    name: str
    target: Any
    plugin: str
    summary: str = ""
    meta: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def target_path(self) -> str:
        if isinstance(self.target, str):
            return self.target
        return f"{self.target.__module__}:{self.target.__qualname__}"

    def load(self) -> type:
        if not isinstance(self.target, str):
            self._check(self.target)
            return self.target
        module_name, _, attr = self.target.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except Exception as exc:
            raise PluginError(
                f"{self.kind} '{self.name}' from plugin '{self.plugin}' cannot be loaded from {self.target!r}: "
                f"{type(exc).__name__}: {exc}",
                hint="reinstall the plugin, or run with --debug for the traceback",
            ) from exc
        self._check(obj)
        return obj

    def _check(self, obj: Any) -> None:
        """Refuse settings that --set / --data-option would read wrongly (see config.unreadable_annotations), a
        dataset's Options without the fields every dataset's options have (dataset.options_class_problem), and a
        scorer's metric declarations that tables could not read (metrics.spec_problems)."""
        from bench_core.config import unreadable_annotations
        from bench_core.dataset import options_class_problem

        if self.kind == "scorer":
            from bench_core.metrics import spec_problems

            for problem in spec_problems(getattr(obj, "metrics", ())) + spec_problems(getattr(obj, "breakdown", ())):
                raise PluginError(f"scorer '{self.name}' from plugin '{self.plugin}': {problem}",
                                  hint="declare each metric as a bench_core.MetricSpec (docs/plugins.md, "
                                       "'Writing a scorer')")
        settings = getattr(obj, {"detector": "Config", "dataset": "Options", "generator": "Options"}.get(self.kind, ""),
                           None)
        problem = options_class_problem(settings) if self.kind == "dataset" and isinstance(obj, type) else None
        if problem:
            raise PluginError(f"dataset '{self.name}' from plugin '{self.plugin}': {problem}",
                              hint="subclass bench_core.DatasetOptions, or (for a frozen dataclass) declare "
                                   "data_root: str = '' and label_convention: str = '' (docs/plugins.md)")
        if settings is None or not dataclasses.is_dataclass(settings):
            return
        for field_name, problem, fix in unreadable_annotations(settings):
            raise PluginError(f"{self.kind} '{self.name}' from plugin '{self.plugin}': setting '{field_name}' {problem}",
                              hint=fix)


@dataclass
class PluginInfo:
    name: str
    distribution: str | None = None
    version: str | None = None
    hooks: list[str] = field(default_factory=list)
    error: str | None = None
    blocked: bool = False


class _Manager:
    """The process-wide plugin manager. Entry points load on first use; tests may register plugin objects."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
        self.pm.add_hookspecs(hookspecs)
        self._entry_points_loaded = False
        self._info: dict[str, PluginInfo] = {}
        # Plugins found through entry points are listed even when they did not load (error or blocked);
        # plugin objects registered directly (tests) are listed only while registered.
        self._entry_point_names: set[str] = set()
        # register_commands runs once per app, not per catalogue build, so its errors are kept apart.
        self._command_errors: dict[str, str] = {}
        # Plugins taken out because they implement a hook that does not exist (usually a misspelling): listed by
        # 'anobench plugins' with the reason, while every other plugin keeps working.
        self._isolated: dict[str, PluginInfo] = {}

    def ensure_loaded(self) -> None:
        if not self._entry_points_loaded:
            self._entry_points_loaded = True
            self._load_entry_points()
        # Every time, not once: a plugin registered later must fail as loudly, and so must a second call.
        self.check_pending()

    def _load_entry_points(self) -> None:
        blocked = {n.strip() for n in os.environ.get(BLOCK_ENV, "").split(",") if n.strip()}
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = getattr(ep, "dist", None)
            info = PluginInfo(
                name=ep.name,
                distribution=dist.name if dist else None,
                version=dist.version if dist else None,
            )
            self._info[ep.name] = info
            self._entry_point_names.add(ep.name)
            if ep.name in blocked:
                info.blocked = True
                continue
            if self.pm.has_plugin(ep.name):
                continue
            try:
                module = ep.load()
            except Exception as exc:  # a broken third-party plugin must not take the CLI down
                info.error = f"{type(exc).__name__}: {exc}"
                continue
            try:
                self.pm.register(module, name=ep.name)
            except (pluggy.PluginValidationError, ValueError) as exc:
                # A hookimpl whose arguments do not match the hookspec, or a module already registered under
                # another entry-point name: the plugin cannot be used, but the others can.
                info.error = f"{type(exc).__name__}: {' '.join(str(exc).split())}"

    def check_pending(self) -> None:
        """Take out every plugin with a hook implementation that matches no hook (usually a misspelling): its
        other hooks may depend on the one that never runs. The plugin is listed with the reason; the others work."""
        known = [name for name in dir(hookspecs) if name.startswith("register_")]
        faults: dict[str, str] = {}
        for hook_name in dir(self.pm.hook):
            if hook_name.startswith("_"):
                continue
            caller = getattr(self.pm.hook, hook_name)
            if caller.has_spec():
                continue
            for impl in caller.get_hookimpls():
                if impl.optionalhook:  # pluggy >= 1.0 exposes the option as an attribute
                    continue
                hint = did_you_mean(hook_name, known)
                faults.setdefault(impl.plugin_name, f"implements unknown hook '{hook_name}'"
                                                    + (f" ({hint})" if hint else ""))
        # Found again every time from what is registered: a plugin fixed or unregistered is no longer isolated.
        for name in set(self._isolated) - set(faults):
            self._isolated.pop(name).error = None
        for name, fault in faults.items():
            info = self._info.get(name) or PluginInfo(name=name)
            info.error = fault
            self._info[name] = self._isolated[name] = info

    def unavailable(self) -> list[PluginInfo]:
        """Plugins that are installed but provide nothing now: blocked, failed to import, or taken out."""
        return [i for n, i in self._info.items()
                if n in self._isolated or (n in self._entry_point_names and (i.blocked or not self.pm.has_plugin(n)))]

    def isolated(self) -> list[PluginInfo]:
        """Plugins taken out by ``check_pending``, with the reason in ``error``."""
        self.ensure_loaded()
        return list(self._isolated.values())

    def plugins(self) -> list[PluginInfo]:
        self.ensure_loaded()
        result = []
        for name, plugin in self.pm.list_name_plugin():
            info = self._info.get(name) or PluginInfo(name=name)
            info.hooks = sorted(c.name for c in self.pm.get_hookcallers(plugin) or [])
            if name in self._command_errors:
                errors = [e for e in (info.error, self._command_errors[name]) if e]
                info = dataclasses.replace(info, error="; ".join(errors))
            result.append(info)
        loaded = {i.name for i in result}
        result.extend(i for n, i in self._info.items() if n not in loaded and n in self._entry_point_names)
        return sorted(result, key=lambda i: i.name)

    def add_commands(self, app) -> None:
        """Let every plugin add sub-commands to ``app``; one plugin's failing hook leaves the others' commands."""
        self.ensure_loaded()
        for impl in self.pm.hook.register_commands.get_hookimpls():
            if impl.plugin_name in self._isolated:
                continue
            try:
                impl.function(app)
            except Exception as exc:
                self._command_errors[impl.plugin_name] = f"register_commands raised {type(exc).__name__}: {exc}"

    def plugin_versions(self) -> dict[str, str | None]:
        return {i.name: i.version for i in self.plugins() if i.error is None and not i.blocked}

    def catalogue(self) -> "Catalogue":
        self.ensure_loaded()
        catalogue = Catalogue(self)
        # A registered plugin's only possible error is a hook that raised; forget the last build's, so a plugin
        # that was fixed (or re-registered under the same name) is not reported as broken.
        for name, _ in self.pm.list_name_plugin():
            if name in self._info and name not in self._isolated:
                self._info[name].error = None
        for kind, hook_name in _REGISTER_HOOK.items():
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                if impl.plugin_name in self._isolated:
                    continue

                def register(name, target, *, summary="", _kind=kind, _plugin=impl.plugin_name, **meta):
                    catalogue.add(Registration(_kind, name, target, _plugin, summary, meta))

                try:
                    impl.function(register)
                except PluginError:
                    raise
                except Exception as exc:  # one plugin's faulty hook leaves the others usable
                    info = self._info.setdefault(impl.plugin_name, PluginInfo(name=impl.plugin_name))
                    info.error = f"{hook_name} raised {type(exc).__name__}: {exc}"
        return catalogue


class Catalogue:
    """Every detector, dataset, scorer, runner and generator the installed plugins registered, by kind and name."""

    def __init__(self, source: "_Manager | None" = None) -> None:
        self._by_kind: dict[str, dict[str, Registration]] = {k: {} for k in KINDS}
        self._source = source  # the manager that built it: asked which plugins did not load

    def add(self, reg: Registration) -> None:
        if reg.kind not in self._by_kind:
            raise PluginError(f"plugin '{reg.plugin}' registers unknown kind {reg.kind!r}")
        if not isinstance(reg.name, str) or not reg.name or reg.name != reg.name.strip().lower():
            raise PluginError(
                f"plugin '{reg.plugin}' registers a {reg.kind} with an invalid name {reg.name!r}",
                hint="names are lower-case, like 'conv-ae'",
            )
        if isinstance(reg.target, str) and ":" not in reg.target:
            raise PluginError(
                f"plugin '{reg.plugin}' registers {reg.kind} '{reg.name}' as {reg.target!r}",
                hint="give a class or a 'module:Class' string",
            )
        existing = self._by_kind[reg.kind].get(reg.name)
        if existing is not None:
            raise PluginError(
                f"{reg.kind} '{reg.name}' is registered by both plugin '{existing.plugin}' and plugin '{reg.plugin}'",
                hint=f"uninstall one, or skip one with {BLOCK_ENV}=NAME",
            )
        self._by_kind[reg.kind][reg.name] = reg

    def names(self, kind: str) -> list[str]:
        return sorted(self._by_kind[kind])

    def all(self, kind: str | None = None) -> list[Registration]:
        kinds = [kind] if kind else list(KINDS)
        return [self._by_kind[k][n] for k in kinds for n in sorted(self._by_kind[k])]

    def get(self, kind: str, name: str, option: str | None = None) -> Registration:
        try:
            return self._by_kind[kind][name]
        except KeyError:
            where = f" given to {option}" if option else ""
            hints = [did_you_mean(name, self._by_kind[kind]) or f"no {kind}s are installed"]
            # A plugin that is blocked or did not load may be the one providing it: say so, likeliest first.
            for info in sorted((self._source or manager).unavailable(), key=lambda i: i.name not in name and name not in i.name):
                why = f"is blocked by {BLOCK_ENV}" if info.blocked else "did not load (see 'anobench plugins')"
                hints.append(f"plugin '{info.name}' {why} and may provide it")
            raise UsageError(f"unknown {kind} '{name}'{where}", hint="; ".join(hints)) from None


manager = _Manager()
pm = manager.pm


def get_catalogue() -> Catalogue:
    return manager.catalogue()
