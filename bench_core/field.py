"""Field use: ``anobench score RUN_DIR SOURCE...`` scores new footage with a trained run, frame by frame as it
arrives, and raises alerts at the threshold set on the run's held-out normal footage (bench_core/calibration.py).

Frames go through the run's own preparation (``views._to_input``: the same resize and grey mix) and the run's own
detector, a batch of windows at a time from a ring buffer of ``batch + window - 1`` prepared frames, so memory does
not grow with the stream and, on a file a run scored, each batch is the very batch the run scored: the raw scores
are identical. Frames before the first full window take its score (the run's leading-frame rule).
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
import time
from collections import deque
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, List, Optional

import numpy as np
import typer

from bench_core import calibration, records
from bench_core.errors import DataError, RunFailed, UsageError
from bench_core.run_record import RunRecord
from bench_core.video_io import FrameFolderReader, natural_key

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".m4v")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
#: Frames decoded per read from a file: small, since a frame's latency includes waiting for its chunk.
FILE_CHUNK = 16
#: Seconds of score history drawn in the annotated video's curve.
CURVE_SECONDS = 10.0


# -- the run -----------------------------------------------------------------------------------------------------

@dataclass
class ScoringRun:
    """A trained run ready to score: its record, its detector with the checkpoint loaded, its normal scores."""

    path: Path
    record: RunRecord
    detector: object
    normal: calibration.NormalScores

    @property
    def spec(self):
        return self.detector.input_spec

    @property
    def batch(self) -> int:
        """Windows per detector call: the detector's own scoring batch, so a run's batches are reproduced."""
        return int(getattr(self.detector.config, "score_batch_size", 64))


def _recreate_hint(record: RunRecord) -> str:
    from bench_core.leaderboard import reproduce_command

    with_holdout = dataclasses.replace(record, calibration={"holdout": calibration.DEFAULT_HOLDOUT})
    out = Path(record.path).parents[2]
    return "train it again with a normal hold-out: " + reproduce_command(with_holdout, str(out))


def load_run(run_dir: Path, device: str = "cpu", poses: bool = False) -> ScoringRun:
    """The run in ``run_dir``; a folder without its record, checkpoint or normal scores is a one-line DataError.
    ``poses``: whether the footage comes with OpenPose JSON (--poses), which a skeleton-view run needs and a
    frames-view run refuses."""
    from bench_core.plugins import get_catalogue

    run_dir = Path(run_dir)
    if not records.is_complete(run_dir):
        raise DataError(f"{run_dir}: not a run folder (no {records.RECORD_FILE})",
                        hint="give the folder 'anobench run' wrote, OUT/<dataset>/<detector>/<run id>")
    record = records.load_record(run_dir)
    checkpoint = run_dir / (record.checkpoint or "checkpoint.pt")
    if not checkpoint.is_file():
        raise DataError(f"{checkpoint}: the run's checkpoint is missing (records copied without checkpoints?)",
                        hint=_recreate_hint(record))
    try:
        normal = calibration.NormalScores.read(run_dir / calibration.NORMAL_SCORES_FILE)
    except FileNotFoundError:
        raise DataError(f"{run_dir / calibration.NORMAL_SCORES_FILE}: the run has no normal-score statistics (it "
                        "held no footage out, or predates the hold-out)", hint=_recreate_hint(record)) from None
    name = record.detector.name
    detector_cls = get_catalogue().get("detector", name, "the run's detector").load()
    if str(detector_cls.version) != str(record.detector.version):
        raise DataError(f"{run_dir}: trained with {name} version {record.detector.version}, this is "
                        f"version {detector_cls.version}", hint=_recreate_hint(record))
    try:
        # The record keeps tuples as JSON lists; the config dataclasses want their tuples back.
        config = detector_cls.Config(**{k: tuple(v) if isinstance(v, list) else v
                                        for k, v in record.detector.config.items()})
    except (TypeError, ValueError) as exc:
        raise DataError(f"{run_dir / records.RECORD_FILE}: its {name} config does not fit this version: {exc}",
                        hint=_recreate_hint(record)) from None
    detector = detector_cls(config, device=device, seed=record.seed)
    detector.load(checkpoint)
    view = detector.input_spec.view
    if view != "frames" and not poses:
        raise UsageError(f"{run_dir}: trained on the '{view}' view, which reads poses per frame, not pixels",
                         hint="give the footage's OpenPose JSON (one file per frame) with --poses DIR")
    if view == "frames" and poses:
        # Refused rather than ignored: a user who gives poses expects them to be used.
        raise UsageError(f"--poses: {run_dir} was trained on the frames view, which reads pixels only",
                         hint="leave out --poses, or score with a run trained on the skeleton view")
    return ScoringRun(run_dir, record, detector, normal)


# -- sources -----------------------------------------------------------------------------------------------------

@dataclass
class Source:
    """One thing to score: a video file, a folder of frame images, or a stream PyAV opens."""

    name: str
    target: str
    kind: str  # "file", "frames" or "stream"

    @property
    def live(self) -> bool:
        return self.kind == "stream"


def _is_stream(text: str) -> bool:
    return text == "-" or "://" in text or text.startswith("/dev/")


def _images(folder: Path) -> list[Path]:
    # The order video-folder reads a frame folder in, so a run's own frame-folder test video scores as in the run.
    return sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                   and not p.name.startswith(".")), key=lambda p: natural_key(p.name))


def expand_sources(arguments: list[str]) -> list[Source]:
    """Every source the arguments name; a folder gives its videos and frame folders (sorted by name)."""
    found: list[Source] = []
    for text in arguments:
        if _is_stream(text):
            name = "stdin" if text == "-" else "".join(c if c.isalnum() or c in "-_." else "_"
                                                     for c in text.split("://")[-1]).strip("_")
            found.append(Source(name or "stream", text, "stream"))
            continue
        path = Path(text)
        if path.is_file():
            found.append(Source(path.stem, str(path), "file"))
        elif path.is_dir():
            if _images(path):
                found.append(Source(path.name, str(path), "frames"))
                continue
            inside = [Source(p.stem, str(p), "file") for p in sorted(path.iterdir())
                      if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES]
            inside += [Source(p.name, str(p), "frames") for p in sorted(path.iterdir()) if p.is_dir() and _images(p)]
            if not inside:
                raise DataError(f"SOURCE {path}: holds no video files ({', '.join(VIDEO_SUFFIXES)}) and no folders "
                                "of frame images", hint="give a video file, a folder of them, or a stream URL")
            found += inside
        else:
            raise DataError(f"SOURCE {path}: no such file or folder",
                            hint="give a video file, a folder, a stream URL, or - for standard input")
    names: dict[str, int] = {}
    for source in found:  # two sources of one name would write one scores file
        names[source.name] = names.get(source.name, 0) + 1
        if names[source.name] > 1:
            source.name = f"{source.name}-{names[source.name]}"
    return found


class _Frames:
    """A source's RGB frames as (n, H, W, 3) uint8 chunks, with its frame rate. ``error`` is set when a stream
    broke off (the chunks before it are good)."""

    def __init__(self, source: Source, stall_seconds: float):
        self.source = source
        self.error: str | None = None
        #: Frame count and size, known before decoding for a file or a frame folder; None for a stream.
        self.n_frames = self.height = self.width = None
        if source.kind == "file":
            from bench_core.video_io import BACKEND_ENV, open_video

            # PyAV unless ANOBENCH_VIDEO_BACKEND says otherwise: decord's memory grows with the length of the file
            # read (756 -> 1,103 MiB peak RSS from 750 to 1,500 frames; PyAV: 420 MiB for both), and on the files
            # runs read both give the same pixels (tests/test_score.py compares with a run that used decord).
            self._reader = open_video(source.target, None if os.environ.get(BACKEND_ENV) else "pyav")
            self.fps = float(self._reader.fps or 25.0)
            self.n_frames, self.height, self.width = self._reader.n_frames, self._reader.height, self._reader.width
        elif source.kind == "frames":  # read as video-folder reads a frame folder, through the same reader
            self._reader = FrameFolderReader(_images(Path(source.target)), 25.0)
            self.fps = self._reader.fps
            self.n_frames, self.height, self.width = self._reader.n_frames, self._reader.height, self._reader.width
        else:
            import av

            try:
                if source.target == "-":
                    self._container = av.open(sys.stdin.buffer, mode="r")
                else:  # a network source that sends nothing for stall_seconds ends with an error
                    self._container = av.open(source.target, mode="r", timeout=(stall_seconds, stall_seconds))
                stream = self._container.streams.video[0]
            except (IndexError, av.error.FFmpegError, OSError) as exc:
                raise DataError(f"SOURCE {source.target}: cannot be opened as a video stream "
                                f"({type(exc).__name__}: {exc})", hint="check the URL, device or piped data") from None
            stream.thread_type = "AUTO"
            self.fps = float(stream.average_rate or stream.guessed_rate or 25.0)

    def chunks(self) -> Iterator[np.ndarray]:
        if self.source.kind in ("file", "frames"):
            reader = self._reader
            for start in range(0, reader.n_frames, FILE_CHUNK):
                try:
                    yield reader.read(start, min(start + FILE_CHUNK, reader.n_frames))
                except DataError as exc:
                    self.error = exc.message
                    return
                except Exception as exc:  # noqa: BLE001 - decord's own errors: a damaged file, cut short
                    self.error = f"{type(exc).__name__}: {exc}"
                    return
        else:
            import av

            try:
                for frame in self._container.decode(video=0):
                    yield frame.to_ndarray(format="rgb24")[None]
            except (av.error.FFmpegError, OSError) as exc:
                self.error = f"{type(exc).__name__}: {exc}"
            finally:
                self._container.close()


# -- poses (the skeleton view) ----------------------------------------------------------------------------------

def pose_folder(poses: Path, source: Source, n_sources: int) -> Path:
    """Where ``source``'s OpenPose JSON is: ``poses/<source name>/`` when that folder exists (one subfolder per
    source, the layout of ``video-folder``'s ROOT/poses/<video>/), else ``poses`` itself for a single source."""
    if (poses / source.name).is_dir():
        return poses / source.name
    if n_sources == 1:
        return poses
    raise DataError(f"--poses {poses}: no folder '{source.name}' for SOURCE {source.target}",
                    hint="with several sources, --poses names a folder holding one subfolder of OpenPose JSON per "
                         "source, named as the source (as ROOT/poses/<video>/ of video-folder)")


