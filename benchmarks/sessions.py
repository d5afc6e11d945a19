"""Concurrent real-time lip-sync sessions on one core: CPU, memory and sync offset per session.

    python -m benchmarks.sessions --sessions 5 --duration 10      # one step: exactly 5 sessions
    python -m benchmarks.sessions --duration 30 --json sessions.json   # capacity search

Each session is one ``avsync.open_synchronizer(SyncConfig(width=1280, height=720, fps=30,
sample_rate=48000, channels=1))`` fed by a simulated real-time provider: 20 ms chunks of 48 kHz
mono int16 audio, chunk k written at start + k * 0.02 s, and 1280x720 yuv420p frames already at
the output size, frame i written at start + i / 30 s with pts = i / 30 (the audio's media time
starts at 0 with the first sample), both with ``trio.sleep_until``. A handful of frames is made
once and reused, so the figures are the synchroniser's cost, not frame generation. Two consumer
tasks per session drain ``sync.audio_frames()`` and ``sync.video_frames()`` and only count. The
whole run is one long utterance: one turn, ``end_audio()`` is never called. Session starts are
spread over the first second (seeded), so their 20 ms clocks and 33 ms frames fall at assorted
phases, as independent calls do.

Everything runs on the real clock (no MockClock), in one trio run, so on one core. Per step:

- CPU: process CPU time over the steady-state window (``--duration`` seconds after ``--warmup``)
  divided by its wall time: % of one core in total and per session;
- memory: resident set size before the sessions start and at the end of the window, per session;
- sync: each session's ``stats()`` at the end of the window: p99 and max of (emit time - due
  time) over new frames (since the session started), frames dropped late, and audio underrun
  split into start-up (before the window) and steady state (inside it);
- baseline, same process, same number of sessions: the same providers and counting consumers
  with no synchroniser (the provider writes into two trio memory channels that the consumers
  drain), for ``--baseline-duration`` seconds. The report gives the synchroniser's net cost and
  its ratio to the baseline: the machine is shared and noisy, ratios travel better than absolutes;
- noise: in both runs a probe task wakes every 10 ms and its lateness (p99) is reported, with the
  process's involuntary context switches (other load preempting it).

A step passes when every session has p99 offset <= 5 ms and no underrun in the steady window.
Without ``--sessions``, a capacity search runs 25, 50, 100, ... sessions (doubling while steps
pass, up to ``--max-sessions``), then bisects between the last pass and the first failure; each
step runs in a fresh child process (``--sessions N``), so memory does not carry over. A failing
step is run again, up to ``--attempts`` times (default 2), and passes if any run passes: machine
noise only ever makes a step fail. Every run is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import av
import numpy as np
import numpy.typing as npt
import trio

import avsync

from .baseline import open_baseline as open_enqueue_time_baseline

CONFIG = avsync.SyncConfig(width=1280, height=720, fps=30, sample_rate=48000, channels=1)
CHUNKS_PER_S = 50  # 20 ms audio chunks
FPS = 30
CHUNK_SAMPLES = CONFIG.sample_rate // CHUNKS_PER_S
FRAME_VARIANTS = 4
OFFSET_LIMIT_MS = 5.0
SETUP_S = 0.5  # from the start of the trio run to the window in which sessions start
STAGGER_S = 1.0  # session starts are spread over this
TAIL_S = 0.5  # providers keep writing this long after the window, so it ends under full load
PROBE_S = 0.01  # the loop-lag probe wakes this often
CHANNEL_CAPACITY = 16  # the baseline's memory channels
SEARCH_FIRST = 25
SEED = 20240601
ROOT = Path(__file__).resolve().parent.parent

Samples = npt.NDArray[np.int16]


# -- media and endpoints ------------------------------------------------------------------------


@attrs.frozen
class Media:
    """What every provider writes: one audio chunk and a few frames, made once and reused."""

    audio: Samples
    frames: tuple[av.VideoFrame, ...]


def make_media() -> Media:
    t = np.arange(CHUNK_SAMPLES) / CONFIG.sample_rate
    audio = (8000 * np.sin(2 * np.pi * 200 * t)).astype(np.int16)  # 4 whole periods
    width, height = CONFIG.width, CONFIG.height
    frames = []
    for variant in range(FRAME_VARIANTS):
        image = np.full((height * 3 // 2, width), 128, np.uint8)
        image[:height] = 40 + 40 * variant
        frames.append(av.VideoFrame.from_ndarray(image, format="yuv420p"))
    return Media(audio, tuple(frames))


@attrs.frozen
class Endpoint:
    """What a provider writes into and the consumers read from."""

    write_audio: Callable[[Samples], Awaitable[None]]
    write_video: Callable[[av.VideoFrame, float], Awaitable[None]]
    audio_out: trio.abc.ReceiveChannel[Any]
    video_out: trio.abc.ReceiveChannel[Any]
    finish: Callable[[], Awaitable[None]]  #: no more writes: the outputs end
    stats: Callable[[], avsync.Stats] | None


Opener = Callable[[], AbstractAsyncContextManager[Endpoint]]


def _endpoint(sync: Any, stats: Callable[[], avsync.Stats] | None) -> Endpoint:
    """An endpoint over a synchroniser with avsync's write/output/close methods."""

    async def write_video(frame: av.VideoFrame, pts: float) -> None:
        await sync.write_video(frame, pts=pts)

    return Endpoint(
        sync.write_audio, write_video, sync.audio_frames(), sync.video_frames(), sync.aclose, stats
    )


