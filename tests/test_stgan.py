"""The stgan detector (the STGAN paper) on tiny configs, its switches, NaN guard, and its ablation as a sweep with variants.

The checks every detector shares (determinism, save/load, resume, short videos, views) are the detector contract:
tests/test_detector_contract.py."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from bench_core.cli import build_app
from bench_core.config import build_config
from bench_core.detector import InputSpec
from bench_core.doc_markers import markers
from bench_core.errors import DataError, UsageError
from bench_core.progress import Progress
from bench_core.training import TrainingCheckpoints, TrainingDiverged
from bench_core.views import PreparedVideo

from anobench_stgan.detector import STGAN, Config, SelfAttention3d, fold_pixels, unfold_pixels

SIZE = 16
TINY = Config(input_size=SIZE, window=4, channels=(4, 8), latent_channels=4, epochs=2, batch_size=8,
              train_stride=2, g_lr=1e-3, d_lr=4e-3)


def square_video(n: int, step: int = 1, start: int = 0, vid: str = "v") -> PreparedVideo:
    frames = np.full((n, 1, SIZE, SIZE), 20, dtype=np.uint8)
    span = SIZE - 4
    for t in range(n):
        x = abs((start + t * step) % (2 * span) - span)
        frames[t, 0, 6:10, x:x + 4] = 220
    return PreparedVideo(vid, frames, fps=25.0)


def normal_train() -> list[PreparedVideo]:
    return [square_video(40, vid="a"), square_video(40, start=5, vid="b")]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def trained(one_torch_thread) -> STGAN:
    detector = STGAN(TINY, seed=0)
    detector.log = detector.fit(normal_train(), Progress())
    return detector


def test_shapes_through_the_3d_networks():
    detector = STGAN(TINY)
    x = torch.rand(3, 1, 4, SIZE, SIZE) * 2 - 1
    latent = detector.model.encoder(x)
    assert latent.shape == (3, 4, 2, SIZE // 4, SIZE // 4)  # time halved once, space halved twice
    assert detector.model.decoder(latent).shape == x.shape
    logits, features = detector.model.discriminator(x)
    assert logits.shape == (3,) and features.shape == (3, 8, 2, SIZE // 4, SIZE // 4)
    # Every layer convolves over time as well as space.
    convs = [m for m in detector.model.modules() if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.ConvTranspose3d))]
    assert convs and all(isinstance(m, (nn.Conv3d, nn.ConvTranspose3d)) for m in convs)


def test_odd_sizes_and_skeleton_view_reconstruct_to_the_input_size():
    config = dataclasses.replace(TINY, view="skeleton", input_size=28)
    detector = STGAN(config)
    assert detector.input_spec == InputSpec(view="skeleton", height=28, width=28, channels=1, window=4)
    x = torch.zeros(1, 1, 4, 28, 28)
    assert detector.model.reconstruct(x).shape == x.shape
    # The skeleton view always reads the maps at their own 28x28, whatever size a preset gives for frames.
    assert dataclasses.replace(TINY, view="skeleton", input_size=64).input_size == 28
    with pytest.raises(ValueError, match="pixel_fold=1"):
        dataclasses.replace(TINY, view="skeleton", input_size=64, pixel_fold=2)


def test_pixel_fold_is_lossless_and_keeps_the_input_size():
    x = torch.rand(2, 1, 4, SIZE, SIZE)
    folded = fold_pixels(x, 2)
    assert folded.shape == (2, 4, 4, SIZE // 2, SIZE // 2)
    torch.testing.assert_close(folded[:, 1, :, 3, 5], x[:, 0, :, 6, 11])  # channel 1 = row offset 0, column 1
    assert torch.equal(unfold_pixels(folded, 2), x)
    detector = STGAN(dataclasses.replace(TINY, input_size=2 * SIZE, pixel_fold=2))
    big = torch.zeros(1, 1, 4, 2 * SIZE, 2 * SIZE)
    assert detector.model.reconstruct(big).shape == big.shape
    assert detector.model.encoder(big).shape == STGAN(TINY).model.encoder(torch.zeros(1, 1, 4, SIZE, SIZE)).shape


def test_presets_build_and_bad_settings_are_usage_errors():
    paper = build_config(Config, STGAN.presets, "paper", {}, "--set", "stgan")
    assert STGAN(paper).input_spec == InputSpec(view="frames", height=128, width=128, channels=1, window=16)
    assert build_config(Config, STGAN.presets, "cpu", {}, "--set", "stgan").input_size == 32
    for bad in ({"window": "6"}, {"gan_loss": "wgan"}, {"betas": "0.5"}, {"consist_weight": "-1"},
                {"view": "flow"}, {"pixel_fold": "3"}):
        with pytest.raises(UsageError):
            build_config(Config, STGAN.presets, "cpu", bad, "--set", "stgan")


def _has_spectral_norm(module: nn.Module) -> bool:
    return any(torch.nn.utils.parametrize.is_parametrized(m) for m in module.modules())


def test_spectral_norm_switch():
    assert _has_spectral_norm(STGAN(TINY).model)
    for net in ("encoder", "decoder", "discriminator"):
        assert _has_spectral_norm(getattr(STGAN(TINY).model, net))
    assert not _has_spectral_norm(STGAN(dataclasses.replace(TINY, spectral_norm=False)).model)


def test_self_attention_switch():
    def attention_layers(config):
        return [m for m in STGAN(config).model.modules() if isinstance(m, SelfAttention3d)]

    assert len(attention_layers(TINY)) == 2  # decoder and discriminator
    assert attention_layers(dataclasses.replace(TINY, self_attention=False)) == []


def test_ttur_switch_sets_the_discriminator_learning_rate():
    g, d = STGAN(TINY)._optimizers()
    assert g.param_groups[0]["lr"] == TINY.g_lr and d.param_groups[0]["lr"] == TINY.d_lr
    assert g.param_groups[0]["betas"] == (0.0, 0.9)
    g, d = STGAN(dataclasses.replace(TINY, ttur=False))._optimizers()
    assert d.param_groups[0]["lr"] == TINY.g_lr


def test_loss_weights_switch_their_terms_and_consist_is_the_latent_l1():
    x = torch.rand(2, 1, 4, SIZE, SIZE) * 2 - 1
    detector = STGAN(TINY)
    # In train mode spectral norm advances its power iteration at every call; eval mode keeps it fixed.
    detector.model.eval()
    full = detector.generator_losses(x)
    assert set(full) == {"recon", "gan", "feat", "consist"}
    nets = detector.model
    with torch.no_grad():
        latent = nets.encoder(x)
        expected = (latent - nets.encoder(nets.decoder(latent))).abs().mean() * TINY.consist_weight
        expected_recon = (nets.reconstruct(x) - x).abs().mean() * TINY.recon_weight
    torch.testing.assert_close(full["consist"].detach(), expected)
    torch.testing.assert_close(full["recon"].detach(), expected_recon)
    for weight, term in (("consist_weight", "consist"), ("feat_weight", "feat"), ("gan_weight", "gan")):
        losses = STGAN(dataclasses.replace(TINY, **{weight: 0.0})).generator_losses(x)
        assert term not in losses and set(losses) == set(full) - {term}
    other = STGAN(dataclasses.replace(TINY, consist_weight=2.0))
    other.model.eval()
    doubled = other.generator_losses(x)
    torch.testing.assert_close(doubled["consist"], 2 * full["consist"])


def test_instance_noise_reaches_only_what_the_discriminator_sees():
    x = torch.from_numpy(np.stack([square_video(TINY.window).frames[:, 0]]).astype(np.float32) / 127.5 - 1)[:, None]
    plain = STGAN(TINY, seed=0)
    noisy = STGAN(dataclasses.replace(TINY, instance_noise=0.5), seed=0)
    for detector in (plain, noisy):
        detector.model.eval()  # spectral norm's power iteration then stands still between calls
    assert plain.discriminator_loss(x).item() == plain.discriminator_loss(x).item()  # 0: no noise, deterministic
    assert noisy.discriminator_loss(x).item() != noisy.discriminator_loss(x).item()
    with torch.no_grad():  # the reconstruction, and so the score, never sees the noise
        torch.testing.assert_close(noisy.model.reconstruct(x), plain.model.reconstruct(x))
    with pytest.raises(UsageError):
        build_config(Config, STGAN.presets, "cpu", {"instance_noise": -1}, "--set", "detector 'stgan'")
    assert STGAN.neutral_settings["instance_noise"] == Config().instance_noise == 0.0


def test_recon_loss_l2_is_the_mean_squared_error_and_l1_the_default():
    x = torch.from_numpy(np.stack([square_video(TINY.window).frames[:, 0]]).astype(np.float32) / 127.5 - 1)[:, None]
    terms = {}
    for kind in ("l1", "l2"):
        detector = STGAN(dataclasses.replace(TINY, recon_loss=kind, gan_weight=0, feat_weight=0, consist_weight=0))
        detector.model.eval()
        with torch.no_grad():
            error = detector.model.reconstruct(x) - x
            terms[kind] = (detector.generator_losses(x)["recon"].item(), error)
    assert terms["l1"][0] == pytest.approx(TINY.recon_weight * terms["l1"][1].abs().mean().item(), rel=1e-5)
    assert terms["l2"][0] == pytest.approx(TINY.recon_weight * terms["l2"][1].square().mean().item(), rel=1e-5)
    assert Config().recon_loss == STGAN.neutral_settings["recon_loss"] == "l1"  # 'auto' on frames
    assert Config(view="skeleton").recon_loss == "l2"  # 'auto' on binary maps, where L1 stalls at the blank map
    with pytest.raises(UsageError):
        build_config(Config, STGAN.presets, "cpu", {"recon_loss": "l3"}, "--set", "detector 'stgan'")


def test_hinge_and_bce_discriminator_losses_differ():
    x = torch.rand(2, 1, 4, SIZE, SIZE) * 2 - 1
    hinge = STGAN(TINY).discriminator_loss(x)
    bce = STGAN(dataclasses.replace(TINY, gan_loss="bce")).discriminator_loss(x)
    # Untrained logits are near 0: hinge gives about 2, bce about 2 log 2.
    assert abs(hinge.item() - 2.0) < 0.3 and abs(bce.item() - 2 * math.log(2)) < 0.3


def test_training_logs_both_losses_and_every_term_per_epoch(trained):
    log = trained.log
    for key in ("g_loss_per_epoch", "d_loss_per_epoch", "recon_per_epoch", "gan_per_epoch", "feat_per_epoch",
                "consist_per_epoch"):
        assert len(log[key]) == TINY.epochs and all(math.isfinite(v) for v in log[key]), key
    np.testing.assert_allclose(
        log["g_loss_per_epoch"],
        np.sum([log[f"{t}_per_epoch"] for t in ("recon", "gan", "feat", "consist")], axis=0), rtol=1e-5)


def test_one_score_per_full_window_equal_to_the_l1_error_of_its_last_frame(trained):
    video = square_video(12, start=3)
    scores = trained.score(video, Progress())
    assert scores.shape == (12 - TINY.window + 1,)
    i = 5
    window = torch.from_numpy(video.frames[i:i + TINY.window, 0].astype(np.float32) / 127.5 - 1.0)[None, None]
    with torch.no_grad():
        recon = trained.model.reconstruct(window)
    manual = (recon[0, 0, -1] - window[0, 0, -1]).abs().sum().item() / 2  # in [0, 1] pixel units
    np.testing.assert_allclose(scores[i], manual, rtol=1e-5)
    with pytest.raises(DataError):
        trained.score(PreparedVideo("empty", video.frames[:0], 25.0), Progress())


def test_scores_do_not_depend_on_the_scoring_batch_size(trained):
    video = square_video(20)
    other = STGAN(dataclasses.replace(TINY, score_batch_size=3))
    other.model.load_state_dict(trained.model.state_dict())
    other.model.eval()
    np.testing.assert_allclose(other.score(video, Progress()), trained.score(video, Progress()), rtol=1e-5)


def test_load_names_what_is_wrong_with_a_checkpoint(trained, tmp_path):
    trained.save(tmp_path / "c.pt")
    with pytest.raises(UsageError, match="self_attention"):
        STGAN(dataclasses.replace(TINY, self_attention=False)).load(tmp_path / "c.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(DataError, match="cannot be read"):
        STGAN(TINY).load(tmp_path / "junk.pt")


def test_a_nan_loss_stops_training_naming_the_epoch_and_keeping_the_last_good_checkpoint(tmp_path, monkeypatch):
    detector = STGAN(dataclasses.replace(TINY, epochs=3), seed=0)
    detector.checkpoints = TrainingCheckpoints(tmp_path / "training", "stgan")
    detector.checkpoints.start()
    real = STGAN.discriminator_loss

    def poisoned(self, x):
        loss = real(self, x)
        return loss * math.nan if self.checkpoints.last_epoch == 1 else loss

    monkeypatch.setattr(STGAN, "discriminator_loss", poisoned)
    with pytest.raises(TrainingDiverged) as info:
        detector.fit(normal_train(), Progress())
    message = info.value.message
    assert "epoch 2" in message and "discriminator loss is nan" in message and "epoch 1" in message
    saved = TrainingCheckpoints(tmp_path / "training", "stgan", resume=True).latest()
    assert saved["epoch"] == 1 and all(math.isfinite(v) for v in saved["log"]["g_loss_per_epoch"])


CLI_SMALL = ["--data-option", "n_train=1", "--data-option", "n_test=1", "--data-option", "frames_per_video=64",
             "--set", "input_size=16", "--set", "window=4", "--set", "channels=[4,8]", "--set", "latent_channels=4",
             "--set", "batch_size=16", "--set", "train_stride=4"]


def test_the_ablation_is_a_sweep_with_a_variant_per_switch_and_its_table_goes_into_the_doc(tmp_path):
    start, end = markers("stgan-ablation")
    doc = tmp_path / "stgan.md"
    doc.write_text(f"# STGAN\n\n## Ablation\n\nbefore\n\n{start}\nold table\n{end}\n\nafter\n")
    out = tmp_path / "abl"
    sweep = ["sweep", "--detectors", "stgan", "--datasets", "synthetic-avenue", "--seeds", "0", "--variant", "full",
             "--variant", "no-consist:consist_weight=0", "--out", str(out), "--device", "cpu", "--set", "epochs=1",
             *CLI_SMALL]
    result = CliRunner().invoke(build_app(), sweep)
    assert result.exit_code == 0, result.output
    configs = [json.loads(p.read_text()) for p in out.rglob("config.json")]
    assert sorted(c["consist_weight"] for c in configs) == [0.0, 1.0]
    board = ["leaderboard", str(out), "--into", str(doc), "--marker", "stgan-ablation"]
    assert CliRunner().invoke(build_app(), board).exit_code == 0
    text = doc.read_text()
    assert text.startswith(f"# STGAN\n\n## Ablation\n\nbefore\n\n{start}\n### ") and "old table" not in text
    assert text.endswith(f"{end}\n\nafter\n")
    assert "stgan (full)" in text and "stgan (no-consist)" in text
    assert "--variant full --variant no-consist:consist_weight=0" in text  # the command that rebuilds it
    # Running both again reuses the runs and leaves the doc as it is.
    again = CliRunner().invoke(build_app(), sweep)
    assert again.exit_code == 0 and "2 skipped" in again.output
    assert "unchanged" in CliRunner().invoke(build_app(), board).output and doc.read_text() == text


def test_a_collapsed_adversarial_game_stops_training_with_the_kept_checkpoint(tmp_path):
    # The losses of a real collapse (skeleton view, cpu preset): D wins with margin, reconstruction frozen.
    detector = STGAN(TINY)
    detector.checkpoints = TrainingCheckpoints(tmp_path / "training", "stgan")
    detector.checkpoints.save(3, {}, {})
    collapsed = {"d_loss_per_epoch": [0.5897, 0.0077, 0.0, 0.0], "recon_per_epoch": [9.1422, 5.0526, 5.0498, 5.0494]}
    with pytest.raises(TrainingDiverged) as info:
        detector._stop_if_collapsed(4, collapsed)
    assert "collapsed in epoch 4" in info.value.message and "epoch 3" in info.value.message
    assert "gan_weight=0" in info.value.hint and "recon_loss=l2" in info.value.hint
    # Healthy training: a discriminator that still loses something, or a reconstruction that still moves.
    detector._stop_if_collapsed(4, {"d_loss_per_epoch": [1.2, 1.6, 1.5, 1.6], "recon_per_epoch": [2.8, 2.6, 2.5, 2.4]})
    detector._stop_if_collapsed(4, {"d_loss_per_epoch": [0.5, 0.0, 0.0, 0.0], "recon_per_epoch": [9.0, 6.0, 5.0, 4.5]})