def skeleton_maps(run: ScoringRun, folder: Path, frames: "_Frames") -> Callable[[int, int], np.ndarray]:
    """``maps(start, stop)``: the skeleton maps (uint8 (n, 28, 28, 1)) of a source's frames ``start:stop``, drawn
    from ``folder``'s OpenPose JSON (one file per frame, in natural order) exactly as the run's dataset drew them:
    the industrial pipeline (OpenPose parsing, main-person tracking, the renderer) with the skeleton options the
    run's fingerprint records. The whole track is read first, since a crop centre may come from a later frame."""
    from anobench_industrial.dataset import SKELETON_VERSION, IndustrialOptions, Probe, skeleton_renderer
    from anobench_formats.openpose import read_people
    from anobench_industrial.tracking import track_main_person
    from anobench_videofolder.dataset import pose_files

    drawn = (run.record.dataset.fingerprint or {}).get("skeleton")
    if not isinstance(drawn, dict):
        raise DataError(f"{run.path / records.RECORD_FILE}: does not say how its skeleton maps were drawn (dataset "
                        f"'{run.record.dataset.name}')", hint="score runs on industrial or video-folder data")
    if str(drawn.get("version")) != SKELETON_VERSION:
        raise DataError(f"{run.path}: its skeleton maps are version {drawn.get('version')}, this anobench draws "
                        f"version {SKELETON_VERSION}", hint=_recreate_hint(run.record))
    if frames.height is None:
        raise DataError(f"SOURCE {frames.source.target}: its first frame cannot be decoded",
                        hint="the image may be truncated")
    files = pose_files(folder)
    if len(files) != frames.n_frames:
        raise DataError(f"--poses {folder}: {len(files)} JSON files for the {frames.n_frames} frames of SOURCE "
                        f"{frames.source.target}", hint="OpenPose --write_json writes one file per frame")
    options = IndustrialOptions(line_width=drawn["line_width"], threshold=drawn["threshold"],
                                min_confidence=drawn["min_confidence"])
    track = track_main_person((read_people(path) for path in files), frames.height, options.min_confidence)
    renderer = skeleton_renderer(Probe(frames.n_frames, frames.fps, frames.height, frames.width), options)
    return lambda start, stop: renderer.render_track(track, start, stop)


