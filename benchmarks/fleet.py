"""A fleet of concurrent real-time sessions in one trio run, and what it measures: CPU, memory,
loop lag and (for avsync) each session's own sync figures.

Each session is one endpoint of :mod:`benchmarks.endpoints` (for avsync,
``avsync.open_synchronizer(SyncConfig(width=1280, height=720, fps=30, sample_rate=48000,
channels=1))``) fed by a simulated real-time provider: audio chunk k written at
start + k * 0.02 s, frame i at start + i / 30 s with pts = i / 30 (the audio's media time starts
at 0 with the first sample), both with ``trio.sleep_until``. The media is made once and reused,
so the figures are the synchroniser's cost, not frame generation. Two consumer tasks per
session drain the audio and video outputs and only count. The whole run is one long utterance:
one turn, ``end_audio()`` is never called. Session starts are spread over the first second
(seeded), so their 20 ms clocks and 33 ms frames fall at assorted phases, as independent calls
do.

Everything runs on the real clock (no MockClock), in one trio run, so on one core. Per fleet
(:func:`run_fleet`, a :class:`FleetResult`):

- CPU: process CPU time over the steady-state window (``duration`` seconds after ``warmup``)
  divided by its wall time: % of one core in total and per session;
- memory: resident set size before the sessions start and at the end of the window, per session;
- sync (avsync only): each session's ``stats()`` at the end of the window: p99 and max of
  (emit time - due time) over new frames (since the session started), frames dropped late, and
  audio underrun split into start-up (before the window) and steady state (inside it);
- noise: a probe task wakes every 10 ms and its lateness (p99) is reported, with the process's
  involuntary context switches (other load preempting it).

A fleet passes when every session started, has p99 offset <= 5 ms and no underrun in the steady
window.
"""

from __future__ import annotations

import random
import resource
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import numpy as np
import trio

import avsync
from avsync._progress import ProgressBar

from .endpoints import CHUNKS_PER_S, FPS, OPENERS, Endpoint, Media, Opener
from .machine import current_rss_mb, peak_rss_mb

OFFSET_LIMIT_MS = 5.0
SETUP_S = 0.5  # from the start of the trio run to the window in which sessions start
STAGGER_S = 1.0  # session starts are spread over this
TAIL_S = 0.5  # providers keep writing this long after the window, so it ends under full load
PROBE_S = 0.01  # the loop-lag probe wakes this often
SEED = 20240601


# -- one session --------------------------------------------------------------------------------


@attrs.define
class Tally:
    """Outputs a consumer received."""

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
    """Count what ``channel`` delivers until it ends."""
    async for _ in channel:
        tally.count += 1


async def run_session(
    opener: Opener, media: Media, start_at: float, stop_at: float, session: Session
) -> None:
    """One session: from ``start_at``, its endpoint fed by a provider until ``stop_at`` and
    drained by two consumers; ``session`` records it."""
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
    def make(
        cls, origin: float, count: int, warmup: float, duration: float, together: bool = False
    ) -> Plan:
        """Starts spread over :data:`STAGGER_S`, or ``together``: every session at the same
        instant (so their clocks tick together, as after a server restart)."""
        rng = random.Random(SEED)
        spread = 0.0 if together else STAGGER_S
        starts = tuple(origin + rng.random() * spread for _ in range(count))
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
    """What the steady-state window measured."""

    started: int  #: sessions running when the window opened
    cpu_s: float
    wall_s: float
    rss_mb: float
    preemptions: int  #: involuntary context switches of the process: machine noise


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


def show_load(progress: ProgressBar, label: str, elapsed_s: float, load: float) -> None:
    """The window's progress, with the CPU load (a fraction of one core) over the last second."""
    progress.update(elapsed_s, f"{label}, CPU {100 * load:5.1f}% of a core")


async def watch(
    plan: Plan,
    sessions: Sequence[Session],
    progress: ProgressBar,
    label: str,
    measuring: Callable[[bool], None] | None = None,
) -> Window:
    """Snapshot every session at the start and end of the window; measure CPU in between,
    shown each second on ``progress`` after ``label``. ``measuring(True)`` is called where the
    CPU measurement starts and ``measuring(False)`` where it ends, for measurements of its own
    over the same span."""
    await trio.sleep_until(plan.warm_at)
    await snapshot_all(sessions, warm=True)
    started = sum(session.started for session in sessions)
    preempted_start = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw
    if measuring is not None:
        measuring(True)
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    cpu_last, wall_last = cpu_start, wall_start
    second = 1
    while (at := min(plan.warm_at + second, plan.end_at)) < plan.end_at:
        await trio.sleep_until(at)
        cpu, wall = time.process_time(), time.perf_counter()
        show_load(progress, label, wall - wall_start, (cpu - cpu_last) / (wall - wall_last))
        cpu_last, wall_last = cpu, wall
        second += 1
    await trio.sleep_until(plan.end_at)
    cpu_end, wall_end = time.process_time(), time.perf_counter()
    if measuring is not None:
        measuring(False)
    preempted = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw - preempted_start
    rss = current_rss_mb()
    await snapshot_all(sessions, warm=False)
    show_load(progress, label, wall_end - wall_start, (cpu_end - cpu_last) / (wall_end - wall_last))
    progress.close()
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
    sessions_overloaded: int = 0  #: sessions that said they were overloaded at the window's end
    frames_shed_late: int = 0  #: frames shed rather than shown over 45 ms late, all sessions
    audio_skipped_s: float = 0.0  #: output audio skipped by late clocks, all sessions


@attrs.frozen
class FleetResult:
    """One fleet's figures: CPU, memory and loop lag over the window, outputs received, and
    (for avsync) the synchronisers' own account."""

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
    together: bool = False  #: every session started at the same instant

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
    """The sessions' stats at the start and end of the window, summed up."""
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
        sessions_overloaded=sum(end.overload.overloaded for end in ends),
        frames_shed_late=sum(end.overload.frames_shed_late for end in ends),
        audio_skipped_s=sum(end.overload.audio_skipped_s for end in ends),
    )


async def run_fleet(
    kind: str, count: int, warmup: float, duration: float, media: Media, together: bool = False
) -> FleetResult:
    """``count`` sessions of ``kind`` (a key of :data:`benchmarks.endpoints.OPENERS`), measured
    over ``duration`` seconds after ``warmup``; started spread, or all at one instant."""
    rss_before = current_rss_mb()
    plan = Plan.make(trio.current_time() + SETUP_S, count, warmup, duration, together)
    sessions = [Session() for _ in range(count)]
    progress = ProgressBar(duration)
    lags: list[float] = []
    async with trio.open_nursery() as nursery:
        for start_at, session in zip(plan.starts, sessions, strict=True):
            nursery.start_soon(run_session, OPENERS[kind], media, start_at, plan.stop_at, session)
        nursery.start_soon(probe_lag, plan, lags)
        window = await watch(plan, sessions, progress, f"{kind} {count} sessions")
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
        together=together,
    )
