"""Per-epoch checkpoints: `anobench run --resume` continues an interrupted training to the same result, and a
diverging training stops naming the epoch while keeping the last good checkpoint."""

from __future__ import annotations

import json
import math

import pytest
import torch
from typer.testing import CliRunner

from bench_core.cli import build_app
from bench_core.training import LAST_FILE, TrainingCheckpoints, TrainingDiverged

SMALL = ["--data-option", "n_train=1", "--data-option", "n_test=1", "--data-option", "frames_per_video=64",
         "--set", "epochs=2", "--set", "input_size=32", "--set", "channels=[8,8,4]", "--set", "window=4"]


def _run(tmp_path, *extra):
    args = ["run", "--detector", "conv-ae", "--dataset", "synthetic-avenue", "--preset", "cpu", "--device", "cpu",
            "--out", str(tmp_path / "results"), "--json", *SMALL, *extra]
    return CliRunner().invoke(build_app(), args)


@pytest.mark.slow
def test_run_resume_continues_an_interrupted_run_to_the_uninterrupted_record(tmp_path, monkeypatch):
    """The harness side of resuming: `--resume` finds the run's training folder, the record says where it resumed,
    and the folder goes once the record is written. That each detector resumes exactly is the detector contract's
    check (tests/test_detector_contract.py)."""
    whole = _run(tmp_path)
    assert whole.exit_code == 0, whole.output
    expected = json.loads(whole.stdout)
    assert expected["resumed_from_epoch"] is None

    # Interrupt the same run after its first epoch has been checkpointed, as Ctrl-C would.
    real_save = TrainingCheckpoints.save

    def save_then_stop(self, epoch, state, log):
        real_save(self, epoch, state, log)
        if epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(TrainingCheckpoints, "save", save_then_stop)
    interrupted = _run(tmp_path, "--overwrite")
    assert interrupted.exit_code != 0
    run_path = tmp_path / "results" / "synthetic-avenue" / "conv-ae" / expected["run_id"]
    training = run_path.parent / f".{run_path.name}.training"
    assert (training / LAST_FILE).is_file()
    monkeypatch.setattr(TrainingCheckpoints, "save", real_save)

    resumed = _run(tmp_path, "--overwrite", "--resume")
    assert resumed.exit_code == 0, resumed.output
    got = json.loads(resumed.stdout)
    assert got["resumed_from_epoch"] == 1
    assert got["training"]["loss_per_epoch"] == expected["training"]["loss_per_epoch"]
    assert got["metrics"] == expected["metrics"]
    assert not training.exists()  # the run's checkpoint.pt supersedes the training state


def test_resume_is_refused_for_a_detector_that_does_not_checkpoint_epochs(tmp_path, toy_plugin):
    result = CliRunner().invoke(build_app(), [
        "run", "--detector", "toy-detector", "--dataset", "toy-dataset", "--out", str(tmp_path), "--resume"])
    assert result.exit_code == 2
    assert "cannot resume" in result.output


def test_a_nan_loss_names_the_epoch_and_keeps_the_last_good_checkpoint(tmp_path):
    checkpoints = TrainingCheckpoints(tmp_path / "t", "stgan")
    checkpoints.start()
    for epoch in (1, 2):
        checkpoints.check_finite(epoch, {"generator": 1.0, "discriminator": 0.5})
        checkpoints.save(epoch, {"w": torch.ones(2) * epoch}, {"loss": [1.0] * epoch})
    with pytest.raises(TrainingDiverged) as info:
        checkpoints.check_finite(3, {"generator": math.nan, "discriminator": 0.5})
    message = info.value.message
    assert "epoch 3" in message and "generator loss is nan" in message and "epoch 2" in message
    assert str(tmp_path / "t" / LAST_FILE) in message
    again = TrainingCheckpoints(tmp_path / "t", "stgan", resume=True)
    saved = again.latest()
    assert saved["epoch"] == 2 and torch.equal(saved["state"]["w"], torch.full((2,), 2.0))


def test_latest_restores_the_random_state_saved_with_the_epoch(tmp_path):
    checkpoints = TrainingCheckpoints(tmp_path, "x")
    torch.manual_seed(5)
    checkpoints.save(1, {}, {})
    expected = torch.rand(3)
    torch.manual_seed(99)
    assert TrainingCheckpoints(tmp_path, "x", resume=False).latest() is None  # only --resume reads it
    TrainingCheckpoints(tmp_path, "x", resume=True).latest()
    assert torch.equal(torch.rand(3), expected)


def test_a_damaged_checkpoint_is_an_error_not_a_silent_restart(tmp_path):
    (tmp_path / LAST_FILE).write_bytes(b"junk")
    with pytest.raises(Exception, match="cannot be read"):
        TrainingCheckpoints(tmp_path, "x", resume=True).latest()