# -- scoring -----------------------------------------------------------------------------------------------------

class WindowScorer:
    """Prepared frames in, per-frame raw scores out, a batch of windows at a time.

    A ring buffer holds the last ``window - 1`` frames and the frames of the next batch; once a batch of windows is
    complete it goes to ``detector.score`` and only the last ``window - 1`` frames are kept. ``push`` returns the
    raw scores of the frames it completed, in frame order."""

    def __init__(self, run: ScoringRun, fps: float, batch: int | None = None):
        from bench_core.views import PreparedVideo

        self._make = PreparedVideo
        self._detector, self._fps = run.detector, fps
        self.window, self.batch = run.spec.window, batch or run.batch
        spec = run.spec
        self._buffer = np.empty((self.batch + self.window - 1, spec.channels, spec.height, spec.width), np.uint8)
        self._filled = 0  # frames in the buffer
        self._seen = 0  # frames pushed in all
        self._detector.begin_stream()  # a detector with state across windows (srnn) keeps one chain per source

    def push(self, frames: np.ndarray) -> np.ndarray:
        out = []
        for frame in frames:
            self._buffer[self._filled] = frame
            self._filled += 1
            self._seen += 1
            if self._filled == len(self._buffer):
                out.append(self._score_buffer())
        return np.concatenate(out) if out else np.empty(0)

    def finish(self) -> np.ndarray:
        """Score what is left: the last, shorter batch (or the one padded window of a stream shorter than one)."""
        try:
            if self._seen == 0 or (self._seen >= self.window and self._filled < self.window):
                return np.empty(0)
            return self._score_buffer()
        finally:
            self._detector.end_stream()

    def _score_buffer(self) -> np.ndarray:
        from bench_core.progress import Progress

        first_batch = self._seen == self._filled
        video = self._make("stream", self._buffer[:self._filled], self._fps)
        window_scores = np.asarray(self._detector.score(video, Progress()), dtype=np.float64)
        if not np.all(np.isfinite(window_scores)):
            raise RunFailed(f"the detector gave a non-finite score near frame {self._seen}",
                            hint="the run's model may be damaged; train it again")
        keep = self.window - 1
        if keep:
            self._buffer[:keep] = self._buffer[self._filled - keep:self._filled]
        self._filled = keep
        if first_batch:  # the leading-frame rule: frames before the first full window take its score
            lead = min(keep, self._seen - 1) if self._seen >= self.window else self._seen - 1
            window_scores = np.concatenate([np.full(lead, window_scores[0]), window_scores])
        return window_scores