@asynccontextmanager
async def open_avsync() -> AsyncIterator[Endpoint]:
    async with avsync.open_synchronizer(CONFIG) as sync:
        yield _endpoint(sync, sync.stats)


@asynccontextmanager
async def open_enqueue_time() -> AsyncIterator[Endpoint]:
    """The enqueue-time baseline synchroniser (:mod:`benchmarks.baseline`)."""
    async with open_enqueue_time_baseline(fps=CONFIG.fps, sample_rate=CONFIG.sample_rate) as sync:
        yield _endpoint(sync, None)


@asynccontextmanager
async def open_baseline() -> AsyncIterator[Endpoint]:
    audio_send, audio_receive = trio.open_memory_channel[Samples](CHANNEL_CAPACITY)
    video_send, video_receive = trio.open_memory_channel[tuple[av.VideoFrame, float]](
        CHANNEL_CAPACITY
    )

    async def write_video(frame: av.VideoFrame, pts: float) -> None:
        await video_send.send((frame, pts))

    async def finish() -> None:
        await audio_send.aclose()
        await video_send.aclose()

    yield Endpoint(audio_send.send, write_video, audio_receive, video_receive, finish, None)


OPENERS: dict[str, Opener] = {
    "baseline": open_baseline,
    "enqueue-time": open_enqueue_time,
    "avsync": open_avsync,
}


# -- one session --------------------------------------------------------------------------------


@attrs.define
class Tally:
    count: int = 0


@attrs.define
class Session:
    """One session's record, filled in while it runs."""

    stats: Callable[[], avsync.Stats] | None = None
    started: bool = False
    audio: Tally = attrs.Factory(Tally)
    video: Tally = attrs.Factory(Tally)
    at_warm: avsync.Stats | None = None
    at_end: avsync.Stats | None = None

    def snapshot(self) -> avsync.Stats | None:
        return None if self.stats is None else self.stats()


