"""The built-in ``synthetic-avenue`` dataset: sizes, labels, determinism, lazy cached reads, and anomalies that
are really there in the pixels (visible exactly on their labelled frames, and moving as their kind should)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

import anobench_generators.walkway.dataset as avenue_module
from anobench_generators.walkway.dataset import GENERATOR_VERSION, SyntheticAvenue
from anobench_generators.walkway.render import ANOMALY_KINDS, plan_video, render_video
from bench_core.config import build_config
from bench_core.errors import DataError, UsageError
from bench_core.views import CACHE_ENV

# Small enough to draw several times in a test, big enough to hold events.
SMALL = dict(n_train=2, n_test=3, frames_per_video=96)


def make(**options) -> SyntheticAvenue:
    return SyntheticAvenue("synthetic-avenue", SyntheticAvenue.Options(**options))


def read_all(video) -> np.ndarray:
    return video.read(0, len(video))


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def default_dataset(tmp_path_factory):
    """The default dataset, drawn once for the module into its own cache (videos remember their cache paths)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("synthetic-cache")))
        dataset = make()
        for split in ("train", "test"):
            for video in dataset.videos(split):
                video.read(0, 1)
    return dataset


def test_default_sizes_dtypes_and_counts(default_dataset):
    train, test = default_dataset.videos("train"), default_dataset.videos("test")
    assert (len(train), len(test)) == (8, 6)
    assert 1500 <= sum(len(v) for v in train) <= 2500
    assert 1000 <= sum(len(v) for v in test) <= 1500
    assert len({v.id for v in train + test}) == len(train) + len(test)
    for video in train + test:
        assert video.info.fps == 25 and (video.info.height, video.info.width, video.info.channels) == (120, 160, 3)
        frames = video.read(0, 5)
        assert frames.dtype == np.uint8 and frames.shape == (5, 120, 160, 3)
    assert all(v.labels is None and v.events == () for v in train)
    for video in test:
        assert video.labels.dtype == np.int8 and video.labels.shape == (len(video),)
        assert set(np.unique(video.labels)) <= {0, 1}


def test_test_labels_hold_both_classes_in_the_wanted_share(default_dataset):
    test = default_dataset.videos("test")
    labels = np.concatenate([v.labels for v in test])
    assert 0.20 <= labels.mean() <= 0.35
    assert all(0 < v.labels.mean() < 1 for v in test)
    assert {e.kind for v in test for e in v.events} == set(ANOMALY_KINDS)
    for video in test:  # labels are exactly the union of the event spans
        from_events = np.zeros(len(video), dtype=np.int8)
        for event in video.events:
            from_events[event.start:event.stop] = 1
        np.testing.assert_array_equal(video.labels, from_events)


@pytest.mark.parametrize("seed", range(1, 9))
def test_other_seeds_keep_the_share_and_both_classes(seed, cache):
    test = make(seed=seed).videos("test")  # planning only: nothing is drawn
    labels = np.concatenate([v.labels for v in test])
    assert 0.18 <= labels.mean() <= 0.38, labels.mean()
    assert sum(not 0 < v.labels.mean() < 1 for v in test) <= 1
    assert not any(v.path.exists() for v in test)


def test_same_seed_gives_identical_bytes_and_labels_and_another_seed_does_not(tmp_path, monkeypatch):
    def draw(seed, folder):
        monkeypatch.setenv(CACHE_ENV, str(tmp_path / folder))
        dataset = make(seed=seed, **SMALL)
        videos = dataset.videos("train") + dataset.videos("test")
        return [read_all(v) for v in videos], [v.labels for v in dataset.videos("test")]

    frames_a, labels_a = draw(7, "a")
    frames_b, labels_b = draw(7, "b")  # a separate cache: drawn again from scratch
    frames_c, labels_c = draw(8, "c")
    assert all(a.tobytes() == b.tobytes() for a, b in zip(frames_a, frames_b))
    assert all(np.array_equal(a, b) for a, b in zip(labels_a, labels_b))
    assert all(not np.array_equal(a, c) for a, c in zip(frames_a, frames_c))
    assert any(not np.array_equal(a, c) for a, c in zip(labels_a, labels_c))