@dataclass
class ScoreOptions:
    false_alarm_rate: float = calibration.DEFAULT_FALSE_ALARM_RATE
    threshold: Optional[float] = None  # in score units; overrides the false-alarm rate
    min_event_frames: int = 1
    merge_gap: int = 0
    max_seconds: Optional[float] = None  # seconds of footage per stream
    stall_seconds: float = 10.0
    annotate: bool = False
    #: Windows per detector call; None: the detector's own scoring batch (raw scores identical to a run's). Fewer
    #: lower the latency on a live stream; the raw scores may then differ from a run's in the last bits.
    batch_windows: Optional[int] = None


def threshold_of(run: ScoringRun, options: ScoreOptions) -> tuple[float, str]:
    """The alert threshold in score units (train-stats), and the rule that set it."""
    if options.threshold is not None:
        return float(options.threshold), "--threshold (score units: 0 = normal median, 1 = normal 99th percentile)"
    rate = options.false_alarm_rate
    raw = run.normal.raw_threshold(rate)
    return float(run.normal.normalise(raw)), (
        f"false-alarm rate {rate:g}: the {1 - rate:g} quantile of {run.normal.n} held-out normal window scores")


@dataclass
class SourceResult:
    source: str
    n_frames: int
    fps: float
    scores_file: str
    events: list = field(default_factory=list)
    error: str | None = None
    annotated: str | None = None