async def provide(endpoint: Endpoint, media: Media, start: float, stop_at: float) -> None:
    """Write audio chunk k at start + k / 50 and frame i at start + i / 30 (audio first when
    both fall due together) until ``stop_at``."""
    chunk = frame = 0
    while True:
        audio_first = chunk * FPS <= frame * CHUNKS_PER_S  # exact: chunk / 50 <= frame / 30
        at = start + (chunk / CHUNKS_PER_S if audio_first else frame / FPS)
        if at >= stop_at:
            return
        await trio.sleep_until(at)
        if audio_first:
            await endpoint.write_audio(media.audio)
            chunk += 1
        else:
            await endpoint.write_video(media.frames[frame % len(media.frames)], frame / FPS)
            frame += 1


async def drain(channel: trio.abc.ReceiveChannel[Any], tally: Tally) -> None:
    async for _ in channel:
        tally.count += 1


async def run_session(
    opener: Opener, media: Media, start_at: float, stop_at: float, session: Session
) -> None:
    await trio.sleep_until(start_at)
    async with opener() as endpoint:
        session.stats = endpoint.stats
        session.started = True
        async with trio.open_nursery() as nursery:
            nursery.start_soon(drain, endpoint.audio_out, session.audio)
            nursery.start_soon(drain, endpoint.video_out, session.video)
            await provide(endpoint, media, trio.current_time(), stop_at)
            await endpoint.finish()


# -- a fleet of sessions ------------------------------------------------------------------------


@attrs.frozen
class Plan:
    """When sessions start, and the steady-state window (trio clock)."""

    origin: float
    warmup: float
    duration: float
    starts: tuple[float, ...]

    @classmethod
    def make(cls, origin: float, count: int, warmup: float, duration: float) -> Plan:
        rng = random.Random(SEED)
        starts = tuple(origin + rng.random() * STAGGER_S for _ in range(count))
        return cls(origin, warmup, duration, starts)

    @property
    def warm_at(self) -> float:
        return self.origin + self.warmup

    @property
    def end_at(self) -> float:
        return self.warm_at + self.duration

    @property
    def stop_at(self) -> float:
        return self.end_at + TAIL_S


@attrs.frozen
class Window:
    started: int  #: sessions running when the window opened
    cpu_s: float
    wall_s: float
    rss_mb: float
    preemptions: int  #: involuntary context switches of the process: machine noise


class Progress:
    """A one-line text progress bar on stderr, redrawn each second."""

    WIDTH = 30

    def __init__(self, label: str, total_s: float) -> None:
        self.label = label
        self.total_s = total_s

    def update(self, elapsed_s: float, load: float) -> None:
        filled = min(self.WIDTH, round(self.WIDTH * elapsed_s / self.total_s))
        bar = "#" * filled + "." * (self.WIDTH - filled)
        print(
            f"\r  {self.label} [{bar}] {elapsed_s:4.0f}/{self.total_s:.0f} s"
            f"  CPU {100 * load:5.1f}% of a core ",
            end="",
            file=sys.stderr,
            flush=True,
        )

    def done(self) -> None:
        print(file=sys.stderr, flush=True)


async def snapshot_all(sessions: Sequence[Session], warm: bool) -> None:
    """Each session's stats, with a checkpoint in between so as not to stall the sessions."""
    for session in sessions:
        if warm:
            session.at_warm = session.snapshot()
        else:
            session.at_end = session.snapshot()
        await trio.lowlevel.checkpoint()


async def probe_lag(plan: Plan, lags: list[float]) -> None:
    """How late the event loop wakes a task that sleeps until the next PROBE_S tick, over the
    window: scheduling delay that every session sees, with or without avsync."""
    ticks = 1
    await trio.sleep_until(plan.warm_at)
    while (at := plan.warm_at + ticks * PROBE_S) < plan.end_at:
        await trio.sleep_until(at)
        lags.append(trio.current_time() - at)
        ticks += 1


