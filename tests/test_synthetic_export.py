"""``anobench data generate synthetic-avenue``: files in CUHK Avenue's official layout that the ``avenue`` loader reads
unchanged, with masks that are the anomalies' pixels and reduce to the generated dataset's own labels, decoded
frames close to the rendered ones, the same bytes for the same seed, and no writing into someone else's folder."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from typer.testing import CliRunner

import anobench_generators.walkway.export as export
from anobench_avenue.dataset import declared_frame_count
from anobench_generators.walkway.dataset import SyntheticAvenue
from anobench_generators.walkway.export import MARKER_NAME, SyntheticAvenueGenerator, anomaly_masks
from anobench_generators.walkway.render import plan_video, render_video
from bench_core.cli import build_app
from bench_core.errors import UsageError
from bench_core.plugins import get_catalogue
from bench_core.run import make_dataset
from bench_core.video_io import open_video
from conftest import SHARED_DATA

# Small enough to write several copies in a test; with seed 1 each test video holds an event (a runner, a wrong-way
# walker) and normal frames.
SMALL = dict(n_train=2, n_test=2, frames_per_video=96)
SEED = 1
REAL_MASK_FILE = SHARED_DATA / "avenue-mini" / "ground_truth_demo" / "testing_label_mask" / "8_label.mat"


def expected_files(n_train: int, n_test: int) -> set[str]:
    return ({f"Avenue Dataset/training_videos/{i:02d}.avi" for i in range(1, n_train + 1)}
            | {f"Avenue Dataset/testing_videos/{i:02d}.avi" for i in range(1, n_test + 1)}
            | {f"ground_truth_demo/testing_label_mask/{i}_label.mat" for i in range(1, n_test + 1)}
            | {MARKER_NAME})


def files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def generate(out: Path, seed: int = SEED, **options) -> list[str]:
    # The options' own seed is left at its default: the seed argument is the one that must count.
    return SyntheticAvenueGenerator().write(out, seed, SyntheticAvenue.Options(**{**SMALL, **options}))


def load_avenue(root: Path):
    return make_dataset("avenue", [], str(root), get_catalogue())


def volume_masks(path: Path) -> np.ndarray:
    return np.stack(list(scipy.io.loadmat(str(path))["volLabel"].ravel()))


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, list[str]]:
    out = tmp_path_factory.mktemp("generated") / "avenue-copy"
    return out, generate(out)


@pytest.fixture
def synthetic() -> SyntheticAvenue:
    return SyntheticAvenue("synthetic-avenue", SyntheticAvenue.Options(seed=SEED, **SMALL))


def test_writes_exactly_the_official_layout_and_returns_it(generated):
    out, written = generated
    assert files_under(out) == expected_files(2, 2)
    assert sorted(written) == sorted(str(out / name) for name in expected_files(2, 2))
    marker = json.loads((out / MARKER_NAME).read_text())
    assert marker["complete"] is True and marker["options"]["seed"] == SEED
    for entry in marker["files"]:
        assert hashlib.sha256((out / entry["path"]).read_bytes()).hexdigest() == entry["sha256"]


def test_the_avenue_loader_reads_it_unchanged_with_the_synthetic_labels(generated, synthetic):
    out, _ = generated
    avenue = load_avenue(out)
    assert avenue.check() == []
    assert avenue.label_convention == "mask"
    for split, count in (("train", 2), ("test", 2)):
        loaded, made = avenue.videos(split), synthetic.videos(split)
        assert len(loaded) == len(made) == count
        for video in loaded:
            assert (video.info.n_frames, video.info.height, video.info.width, video.info.fps) == (96, 120, 160, 25)
    for loaded, made in zip(avenue.videos("test"), synthetic.videos("test")):
        assert 0 < made.labels.sum() < len(made)
        np.testing.assert_array_equal(loaded.labels, made.labels)


def test_mask_files_are_structured_like_the_real_ones(generated):
    out, _ = generated
    ours = out / "ground_truth_demo" / "testing_label_mask" / "1_label.mat"
    contents = scipy.io.loadmat(str(ours))
    assert [name for name in contents if not name.startswith("__")] == ["volLabel"]
    assert scipy.io.whosmat(str(ours)) == [("volLabel", (1, 96), "cell")]
    cell = contents["volLabel"]
    assert cell.dtype == object and cell.shape == (1, 96)
    assert {(m.dtype, m.shape) for m in cell.ravel()} == {(np.dtype(np.uint8), (120, 160))}
    assert set(np.unique(np.stack(list(cell.ravel())))) == {0, 1}
    if not REAL_MASK_FILE.is_file():
        pytest.skip(f"no real Avenue mask file at {REAL_MASK_FILE} to compare with")
    real = scipy.io.loadmat(str(REAL_MASK_FILE))
    assert [name for name in real if not name.startswith("__")] == ["volLabel"]
    assert scipy.io.whosmat(str(REAL_MASK_FILE))[0][2] == "cell"
    assert (real["volLabel"].dtype, real["volLabel"].ndim, real["volLabel"][0, 0].dtype) == (cell.dtype, 2, np.uint8)
    assert real["__version__"] == contents["__version__"]


def test_masks_are_the_pixels_the_anomalies_draw():
    """Drawing a test video with and without its events: on labelled frames every pixel an event changes is in the
    mask, and nearly every mask pixel is changed (some are hidden behind walkers); other frames have no mask."""
    dataset = SyntheticAvenue("synthetic-avenue", SyntheticAvenue.Options(seed=0, n_test=4, frames_per_video=96))
    params, scene = dataset.generator_params, dataset.scene
    kinds = set()
    for index in range(4):
        plan = plan_video(params, scene, "test", index)
        kinds |= {event.kind for event in plan.events}
        changed = (render_video(plan, scene, params) != render_video(plan, scene, params, events=set())).any(-1)
        masks = anomaly_masks(plan, scene)
        labelled = plan.labels().astype(bool)
        assert labelled.any()
        assert not (changed[labelled] & ~masks[labelled]).any()
        assert (masks[labelled] & changed[labelled]).sum() >= 0.8 * masks.sum()
        assert not masks[~labelled].any()
    assert kinds == {"runner", "wrong-way", "throw", "loiter"}


@pytest.mark.parametrize("seed", range(12))
def test_mask_labels_equal_the_dataset_labels_for_every_event(seed):
    """Planning only (no pixels): every labelled frame has a mask and no other does, including the frames where an
    actor's bounding box reaches one pixel in but its shape covers no pixel centre (seeds 3 and 10 have some)."""
    dataset = SyntheticAvenue("synthetic-avenue", SyntheticAvenue.Options(seed=seed))
    for index in range(dataset.options.n_test):
        plan = plan_video(dataset.generator_params, dataset.scene, "test", index)
        np.testing.assert_array_equal(anomaly_masks(plan, dataset.scene).any(axis=(1, 2)), plan.labels() == 1)