def score_source(run: ScoringRun, source: Source, out: Path, threshold: float, options: ScoreOptions,
                 on_event: Callable[[str, str, calibration.Event, float], None] | None = None,
                 on_scored: Callable[[int, float], None] | None = None, poses: Path | None = None) -> SourceResult:
    """Score one source into ``out/<name>.csv``; ``on_event(source, "start"|"end", event, fps)`` as events happen,
    ``on_scored(n_frames, arrival_time)`` per scored frame (for latency measurements). ``poses``: the source's
    OpenPose JSON folder, for a run on the skeleton view (the frames then give only their count and size)."""
    from bench_core.views import _to_input

    frames = _Frames(source, options.stall_seconds)
    maps = None if poses is None else skeleton_maps(run, poses, frames)
    fps = frames.fps
    scorer = WindowScorer(run, fps, options.batch_windows)
    tracker = calibration.EventTracker(options.min_event_frames, options.merge_gap)
    events: list[calibration.Event] = []
    max_frames = math.inf if options.max_seconds is None or not source.live else int(options.max_seconds * fps)
    out.mkdir(parents=True, exist_ok=True)
    scores_path = out / f"{source.name}.csv"
    annotator = _Annotator(out / f"{source.name}.annotated.mp4", fps, threshold) if options.annotate else None
    arrivals: deque = deque()  # (arrival time) of frames pushed but not yet scored: at most batch + window
    pending_rgb: deque = deque()  # the same frames' pictures, for --annotate
    n_scored = 0

    def emit(raw_scores: np.ndarray, handle) -> None:
        nonlocal n_scored
        normalised = run.normal.normalise(raw_scores)
        lines = []
        for raw, score in zip(raw_scores.tolist(), normalised.tolist()):
            frame = n_scored
            alert = score > threshold
            lines.append(f"{frame},{frame / fps:.4f},{raw!r},{score:.6g},{int(alert)}\n")
            for what, event in tracker.push(frame, alert, score):
                if what == "end":
                    events.append(event)
                if on_event is not None:
                    on_event(source.name, what, event, fps)
            arrived = arrivals.popleft()
            if on_scored is not None:
                on_scored(frame, arrived)
            if annotator is not None:
                annotator.add(pending_rgb.popleft(), score, alert)
            n_scored += 1
        handle.write("".join(lines))

    with open(scores_path, "w", encoding="utf-8") as handle:
        handle.write("frame,time_s,raw_score,score,alert\n")
        try:
            for chunk in frames.chunks():
                now = time.perf_counter()
                pushed = n_scored + len(arrivals)
                room = max_frames - pushed
                if room <= 0:
                    break
                chunk = chunk[:room] if room < len(chunk) else chunk
                arrivals.extend([now] * len(chunk))
                if annotator is not None:
                    pending_rgb.extend(chunk)
                inputs = chunk if maps is None else maps(pushed, pushed + len(chunk))
                emit(scorer.push(_to_input(inputs, run.spec)), handle)
            emit(scorer.finish(), handle)
        except KeyboardInterrupt:  # a watched stream stopped by hand: keep what was scored
            emit(scorer.finish(), handle)
        for what, event in tracker.finish():
            events.append(event)
            if on_event is not None:
                on_event(source.name, what, event, fps)
    if annotator is not None:
        annotator.close()
    if n_scored == 0 and frames.error is None:
        frames.error = "no frames"
    return SourceResult(source.name, n_scored, fps, str(scores_path), events, frames.error,
                        str(annotator.path) if annotator is not None else None)


# -- the annotated video -----------------------------------------------------------------------------------------

