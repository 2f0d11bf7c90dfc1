"""The shared torch layer (bench_core/torch_layer.py): window index, epoch loop, scoring loop and the speed levers
(precision, channels_last) as run settings. Tiny models and generated frames; each test takes a second or two."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from bench_core.cli import build_app
from bench_core.config import build_config
from bench_core.errors import UsageError
from bench_core.progress import Progress
from bench_core.run import identity_config
from bench_core.torch_layer import (TORCH_NEUTRAL_SETTINGS, Runtime, TorchSettings, WindowIndex, cpu_has_bf16,
                                    score_windows, train_epochs)
from bench_core.training import TrainingCheckpoints, TrainingDiverged
from bench_core.views import PreparedVideo

from anobench_convae.detector import Config as ConvAEConfig
from anobench_convae.detector import ConvAE
from anobench_stgan.detector import STGAN

TINY = ConvAEConfig(input_size=32, window=4, channels=(8, 8, 4), kernel_sizes=(5, 3, 3), first_stride=2,
                    temporal_strides=(1,), epochs=2, batch_size=8, optimizer="adam", lr=0.005, weight_decay=0.0)


@pytest.fixture(autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def moving_square(n: int, offset: int = 0, vid: str = "v") -> PreparedVideo:
    frames = np.full((n, 1, 32, 32), 20, dtype=np.uint8)
    for t in range(n):
        x = (2 * t + offset) % 26
        frames[t, 0, 10:16, x:x + 6] = 220
    return PreparedVideo(vid, frames, fps=25.0)


def test_window_index_lists_every_window_of_every_video_and_skip_without_straddling():
    videos = [np.arange(7)[:, None], np.arange(100, 105)[:, None]]
    index = WindowIndex(videos, window=3, stride=2, skips=(1, 2))
    # video 0 (7 frames): skip 1 spans 3 -> starts 0, 2, 4; skip 2 spans 5 -> starts 0, 2. video 1 (5 frames):
    # skip 1 -> 0, 2; skip 2 -> 0.
    assert index.rows.tolist() == [[0, 0, 1], [0, 2, 1], [0, 4, 1], [0, 0, 2], [0, 2, 2],
                                   [1, 0, 1], [1, 2, 1], [1, 0, 2]]
    batch = index.gather(np.array([4, 7, 0]))
    assert batch.shape == (3, 3, 1)
    assert batch[:, :, 0].tolist() == [[2, 4, 6], [100, 102, 104], [0, 1, 2]]
    assert len(WindowIndex([np.zeros((2, 1))], window=3)) == 0


def linear_problem():
    """A one-weight regression trained through ``train_epochs``; returns what it needs."""
    model = torch.nn.Linear(1, 1, bias=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    index = WindowIndex([np.arange(10, dtype=np.float32)[:, None]], window=1)
    seen: list[list[float]] = []

    def step(batch: np.ndarray) -> dict[str, float]:
        x = torch.from_numpy(batch[:, 0])
        seen.append(x[:, 0].tolist())
        loss = (model(x) - 2 * x).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return {"loss": loss.item(), "half": 0.5 * loss.item()}

    return model, optimizer, index, step, seen


def test_epoch_loop_draws_a_seeded_order_logs_epoch_means_and_calls_the_early_stop_hook():
    model, optimizer, index, step, seen = linear_problem()
    stops = []
    log, n_batches = train_epochs(
        index=index, step=step, model=model, parts={"model": model, "optimizer": optimizer}, seed=5, epochs=3,
        batch_size=4, checkpoints=TrainingCheckpoints.disabled(), progress=Progress(), runtime=Runtime(TorchSettings()),
        hint="h", early_stop=lambda epoch, log: stops.append((epoch, len(log["loss_per_epoch"]))))
    assert n_batches == 3 and len(seen) == 9
    first_epoch = sorted(v for batch in seen[:3] for v in batch)
    assert first_epoch == list(range(10))  # every window once per epoch
    expected = torch.randperm(10, generator=torch.Generator().manual_seed(5)).tolist()
    assert [v for batch in seen[:3] for v in batch] == expected
    assert list(log) == ["loss_per_epoch", "half_per_epoch"] and len(log["loss_per_epoch"]) == 3
    assert log["half_per_epoch"] == pytest.approx([0.5 * v for v in log["loss_per_epoch"]])
    assert stops == [(1, 1), (2, 2), (3, 3)]
    assert not model.training


def test_windows_per_epoch_trains_on_a_fresh_seeded_sample_of_that_many_windows_each_epoch():
    model, optimizer, index, step, seen = linear_problem()
    losses = []

    def recorded_step(batch: np.ndarray) -> dict[str, float]:
        losses.append(step(batch)["loss"])
        return {"loss": losses[-1]}

    log, n_batches = train_epochs(
        index=index, step=recorded_step, model=model, parts={"model": model, "optimizer": optimizer}, seed=5,
        epochs=2, batch_size=4, checkpoints=TrainingCheckpoints.disabled(), progress=Progress(),
        runtime=Runtime(TorchSettings()), hint="h", windows_per_epoch=6)
    assert n_batches == 2 and [len(batch) for batch in seen] == [4, 2, 4, 2]
    generator = torch.Generator().manual_seed(5)
    epochs = [torch.randperm(10, generator=generator)[:6].tolist() for _ in range(2)]
    assert [v for batch in seen[:2] for v in batch] == epochs[0]  # the first 6 of the epoch's seeded order
    assert [v for batch in seen[2:] for v in batch] == epochs[1] and epochs[0] != epochs[1]
    # The epoch's mean is over the windows it drew: 4 in the first batch, 2 in the second.
    assert log["loss_per_epoch"] == pytest.approx([(4 * losses[0] + 2 * losses[1]) / 6,
                                                   (4 * losses[2] + 2 * losses[3]) / 6])
    # More than the index holds means every window, as 0 does.
    _, n_all = train_epochs(
        index=index, step=step, model=model, parts={"model": model, "optimizer": optimizer}, seed=5, epochs=1,
        batch_size=4, checkpoints=TrainingCheckpoints.disabled(), progress=Progress(), runtime=Runtime(TorchSettings()),
        hint="h", windows_per_epoch=50)
    assert n_all == 3 and sorted(v for batch in seen[4:] for v in batch) == list(range(10))


def test_epoch_loop_stops_on_a_non_finite_loss_naming_it(tmp_path):
    model, optimizer, index, _, _ = linear_problem()
    checkpoints = TrainingCheckpoints(tmp_path / "training", "toy")
    with pytest.raises(TrainingDiverged, match="diverged in epoch 1: the objective loss is nan"):
        train_epochs(index=index, step=lambda batch: {"loss": float("nan")}, model=model, parts={"model": model},
                     seed=0, epochs=2, batch_size=4, checkpoints=checkpoints, progress=Progress(),
                     runtime=Runtime(TorchSettings()), hint="lower lr", guard_names={"loss": "the objective"})


def test_scoring_loop_gives_one_score_per_window_in_batches_and_pads_a_short_video():
    seen = []

    def score_batch(frames: np.ndarray, n: int) -> torch.Tensor:
        seen.append((len(frames), n))
        windows = torch.from_numpy(frames[:, 0, 0, 0].astype(np.float64)).unfold(0, 3, 1)
        return windows[:, -1]  # the last frame's value

    model = torch.nn.Identity()
    video = PreparedVideo("v", np.arange(8, dtype=np.uint8).reshape(8, 1, 1, 1), fps=1.0)
    scores = score_windows(video, 3, 4, score_batch, model, Runtime(TorchSettings()), Progress())
    assert scores.tolist() == [2, 3, 4, 5, 6, 7] and seen == [(6, 4), (4, 2)]
    short = PreparedVideo("s", np.full((2, 1, 1, 1), 9, dtype=np.uint8), fps=1.0)
    assert score_windows(short, 3, 4, score_batch, model, Runtime(TorchSettings()), Progress()).tolist() == [9]


def test_the_levers_are_settings_whose_neutral_values_keep_run_ids():
    assert TORCH_NEUTRAL_SETTINGS == {"precision": "fp32", "channels_last": False}
    for detector in (ConvAE, STGAN):
        assert TORCH_NEUTRAL_SETTINGS.items() <= detector.neutral_settings.items()
    neutral = identity_config(ConvAE, TINY)
    assert "precision" not in neutral and "channels_last" not in neutral
    assert identity_config(ConvAE, ConvAEConfig(**{**TINY.__dict__, "channels_last": True}))["channels_last"] is True
    config = build_config(ConvAEConfig, ConvAE.presets, "cpu", {"precision": "bf16"}, "--set", "detector 'conv-ae'")
    assert identity_config(ConvAE, config)["precision"] == "bf16"
    with pytest.raises(UsageError, match="precision must be one of fp32, bf16"):
        build_config(ConvAEConfig, ConvAE.presets, "cpu", {"precision": "fp16"}, "--set", "detector 'conv-ae'")


def train_and_score(config: ConvAEConfig) -> tuple[ConvAE, np.ndarray]:
    detector = ConvAE(config, seed=0)
    detector.fit([moving_square(30), moving_square(30, offset=5)], Progress())
    return detector, detector.score(moving_square(20, offset=3), Progress())


def test_channels_last_stores_the_convolutions_channels_last_and_scores_like_fp32():
    _, plain = train_and_score(TINY)
    detector, fast = train_and_score(ConvAEConfig(**{**TINY.__dict__, "channels_last": True}))
    assert detector.model.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert not detector.model.conv1.weight.is_contiguous()
    np.testing.assert_allclose(fast, plain, rtol=1e-3)


@pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no native bfloat16 (avx512_bf16 or AMX)")
def test_bf16_trains_and_scores_under_autocast_close_to_fp32(monkeypatch):
    _, plain = train_and_score(TINY)
    autocast_calls = []
    real_autocast = torch.autocast

    def recording_autocast(*args, **kwargs):
        autocast_calls.append(kwargs.get("dtype"))
        return real_autocast(*args, **kwargs)

    monkeypatch.setattr(torch, "autocast", recording_autocast)
    _, half = train_and_score(ConvAEConfig(**{**TINY.__dict__, "precision": "bf16"}))
    assert autocast_calls and set(autocast_calls) == {torch.bfloat16}
    assert np.isfinite(half).all() and not np.array_equal(half, plain)
    assert np.corrcoef(half, plain)[0, 1] > 0.95  # rounding, not another model


def test_bf16_is_refused_on_a_cpu_without_native_bfloat16(monkeypatch):
    monkeypatch.setattr("bench_core.torch_layer.cpu_has_bf16", lambda: False)
    with pytest.raises(UsageError, match="precision=bf16 needs a CPU with native bfloat16"):
        ConvAE(ConvAEConfig(**{**TINY.__dict__, "precision": "bf16"}))


@pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no native bfloat16 (avx512_bf16 or AMX)")
def test_the_cli_records_a_lever_in_the_run_id_and_the_config(tmp_path):
    runner = CliRunner()
    base = ["run", "--detector", "conv-ae", "--dataset", "synthetic-avenue", "--preset", "cpu", "--seed", "0",
            "--out", str(tmp_path / "results"), "--json", "--set", "epochs=1", "--set", "input_size=32",
            "--data-option", "n_train=1", "--data-option", "n_test=1", "--data-option", "frames_per_video=64"]
    plain = runner.invoke(build_app(), base)
    assert plain.exit_code == 0, plain.output
    fast = runner.invoke(build_app(), [*base, "--set", "precision=bf16", "--set", "channels_last=true"])
    assert fast.exit_code == 0, fast.output
    a, b = json.loads(plain.stdout), json.loads(fast.stdout)
    assert a["run_id"] != b["run_id"]
    assert b["detector"]["config"]["precision"] == "bf16" and b["detector"]["config"]["channels_last"] is True
    assert a["detector"]["config"]["precision"] == "fp32"