async def watch(plan: Plan, sessions: Sequence[Session], progress: Progress) -> Window:
    """Snapshot every session at the start and end of the window; measure CPU in between."""
    await trio.sleep_until(plan.warm_at)
    await snapshot_all(sessions, warm=True)
    started = sum(session.started for session in sessions)
    preempted_start = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    cpu_last, wall_last = cpu_start, wall_start
    second = 1
    while (at := min(plan.warm_at + second, plan.end_at)) < plan.end_at:
        await trio.sleep_until(at)
        cpu, wall = time.process_time(), time.perf_counter()
        progress.update(wall - wall_start, (cpu - cpu_last) / (wall - wall_last))
        cpu_last, wall_last = cpu, wall
        second += 1
    await trio.sleep_until(plan.end_at)
    cpu_end, wall_end = time.process_time(), time.perf_counter()
    preempted = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw - preempted_start
    rss = current_rss_mb()
    await snapshot_all(sessions, warm=False)
    progress.update(wall_end - wall_start, (cpu_end - cpu_last) / (wall_end - wall_last))
    progress.done()
    return Window(started, cpu_end - cpu_start, wall_end - wall_start, rss, preempted)


@attrs.frozen
class SyncFigures:
    """The synchronisers' own account, over all sessions, at the end of the window."""

    offset_p50_median_ms: float  #: the median per-session p50
    offset_p99_worst_ms: float  #: the largest per-session p99
    offset_p99_median_ms: float  #: the median per-session p99
    offset_max_ms: float  #: the largest offset of any frame
    sessions_over_limit: int  #: sessions whose p99 exceeds OFFSET_LIMIT_MS
    frames_dropped_late: int
    underrun_startup_s: float  #: before the window, all sessions
    underrun_steady_s: float  #: inside the window, all sessions
    sessions_underrun: int  #: sessions with any underrun inside the window
    frames_emitted: int
    packets_emitted: int
    sink_frames_dropped: int


