"""The run record (``record.json``) as a typed object, with its one reader and its one writer.

:meth:`RunRecord.read` is how anything reads a record: it checks the schema version and every field the harness
reads, and names the file in one line (a :class:`~bench_core.errors.DamagedFile`) when the record is damaged, lacks
a field, holds a field of the wrong kind, or carries a schema version this anobench does not read. A record without
``"schema"`` (hand-written, or older than the key) is read as :data:`LEGACY_SCHEMA_VERSION` and upgraded in
memory; published files are never rewritten. :meth:`RunRecord.write` is how ``anobench run`` writes one; it writes
the keys in the order they are read, and keys this version does not know (a newer writer's, since adding a key does
not change the version) are kept, so reading a record and writing it again gives the same bytes
(``tests/test_run_record.py`` checks every published record).

For code written against the plain dicts records used to be, a record is also a read-only mapping of its JSON
(``record["metrics"]``, and ``record["_path"]`` for its folder); the harness itself reads the typed fields.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Iterator

from bench_core import schemas
from bench_core.errors import DamagedFile

RECORD_FILE = "record.json"
SCHEMA_VERSION = schemas.RUN_RECORD
#: The version a record without a ``"schema"`` key is read as: records from before the key had this shape.
LEGACY_SCHEMA_VERSION = 1
#: Readers for older versions: version → a function turning such a record's JSON into the next version's. Empty
#: while every version ever written is the current one; a version bump adds its upgrade here.
UPGRADES: dict[int, Any] = {}
_RERUN_HINT = "run that job again with --overwrite, or delete its folder"

_NUMBER = (int, float)
_ANY = object


def _spec(kind: Any = _ANY, *, required: bool = False, omit_if_none: bool = False, part: type | None = None,
          parts: type | None = None, default: Any = None, default_factory: Any = None) -> Any:
    """A field of a record part: the JSON value's kind(s), whether a record lacks it only when damaged, whether the
    writer leaves it out when it is None (keys written only by some runs), and the part class of a nested object
    (``part``) or of each item of a list (``parts``)."""
    meta = {"kind": kind, "required": required, "omit_if_none": omit_if_none, "part": part, "parts": parts}
    if default_factory is not None:
        return field(default_factory=default_factory, metadata=meta)
    return field(default=default, metadata=meta)


class _Part:
    """A JSON object of the record: typed fields in the order they are written, plus ``extra``, the keys this
    version does not know, kept as they were."""

    extra: dict

    @classmethod
    def _fields(cls) -> list[dataclasses.Field]:
        return [f for f in dataclasses.fields(cls) if "kind" in f.metadata]

    @classmethod
    def from_json(cls, data: Any, where: str, problems: dict[str, list[str]]):
        """This part from its JSON; each missing or wrong field is added to ``problems`` (``missing``, ``wrong``)
        under its dotted name, and the part returned as far as it could be read."""
        if not isinstance(data, dict):
            problems["wrong"].append(where or "the record")
            return None
        values, known = {}, set()
        for spec in cls._fields():
            meta, name = spec.metadata, spec.name
            known.add(name)
            dotted = f"{where}.{name}" if where else name
            if name not in data:
                if meta["required"]:
                    problems["missing"].append(dotted)
                continue
            value = data[name]
            if meta["part"] is not None and (value is not None or meta["required"]):
                value = meta["part"].from_json(value, dotted, problems)
            elif meta["parts"] is not None and isinstance(value, list):
                value = [meta["parts"].from_json(item, f"{dotted}[{index}]", problems)
                         for index, item in enumerate(value)]
            elif not _is_kind(value, meta["kind"], nullable=spec.default is None):
                problems["wrong"].append(dotted)
                continue
            values[name] = value
        values["extra"] = {key: value for key, value in data.items() if key not in known}
        return cls(**values)

    def to_json(self) -> dict:
        """The JSON object, keys in the written order, then the unknown ones kept from reading."""
        data = {}
        for spec in self._fields():
            value = getattr(self, spec.name)
            if value is None and spec.metadata["omit_if_none"]:
                continue
            if isinstance(value, _Part):
                value = value.to_json()
            elif isinstance(value, list) and spec.metadata["parts"] is not None:
                value = [item.to_json() for item in value]
            data[spec.name] = value
        data.update(self.extra)
        return data


def _is_kind(value: Any, kind: Any, nullable: bool) -> bool:
    """Whether a JSON value fits a field: null only where the field's default is None (a list or a dict field,
    ``metrics`` say, must hold one)."""
    if kind is _ANY:
        return True
    if value is None:
        return nullable
    if isinstance(value, bool) and kind in (int, _NUMBER):  # JSON true is not a seed or a count
        return False
    return isinstance(value, kind)


def _refuse(*args, **kwargs):
    raise TypeError("a run record read as a mapping is read-only: change its typed fields instead")


class _ReadOnlyDict(dict):
    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = __ior__ = _refuse  # type: ignore


class _ReadOnlyList(list):
    __setitem__ = __delitem__ = append = extend = insert = pop = remove = clear = sort = reverse = _refuse  # type: ignore
    __iadd__ = __imul__ = _refuse  # type: ignore


def _read_only(value: Any) -> Any:
    if isinstance(value, dict):
        return _ReadOnlyDict({key: _read_only(item) for key, item in value.items()})
    if isinstance(value, list):
        return _ReadOnlyList(_read_only(item) for item in value)
    return value


@dataclass
class InputEntry(_Part):
    """What the detector read (its ``InputSpec``): view, size, channels, frames per window."""

    view: str | None = _spec(str)
    height: int | None = _spec(int)
    width: int | None = _spec(int)
    channels: int | None = _spec(int)
    window: int = _spec(int, default=1)
    extra: dict = field(default_factory=dict, repr=False)

    def label(self) -> str:
        """What a leaderboard row says the detector read: "skeleton 28×28, T=30"."""
        text = f"{self.view or '?'} {self.height}×{self.width}"
        return text + (f", T={self.window}" if (self.window or 1) > 1 else "")


@dataclass
class DetectorEntry(_Part):
    name: str = _spec(str, required=True, default="")
    plugin: str | None = _spec(str)
    version: Any = _spec()
    preset: str | None = _spec(str)
    #: The ``--set`` items as given.
    settings: list = _spec(list, default_factory=list)
    #: What the plan chose itself (e.g. the view that fits the dataset); written by runs since it existed.
    resolved_settings: dict | None = _spec(dict, omit_if_none=True)
    config: dict = _spec(dict, default_factory=dict)
    input_spec: InputEntry | None = _spec(part=InputEntry)
    extra: dict = field(default_factory=dict, repr=False)

    @property
    def view(self) -> str | None:
        """The view the detector read: its input spec's, else its config's."""
        return (self.input_spec.view if self.input_spec else None) or self.config.get("view")


@dataclass
class DatasetEntry(_Part):
    name: str = _spec(str, required=True, default="")
    plugin: str | None = _spec(str)
    options: dict = _spec(dict, default_factory=dict)
    fingerprint: dict | None = _spec(dict)
    n_train_videos: int | None = _spec(int)
    n_train_frames: int | None = _spec(int)
    n_test_videos: int | None = _spec(int)
    notes: list = _spec(list, default_factory=list)
    #: What the dataset plugin adds (``Dataset.record_extras``), e.g. ``events``.
    extras: dict = _spec(dict, default_factory=dict)
    extra: dict = field(default_factory=dict, repr=False)

    @property
    def events(self) -> dict[str, list[dict]] | None:
        """Each test video's labelled events and their kinds, ``{video: [{"kind", "start", "stop"}]}`` (stop
        exclusive), where the dataset recorded them; None where it did not (it names no kinds, or the record is
        older than its plugin's recording them)."""
        return self.extras.get("events")

    @property
    def data_options(self) -> dict:
        """The options that say which data it is: ``options`` without ``data_root`` (where its files lie)."""
        return {key: value for key, value in self.options.items() if key != "data_root"}


@dataclass
class ProtocolEntry(_Part):
    """How test scores were turned into the scores the metrics read (``bench_core.scoring.Protocol``)."""

    normalization: str | None = _spec(str)
    smoothing_sigma: float | None = _spec(_NUMBER)
    label_convention: str | None = _spec(str)
    leading_frames: str | None = _spec(str)
    extra: dict = field(default_factory=dict, repr=False)


@dataclass
class TimingEntry(_Part):
    prepare_seconds: float | None = _spec(_NUMBER)
    train_seconds: float | None = _spec(_NUMBER)
    score_seconds: float | None = _spec(_NUMBER)
    inference_fps: float | None = _spec(_NUMBER)
    torch_threads: int | None = _spec(int)
    extra: dict = field(default_factory=dict, repr=False)


@dataclass
class VideoEntry(_Part):
    """One test video: its id, frame count, abnormal frame count (None: unlabelled) and scores file."""

    id: str = _spec(str, required=True, default="")
    n_frames: int | None = _spec(int)
    n_abnormal: int | None = _spec(int)
    file: str | None = _spec(str)
    extra: dict = field(default_factory=dict, repr=False)


@dataclass
class RunRecord(_Part, Mapping):
    """One complete run, as ``record.json`` holds it (fields documented in docs/harness.md)."""

    schema: int = _spec(int, default=SCHEMA_VERSION)
    run_id: str = _spec(str, default="")
    created: str | None = _spec(str)
    command: str | None = _spec(str)
    detector: DetectorEntry = _spec(part=DetectorEntry, required=True, default_factory=DetectorEntry)
    dataset: DatasetEntry = _spec(part=DatasetEntry, required=True, default_factory=DatasetEntry)
    seed: int = _spec(int, required=True, default=0)
    preset: str = _spec(str, required=True, default="")
    device: str | None = _spec(str)
    #: The CPU's model and torch's instruction set (runs since it was recorded).
    cpu: dict | None = _spec(dict, omit_if_none=True)
    protocol: ProtocolEntry = _spec(part=ProtocolEntry, required=True, default_factory=ProtocolEntry)
    leading_frames_note: str | None = _spec(str)
    scorers: list = _spec(list, default_factory=list)
    #: The normal hold-out (runs since it existed): ``holdout``, its split and the alert threshold.
    calibration: dict | None = _spec(dict, omit_if_none=True)
    #: Every scorer's metrics, by name.
    metrics: dict = _spec(dict, required=True, default_factory=dict)
    #: Why there are no metrics (unlabelled test videos); absent otherwise.
    metrics_note: str | None = _spec(str, omit_if_none=True)
    n_test_frames: int | None = _spec(int)
    timing: TimingEntry = _spec(part=TimingEntry, required=True, default_factory=TimingEntry)
    training: Any = _spec(default_factory=dict)
    #: With a localization scorer only: where the maps are, or a note that the detector gives none.
    localization: dict | None = _spec(dict, omit_if_none=True)
    resumed_from_epoch: int | None = _spec(int)
    per_video: list[VideoEntry] = _spec(list, parts=VideoEntry, default_factory=list)
    checkpoint: str | None = _spec(str)
    versions: dict | None = _spec(dict)
    git: dict | None = _spec(dict)
    extra: dict = field(default_factory=dict, repr=False)
    #: The run folder it was read from or written to (not part of the JSON).
    path: Path | None = field(default=None, compare=False)

    #: The key under which the mapping view gives the run folder, as records given as dicts used to.
    PATH_KEY: ClassVar[str] = "_path"

    # -- the one reader and the one writer ---------------------------------------------------------------------

    @classmethod
    def read(cls, path: Path) -> "RunRecord":
        """The record in ``path`` (a run folder or its record.json); a DamagedFile naming the file otherwise."""
        from bench_core.records import read_json

        path = Path(path)
        if path.is_dir():
            path = path / RECORD_FILE
        return cls.from_data(read_json(path, "run record"), path)

    @classmethod
    def from_data(cls, data: Any, file: Path) -> "RunRecord":
        """The record from the JSON read from ``file`` (its version checked, an older one upgraded in memory)."""
        file = Path(file)
        if not isinstance(data, dict):
            raise DamagedFile(file, "is not a run record (not a JSON object)", hint=_RERUN_HINT)
        version = data.get("schema", LEGACY_SCHEMA_VERSION)
        if isinstance(version, bool) or not isinstance(version, int) or not (
                LEGACY_SCHEMA_VERSION <= version <= SCHEMA_VERSION):
            raise DamagedFile(file, f"is a run record of schema version {version!r}; this anobench reads versions "
                              f"{LEGACY_SCHEMA_VERSION} to {SCHEMA_VERSION}",
                              hint="read it with the anobench that wrote it, or run that job again with --overwrite")
        while version in UPGRADES:
            data, version = UPGRADES[version](data), version + 1
        problems: dict[str, list[str]] = {"missing": [], "wrong": []}
        record = cls.from_json(data, "", problems)
        if problems["missing"]:
            raise DamagedFile(file, f"is not a complete run record (no {', '.join(problems['missing'])})",
                              hint=_RERUN_HINT)
        if problems["wrong"]:
            raise DamagedFile(file, f"is not a usable run record ({', '.join(problems['wrong'])} of the wrong kind)",
                              hint=_RERUN_HINT)
        record.schema, record.path = version, file.parent  # the version it now has, upgraded in memory
        return record

    def write(self, folder: Path) -> Path:
        """Write ``folder/record.json`` (atomically); returns its path."""
        from bench_core.records import atomic_write_json

        target = Path(folder) / RECORD_FILE
        atomic_write_json(target, self.to_json())
        return target

    def dumps(self) -> str:
        """The JSON text as ``anobench run --json`` prints it."""
        return json.dumps(self.to_json(), indent=2)

    # -- what readers ask of a record ----------------------------------------------------------------------------

    @property
    def holdout(self) -> float:
        """The share of each training video the run held out for its normal scores; 0 for records from before."""
        return float((self.calibration or {}).get("holdout", 0.0))

    @property
    def variant(self) -> str:
        """The ``anobench sweep --variant`` name the run was made as (a label, never in the run id); "" if none."""
        return str(self.extra.get("variant") or "")

    @property
    def file(self) -> Path:
        """Its record.json (for naming it in errors)."""
        return Path(self.path or ".") / RECORD_FILE

    def scores_file(self, video: VideoEntry) -> Path:
        """A test video's scores file, checked to lie inside the run folder (a DamagedFile naming the record
        otherwise)."""
        from bench_core.records import inside

        return inside(Path(self.path or "."), video.file, self.file)

    # -- the mapping view, for code written against records as dicts ---------------------------------------------

    def __getitem__(self, key: str) -> Any:
        if key == self.PATH_KEY:
            return str(self.path)
        # Read-only: a change made through the view would be lost, so it is an error instead.
        return _read_only(self.to_json()[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_json())

    def __len__(self) -> int:
        return len(self.to_json())

    def __contains__(self, key: object) -> bool:
        return key == self.PATH_KEY or key in self.to_json()
