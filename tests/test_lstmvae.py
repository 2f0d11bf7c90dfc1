"""The lstm-vae detector (the skeleton LSTM-VAE paper) on tiny configs and hand-made skeleton-like maps, plus one CLI
run that stores the latent means of the test windows. Determinism, save/load, resume and short videos: the detector
contract (tests/test_detector_contract.py)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from bench_core.cli import build_app
from bench_core.config import build_config
from bench_core.errors import DataError, UsageError
from bench_core.progress import Progress
from bench_core.views import PreparedVideo

from anobench_lstmvae.detector import LSTMVAE, Config, kl_to_standard_normal, lstm_vae_loss

T = 6
TINY = Config(window=T, latent_dim=4, lstm_units=16, feature_dim=16, channels=(4, 8), epochs=10, batch_size=8,
              lr=3e-3)


def sway_video(n: int, vid: str = "v", period: int = 12) -> PreparedVideo:
    """A vertical bar swaying left and right with a fixed rhythm over a black 28x28 map, binary 0/255."""
    frames = np.zeros((n, 1, 28, 28), dtype=np.uint8)
    half = period // 2
    for t in range(n):
        x = 8 + 2 * abs(t % period - half)
        frames[t, 0, 6:22, x:x + 3] = 255
    return PreparedVideo(vid, frames, fps=30.0)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_paper_preset_shapes_and_batch_norm():
    config = build_config(Config, LSTMVAE.presets, "paper", {}, "--set", "lstm-vae")
    assert (config.window, config.latent_dim, config.lstm_units, config.epochs, config.batch_size) == \
        (30, 16, 300, 30, 16)
    assert config.view == "skeleton" and config.score_frames == "window"
    detector = LSTMVAE(config)
    spec = detector.input_spec
    assert (spec.view, spec.height, spec.width, spec.channels, spec.window) == ("skeleton", 28, 28, 1, 30)
    net = detector.model
    assert net.encoder_lstm.hidden_size == 300 and net.decoder_lstm.hidden_size == 300
    assert net.to_mean.out_features == 16 and net.to_log_var.out_features == 16
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.frame_encoder.modules()) == 2
    logits, mean, log_var = net(torch.rand(2, 30, 1, 28, 28), torch.randn(2, 16))
    assert logits.shape == (2, 30, 1, 28, 28) and mean.shape == log_var.shape == (2, 16)


def test_loss_is_bce_over_the_window_pixels_plus_kl_by_hand():
    detector = LSTMVAE(TINY, seed=0)
    windows = (torch.rand(3, T, 1, 28, 28) > 0.85).float()
    noise = torch.randn(3, TINY.latent_dim)
    loss, reconstruction, kl = lstm_vae_loss(detector.model, windows, noise)
    logits, mean, log_var = detector.model(windows, noise)
    p = torch.sigmoid(logits.double())
    x = windows.double()
    bce_by_hand = -(x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum(dim=(1, 2, 3, 4)).mean()
    sigma2 = log_var.double().exp()
    kl_by_hand = (0.5 * (mean.double() ** 2 + sigma2 - 1 - torch.log(sigma2)).sum(1)).mean()
    assert reconstruction.item() == pytest.approx(bce_by_hand.item(), rel=1e-4)
    assert kl.item() == pytest.approx(kl_by_hand.item(), rel=1e-4)
    assert loss.item() == pytest.approx(bce_by_hand.item() + kl_by_hand.item(), rel=1e-4)
    assert torch.allclose(kl_to_standard_normal(torch.zeros(1, 4), torch.zeros(1, 4)), torch.zeros(1))


@pytest.fixture(scope="module")
def trained(one_torch_thread) -> LSTMVAE:
    detector = LSTMVAE(TINY, seed=0)
    detector.log = detector.fit([sway_video(90, "a"), sway_video(90, "b")], Progress())
    return detector


def test_one_score_per_window_ending_on_its_last_frame(trained):
    video = sway_video(40)
    scores = trained.score(video, Progress())
    assert scores.shape == (40 - T + 1,) and np.all(np.isfinite(scores))
    # Score i belongs to the window of frames i .. i+T-1: scoring that window alone gives the same value.
    alone = PreparedVideo("alone", video.frames[10:10 + T].copy(), 30.0)
    assert trained.score(alone, Progress())[0] == pytest.approx(scores[10], rel=1e-5)
    # The windowed scoring (CNN once per frame) equals running the whole network on each window.
    window = torch.from_numpy(video.frames[10:10 + T].astype(np.float32) / 255.0)[None]
    with torch.no_grad():
        logits, _, _ = trained.model(window)
        direct = torch.nn.functional.binary_cross_entropy_with_logits(logits, window, reduction="sum")
    assert direct.item() == pytest.approx(scores[10], rel=1e-4)
    # A window-sized batch boundary changes nothing.
    small_batches = LSTMVAE(dataclasses.replace(TINY, score_batch_size=3), seed=0)
    small_batches.model.load_state_dict(trained.model.state_dict())
    small_batches.model.eval()
    np.testing.assert_allclose(small_batches.score(video, Progress()), scores, rtol=1e-5)


def test_last_frame_score_is_the_bce_of_the_map_the_score_is_given_to(trained):
    video = sway_video(40)
    last_only = LSTMVAE(dataclasses.replace(TINY, score_frames="last", score_batch_size=7), seed=0)
    last_only.model.load_state_dict(trained.model.state_dict())
    last_only.model.eval()
    scores = last_only.score(video, Progress())
    assert scores.shape == (40 - T + 1,)
    # Window 10 holds frames 10 .. 10+T-1: its score is the BCE of frame 10+T-1's map alone.
    window = torch.from_numpy(video.frames[10:10 + T].astype(np.float32) / 255.0)[None]
    with torch.no_grad():
        logits, _, _ = trained.model(window)
        last_map = torch.nn.functional.binary_cross_entropy_with_logits(logits[0, -1], window[0, -1],
                                                                         reduction="sum")
    assert last_map.item() == pytest.approx(scores[10], rel=1e-4)
    whole_window = trained.score(video, Progress())
    assert np.all(scores < whole_window)  # one map's error out of the T summed by the default


def test_a_video_shorter_than_the_window_keeps_the_latent_mean_of_its_one_window(trained):
    trained.score(sway_video(T - 2), Progress())
    assert trained.last_outputs()["latent_mean"].shape == (1, TINY.latent_dim)


def test_a_broken_rhythm_scores_higher_than_normal_motion(trained):
    assert trained.log["loss_per_epoch"][-1] < trained.log["loss_per_epoch"][0]
    normal = trained.score(sway_video(40), Progress())
    # The same poses, played twice as fast: every single frame is a normal pose, only the sequence is wrong.
    fast = sway_video(80)
    fast.frames = fast.frames[::2].copy()
    frozen_then_jump = sway_video(40)
    frozen_then_jump.frames[:] = frozen_then_jump.frames[3]
    frozen_then_jump.frames[:, 0, 2:6, :] = 255  # and a bar across the head: a pose never seen
    abnormal = trained.score(frozen_then_jump, Progress())
    assert abnormal.min() > normal.max()


def test_latent_means_are_kept_only_when_asked(trained):
    video = sway_video(30)
    trained.score(video, Progress())
    latent = trained.last_outputs()["latent_mean"]
    assert latent.shape == (30 - T + 1, TINY.latent_dim) and latent.dtype == np.float32
    quiet = LSTMVAE(dataclasses.replace(TINY, store_latents=False))
    quiet.score(video, Progress())
    assert quiet.last_outputs() == {}


def test_a_checkpoint_of_other_settings_is_refused(trained, tmp_path):
    trained.save(tmp_path / "m.pt")
    with pytest.raises(UsageError, match="window=6 \\(now 8\\)"):
        LSTMVAE(dataclasses.replace(TINY, window=8)).load(tmp_path / "m.pt")


def test_validation_and_wrong_input():
    with pytest.raises(ValueError, match="score_frames must be one of window, last"):
        Config(score_frames="first")
    with pytest.raises(ValueError, match="window must be >= 1"):
        Config(window=0)
    assert LSTMVAE(Config(view="frames", input_size=32, lstm_units=8)).input_spec.height == 32
    with pytest.raises(DataError, match="lstm-vae expects \\(n, 1, 28, 28\\)"):
        LSTMVAE(TINY).fit([PreparedVideo("x", np.zeros((10, 3, 28, 28), np.uint8), 30.0)], Progress())
    with pytest.raises(DataError, match="no training video has the 6 frames"):
        LSTMVAE(TINY).fit([sway_video(4)], Progress())


# -- through the CLI: every frame scored, latent means stored, resume -------------------------------------------------

CLI_SMALL = ["--data-option", "n_train=1", "--data-option", "n_test=1", "--data-option", "frames_per_video=60",
             "--set", "epochs=1", "--set", "window=5", "--set", "lstm_units=8", "--set", "feature_dim=8",
             "--set", "channels=[4,4]", "--set", "batch_size=16"]


def _run(tmp_path, *extra):
    args = ["run", "--detector", "lstm-vae", "--dataset", "synthetic-industrial", "--preset", "cpu",
            "--device", "cpu", "--out", str(tmp_path / "results"), "--json", *CLI_SMALL, *extra]
    return CliRunner().invoke(build_app(), args)


@pytest.mark.slow
def test_cli_run_scores_every_frame_and_stores_latents(tmp_path):
    whole = _run(tmp_path)
    assert whole.exit_code == 0, whole.output
    record = json.loads(whole.stdout)
    assert record["detector"]["input_spec"]["view"] == "skeleton"
    run_path = tmp_path / "results" / "synthetic-industrial" / "lstm-vae" / record["run_id"]
    for video in record["per_video"]:
        saved = np.load(run_path / video["file"])
        assert saved["score"].shape == (video["n_frames"],) and np.all(np.isfinite(saved["score"]))
        assert saved["window_latent_mean"].shape == (video["n_frames"] - 5 + 1, 16)