class _Annotator:
    """Each frame with the recent score curve drawn under it, the threshold as a line, and a red border while the
    frame alerts (numpy drawing; PyAV encodes H.264, or MPEG-4 where libx264 is missing)."""

    def __init__(self, path: Path, fps: float, threshold: float):
        self.path, self.fps, self.threshold = path, fps, threshold
        self._history: deque = deque(maxlen=max(int(CURVE_SECONDS * fps), 2))
        self._container = None

    def _open(self, height: int, width: int) -> None:
        import av

        self._container = av.open(str(self.path), mode="w")
        for codec in ("libx264", "mpeg4"):
            try:
                self._stream = self._container.add_stream(codec, rate=round(self.fps) or 25)
                break
            except (ValueError, av.error.FFmpegError):
                continue
        self._stream.width, self._stream.height = width + width % 2, height + self._strip(height) + height % 2
        self._stream.pix_fmt = "yuv420p"

    @staticmethod
    def _strip(height: int) -> int:
        return max(height // 4, 32) // 2 * 2

    def add(self, rgb: np.ndarray, score: float, alert: bool) -> None:
        import av

        height, width = rgb.shape[:2]
        if self._container is None:
            self._open(height, width)
        self._history.append(score)
        canvas = np.zeros((self._stream.height, self._stream.width, 3), np.uint8)
        canvas[:height, :width] = rgb
        if alert:
            border = max(height // 60, 2)
            for part in (canvas[:border, :width], canvas[height - border:height, :width],
                         canvas[:height, :border], canvas[:height, width - border:width]):
                part[:] = (255, 0, 0)
        self._draw_curve(canvas[height:, :width])
        for packet in self._stream.encode(av.VideoFrame.from_ndarray(canvas, format="rgb24")):
            self._container.mux(packet)

    def _draw_curve(self, strip: np.ndarray) -> None:
        strip[:] = 24
        h, w = strip.shape[:2]
        values = np.asarray(self._history, dtype=np.float64)
        top = max(float(values.max()), self.threshold * 1.5, 1e-9)
        bottom = min(float(values.min()), 0.0)

        def row(v):
            return np.clip(((top - v) / (top - bottom) * (h - 1)).round().astype(int), 0, h - 1)

        strip[int(row(np.array([self.threshold]))[0]), :] = (200, 200, 0)
        xs = np.linspace(0, w - 1, self._history.maxlen).round().astype(int)[-len(values):]
        ys = row(values)
        colours = np.where((values > self.threshold)[:, None], [[255, 60, 60]], [[90, 200, 255]])
        for dy in (-1, 0, 1):
            strip[np.clip(ys + dy, 0, h - 1), xs] = colours

    def close(self) -> None:
        if self._container is None:
            return
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()


# -- outputs -----------------------------------------------------------------------------------------------------

EVENT_FIELDS = ("source", "start", "stop", "start_s", "stop_s", "peak_score")


def event_row(source: str, event: calibration.Event, fps: float) -> dict:
    return {"source": source, "start": event.start, "stop": event.stop, "start_s": round(event.start / fps, 4),
            "stop_s": round(event.stop / fps, 4), "peak_score": round(event.peak_score, 6)}


def write_events(out: Path, results: list[SourceResult]) -> None:
    rows = [event_row(r.source, e, r.fps) for r in results for e in r.events]
    with open(out / "events.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, EVENT_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    records.atomic_write_bytes(out / "events.jsonl", "".join(json.dumps(row) + "\n" for row in rows).encode())


def summary(run: ScoringRun, threshold: float, rule: str, results: list[SourceResult]) -> dict:
    return {
        "run_id": run.record.run_id, "threshold": threshold, "threshold_rule": rule,
        "sources": [{"source": r.source, "n_frames": r.n_frames, "fps": r.fps, "scores_file": r.scores_file,
                     "events": [{"start": e.start, "stop": e.stop, "peak_score": e.peak_score} for e in r.events],
                     **({"annotated": r.annotated} if r.annotated else {})} for r in results],
    }


# -- the command -------------------------------------------------------------------------------------------------

def cmd_score(
    run_dir: Path = typer.Argument(..., metavar="RUN_DIR",
                                   help="A run folder written by 'anobench run' (OUT/dataset/detector/id)."),
    sources: List[str] = typer.Argument(..., metavar="SOURCE", help="Video files, folders of videos or frame folders, stream URLs "
                                                  "(rtsp://, http://), devices (/dev/video0), or - for stdin."),
    false_alarm_rate: float = typer.Option(calibration.DEFAULT_FALSE_ALARM_RATE, "--false-alarm-rate",
                                           help="Threshold = the (1 - R) quantile of the run's normal scores."),
    threshold: Optional[float] = typer.Option(None, "--threshold", help="Alert above this score instead (score "
                                              "units: 0 = normal median, 1 = normal 99th percentile)."),
    min_event_frames: int = typer.Option(1, "--min-event-frames", min=1, help="Shortest event, in frames."),
    merge_gap: int = typer.Option(0, "--merge-gap", min=0, help="Alert runs this many frames apart are one event."),
    out: Path = typer.Option(Path("anobench-score"), "--out", help="Folder for <source>.csv and events.csv/.jsonl."),
    max_seconds: Optional[float] = typer.Option(None, "--max-seconds", min=0,
                                                help="Stop a stream after this many seconds of footage."),
    annotate: bool = typer.Option(False, "--annotate", help="Also write <source>.annotated.mp4: the footage with "
                                                            "the score curve and alert frames marked."),
    batch_windows: Optional[int] = typer.Option(None, "--batch-windows", min=1, help="Windows per detector call "
                                                "(default: the detector's own batch, which reproduces a run's raw "
                                                "scores exactly); fewer lower a live stream's latency."),
    poses: Optional[Path] = typer.Option(None, "--poses", help="OpenPose JSON, one file per frame, for a run on "
                                         "the skeleton view: the files of one source, or one subfolder per source "
                                         "named as the source."),
    device: str = typer.Option("cpu", "--device", help="auto, cpu or cuda."),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON on stdout."),
) -> None:
    """Score new footage with a trained run: per-frame scores, alerts at a threshold set on normal data, events."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from bench_core.run import resolve_device

    if not 0 < false_alarm_rate < 1:
        raise UsageError(f"--false-alarm-rate {false_alarm_rate:g} is not a rate", hint="give a number in (0, 1)")
    if threshold is not None and not math.isfinite(threshold):
        raise UsageError(f"--threshold {threshold} is not a finite number")
    options = ScoreOptions(false_alarm_rate, threshold, min_event_frames, merge_gap, max_seconds,
                           annotate=annotate, batch_windows=batch_windows)
    found = expand_sources(list(sources))
    if poses is not None:
        live = next((source for source in found if source.live), None)
        if live is not None:
            raise UsageError(f"--poses cannot come with the live stream {live.target}",
                             hint="poses are read from files: score a recorded video with its OpenPose JSON")
        if not poses.is_dir():
            raise DataError(f"--poses {poses}: no such folder", hint="give the folder of OpenPose --write_json output")
    run = load_run(run_dir, resolve_device(device), poses is not None)
    pose_folders = [None if poses is None else pose_folder(poses, source, len(found)) for source in found]
    level, rule = threshold_of(run, options)
    err = Console(stderr=True, soft_wrap=True)

    def on_event(name: str, what: str, event: calibration.Event, fps: float) -> None:
        if what == "start":
            err.print(f"[bold red]alert[/] {escape(name)}: event starts at frame {event.start} "
                      f"({event.start / fps:.2f} s)", highlight=False)
        else:
            err.print(f"[green]clear[/] {escape(name)}: event {event.start}-{event.stop} ended "
                      f"({event.stop / fps:.2f} s), peak score {event.peak_score:.3g}", highlight=False)

    results = []
    for source, folder in zip(found, pose_folders):
        results.append(score_source(run, source, out, level, options, on_event if source.live else None,
                                    poses=folder))
        if results[-1].error is not None:
            break
    write_events(out, results)
    if as_json:
        typer.echo(json.dumps(summary(run, level, rule, results), indent=2))
    else:
        table = Table(title=f"{run.record.detector.name} run {run.record.run_id}: threshold {level:.3g} "
                            f"({rule})")
        for column in ("source", "frames", "fps", "events", "scores file"):
            table.add_column(column, justify="right" if column in ("frames", "fps", "events") else "left")
        for r in results:
            table.add_row(escape(r.source), str(r.n_frames), f"{r.fps:g}", str(len(r.events)), escape(r.scores_file))
        Console(soft_wrap=True).print(table)
        err.print(f"events: {out / 'events.csv'}", highlight=False)
    broken = next((r for r in results if r.error is not None), None)
    if broken is not None and broken.n_frames == 0:
        # A pipe cannot seek: an MP4 or MOV keeps its index at the end, where a pipe never goes back to.
        hint = ("a pipe needs a container that can be read front to back (MPEG-TS, MKV, AVI, or an MP4 written "
                "with -movflags frag_keyframe); give a file's path instead" if broken.source == "stdin"
                else "check that it is a video file, a frame folder or a stream")
        raise DataError(f"SOURCE {broken.source}: cannot be decoded: {broken.error}", hint=hint)
    if broken is not None:
        raise RunFailed(f"SOURCE {broken.source}: stopped after {broken.n_frames} frames: {broken.error}",
                        hint=f"what was scored is in {broken.scores_file}")
