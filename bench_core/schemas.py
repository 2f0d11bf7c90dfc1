"""The version of every JSON shape anobench writes or prints, in one place (documented in docs/harness.md).

Each JSON object carries its shape's version under ``"schema"``; a program reading it checks the number and bumps
nothing. Bump a version here when its shape changes in a way a reader would misread (a key renamed, removed or
given another meaning); adding a key is not such a change (readers keep keys they do not know).
"""

#: A run's ``record.json`` and ``anobench run --json``: read and written only by ``bench_core.run_record.RunRecord``
#: (a record without ``"schema"`` is read as version 1; a version bump adds an upgrade to ``run_record.UPGRADES``).
RUN_RECORD = 1

#: ``anobench list --json``: ``{"schema", "registrations": [describe(...) ...]}``.
LIST = 1
#: ``anobench info NAME --json``: one ``describe(...)`` object.
INFO = 1
#: ``anobench plugins --json``: ``{"schema", "plugins": [...]}``.
PLUGINS = 1
#: ``anobench sweep --json``: the summary (done, skipped, failed, jobs).
SWEEP_SUMMARY = 1
#: ``anobench sweep --dry-run --json``: jobs, to_run, already_recorded, job_list.
SWEEP_DRY_RUN = 1
#: Each entry of a results folder's ``sweeps.json`` (a list of entries): command, run_ids.
SWEEP_LOG_ENTRY = 1
#: A failed job's ``failed.json``.
FAILURE = 1
#: ``anobench leaderboard --format json`` / ``--json``.
LEADERBOARD = 1
#: ``anobench data check --json``.
DATA_CHECK = 1
#: ``anobench cache --json`` and ``anobench cache clear --json``.
CACHE = 1