def test_reads_are_lazy_and_match_slices_of_the_whole_video(cache):
    dataset = make(**SMALL)
    videos = dataset.videos("test")
    assert not any(v.path.exists() for v in videos), "listing videos must not draw them"
    video = videos[1]
    chunk = video.read(10, 30)
    assert video.path.exists() and not any(v.path.exists() for v in videos if v is not video)
    whole = read_all(video)
    np.testing.assert_array_equal(chunk, whole[10:30])
    np.testing.assert_array_equal(video.read(len(video) - 3, len(video)), whole[-3:])
    assert video.read(5, 5).shape == (0, 120, 160, 3)
    np.testing.assert_array_equal(np.concatenate([c for _, c in video.iter_chunks(17)]), whole)
    assert not isinstance(chunk, np.memmap) and chunk.flags.writeable  # a copy, not a view of the cache
    with pytest.raises(ValueError, match="out of range"):
        video.read(0, len(video) + 1)


def test_a_second_construction_reuses_the_cache(cache, monkeypatch):
    first = make(**SMALL)
    videos = first.videos("train") + first.videos("test")
    frames = [read_all(v) for v in videos]
    files = sorted(first.cache_path.iterdir())
    assert [f.name for f in files] == sorted(f"{v.id}.npy" for v in videos)  # no temporary files left behind
    stamps = {f: f.stat().st_mtime_ns for f in files}

    def no_drawing(*args, **kwargs):
        raise AssertionError("a cached video was drawn again")

    monkeypatch.setattr(avenue_module, "render_video", no_drawing)
    second = make(**SMALL)
    again = [read_all(v) for v in second.videos("train") + second.videos("test")]
    assert all(np.array_equal(a, b) for a, b in zip(frames, again))
    assert {f: f.stat().st_mtime_ns for f in sorted(second.cache_path.iterdir())} == stamps


def test_cache_folder_and_fingerprint(cache):
    base = make(**SMALL)
    fingerprint = base.fingerprint()
    assert fingerprint["generator"] == "synthetic-avenue"
    assert fingerprint["generator_version"] == GENERATOR_VERSION
    assert fingerprint["label_convention"] == "frame"
    assert {"seed", "n_train", "n_test", "frames_per_video", "height", "width", "crowd", "noise",
            "anomalies"} <= set(fingerprint)
    assert str(cache) not in repr(fingerprint)
    assert base.cache_path.parent == cache / "synthetic-avenue"
    assert base.cache_path.name != make(**{**SMALL, "seed": 1}).cache_path.name
    more_tests = make(**{**SMALL, "n_test": 5})
    assert more_tests.fingerprint() != fingerprint
    # Video i does not depend on how many videos there are, so their drawings are shared.
    assert more_tests.cache_path == base.cache_path
    np.testing.assert_array_equal(more_tests.videos("test")[2].labels, base.videos("test")[2].labels)


def test_unknown_view_split_and_bad_options_are_usage_errors(cache):
    dataset = make(**SMALL)
    with pytest.raises(UsageError, match="no view 'flow'") as error:
        dataset.videos("test", view="flow")
    assert "frames" in str(error.value)
    with pytest.raises(UsageError, match="no split 'tset'"):
        dataset.videos("tset")
    with pytest.raises(UsageError, match="n_test must be an integer >= 1"):
        build_config(SyntheticAvenue.Options, {}, None, {"n_test": "0"}, "--data-option", "synthetic-avenue")
    with pytest.raises(UsageError, match="bogus"):
        build_config(SyntheticAvenue.Options, {}, None, {"anomalies": "runner,bogus"}, "--data-option",
                     "synthetic-avenue")
    with pytest.raises(UsageError, match="label convention 'event'"):
        make(label_convention="event")
    options = build_config(SyntheticAvenue.Options, {}, None, {"anomalies": "runner,throw", "seed": "3"},
                           "--data-option", "synthetic-avenue")
    assert options.anomalies == ("runner", "throw") and options.seed == 3


def test_anomalies_option_limits_the_event_kinds(cache):
    test = make(anomalies=("runner",), **{**SMALL, "frames_per_video": 200}).videos("test")
    kinds = {e.kind for v in test for e in v.events}
    assert kinds == {"runner"}


def test_check_passes_and_reports_a_damaged_cache_file(cache):
    dataset = make(**SMALL)
    assert dataset.check() == []
    video = dataset.videos("train")[0]
    video.path.parent.mkdir(parents=True, exist_ok=True)
    np.save(video.path, np.zeros((3, 4), dtype=np.uint8))
    problems = dataset.check()
    assert len(problems) == 1 and str(video.path) in problems[0] and "delete it" in problems[0]
    with pytest.raises(DataError, match="delete the file"):
        video.read(0, 1)


# ---------------------------------------------------------------------------------------------------------------
# The anomalies are in the pixels: each event is drawn alone over the same crowd and noise, so the pixels that
# differ are the event's own; they must appear on its labelled frames only, and move as its kind does.


