"""Progress where no terminal watches (CI, Slurm): plain lines per epoch and at least every interval of work."""

from __future__ import annotations

import io

from rich.console import Console

from bench_core.progress import RichProgress


def test_non_tty_progress_logs_each_epoch_and_a_heartbeat(monkeypatch):
    buffer = io.StringIO()
    progress = RichProgress(Console(file=buffer, force_terminal=False, width=200))
    clock = iter(float(t) for t in range(0, 1000, 7))  # every reading of the clock is 7 s later
    monkeypatch.setattr("time.monotonic", lambda: next(clock))
    progress.log_interval = 30.0
    with progress.task("train", total=20) as task:
        for epoch in (1, 2):
            for batch in range(10):
                task.advance()
                task.note(f"epoch {epoch}/2 loss {batch / 10:.2f}")
    lines = buffer.getvalue().splitlines()
    assert lines[0] == "train: started, 20 steps"
    assert sum("epoch 1/2" in line for line in lines) >= 1 and any("epoch 2/2" in line for line in lines)
    assert lines[-1].startswith("train: done, 20/20 (100%) epoch 2/2 loss 0.90")
    # 20 steps of 14 s each (two clock readings) are 280 s: a line at least every 30 s, not one per step.
    assert 280 / 30 <= len(lines) < 20


def test_a_terminal_gets_the_bar_not_log_lines():
    buffer = io.StringIO()
    progress = RichProgress(Console(file=buffer, force_terminal=True, width=100))
    with progress.task("score", total=2) as task:
        task.advance(2)
    assert "score: started" not in buffer.getvalue()