def test_an_edge_frame_whose_actor_covers_no_pixel_gets_a_sliver_at_the_frame_edge():
    # Seed 10, test video 1: a wrong-way walker's first labelled frame (185) reaches in by less than a pixel, so the
    # walker changes no pixel there, yet the frame is labelled: its mask is the bounding boxes' part in the frame.
    dataset = SyntheticAvenue("synthetic-avenue", SyntheticAvenue.Options(seed=10))
    params, scene = dataset.generator_params, dataset.scene
    plan = plan_video(params, scene, "test", 1)
    event_index, event = next((i, e) for i, e in enumerate(plan.events) if e.start == 185)
    assert event.kind == "wrong-way"
    others = set(range(len(plan.events))) - {event_index}
    with_walker = render_video(plan, scene, params)[185]
    without_walker = render_video(plan, scene, params, events=others)[185]
    np.testing.assert_array_equal(with_walker, without_walker)
    masks = anomaly_masks(plan, scene)
    rows, columns = np.nonzero(masks[185])
    assert 0 < len(rows) <= 8 and set(columns) == {dataset.options.width - 1}
    assert masks[190].sum() > 10 * masks[185].sum()


def test_decoded_frames_are_close_to_the_rendered_ones_and_in_order(generated, synthetic):
    out, _ = generated
    avenue = load_avenue(out)
    for split in ("train", "test"):
        for loaded, made in zip(avenue.videos(split), synthetic.videos(split)):
            decoded = loaded.read(0, len(loaded)).astype(np.int16)
            rendered = made.read(0, len(made)).astype(np.int16)
            assert np.abs(decoded - rendered).mean() < 6
            # Where the picture moves, frame t decodes close to rendered frame t and far from frame t - 1.
            moving = np.abs(rendered[1:] - rendered[:-1]).max(-1) > 40
            error_same = np.abs(decoded[1:] - rendered[1:]).mean(-1)[moving].mean()
            error_previous = np.abs(decoded[1:] - rendered[:-1]).mean(-1)[moving].mean()
            assert error_same < 16 and error_same < error_previous / 3


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_every_reader_counts_the_frames_the_masks_cover(generated, backend):
    if backend == "decord":
        pytest.importorskip("decord")
    out, _ = generated
    for video in sorted((out / "Avenue Dataset").rglob("*.avi")):
        assert open_video(video, backend).n_frames == declared_frame_count(video) == 96
    for mask_file in (out / "ground_truth_demo" / "testing_label_mask").glob("*_label.mat"):
        assert len(volume_masks(mask_file)) == 96


