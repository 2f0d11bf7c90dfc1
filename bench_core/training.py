"""Per-epoch training checkpoints, so an interrupted training continues (``anobench run --resume``) to the same
result, and a guard that stops a diverging training with a message naming the epoch.

A detector that supports resuming sets ``supports_resume = True`` and, in ``fit``:

    parts = {"model": self.model, "optimizer": optimizer, "order_generator": order_generator}
    first_epoch, log = self.checkpoints.restore(parts)   # (1, {}) unless --resume found a checkpoint
    for epoch in range(first_epoch, epochs + 1):
        ...
        self.checkpoints.check_finite(epoch, {"generator": g_loss, "discriminator": d_loss})
        self.checkpoints.save_parts(epoch, parts, log)

``save`` stores the global random states (python, numpy, torch) with the detector's own state, and ``latest``
puts them back, so the epochs after a resume draw the same numbers as an uninterrupted training would.
"""

from __future__ import annotations

import math
import random
import shutil
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from bench_core.config import to_jsonable
from bench_core.errors import DamagedFile, RunFailed

LAST_FILE = "last.pt"
#: 2: loadable with ``weights_only=True`` (random states as tensors and plain types, no pickled numpy objects).
_FORMAT = 2
_KEYS = ("format", "epoch", "state", "log", "rng")
_DELETE_HINT = "delete it to train from the start; training state is temporary"


class TrainingDiverged(RunFailed):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


class TrainingCheckpoints:
    """The training state of one run, kept in ``folder`` (one file, rewritten atomically after every epoch).

    ``folder=None`` keeps nothing: library use outside a run, where no run folder exists.
    """

    def __init__(self, folder: Path | None, detector: str = "detector", resume: bool = False):
        self.folder = Path(folder) if folder is not None else None
        self.detector = detector
        self.resume = resume
        self.last_epoch: int | None = None  # the last epoch saved (or restored): the last good one
        self.resumed_from: int | None = None

    @classmethod
    def disabled(cls, detector: str = "detector") -> "TrainingCheckpoints":
        return cls(None, detector)

    @property
    def path(self) -> Path | None:
        return self.folder / LAST_FILE if self.folder is not None else None

    def start(self) -> None:
        """Called by the harness before ``fit``: without --resume, old training state is discarded."""
        if self.folder is None:
            return
        if not self.resume and self.folder.exists():
            shutil.rmtree(self.folder)

    def latest(self) -> dict | None:
        """The last saved epoch as ``{"epoch", "state", "log"}`` with the random states restored, or None."""
        import torch

        if self.folder is None or not self.resume or not self.path.is_file():
            return None
        try:
            # weights_only: a pickle planted in the run's folder must not run code on a plain 'anobench sweep'.
            saved = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as exc:  # a damaged file must not silently restart training under --resume
            raise DamagedFile(self.path, f"training checkpoint cannot be read safely ({unsafe_load_reason(exc)})",
                              hint=_DELETE_HINT + "; an older anobench wrote it, or it is not anobench's") from None
        if not isinstance(saved, dict) or saved.get("format") != _FORMAT:
            raise DamagedFile(self.path, "is not a training checkpoint of this anobench version", hint=_DELETE_HINT)
        try:
            missing = [key for key in _KEYS if key not in saved]
            if missing:
                raise KeyError(", ".join(missing))
            _set_random_states(saved["rng"])
            epoch = int(saved["epoch"])
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
            raise DamagedFile(self.path, f"is not a complete training checkpoint ({type(exc).__name__}: {exc})",
                              hint=_DELETE_HINT) from None
        self.last_epoch = self.resumed_from = epoch
        return {"epoch": epoch, "state": saved["state"], "log": saved["log"]}

    def restore(self, parts: Mapping[str, Any]) -> tuple[int, dict]:
        """Restore the last saved epoch into ``parts`` (modules and optimisers through their state dicts, torch
        generators through their states, each under its name) and return the first epoch still to run and the
        log so far: ``(1, {})`` when there is nothing to resume."""
        saved = self.latest()
        if saved is None:
            return 1, {}
        try:
            for name, part in parts.items():
                _restore(part, saved["state"][name])
            log = {key: list(value) if isinstance(value, list) else value for key, value in saved["log"].items()}
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
            raise DamagedFile(self.path, f"does not fit this training ({type(exc).__name__}: {exc})",
                              hint=_DELETE_HINT) from None
        return saved["epoch"] + 1, log

    def save_parts(self, epoch: int, parts: Mapping[str, Any], log: Mapping[str, Any]) -> None:
        """``save`` the state of every part, named as in ``restore``."""
        self.save(epoch, {name: _state_of(part) for name, part in parts.items()}, log)

    def save(self, epoch: int, state: Mapping[str, Any], log: Mapping[str, Any]) -> None:
        """Keep everything needed to continue after ``epoch``: model and optimiser states, generators, the log."""
        import torch

        self.last_epoch = epoch
        if self.folder is None:
            return
        payload = {"format": _FORMAT, "epoch": int(epoch), "state": dict(state), "log": to_jsonable(dict(log)),
                   "rng": _random_states()}
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{LAST_FILE}.tmp"
        torch.save(payload, tmp)
        tmp.replace(self.path)

    def check_finite(self, epoch: int, losses: Mapping[str, float], hint: str | None = None) -> None:
        """Raise ``TrainingDiverged`` naming the epoch and the kept checkpoint when a loss is NaN or infinite."""
        bad = [f"{name} loss is {value}" for name, value in losses.items() if not math.isfinite(float(value))]
        if bad:
            self.stop(epoch, f"diverged in epoch {epoch}: {', '.join(bad)}",
                      hint or "lower the learning rates with --set and run again")

    def stop(self, epoch: int, what: str, hint: str) -> None:
        """Raise ``TrainingDiverged`` saying ``what`` happened and where the last good checkpoint is kept."""
        if self.last_epoch is not None and self.folder is not None:
            kept = f"the last good checkpoint (epoch {self.last_epoch}) is kept in {self.path}"
        elif self.last_epoch is not None:
            kept = f"the last good epoch was {self.last_epoch}"
        else:
            kept = "no epoch finished, so there is no checkpoint"
        raise TrainingDiverged(f"{self.detector} training {what}; {kept}", hint=hint)

    def finish(self) -> None:
        """Called by the harness once the run record is written: the run's checkpoint.pt supersedes this state."""
        if self.folder is not None and self.folder.exists():
            shutil.rmtree(self.folder, ignore_errors=True)


