"""The srnn detector (SRNN-style temporally-coherent sparse coding) on tiny configs and hand-made frames.

The checks every detector shares (determinism, save/load, resume, short videos, views) are the detector contract:
tests/test_detector_contract.py."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from bench_core.config import build_config
from bench_core.errors import DataError, UsageError
from bench_core.progress import Progress
from bench_core.views import PreparedVideo

from anobench_srnn.detector import SRNN, Config, TemporallyCoherentSparseCoding, soft_threshold

TINY = Config(n_atoms=32, n_layers=8, epochs=6, sequence_length=6, train_stride=3, batch_size=16, lr=1e-2)


def square_video(n: int, vid: str = "v") -> PreparedVideo:
    """A grey square sliding back and forth over a dark 28x28 frame."""
    frames = np.full((n, 1, 28, 28), 30, dtype=np.uint8)
    for t in range(n):
        x = 2 + abs(t % 36 - 18)
        frames[t, 0, 10:16, x:x + 6] = 200
    return PreparedVideo(vid, frames, fps=25.0)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _coder(temporal_weight: float, n_layers: int = 1, sparsity: float = 0.05) -> TemporallyCoherentSparseCoding:
    config = dataclasses.replace(TINY, temporal_weight=temporal_weight, n_layers=n_layers, sparsity=sparsity)
    return TemporallyCoherentSparseCoding(config, 16, 49, torch.Generator().manual_seed(0))


@pytest.mark.parametrize("temporal_weight", [0.0, 0.5])
def test_each_ista_layer_lowers_the_sparse_coding_objective(temporal_weight):
    coder = _coder(temporal_weight)
    dictionary = coder.dictionary()
    x = torch.randn(16, 49, generator=torch.Generator().manual_seed(1))
    previous = torch.randn(16, 32, generator=torch.Generator().manual_seed(2)) * 0.1
    objectives = []
    for layers in range(0, 30, 3):
        code = coder.code_frame(x, previous, dictionary, n_layers=layers)
        objectives.append(coder.objective(x, code, previous, dictionary).sum().item())
    assert all(b <= a + 1e-6 for a, b in zip(objectives, objectives[1:])), objectives
    assert objectives[-1] < 0.7 * objectives[0]
    # The L1 term is what makes codes sparse: a larger lambda zeroes more atoms.
    strong = _coder(temporal_weight, n_layers=30, sparsity=2.0)
    assert (strong.code_frame(x, previous, dictionary) == 0).float().mean() > (code == 0).float().mean() + 0.3


def test_the_temporal_term_is_a_real_switch():
    x = torch.randn(16, 49, generator=torch.Generator().manual_seed(3))
    previous = torch.randn(16, 32, generator=torch.Generator().manual_seed(4))
    off, on = _coder(0.0, n_layers=8), _coder(2.0, n_layers=8)
    dictionary = off.dictionary()
    # Off: a frame's code does not depend on the previous frame's at all.
    assert torch.equal(off.code_frame(x, previous, dictionary), off.code_frame(x, None, dictionary))
    assert torch.equal(off.code_frame(x, previous, dictionary), off.code_frame(x, previous * 3, dictionary))
    # On: it is pulled towards the previous code.
    pulled, alone = on.code_frame(x, previous, dictionary), on.code_frame(x, None, dictionary)
    assert (pulled - previous).norm() < (alone - previous).norm()
    # ... and the detector's scores change with it.
    train = [square_video(60)]
    video = square_video(30)
    scores = []
    for weight in (0.0, 2.0):
        detector = SRNN(dataclasses.replace(TINY, temporal_weight=weight, epochs=1), seed=0)
        detector.fit(train, Progress())
        scores.append(detector.score(video, Progress()))
    assert not np.allclose(scores[0], scores[1])


def test_soft_threshold():
    assert torch.equal(soft_threshold(torch.tensor([-2.0, -0.5, 0.0, 0.3, 1.5]), 1.0),
                       torch.tensor([-1.0, -0.0, 0.0, 0.0, 0.5]))


@pytest.fixture(scope="module")
def trained(one_torch_thread) -> SRNN:
    detector = SRNN(TINY, seed=0)
    detector.log = detector.fit([square_video(80, "a"), square_video(80, "b")], Progress())
    return detector


def test_training_lowers_the_objective_and_atoms_stay_unit_norm(trained):
    losses = trained.log["loss_per_epoch"]
    assert losses[-1] < losses[0]
    norms = trained.model.dictionary().norm(dim=0)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-5)


def test_every_frame_scored_and_an_intruder_scores_higher(trained):
    video = square_video(40)
    video.frames[25:, 0, 0:7, 21:28] = 255  # a bright block where nothing ever was
    scores = trained.score(video, Progress())
    assert scores.shape == (40,) and np.all(np.isfinite(scores))
    assert scores[25:].min() > scores[:25].max()
    summed = SRNN(dataclasses.replace(TINY, cell_reduction="sum"))
    summed.model.load_state_dict(trained.model.state_dict())
    assert np.all(summed.score(video, Progress()) >= scores - 1e-9)


def test_a_checkpoint_of_other_settings_is_refused(trained, tmp_path):
    trained.save(tmp_path / "s.pt")
    with pytest.raises(UsageError, match="n_atoms=32 \\(now 16\\)"):
        SRNN(dataclasses.replace(TINY, n_atoms=16)).load(tmp_path / "s.pt")


def test_presets_views_and_validation():
    paper = build_config(Config, SRNN.presets, "paper", {}, "--set", "srnn")
    assert paper.view == "frames" and paper.temporal_weight > 0
    assert SRNN(Config(view="skeleton", input_size=64)).input_spec.height == 28
    assert SRNN(Config(input_size=35, patch_size=7)).input_spec.height == 35
    with pytest.raises(ValueError, match="patch_size 8 must divide the input side 28"):
        Config(patch_size=8)
    with pytest.raises(ValueError, match="cell_reduction"):
        Config(cell_reduction="mean")
    with pytest.raises(DataError, match="no training video has the 6 frames"):
        SRNN(TINY).fit([square_video(4)], Progress())


def test_the_standard_preset_codes_8x8_patches_of_128px_frames_and_trains_at_reduced_size():
    standard = build_config(Config, SRNN.presets, "standard", {}, "--set", "srnn")
    # 128 px keeps a 20 px object of a 240 px frame at ~11 px; 8x8 patches make a 16x16 grid of 64-pixel vectors.
    assert (standard.view, standard.input_size, standard.patch_size, standard.cell_reduction) == (
        "frames", 128, 8, "sum")
    assert SRNN(standard).model.mean_patch.shape == (1, 256, 64)
    # The same preset shrunk to seconds: one epoch on 32x32 squares (4x4 patches of 8 pixels) trains and scores.
    small = build_config(Config, SRNN.presets, "standard", {"input_size": "32", "n_atoms": "16", "epochs": "1"},
                         "--set", "srnn")
    video = PreparedVideo("v", np.pad(square_video(40).frames, ((0, 0), (0, 0), (2, 2), (2, 2))), 25.0)
    detector = SRNN(small)
    log = detector.fit([video], Progress())
    assert len(log["loss_per_epoch"]) == 1 and np.isfinite(log["loss_per_epoch"][0])
    scores = detector.score(video, Progress())
    assert scores.shape == (40,) and np.all(np.isfinite(scores))