def _foreground_tracks(masks: np.ndarray, min_pixels: int = 12, max_step: float = 6.0) -> np.ndarray:
    """Per-frame displacements (dy, dx) of blobs matched to their mutual nearest blob in the next frame; blobs
    touching the left or right border are left out (their centroids move as they enter or leave)."""
    steps, previous = [], None
    for mask in masks:
        labels, count = ndimage.label(mask)
        centroids = []
        for index, blob in enumerate(ndimage.find_objects(labels), start=1):
            inside = labels[blob] == index
            if inside.sum() >= min_pixels and blob[1].start > 0 and blob[1].stop < mask.shape[1]:
                ys, xs = np.nonzero(inside)
                centroids.append((ys.mean() + blob[0].start, xs.mean() + blob[1].start))
        centroids = np.array(centroids).reshape(-1, 2)
        if previous is not None and len(previous) and len(centroids):
            distance = np.linalg.norm(centroids[:, None] - previous[None], axis=-1)
            for i, j in enumerate(distance.argmin(1)):
                if distance[:, j].argmin() == i and distance[i, j] < max_step:
                    steps.append(centroids[i] - previous[j])
        previous = centroids
    return np.array(steps).reshape(-1, 2)


def _centroids(masks: np.ndarray) -> np.ndarray:
    """Centroid (y, x) of each non-empty mask that does not touch the left or right border; NaN otherwise."""
    out = np.full((len(masks), 2), np.nan)
    for t, mask in enumerate(masks):
        if mask.any() and not mask[:, 0].any() and not mask[:, -1].any():
            ys, xs = np.nonzero(mask)
            out[t] = ys.mean(), xs.mean()
    return out


def test_every_anomaly_is_visible_on_its_labelled_frames_and_moves_as_its_kind(default_dataset):
    params, scene = default_dataset.generator_params, default_dataset.scene
    background = np.rint(scene.background).astype(np.int16)
    checked, crowd_during_events = set(), []
    for video in default_dataset.videos("test"):
        plan = plan_video(params, scene, "test", int(video.id.split("_")[1]))
        without_events = render_video(plan, scene, params, events=set()).astype(np.int16)
        # The sensor noise is bounded (< 6 grey levels a channel), so this threshold finds people and shadows only.
        crowd = np.abs(without_events - background).sum(-1) > 30
        walker_dx = np.median(_foreground_tracks(crowd)[:, 1])
        assert 0.4 < walker_dx < 1.5, walker_dx  # walkers go right at walking speed
        for index, event in enumerate(video.events):
            alone = render_video(plan, scene, params, events={index}).astype(np.int16)
            event_pixels = np.abs(alone - without_events).sum(-1) > 0
            shown = np.flatnonzero(event_pixels.any(axis=(1, 2)))
            span = np.arange(event.start, event.stop)
            # Labelled => visible (a few edge frames may show only an anti-aliasing fringe too faint to count).
            assert np.isin(span, shown).mean() >= 0.9, (video.id, event)
            if event.kind != "loiter":  # a loiterer arrives and leaves as a normal walker, unlabelled
                assert np.isin(shown, span).all(), f"{video.id}: {event.kind} visible outside its labelled frames"
            crowd_during_events.append(crowd[span].any(axis=(1, 2)))
            path = _centroids(event_pixels[span])
            step = np.diff(path, axis=0)
            step = step[~np.isnan(step).any(axis=1)]
            if len(step) < 5:  # cut by the start or end of the video while still at the border
                continue
            actor_dx = np.median(step[:, 1])
            if event.kind == "runner":
                assert actor_dx > 2.0 * walker_dx, (actor_dx, walker_dx)
            elif event.kind == "wrong-way":
                assert -2.0 * walker_dx < actor_dx < -0.5 * walker_dx, (actor_dx, walker_dx)
            elif event.kind == "throw":
                assert abs(actor_dx) > 2.0 * walker_dx, (actor_dx, walker_dx)
                heights = path[:, 0][~np.isnan(path[:, 0])]
                top = int(heights.argmin())
                assert heights[0] - heights[top] > 5 and 0 < top < len(heights) - 1  # it rises, then falls
            else:
                assert abs(actor_dx) < 0.3 * walker_dx, (actor_dx, walker_dx)
            checked.add(event.kind)
    assert checked == set(ANOMALY_KINDS)
    # Normal walkers are about during the events too: an anomaly is not just "someone is there".
    assert np.concatenate(crowd_during_events).mean() >= 0.8