def unsafe_load_reason(exc: BaseException) -> str:
    """Why ``torch.load(weights_only=True)`` refused a file, in a few words (torch's own message is a page)."""
    import pickle

    if isinstance(exc, pickle.UnpicklingError):
        return "it holds Python objects other than tensors and plain values, which safe loading refuses"
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first[:160]}"


def _random_states() -> dict:
    """The global random states as tensors and plain types, which ``torch.load(weights_only=True)`` reads back."""
    import torch

    version, python_state, gauss = random.getstate()
    name, keys, position, has_gauss, cached = np.random.get_state()
    return {
        "python": {"version": version, "state": torch.tensor(python_state, dtype=torch.int64), "gauss": gauss},
        "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "position": int(position),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def _set_random_states(rng: Mapping[str, Any]) -> None:
    """Put back what ``_random_states`` saved."""
    import torch

    python, numpy_state = rng["python"], rng["numpy"]
    random.setstate((int(python["version"]), tuple(int(v) for v in python["state"].tolist()), python["gauss"]))
    np.random.set_state((str(numpy_state["name"]), numpy_state["keys"].numpy().astype(np.uint32),
                         int(numpy_state["position"]), int(numpy_state["has_gauss"]), float(numpy_state["cached"])))
    torch.set_rng_state(rng["torch"])
    if rng.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])


def _state_of(part: Any) -> Any:
    import torch

    return part.get_state() if isinstance(part, torch.Generator) else part.state_dict()


def _restore(part: Any, state: Any) -> None:
    import torch

    if isinstance(part, torch.Generator):
        part.set_state(state)
    else:
        part.load_state_dict(state)
