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

from bench_core.errors import RunFailed

LAST_FILE = "last.pt"
_FORMAT = 1


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
            saved = torch.load(self.path, map_location="cpu", weights_only=False)
        except Exception as exc:  # a damaged file must not silently restart training under --resume
            raise RunFailed(f"training checkpoint {self.path} cannot be read: {type(exc).__name__}: {exc}",
                            hint="delete it to train from the start") from None
        if not isinstance(saved, dict) or saved.get("format") != _FORMAT:
            raise RunFailed(f"{self.path} is not a training checkpoint of this anobench version",
                            hint="delete it to train from the start")
        rng = saved["rng"]
        random.setstate(rng["python"])
        np.random.set_state(rng["numpy"])
        torch.set_rng_state(rng["torch"])
        if rng.get("cuda") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        self.last_epoch = self.resumed_from = int(saved["epoch"])
        return {"epoch": int(saved["epoch"]), "state": saved["state"], "log": saved["log"]}

    def restore(self, parts: Mapping[str, Any]) -> tuple[int, dict]:
        """Restore the last saved epoch into ``parts`` (modules and optimisers through their state dicts, torch
        generators through their states, each under its name) and return the first epoch still to run and the
        log so far: ``(1, {})`` when there is nothing to resume."""
        saved = self.latest()
        if saved is None:
            return 1, {}
        for name, part in parts.items():
            _restore(part, saved["state"][name])
        log = {key: list(value) if isinstance(value, list) else value for key, value in saved["log"].items()}
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
        payload = {
            "format": _FORMAT, "epoch": epoch, "state": dict(state), "log": dict(log),
            "rng": {
                "python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            },
        }
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


def _state_of(part: Any) -> Any:
    import torch

    return part.get_state() if isinstance(part, torch.Generator) else part.state_dict()


def _restore(part: Any, state: Any) -> None:
    import torch

    if isinstance(part, torch.Generator):
        part.set_state(state)
    else:
        part.load_state_dict(state)
