"""Pixel- and region-level localization: pixel masks, anomaly maps streamed to disk, pixel-auroc, RBDC and TBDC."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from typer.testing import CliRunner

import anobench_localization.scorer as scorer_module
from anobench_localization.scorer import PixelAUROC, RegionDetection, curve_area, region_counts
from bench_core.cli import build_app
from bench_core.config import build_config
from bench_core.errors import RunFailed
from bench_core.localization import MAP_MEMBER, ArrayMaps, MapWriter, VideoMaps
from bench_core.plugins import get_catalogue
from bench_core.progress import Progress
from bench_core.run import make_dataset
from bench_core.views import PreparedVideo
from conftest import SHARED_DATA
from toy_plugin import ArrayVideo

SMALL_DATA = ["--data-option", "n_train=1", "--data-option", "n_test=2", "--data-option", "frames_per_video=64"]
SMALL_CONV_AE = ["--preset", "cpu", "--set", "epochs=1", "--set", "input_size=32", "--set", "channels=8,8,8",
                 "--set", "window=3"]


# ---- RBDC and TBDC, by hand ------------------------------------------------------------------------------------


def two_frame_example() -> ArrayMaps:
    """Two 6x6 frames of one video.

    Ground truth: frame 0 has region A (rows 0-1, columns 0-1); frame 1 has A' (rows 0-1, columns 1-2), which shares
    pixels (0,1) and (1,1) with A, so A and A' are one track T1; and B (rows 4-5, columns 4-5), a new track T2.
    Maps: frame 0 is 0.9 on rows 0-1, columns 0-2 (region D1, 6 pixels) and on pixel (5,5) (D2); frame 1 is 0.9 on
    pixel (3,0) (D3) and 0.5 on B's 4 pixels (D4).
    """
    maps = np.zeros((2, 6, 6), np.float32)
    masks = np.zeros((2, 6, 6), np.uint8)
    masks[0, 0:2, 0:2] = 1
    masks[1, 0:2, 1:3] = 1
    masks[1, 4:6, 4:6] = 1
    maps[0, 0:2, 0:3] = 0.9
    maps[0, 5, 5] = 0.9
    maps[1, 3, 0] = 0.9
    maps[1, 4:6, 4:6] = 0.5
    return ArrayMaps("v", maps, masks)


def test_region_counts_match_the_hand_computed_example():
    # Threshold 0.8 keeps D1, D2 and D3. D1 against A: IoU = 4 / (6 + 4 - 4) = 0.67 >= 0.1, so A is detected.
    # D2 and D3 meet no ground truth: 2 false positives in 2 frames. A' and B are missed.
    # -> regions detected 1 of 3; T1 has 1 of its 2 regions detected (50% >= 10%): tracks detected 1 of 2.
    # Threshold 0.4 adds D4 = B exactly (IoU 1): regions detected 2 of 3, tracks 2 of 2, still 2 false positives.
    counts = region_counts([two_frame_example()], np.array([0.4, 0.8]))
    assert (counts.n_frames, counts.n_regions, counts.n_tracks) == (2, 3, 2)
    assert counts.false_positives.tolist() == [2, 2]
    assert counts.regions_detected.tolist() == [2, 1]
    assert counts.tracks_detected.tolist() == [2, 1]


def test_rbdc_and_tbdc_of_the_hand_computed_example():
    # Both thresholds sit at 1 false positive per frame. The curve runs (0, 0) -> (1, 1/3) -> (1, 2/3) for RBDC and
    # (0, 0) -> (1, 1/2) -> (1, 1) for TBDC; the area from 0 to 1 is the first trapezoid: 1/6 and 1/4.
    # The scorer's 50 thresholds over [0, 0.9] fall on either side of 0.5 and give the same two points.
    metrics = RegionDetection().compute([], [], maps=[two_frame_example()])
    assert metrics["rbdc"] == pytest.approx(1 / 6)
    assert metrics["tbdc"] == pytest.approx(1 / 4)
    assert (metrics["n_gt_regions"], metrics["n_gt_tracks"]) == (3, 2)


@pytest.mark.parametrize("side, detected", [(3, True), (4, False)])
def test_a_region_detects_ground_truth_from_an_iou_of_one_tenth(side, detected):
    # Ground truth is the single pixel (0, 0); the detection a 3x3 block (IoU 1/9 >= 0.1: detected) or a 3x4 one
    # (IoU 1/12 < 0.1: missed, and a false positive).
    maps = np.zeros((1, 5, 5), np.float32)
    maps[0, 0:3, 0:side] = 1.0
    masks = np.zeros((1, 5, 5), np.uint8)
    masks[0, 0, 0] = 1
    counts = region_counts([ArrayMaps("v", maps, masks)], np.array([0.5]))
    assert counts.regions_detected.tolist() == [int(detected)]
    assert counts.false_positives.tolist() == [int(not detected)]


def test_curve_area_cuts_at_one_false_positive_per_frame_and_extends_the_last_rate():
    # (0,0) -> (0.5, 0.5) -> (2, 1): cut at 1 where the rate is 0.5 + 0.5 * 0.5 / 1.5 = 2/3;
    # area 0.5 * 0.5 / 2 + 0.5 * (0.5 + 2/3) / 2 = 0.125 + 0.2917.
    assert curve_area(np.array([0.5, 2.0]), np.array([0.5, 1.0])) == pytest.approx(0.125 + 0.5 * (0.5 + 2 / 3) / 2)
    # No threshold reaches 1: the rate 0.5 reached at 0.5 holds up to 1: 0.125 + 0.25.
    assert curve_area(np.array([0.5]), np.array([0.5])) == pytest.approx(0.375)


# ---- pixel AUROC -------------------------------------------------------------------------------------------------


def test_pixel_auroc_of_a_toy_example():
    # Abnormal pixels score 0.9 and 0.6, normal ones 0.1 and 0.7: 3 of the 4 (abnormal, normal) pairs are ordered.
    maps = np.array([[[0.9, 0.1], [0.7, 0.6]]], np.float32)
    masks = np.array([[[1, 0], [0, 1]]], np.uint8)
    metrics = PixelAUROC().compute([], [], maps=[ArrayMaps("v", maps, masks)])
    assert metrics == {"pixel_auroc": 0.75, "pixel_auroc_pixels_used": 4, "pixel_auroc_pixels_total": 4}


def test_pixel_auroc_subsamples_above_the_cap_with_a_fixed_seed(monkeypatch):
    rng = np.random.default_rng(1)
    masks = (rng.random((2, 10, 10)) < 0.3).astype(np.uint8)
    maps = (masks + rng.random((2, 10, 10))).astype(np.float32)
    monkeypatch.setattr(scorer_module, "MAX_PIXELS", 50)
    sources = [ArrayMaps("a", maps[:1], masks[:1]), ArrayMaps("b", maps[1:], masks[1:])]
    first = PixelAUROC().compute([], [], maps=sources)
    assert first == PixelAUROC().compute([], [], maps=sources)
    assert (first["pixel_auroc_pixels_used"], first["pixel_auroc_pixels_total"]) == (50, 200)
    from sklearn.metrics import roc_auc_score

    chosen = np.sort(np.random.default_rng(scorer_module.PIXEL_SAMPLE_SEED).choice(200, 50, replace=False))
    assert first["pixel_auroc"] == pytest.approx(roc_auc_score(masks.ravel()[chosen], maps.ravel()[chosen]))


def test_localization_scorers_without_maps_say_not_available():
    assert PixelAUROC().compute([], [], maps=None)["pixel_auroc"] is None
    assert RegionDetection().compute([], [], maps=None) == {"rbdc": None, "tbdc": None, "n_gt_regions": None,
                                                             "n_gt_tracks": None}


# ---- maps on disk ------------------------------------------------------------------------------------------------


class MaskedVideo(ArrayVideo):
    def __init__(self, video_id, frames, masks):
        super().__init__(video_id, frames)
        self._masks = masks
        self.has_pixel_masks = True

    def pixel_masks(self, start, stop):
        return self._masks[start:stop]


def test_maps_are_streamed_per_video_at_the_frame_size_and_read_back_a_chunk_at_a_time(tmp_path):
    n, height, width, window = 10, 6, 8, 3
    video = MaskedVideo("v", np.zeros((n, height, width, 1), np.uint8), np.zeros((n, height, width), np.uint8))
    path = tmp_path / "v.npz"
    writer = MapWriter(path, "v", n, height, width, window)
    window_maps = np.arange(8, dtype=np.float32)[:, None, None] * np.ones((8, 3, 4), np.float32)
    writer(window_maps[:3])
    writer(window_maps[3:])
    writer.close()
    with np.load(path, allow_pickle=False) as saved:
        maps = saved[MAP_MEMBER.removesuffix(".npy")]
        assert maps.shape == (n, height, width) and maps.dtype == np.float16
        # The two frames before the first full window take its map, as they take its score.
        assert [float(m.mean()) for m in maps] == [0, 0, 0, 1, 2, 3, 4, 5, 6, 7]
    chunks = list(VideoMaps("v", path, video).chunks(4))
    assert [c[0].shape for c in chunks] == [(4, height, width), (4, height, width), (2, height, width)]
    normalised = np.concatenate([c[0] for c in chunks])
    assert normalised.min() == 0.0 and normalised.max() == 1.0  # min-max per video, as the frame scores
    assert VideoMaps("v", path, video, normalization="none").value_range == (0.0, 7.0)


def test_too_few_maps_and_damaged_map_files_are_errors(tmp_path):
    writer = MapWriter(tmp_path / "v.npz", "v", 5, 4, 4, 1)
    writer(np.zeros((3, 4, 4), np.float32))
    with pytest.raises(RunFailed, match="for 3 of its 5 frames"):
        writer.close()
    assert not list(tmp_path.iterdir())
    path = tmp_path / "w.npz"
    writer = MapWriter(path, "w", 40, 16, 16, 1)
    writer(np.random.default_rng(0).random((40, 16, 16), dtype=np.float32))
    writer.close()
    with zipfile.ZipFile(path) as archive:
        offset = archive.getinfo(MAP_MEMBER).header_offset + 200
    data = bytearray(path.read_bytes())
    data[offset:offset + 64] = bytes(64)
    path.write_bytes(bytes(data))
    video = MaskedVideo("w", np.zeros((40, 16, 16, 1), np.uint8), np.zeros((40, 16, 16), np.uint8))
    with pytest.raises(RunFailed, match=f"anomaly maps {path} of test video 'w' are damaged"):
        list(VideoMaps("w", path, video).chunks())


@pytest.mark.parametrize("detector, settings", [
    ("conv-ae", {"input_size": 32, "channels": (8, 8, 8), "window": 3}),
    ("stgan", {"input_size": 32, "window": 4, "channels": (8, 8, 8), "latent_channels": 8}),
    ("ae", {"view": "frames", "input_size": 16, "channels": (8, 8)}),
    ("vae", {"view": "frames", "input_size": 16, "channels": (8, 8)}),
])
def test_emitting_maps_leaves_scores_bit_identical_and_maps_add_up_to_them(detector, settings):
    cls = get_catalogue().get("detector", detector).load()
    config = build_config(cls.Config, cls.presets, "cpu", {k: v for k, v in settings.items()}, "--set", detector)
    model = cls(config, seed=0)
    assert model.provides_maps()
    spec = model.input_spec
    frames = np.random.default_rng(0).integers(0, 255, (12, 1, spec.height, spec.width), dtype=np.uint8)
    video = PreparedVideo("v", frames, 25.0)
    plain = model.score(video, Progress())
    received = []
    model.map_sink = received.append
    with_maps = model.score(video, Progress())
    assert np.array_equal(plain, with_maps)
    maps = np.concatenate(received)
    assert maps.shape == (len(plain), spec.height, spec.width)
    assert np.allclose(maps.sum(axis=(1, 2), dtype=np.float64), plain, rtol=1e-4)


def test_the_skeleton_view_gives_no_maps():
    cls = get_catalogue().get("detector", "conv-ae").load()
    config = build_config(cls.Config, cls.presets, "cpu", {"view": "skeleton"}, "--set", "conv-ae")
    assert not cls(config).provides_maps()


# ---- datasets ------------------------------------------------------------------------------------------------------


def test_synthetic_avenue_masks_are_the_exported_ones_and_agree_with_the_labels():
    dataset = make_dataset("synthetic-avenue", ["n_train=1", "n_test=1", "frames_per_video=64"], None,
                           get_catalogue())
    assert dataset.has_pixel_masks()
    video = dataset.videos("test")[0]
    masks = video.pixel_masks(0, len(video))
    assert masks.shape == (64, 120, 160) and masks.dtype == np.uint8 and set(np.unique(masks)) == {0, 1}
    assert np.array_equal(masks.any(axis=(1, 2)), video.labels.astype(bool))
    assert not dataset.videos("train")[0].has_pixel_masks


@pytest.mark.skipif(not (SHARED_DATA / "avenue-mini").is_dir(), reason="needs ../shared/data/avenue-mini")
def test_avenue_masks_come_from_vol_label_at_the_video_size():
    for convention in ("mask", "event"):
        dataset = make_dataset("avenue", [f"label_convention={convention}"], str(SHARED_DATA / "avenue-mini"),
                               get_catalogue())
        assert dataset.has_pixel_masks()
        video = dataset.videos("test")[0]
        masks = video.pixel_masks(0, len(video))
        assert masks.shape == (len(video), video.info.height, video.info.width) and masks.dtype == np.uint8
        mask_labels = dataset.videos("test")[0].pixel_masks(0, len(video)).any(axis=(1, 2))
        if convention == "mask":
            assert np.array_equal(mask_labels, video.labels.astype(bool))


def test_ucsd_masks_come_from_the_gt_folders_of_the_official_layout(tmp_path):
    from test_ucsd import SCRIPT_LABELS, official_tree, ped2, research_tree

    official_tree(tmp_path / "official")
    dataset = ped2(tmp_path / "official")
    assert dataset.has_pixel_masks()
    video = dataset.videos("test")[1]
    masks = video.pixel_masks(0, len(video))
    assert masks.shape == (6, 6, 8) and masks.dtype == np.uint8
    assert masks[:, 1, 2].tolist() == SCRIPT_LABELS["Test002"] and masks.sum() == sum(SCRIPT_LABELS["Test002"])
    research_tree(tmp_path / "research")
    assert not ped2(tmp_path / "research").has_pixel_masks()


# ---- through the CLI -----------------------------------------------------------------------------------------------


def run_cli(tmp_path, *args):
    result = CliRunner().invoke(build_app(), ["run", "--dataset", "synthetic-avenue", "--seed", "0", "--device", "cpu",
                                              "--out", str(tmp_path / "results"), "--json", *SMALL_DATA, *args])
    return result


@pytest.mark.slow
def test_conv_ae_end_to_end_with_frame_pixel_and_region_scorers(tmp_path):
    result = run_cli(tmp_path, "--detector", "conv-ae", *SMALL_CONV_AE, "--scorer", "frame-auroc",
                     "--scorer", "pixel-auroc", "--scorer", "region")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    metrics = record["metrics"]
    for name in ("pixel_auroc", "rbdc", "tbdc"):
        assert 0.0 <= metrics[name] <= 1.0
    assert metrics["pixel_auroc_pixels_total"] == 2 * 64 * 120 * 160 and metrics["n_gt_tracks"] >= 2
    assert record["localization"]["maps"] == "maps/"
    run = tmp_path / "results" / "synthetic-avenue" / "conv-ae" / record["run_id"]
    for entry in record["per_video"]:
        with np.load(run / "maps" / f"{entry['id']}.npz", allow_pickle=False) as saved:
            assert saved["map"].shape == (64, 120, 160) and saved["map"].dtype == np.float16
    assert not (run.parent / f".{run.name}.maps").exists()

    # The same run with the frame scorer alone: other run id, the same scores to the bit.
    plain = run_cli(tmp_path, "--detector", "conv-ae", *SMALL_CONV_AE)
    assert plain.exit_code == 0, plain.output
    plain_record = json.loads(plain.stdout)
    assert plain_record["run_id"] != record["run_id"] and "localization" not in plain_record
    assert {k: v for k, v in metrics.items() if k in plain_record["metrics"]} == plain_record["metrics"]
    plain_run = run.parent / plain_record["run_id"]
    for entry in record["per_video"]:
        with np.load(run / entry["file"]) as a, np.load(plain_run / entry["file"]) as b:
            assert np.array_equal(a["raw"], b["raw"])

    # The leaderboard and the report show the localization metrics of the run that has them.
    board = tmp_path / "board.md"
    result = CliRunner().invoke(build_app(), ["leaderboard", str(tmp_path / "results"), "--out", str(board)])
    assert result.exit_code == 0, result.output
    table = board.read_text().split("Localization (")[1]
    assert "| Pixel AUROC | RBDC | TBDC |" in table and f"| {metrics['pixel_auroc']:.3f} |" in table
    from bench_core.report import build_report

    page = build_report(tmp_path / "results", tmp_path / "report").read_text()
    assert "<h2>Localization</h2>" in page and f"Pixel AUROC {metrics['pixel_auroc']:.4f}" in page


def test_a_detector_without_maps_gets_not_available(toy_plugin, tmp_path):
    result = run_cli(tmp_path, "--detector", "toy-detector", "--scorer", "frame-auroc", "--scorer", "pixel-auroc",
                     "--scorer", "region")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["metrics"]["pixel_auroc"] is None and record["metrics"]["rbdc"] is None
    assert record["metrics"]["frame_auroc_micro"] is not None
    assert "not available" in record["localization"]["note"] and record["localization"]["maps"] is None
    table = CliRunner().invoke(build_app(), ["run", "--dataset", "synthetic-avenue", "--out", str(tmp_path / "results"),
                                             *SMALL_DATA, "--detector", "toy-detector", "--scorer", "frame-auroc",
                                             "--scorer", "pixel-auroc", "--scorer", "region"])
    assert table.exit_code == 0 and "pixel_auroc" in table.stdout
    assert "note: detector 'toy-detector' gives no per-pixel anomaly maps" in " ".join(table.stderr.split())


def test_a_localization_scorer_on_a_dataset_without_masks_is_a_usage_error_before_training(toy_plugin, tmp_path,
                                                                                           monkeypatch):
    import bench_core.run

    def no_training(*args, **kwargs):
        raise AssertionError("the run started")

    monkeypatch.setattr(bench_core.run, "execute", no_training)
    result = CliRunner().invoke(build_app(), ["run", "--detector", "toy-detector", "--dataset", "toy-dataset",
                                              "--out", str(tmp_path / "results"), "--scorer", "region"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[0].startswith("error: scorer 'region' needs per-pixel ground truth, which dataset 'toy-dataset'")
    assert not (tmp_path / "results").exists()


def test_region_counts_agree_with_a_direct_count_on_random_maps():
    # A direct, slow count (whole-frame labelling, IoU region by region) as the oracle for the fast one.
    from scipy import ndimage

    rng = np.random.default_rng(3)
    maps = ndimage.gaussian_filter(rng.random((4, 20, 24)), (0, 2, 2)).astype(np.float32)
    masks = (ndimage.gaussian_filter(rng.random((4, 20, 24)), (0, 2, 2)) > 0.55).astype(np.uint8)
    levels = np.quantile(maps, [0.3, 0.6, 0.9, 0.99])
    counts = region_counts([ArrayMaps("v", maps, masks)], levels)
    structure = np.ones((3, 3), bool)
    for k, level in enumerate(levels):
        false_positives = detected = 0
        for frame_map, mask in zip(maps, masks):
            regions, n_regions = ndimage.label(frame_map >= level, structure)
            truth, n_truth = ndimage.label(mask, structure)
            iou = np.zeros((n_regions, n_truth))
            for i in range(n_regions):
                for j in range(n_truth):
                    a, b = regions == i + 1, truth == j + 1
                    iou[i, j] = (a & b).sum() / (a | b).sum()
            false_positives += int((iou < 0.1).all(axis=1).sum()) if n_truth else n_regions
            detected += int((iou >= 0.1).any(axis=0).sum())
        assert (counts.false_positives[k], counts.regions_detected[k]) == (false_positives, detected)
