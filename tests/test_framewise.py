"""The ae and vae detectors (the skeleton LSTM-VAE paper's frame-wise baselines) on tiny configs and hand-made
skeleton-like maps.

The checks every detector shares (determinism, save/load, resume, short videos, views) are the detector contract:
tests/test_detector_contract.py."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bench_core.config import build_config
from bench_core.errors import DataError, UsageError
from bench_core.progress import Progress
from bench_core.views import PreparedVideo

from anobench_framewise.detector import AE, VAE, Config, FrameAutoencoder, kl_to_standard_normal

TINY = Config(channels=(8, 16), epochs=8, batch_size=16, lr=3e-3)


def bar_video(n: int, vid: str = "v", row: int = 8) -> PreparedVideo:
    """A vertical bar (an upright 'body') swaying left and right over a black 28x28 map, binary 0/255."""
    frames = np.zeros((n, 1, 28, 28), dtype=np.uint8)
    for t in range(n):
        x = 8 + abs(t % 16 - 8)
        frames[t, 0, row:row + 14, x:x + 3] = 255
    return PreparedVideo(vid, frames, fps=30.0)


def abnormal_video(n: int) -> PreparedVideo:
    """Normal bars, then from frame n // 2 a horizontal bar (a 'lying' body) never seen in training."""
    video = bar_video(n, "abnormal")
    video.frames[n // 2:] = 0
    video.frames[n // 2:, 0, 20:23, 4:24] = 255
    return video


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("cls", [AE, VAE])
def test_shapes_batch_norm_and_the_paper_preset(cls):
    config = build_config(Config, cls.presets, "paper", {}, "--set", cls.name)
    assert (config.latent_dim, config.epochs, config.batch_size, config.view) == (16, 30, 32, "skeleton")
    detector = cls(config)
    assert detector.input_spec.window == 1 and (detector.input_spec.height, detector.input_spec.width) == (28, 28)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in detector.model.modules())
    logits, mean, log_var = detector.model(torch.rand(5, 1, 28, 28))
    assert logits.shape == (5, 1, 28, 28) and mean.shape == (5, 16)
    assert (log_var is not None) == (cls is VAE)


def test_ae_and_vae_differ_only_in_the_variational_part():
    ae, vae = FrameAutoencoder(TINY, variational=False), FrameAutoencoder(TINY, variational=True)
    ae_shapes = {k: v.shape for k, v in ae.state_dict().items()}
    vae_shapes = {k: v.shape for k, v in vae.state_dict().items()}
    assert ae_shapes.keys() == vae_shapes.keys()
    differing = {k for k in ae_shapes if ae_shapes[k] != vae_shapes[k]}
    assert differing == {"to_code.weight", "to_code.bias"}  # mean and log-variance instead of the code


def test_vae_loss_is_bce_plus_kl_by_hand():
    detector = VAE(TINY, seed=0)
    x = (torch.rand(3, 1, 28, 28) > 0.8).float()
    noise = torch.randn(3, 16)
    logits, mean, log_var = detector.model(x, noise)
    p = torch.sigmoid(logits)
    bce_by_hand = -(x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum(dim=(1, 2, 3))
    sigma2 = log_var.exp()
    kl_by_hand = 0.5 * (mean ** 2 + sigma2 - 1 - torch.log(sigma2)).sum(1)
    assert torch.allclose(F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=(1, 2, 3)),
                          bce_by_hand, rtol=1e-4)
    assert torch.allclose(kl_to_standard_normal(mean, log_var), kl_by_hand, rtol=1e-5)
    # The sampled code is mean + sigma * noise: changing the noise changes the reconstruction.
    assert not torch.allclose(detector.model(x, noise)[0], detector.model(x, torch.zeros(3, 16))[0])


@pytest.mark.parametrize("cls", [AE, VAE])
def test_every_frame_scored_and_an_unseen_pose_scores_higher(cls):
    detector = cls(TINY, seed=0)
    log = detector.fit([bar_video(96, "a"), bar_video(96, "b", row=10)], Progress())
    assert log["loss_per_epoch"][-1] < log["loss_per_epoch"][0]
    video = abnormal_video(40)
    scores = detector.score(video, Progress())
    assert scores.shape == (40,) and np.all(np.isfinite(scores))
    assert scores[20:].min() > scores[:20].max()


def test_a_checkpoint_of_the_other_detector_or_other_settings_is_refused(tmp_path):
    AE(TINY).save(tmp_path / "ae.pt")
    with pytest.raises(UsageError, match="is a ae checkpoint, not a vae one"):
        VAE(TINY).load(tmp_path / "ae.pt")
    with pytest.raises(UsageError, match="latent_dim=16 \\(now 8\\)"):
        AE(dataclasses.replace(TINY, latent_dim=8)).load(tmp_path / "ae.pt")
    with pytest.raises(DataError, match="does not exist"):
        AE(TINY).load(tmp_path / "missing.pt")


def test_views_and_validation():
    assert AE(Config(view="frames", input_size=32)).input_spec.height == 32
    assert AE(Config(view="skeleton", input_size=32)).input_spec.height == 28  # maps are read at their size
    with pytest.raises(ValueError, match="multiple of 4"):
        Config(input_size=30)
    with pytest.raises(DataError, match="expects \\(n, 1, 28, 28\\)"):
        AE(TINY).score(PreparedVideo("big", np.zeros((3, 1, 32, 32), np.uint8), 30.0), Progress())