def test_same_seed_writes_the_same_bytes_and_another_seed_does_not(generated, tmp_path):
    out, _ = generated
    again = tmp_path / "again"
    generate(again)
    for name in expected_files(2, 2) - {MARKER_NAME}:
        assert (again / name).read_bytes() == (out / name).read_bytes(), name
    other = tmp_path / "other"
    generate(other, seed=SEED + 1)
    first_video = Path("Avenue Dataset/testing_videos/01.avi")
    decoded, decoded_other = (open_video(root / first_video).read(0, 96) for root in (out, other))
    assert np.abs(decoded.astype(np.int16) - decoded_other).mean() > 1
    first_masks = Path("ground_truth_demo/testing_label_mask/1_label.mat")
    assert not np.array_equal(volume_masks(out / first_masks), volume_masks(other / first_masks))


def test_refuses_a_folder_it_did_not_write(tmp_path):
    folder = tmp_path / "my-data"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(UsageError) as caught:
        generate(folder)
    assert str(folder) in caught.value.message and "\n" not in str(caught.value)
    assert "--out" in caught.value.hint
    assert files_under(folder) == {"notes.txt"}

    (folder / MARKER_NAME).write_text(json.dumps({"generator": "synthetic-industrial", "files": []}))
    with pytest.raises(UsageError):
        generate(folder)
    (folder / MARKER_NAME).write_text("{not json")
    with pytest.raises(UsageError):
        generate(folder)
    assert files_under(folder) == {"notes.txt", MARKER_NAME}

    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    with pytest.raises(UsageError, match="not a folder"):
        generate(a_file)


def test_writes_again_over_its_own_copy_and_drops_the_files_no_longer_made(tmp_path):
    out = tmp_path / "copy"
    generate(out, frames_per_video=64)
    (out / "README.txt").write_text("the user's own file")
    generate(out, n_train=1, n_test=1, frames_per_video=64)
    assert files_under(out) == expected_files(1, 1) | {"README.txt"}
    avenue = load_avenue(out)
    assert avenue.check() == []
    assert (len(avenue.videos("train")), len(avenue.videos("test"))) == (1, 1)


def test_a_copy_cut_short_leaves_no_partial_file_and_can_be_written_again(tmp_path, monkeypatch):
    out = tmp_path / "copy"
    drawn = []

    def render_then_fail(*args, **kwargs):
        if len(drawn) == 2:
            raise KeyboardInterrupt
        drawn.append(1)
        return render_video(*args, **kwargs)

    monkeypatch.setattr(export, "render_video", render_then_fail)
    with pytest.raises(KeyboardInterrupt):
        generate(out)
    assert files_under(out) == {MARKER_NAME, "Avenue Dataset/training_videos/01.avi",
                                "Avenue Dataset/training_videos/02.avi"}
    assert json.loads((out / MARKER_NAME).read_text())["complete"] is False
    monkeypatch.undo()
    generate(out)
    assert files_under(out) == expected_files(2, 2)
    assert load_avenue(out).check() == []


def test_cli_generate_then_check(tmp_path):
    out = tmp_path / "synthetic-avenue-copy"
    runner = CliRunner()
    app = build_app()
    options = [arg for key, value in SMALL.items() for arg in ("--data-option", f"{key}={value}")]
    result = runner.invoke(app, ["data", "generate", "synthetic-avenue", "--out", str(out), "--seed", "1", *options])
    assert result.exit_code == 0, result.output
    assert "wrote 7 files" in result.output
    result = runner.invoke(app, ["data", "check", "avenue", "--data-root", str(out)])
    assert result.exit_code == 0, result.output
    assert "error" not in result.output
    # one note says it is a generated copy, instead of a warning per missing or unofficial video
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "a generated copy written by 'anobench data generate'" in warnings[0]

    (tmp_path / "occupied").mkdir()
    (tmp_path / "occupied" / "x.avi").write_bytes(b"")
    result = runner.invoke(app, ["data", "generate", "synthetic-avenue", "--out", str(tmp_path / "occupied")])
    assert result.exit_code == 2
    assert "occupied" in result.output and "--out" in result.output