@attrs.frozen
class FleetResult:
    kind: str
    sessions: int
    started: int  #: sessions running when the window opened
    window_s: float
    cpu_s: float
    rss_before_mb: float
    rss_after_mb: float
    peak_rss_mb: float
    preemptions: int  #: involuntary context switches in the window (machine noise)
    lag_p50_ms: float  #: the loop-lag probe over the window
    lag_p99_ms: float
    lag_max_ms: float
    audio_received: int
    video_received: int
    sync: SyncFigures | None

    @property
    def core_pct(self) -> float:
        return 100 * self.cpu_s / self.window_s

    @property
    def session_pct(self) -> float:
        return self.core_pct / self.sessions

    @property
    def rss_per_session_mb(self) -> float:
        return (self.rss_after_mb - self.rss_before_mb) / self.sessions

    @property
    def passed(self) -> bool:
        sync = self.sync
        return (
            sync is not None
            and self.started == self.sessions
            and sync.sessions_over_limit == 0
            and sync.sessions_underrun == 0
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FleetResult:
        sync = data["sync"]
        return cls(**{**data, "sync": None if sync is None else SyncFigures(**sync)})

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


def sync_figures(sessions: Sequence[Session]) -> SyncFigures:
    ends = [s.at_end for s in sessions if s.at_end is not None]
    warm = [s.at_warm.audio_underrun_s if s.at_warm else 0.0 for s in sessions if s.at_end]
    steady = [end.audio_underrun_s - before for end, before in zip(ends, warm, strict=True)]
    p99s = [end.offset_p99_ms for end in ends]
    return SyncFigures(
        offset_p50_median_ms=float(np.median([end.offset_p50_ms for end in ends])) if ends else 0.0,
        offset_p99_worst_ms=max(p99s, default=0.0),
        offset_p99_median_ms=float(np.median(p99s)) if p99s else 0.0,
        offset_max_ms=max((end.offset_max_ms for end in ends), default=0.0),
        sessions_over_limit=sum(p99 > OFFSET_LIMIT_MS for p99 in p99s),
        frames_dropped_late=sum(end.frames_dropped_late for end in ends),
        underrun_startup_s=sum(warm),
        underrun_steady_s=sum(steady),
        sessions_underrun=sum(s > 1e-9 for s in steady),
        frames_emitted=sum(end.frames_emitted for end in ends),
        packets_emitted=sum(end.packets_emitted for end in ends),
        sink_frames_dropped=sum(end.sink_frames_dropped for end in ends),
    )


async def run_fleet(
    kind: str, count: int, warmup: float, duration: float, media: Media
) -> FleetResult:
    rss_before = current_rss_mb()
    plan = Plan.make(trio.current_time() + SETUP_S, count, warmup, duration)
    sessions = [Session() for _ in range(count)]
    progress = Progress(f"{kind:>8} {count:>4} sessions", duration)
    lags: list[float] = []
    async with trio.open_nursery() as nursery:
        for start_at, session in zip(plan.starts, sessions, strict=True):
            nursery.start_soon(run_session, OPENERS[kind], media, start_at, plan.stop_at, session)
        nursery.start_soon(probe_lag, plan, lags)
        window = await watch(plan, sessions, progress)
    lag_p50, lag_p99 = np.percentile(lags, [50, 99]) * 1000 if lags else (0.0, 0.0)
    return FleetResult(
        kind=kind,
        sessions=count,
        started=window.started,
        window_s=window.wall_s,
        cpu_s=window.cpu_s,
        rss_before_mb=rss_before,
        rss_after_mb=window.rss_mb,
        peak_rss_mb=peak_rss_mb(),
        preemptions=window.preemptions,
        lag_p50_ms=float(lag_p50),
        lag_p99_ms=float(lag_p99),
        lag_max_ms=max(lags, default=0.0) * 1000,
        audio_received=sum(s.audio.count for s in sessions),
        video_received=sum(s.video.count for s in sessions),
        sync=sync_figures(sessions) if kind == "avsync" else None,
    )


# -- one step: baseline and avsync with N sessions ----------------------------------------------


@attrs.frozen
class Step:
    baseline: FleetResult
    avsync: FleetResult

    @property
    def sessions(self) -> int:
        return self.avsync.sessions

    @property
    def passed(self) -> bool:
        return self.avsync.passed

    @property
    def ratio(self) -> float:
        return self.avsync.session_pct / self.baseline.session_pct

    @property
    def net_session_pct(self) -> float:
        return self.avsync.session_pct - self.baseline.session_pct

    def to_json(self) -> dict[str, Any]:
        return {
            "sessions": self.sessions,
            "passed": self.passed,
            "avsync_core_pct": self.avsync.core_pct,
            "avsync_session_pct": self.avsync.session_pct,
            "baseline_session_pct": self.baseline.session_pct,
            "net_session_pct": self.net_session_pct,
            "cost_ratio": self.ratio,
            "rss_per_session_mb": self.avsync.rss_per_session_mb,
            "baseline": self.baseline.to_json(),
            "avsync": self.avsync.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Step:
        return cls(FleetResult.from_json(data["baseline"]), FleetResult.from_json(data["avsync"]))


def run_step(sessions: int, args: argparse.Namespace) -> Step:
    media = make_media()
    baseline = trio.run(run_fleet, "baseline", sessions, args.warmup, args.baseline_duration, media)
    synced = trio.run(run_fleet, "avsync", sessions, args.warmup, args.duration, media)
    return Step(baseline, synced)


def run_step_in_child(sessions: int, args: argparse.Namespace) -> Step:
    """The same step in a fresh interpreter, so that memory figures start clean."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "step.json"
        command = [
            sys.executable, "-m", "benchmarks.sessions",
            "--sessions", str(sessions),
            "--duration", str(args.duration),
            "--warmup", str(args.warmup),
            "--baseline-duration", str(args.baseline_duration),
            "--json", str(path),
        ]  # fmt: skip
        subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        return Step.from_json(json.loads(path.read_text())["steps"][0])


# -- capacity search ----------------------------------------------------------------------------


def resolution(passed: int) -> int:
    return max(5, passed // 8)


def midpoint(low: int, high: int) -> int:
    middle = round((low + high) / 10) * 5
    return middle if low < middle < high else (low + high) // 2


def search(args: argparse.Namespace) -> tuple[list[Step], int]:
    """Double while steps pass, then bisect; return every step and the largest passing count."""
    steps: list[Step] = []

    def passes(sessions: int) -> bool:
        """Whether any of up to ``--attempts`` runs passes (noise only ever makes steps fail)."""
        for attempt in range(1, args.attempts + 1):
            print(
                f"step {len(steps) + 1}: {sessions} sessions, attempt {attempt}",
                file=sys.stderr,
                flush=True,
            )
            step = run_step_in_child(sessions, args)
            steps.append(step)
            print(step_line(step), flush=True)
            if step.passed:
                return True
        return False

    passed, failed = 0, None
    sessions = min(SEARCH_FIRST, args.max_sessions)
    while failed is None:
        if not passes(sessions):
            failed = sessions
        elif sessions >= args.max_sessions:
            break
        else:
            passed, sessions = sessions, min(2 * sessions, args.max_sessions)
    if failed is None:
        passed = sessions
    while failed is not None and failed - passed > resolution(passed):
        sessions = midpoint(passed, failed)
        if passes(sessions):
            passed = sessions
        else:
            failed = sessions
    return sorted(steps, key=lambda step: step.sessions), passed


# -- reporting ----------------------------------------------------------------------------------


def step_line(step: Step) -> str:
    synced = step.avsync
    sync = synced.sync
    assert sync is not None
    verdict = "PASS" if step.passed else "FAIL"
    return (
        f"{step.sessions:>4} sessions {verdict}: CPU {synced.core_pct:5.1f}% of a core, "
        f"{synced.session_pct:.3f}%/session (baseline {step.baseline.session_pct:.3f}%, "
        f"{step.ratio:.1f}x); offset p50 {sync.offset_p50_median_ms:.2f} ms, "
        f"p99 worst {sync.offset_p99_worst_ms:.2f} ms, max {sync.offset_max_ms:.2f} ms; "
        f"underrun steady {sync.underrun_steady_s:.2f} s ({sync.sessions_underrun} sessions); "
        f"dropped late {sync.frames_dropped_late}; "
        f"RSS {synced.rss_per_session_mb:.2f} MB/session; loop lag p99 "
        f"{synced.lag_p99_ms:.2f} ms (baseline {step.baseline.lag_p99_ms:.2f}); "
        f"{synced.preemptions / synced.window_s:.1f} preemptions/s"
    )


COLUMNS = (
    ("sessions", 8), ("result", 6), ("core %", 7), ("%/sess", 7), ("base %/s", 8),
    ("net %/s", 7), ("ratio", 6), ("p50 med", 7), ("p99 med", 7), ("p99 max", 7), ("max ms", 7),
    ("late", 6), ("underrun start/steady s", 23), ("RSS MB/s", 8), ("lag p99 a/b", 11),
    ("preempt/s", 9),
)  # fmt: skip


LEGEND = """\
core %: CPU of the whole process over the window, % of one core; %/sess: per session
base %/s: the same providers and consumers without avsync; net: avsync - base; ratio: avsync / base
p50 med: median per-session p50 offset; p99 med / max: median and worst per-session p99 offset
  (ms, limit {limit:g}); max ms: the worst single frame; late: frames dropped late, all sessions
underrun: silence emitted mid-speech, all sessions, before / inside the window (s)
RSS MB/s: resident memory growth from before the sessions to the end of the window, per session
lag p99 a/b: p99 lateness (ms) of a probe task waking every 10 ms, with avsync / in the baseline
preempt/s: involuntary context switches of the process (other load on the machine)"""


def table_row(step: Step) -> list[str]:
    synced = step.avsync
    sync = synced.sync
    assert sync is not None
    return [
        str(step.sessions),
        "pass" if step.passed else "FAIL",
        f"{synced.core_pct:.1f}",
        f"{synced.session_pct:.3f}",
        f"{step.baseline.session_pct:.3f}",
        f"{step.net_session_pct:.3f}",
        f"{step.ratio:.1f}x",
        f"{sync.offset_p50_median_ms:.2f}",
        f"{sync.offset_p99_median_ms:.2f}",
        f"{sync.offset_p99_worst_ms:.2f}",
        f"{sync.offset_max_ms:.2f}",
        str(sync.frames_dropped_late),
        f"{sync.underrun_startup_s:.2f} / {sync.underrun_steady_s:.2f}",
        f"{synced.rss_per_session_mb:.2f}",
        f"{synced.lag_p99_ms:.2f}/{step.baseline.lag_p99_ms:.2f}",
        f"{synced.preemptions / synced.window_s:.1f}",
    ]


def print_table(steps: Sequence[Step]) -> None:
    print("  ".join(name.rjust(width) for name, width in COLUMNS))
    for step in steps:
        cells = table_row(step)
        print("  ".join(cell.rjust(width) for cell, (_, width) in zip(cells, COLUMNS, strict=True)))
    print(LEGEND.format(limit=OFFSET_LIMIT_MS))


def machine_facts() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "av": av.__version__,
        "trio": trio.__version__,
        "numpy": np.__version__,
        "avsync": avsync.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "nproc": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "commit": git_describe(),
    }


def git_describe() -> str | None:
    """The commit measured, with "-dirty" if the working tree differs from it."""
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        )  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    return described.stdout.strip()


def current_rss_mb() -> float:
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
    except OSError:
        return peak_rss_mb()
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def write_json(
    path: str, args: argparse.Namespace, steps: Sequence[Step], capacity: int | None
) -> None:
    report = {
        "benchmark": "sessions",
        "config": attrs.asdict(CONFIG),
        "offset_limit_ms": OFFSET_LIMIT_MS,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "baseline_duration_s": args.baseline_duration,
        "max_sessions_per_core": capacity,
        "steps": [step.to_json() for step in steps],
        "machine": machine_facts(),
    }
    Path(path).write_text(json.dumps(report, indent=2) + "\n")


# -- command line -------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration", type=float, default=30.0, help="steady window, s [30]")
    parser.add_argument("--warmup", type=float, default=3.0, help="before the window, s [3]")
    parser.add_argument(
        "--baseline-duration", type=float, help="the baseline's window, s [min(duration, 10)]"
    )
    parser.add_argument("--sessions", type=int, help="run exactly this many sessions, no search")
    parser.add_argument("--max-sessions", type=int, default=400, help="search limit [400]")
    parser.add_argument(
        "--attempts", type=int, default=2, help="runs of a search step before it fails [2]"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the figures here")
    args = parser.parse_args(argv)
    if args.baseline_duration is None:
        args.baseline_duration = min(args.duration, 10.0)
    if args.duration <= 0 or args.baseline_duration <= 0:
        parser.error("--duration and --baseline-duration must be positive")
    if args.warmup <= STAGGER_S:
        parser.error(f"--warmup must exceed {STAGGER_S:g} s (sessions start during the first)")
    if min(args.sessions or 1, args.max_sessions, args.attempts) < 1:
        parser.error("--sessions, --max-sessions and --attempts must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    capacity: int | None = None
    if args.sessions is not None:
        steps = [run_step(args.sessions, args)]
        print(step_line(steps[0]))
    else:
        steps, capacity = search(args)
    print()
    print_table(steps)
    if capacity is not None:
        print(
            f"\nlargest passing step: {capacity} sessions on one core (every session p99 offset "
            f"<= {OFFSET_LIMIT_MS:g} ms, no underrun after {args.warmup:g} s warm-up, "
            f"{args.duration:g} s window)"
        )
    if args.json:
        write_json(args.json, args, steps, capacity)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
