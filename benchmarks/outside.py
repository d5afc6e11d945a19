"""An outside harness for issue 13: avsync's CPU per session against the floor, a second opinion.

    python -m benchmarks.outside [--sessions 20] [--warmup 3] [--duration 10] [--repeats 2]
                                 [--modes together,spread] [--json PATH]

What it measures. ``--sessions`` real-time sessions in one process, one trio run on the real
clock. A session is one provider task and two consumer tasks. The provider writes 48 kHz mono
int16 audio in 20 ms chunks (chunk k at start + k / 50 s) and 1280x720 yuv420p frames at 30 fps
(frame i at start + i / 30 s, pts = i / 30), sleeping until each absolute time, audio first when
both fall due together; the chunk and a few frame variants are made once and reused. The two
consumers drain the audio and video outputs and only count what they receive. Two kinds:

- ``floor``: no synchroniser: the writes go into two trio memory channels the consumers drain;
- ``avsync``: ``avsync.open_synchronizer(SyncConfig(1280x720, 30 fps, 48 kHz mono))``, written
  with ``write_audio`` / ``write_video(frame, pts=...)``, drained through ``audio_frames()`` /
  ``video_frames()``, closed with ``aclose()``.

Two start modes: ``together`` (every session starts within the same 20 ms: uniform over
[0, 0.02 s)) and ``spread`` (uniform over 1 s). Once the last session may have started, a
warm-up of ``--warmup`` seconds, then a window of ``--duration`` seconds over which the process
CPU time (``time.process_time()``) and the wall time are taken: CPU % of one core = CPU / wall,
per session = that / sessions. At both ends of the window every avsync session's ``stats()`` is
read: its p99 (and max) of frame emit time - due time (over the frames since it started, as
``stats()`` keeps them), the audio underrun inside the window, frames dropped late and shed,
audio skipped, its clock's loop lag, whether it says it is overloaded. For both kinds, each
write's lateness (how long after its planned time it was issued: the loop's load, plus any wait
in the write before it) and how long the write call itself took (waiting for room, and for the
task's next turn, since every send is a checkpoint; the floor's channels never fill), the
garbage collector's passes and the process's involuntary context switches (other load on the
machine) in the window.

Each (kind, mode) is a child process of its own (``python -m benchmarks.outside --child ...``),
so its CPU figure is that process's alone; runs alternate kinds (floor, avsync, floor, avsync,
...), ``--repeats`` times per mode, so drift in the machine's load hits both. The report gives per
mode the ratio avsync / floor of CPU per session for each repeat's pair and their median, and the
worst per-session p99 offset; the issue's bar is a median ratio <= 1.8x and every p99 <= 5 ms.

How it differs from ``python -m benchmarks.sessions``: none of its code (``benchmarks.fleet``,
``endpoints``, ``sessions``, ``capacity``) is used here, the provider, media, consumers, channels
and measurement are written anew against avsync's public API only, so a mistake in one harness
does not show in both; every run is a process of its own (the in-repo step runs the floor and
both avsync fleets in one process, and measures the floor only with starts spread); the
"together" starts are spread over 20 ms rather than one instant; and the warm-up counts from the
last start, not the first. Progress goes to stderr, the table to stdout, and ``--json`` writes
every figure with the machine's facts (:func:`benchmarks.machine.machine_facts`).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import av
import numpy as np
import numpy.typing as npt
import trio

import avsync

from .machine import cpu_model, machine_facts

ROOT = Path(__file__).resolve().parent.parent  #: the checkout: children run with it as cwd
WIDTH, HEIGHT, FPS, RATE = 1280, 720, 30, 48_000
CHUNK_SAMPLES = RATE // 50  # 20 ms
TICKS_PER_S = 150  # a grid both streams fall on: chunk k at tick 3k, frame i at tick 5i
AUDIO_STEP, VIDEO_STEP = TICKS_PER_S // 50, TICKS_PER_S // FPS
VARIANTS = 4  # frame variants, reused in turn
FLOOR_CAPACITY = 16  # the floor's memory channels
SETUP_S = 0.5  # from the start of the trio run to the first possible session start
TAIL_S = 0.25  # providers write on this long after the window, so it ends under full load
SHUTDOWN_S = 10.0  # most time the sessions get to close after that
SPANS = {"together": 0.02, "spread": 1.0}  #: session starts are uniform over this, s
KINDS = ("floor", "avsync")
OFFSET_LIMIT_MS = 5.0
BLOCKED_S = 0.01  # a write call that took longer is counted
RATIO_LIMIT = 1.8
SEED = 13
CHILD_GRACE_S = 60.0  # a child running this much longer than planned is killed
CONFIG = avsync.SyncConfig(width=WIDTH, height=HEIGHT, fps=FPS, sample_rate=RATE, channels=1)

Chunk = npt.NDArray[np.int16]


# -- the media ------------------------------------------------------------------------------------


def make_chunk() -> Chunk:
    """20 ms of a 250 Hz tone (five whole periods)."""
    t = np.arange(CHUNK_SAMPLES) / RATE
    return np.round(6000 * np.sin(2 * np.pi * 250 * t)).astype(np.int16)


def make_frames() -> tuple[Any, ...]:
    """``VARIANTS`` yuv420p frames of a luma ramp, shifted per variant, grey chroma."""
    frames = []
    ramp = (np.arange(WIDTH) * 255 // (WIDTH - 1)).astype(np.uint8)
    for variant in range(VARIANTS):
        planes = np.full((HEIGHT * 3 // 2, WIDTH), 128, np.uint8)
        planes[:HEIGHT] = (ramp + 50 * variant).astype(np.uint8)  # wraps: fine
        frames.append(av.VideoFrame.from_ndarray(planes, format="yuv420p"))
    return tuple(frames)


# -- one session ----------------------------------------------------------------------------------


@dataclass
class Counter:
    """What one consumer received: in total, and at the window's start and end."""

    total: int = 0
    at_warm: int = 0
    at_end: int = 0


@dataclass
class Record:
    """One session, as it runs."""

    start_at: float
    stats: Callable[[], avsync.Stats] | None = None
    started: bool = False
    audio: Counter = field(default_factory=Counter)
    video: Counter = field(default_factory=Counter)
    lateness: list[float] = field(default_factory=list)  #: s, each write inside the window
    blocked_max: float = 0.0  #: s, the longest write call inside the window
    blocked_long: int = 0  #: write calls inside the window that took over BLOCKED_S
    at_warm: avsync.Stats | None = None
    at_end: avsync.Stats | None = None


@dataclass(frozen=True)
class Plan:
    """When sessions start and the window, on the trio clock."""

    starts: tuple[float, ...]
    warm_at: float
    end_at: float

    @property
    def stop_at(self) -> float:
        return self.end_at + TAIL_S


WriteAudio = Callable[[Chunk], Awaitable[None]]
WriteVideo = Callable[[Any, float], Awaitable[None]]


async def provider(
    write_audio: WriteAudio,
    write_video: WriteVideo,
    chunk: Chunk,
    frames: Sequence[Any],
    plan: Plan,
    record: Record,
) -> None:
    """Write in real time from the session's start until ``plan.stop_at``; keep each write's
    lateness, and how long the write call took, inside the window."""
    origin = trio.current_time()
    k = i = 0  # next audio chunk, next frame
    while True:
        audio_tick, video_tick = k * AUDIO_STEP, i * VIDEO_STEP
        tick = min(audio_tick, video_tick)
        due = origin + tick / TICKS_PER_S
        if due >= plan.stop_at:
            return
        await trio.sleep_until(due)
        issued = trio.current_time()
        if audio_tick <= video_tick:
            await write_audio(chunk)
            k += 1
        else:
            await write_video(frames[i % len(frames)], i / FPS)
            i += 1
        if plan.warm_at <= due < plan.end_at:
            record.lateness.append(issued - due)
            blocked = trio.current_time() - issued
            record.blocked_max = max(record.blocked_max, blocked)
            record.blocked_long += blocked > BLOCKED_S


async def consumer(outputs: trio.abc.ReceiveChannel[Any], counter: Counter) -> None:
    """Count every item until the output ends."""
    async for _ in outputs:
        counter.total += 1


async def floor_session(chunk: Chunk, frames: Sequence[Any], plan: Plan, record: Record) -> None:
    """No synchroniser: the provider's writes go straight into two memory channels."""
    audio_in, audio_out = trio.open_memory_channel[Chunk](FLOOR_CAPACITY)
    video_in, video_out = trio.open_memory_channel[tuple[Any, float]](FLOOR_CAPACITY)

    async def write_video(frame: Any, pts: float) -> None:
        await video_in.send((frame, pts))

    record.started = True
    async with trio.open_nursery() as nursery:
        nursery.start_soon(consumer, audio_out, record.audio)
        nursery.start_soon(consumer, video_out, record.video)
        await provider(audio_in.send, write_video, chunk, frames, plan, record)
        await audio_in.aclose()
        await video_in.aclose()


async def avsync_session(chunk: Chunk, frames: Sequence[Any], plan: Plan, record: Record) -> None:
    """One synchroniser, through its public API only."""
    async with avsync.open_synchronizer(CONFIG) as sync:

        async def write_video(frame: Any, pts: float) -> None:
            await sync.write_video(frame, pts=pts)

        record.stats = sync.stats
        record.started = True
        async with trio.open_nursery() as nursery:
            nursery.start_soon(consumer, sync.audio_frames(), record.audio)
            nursery.start_soon(consumer, sync.video_frames(), record.video)
            await provider(sync.write_audio, write_video, chunk, frames, plan, record)
            await sync.aclose()


SESSIONS = {"floor": floor_session, "avsync": avsync_session}


async def session(kind: str, chunk: Chunk, frames: Sequence[Any], plan: Plan, r: Record) -> None:
    await trio.sleep_until(r.start_at)
    await SESSIONS[kind](chunk, frames, plan, r)


# -- one run: a child process ---------------------------------------------------------------------


async def snapshot(records: Sequence[Record], at_end: bool) -> None:
    """Every session's counts and stats(), a checkpoint after each."""
    for record in records:
        stats = record.stats() if record.stats is not None else None
        if at_end:
            record.at_end, record.audio.at_end, record.video.at_end = (
                stats, record.audio.total, record.video.total,
            )  # fmt: skip
        else:
            record.at_warm, record.audio.at_warm, record.video.at_warm = (
                stats, record.audio.total, record.video.total,
            )  # fmt: skip
        await trio.lowlevel.checkpoint()


class GcWatch:
    """The garbage collector's passes while on: how many, and how long they held the loop."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []  #: (generation, seconds)
        self._began = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.pauses.append((info["generation"], time.perf_counter() - self._began))

    def figures(self) -> dict[str, Any]:
        pauses = [pause for _, pause in self.pauses]
        return {
            "gc_passes": len(pauses),
            "gc_full_passes": sum(generation == 2 for generation, _ in self.pauses),
            "gc_total_ms": 1000 * sum(pauses),
            "gc_max_ms": 1000 * max(pauses, default=0.0),
        }


async def measure(plan: Plan, records: Sequence[Record]) -> dict[str, Any]:
    """CPU and wall time over the window, with snapshots at both ends; the collector's pauses
    and the process's involuntary context switches (other load preempting it) in between."""
    await trio.sleep_until(plan.warm_at)
    await snapshot(records, at_end=False)
    started = sum(record.started for record in records)
    gc_watch = GcWatch()
    gc.callbacks.append(gc_watch)
    switches = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw
    cpu, wall = time.process_time(), time.perf_counter()
    await trio.sleep_until(plan.end_at)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    switches = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw - switches
    gc.callbacks.remove(gc_watch)
    await snapshot(records, at_end=True)
    return {
        "started": started,
        "cpu_s": cpu,
        "wall_s": wall,
        "preemptions": switches,
        **gc_watch.figures(),
    }


def session_figures(record: Record, origin: float, wall_s: float) -> dict[str, Any]:
    """One session's figures: its start, outputs per second in the window, and avsync's own."""
    figures: dict[str, Any] = {
        "start_s": record.start_at - origin,
        "audio_per_s": (record.audio.at_end - record.audio.at_warm) / wall_s,
        "video_per_s": (record.video.at_end - record.video.at_warm) / wall_s,
    }
    end, warm = record.at_end, record.at_warm
    if end is None:
        return figures
    underrun_before = warm.audio_underrun_s if warm is not None else 0.0
    figures.update(
        offset_count=end.offset.count,
        offset_p50_ms=end.offset_p50_ms,
        offset_p99_ms=end.offset_p99_ms,
        offset_max_ms=end.offset_max_ms,
        offset_count_at_warm=warm.offset.count if warm is not None else 0,
        offset_max_at_warm_ms=warm.offset_max_ms if warm is not None else 0.0,
        underrun_startup_s=underrun_before,
        underrun_window_s=end.audio_underrun_s - underrun_before,
        frames_emitted=end.frames_emitted,
        frames_repeated=end.frames_repeated,
        frames_dropped_late=end.frames_dropped_late,
        frames_dropped_overflow=end.frames_dropped_overflow,
        sink_frames_dropped=end.sink_frames_dropped,
        overloaded=end.overload.overloaded,
        frames_shed_late=end.overload.frames_shed_late,
        repeats_shed=end.overload.repeats_shed,
        audio_skipped_s=end.overload.audio_skipped_s,
        speech_lost_s=end.overload.speech_lost_s,
        loop_lag_p99_ms=end.overload.loop_lag_p99_ms,
        loop_lag_max_ms=end.overload.loop_lag_max_ms,
        over_budget_s=end.overload.over_budget_s,
    )
    return figures


def avsync_summary(per_session: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The avsync sessions' own figures, over all of them."""
    p99s = [s["offset_p99_ms"] for s in per_session]

    def total(key: str) -> Any:
        return sum(s[key] for s in per_session)

    return {
        "p99_worst_ms": max(p99s),
        "p99_median_ms": statistics.median(p99s),
        "p50_median_ms": statistics.median(s["offset_p50_ms"] for s in per_session),
        "max_ms": max(s["offset_max_ms"] for s in per_session),
        "sessions_over_limit": sum(p99 > OFFSET_LIMIT_MS for p99 in p99s),
        "sessions_without_offsets": sum(s["offset_count"] == 0 for s in per_session),
        "sessions_max_in_window": sum(
            s["offset_max_ms"] > s["offset_max_at_warm_ms"] for s in per_session
        ),
        "underrun_startup_s": total("underrun_startup_s"),
        "underrun_window_s": total("underrun_window_s"),
        "sessions_underrun": sum(s["underrun_window_s"] > 1e-9 for s in per_session),
        "frames_dropped_late": total("frames_dropped_late"),
        "frames_dropped_overflow": total("frames_dropped_overflow"),
        "sink_frames_dropped": total("sink_frames_dropped"),
        "frames_shed_late": total("frames_shed_late"),
        "repeats_shed": total("repeats_shed"),
        "audio_skipped_s": total("audio_skipped_s"),
        "speech_lost_s": total("speech_lost_s"),
        "sessions_overloaded": sum(bool(s["overloaded"]) for s in per_session),
        "loop_lag_p99_worst_ms": max(s["loop_lag_p99_ms"] for s in per_session),
        "loop_lag_max_ms": max(s["loop_lag_max_ms"] for s in per_session),
        "over_budget_s": total("over_budget_s"),
    }


async def run(
    kind: str, mode: str, sessions: int, warmup: float, duration: float, seed: str
) -> dict[str, Any]:
    """One run of ``sessions`` sessions of ``kind``, started as ``mode`` says."""
    chunk, frames = make_chunk(), make_frames()
    rng = random.Random(seed)
    origin = trio.current_time() + SETUP_S
    span = SPANS[mode]
    starts = tuple(origin + rng.random() * span for _ in range(sessions))
    plan = Plan(starts, origin + span + warmup, origin + span + warmup + duration)
    records = [Record(start_at) for start_at in starts]
    async with trio.open_nursery() as nursery:
        for record in records:
            nursery.start_soon(session, kind, chunk, frames, plan, record)
        window = await measure(plan, records)
        nursery.cancel_scope.deadline = plan.stop_at + SHUTDOWN_S  # the sessions close by then
    clean = not nursery.cancel_scope.cancelled_caught
    wall_s = window["wall_s"]
    per_session = [session_figures(record, origin, wall_s) for record in records]
    lateness = np.concatenate([np.asarray(r.lateness) for r in records]) * 1000
    late_p50, late_p99 = np.percentile(lateness, [50, 99]) if len(lateness) else (0.0, 0.0)
    core_pct = 100 * window["cpu_s"] / wall_s
    return {
        "kind": kind,
        "mode": mode,
        "sessions": sessions,
        "seed": seed,
        "span_s": span,
        "warmup_s": warmup,
        **window,
        "core_pct": core_pct,
        "session_pct": core_pct / sessions,
        "write_late_p50_ms": float(late_p50),
        "write_late_p99_ms": float(late_p99),
        "write_late_max_ms": float(lateness.max()) if len(lateness) else 0.0,
        "writes_measured": len(lateness),
        "write_blocked_max_ms": 1000 * max(r.blocked_max for r in records),
        "writes_blocked_long": sum(r.blocked_long for r in records),
        "audio_per_session_s": statistics.mean(s["audio_per_s"] for s in per_session),
        "video_per_session_s": statistics.mean(s["video_per_s"] for s in per_session),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "closed_cleanly": clean,
        "avsync": avsync_summary(per_session) if kind == "avsync" else None,
        "per_session": per_session,
    }


# -- the parent: the runs, the report -------------------------------------------------------------


def planned_s(mode: str, args: argparse.Namespace) -> float:
    """How long a child's trio run takes, start-up and imports aside."""
    return SETUP_S + SPANS[mode] + float(args.warmup) + float(args.duration) + TAIL_S


class Progress:
    """One line on stderr: redrawn each second on a terminal, otherwise every 5 s."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.interactive = self.stream.isatty()
        self._last = -math.inf

    def show(self, text: str, force: bool = False) -> None:
        now = time.monotonic()
        if self.interactive:
            self.stream.write("\r" + text.ljust(90)[:90])
        elif force or now - self._last >= 5:
            self.stream.write(text + "\n")
        else:
            return
        self._last = now
        self.stream.flush()

    def close(self) -> None:
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()


def run_child(
    kind: str, mode: str, repeat: int, args: argparse.Namespace, label: str, progress: Progress
) -> dict[str, Any]:
    """One run in a child process of its own; its figures."""
    with tempfile.TemporaryDirectory(prefix="avsync-outside-") as tmp:
        out = Path(tmp) / "run.json"
        command = [
            sys.executable, "-m", "benchmarks.outside", "--child", kind, mode,
            "--seed", f"{args.seed}:{mode}:{repeat}", "--sessions", str(args.sessions),
            "--warmup", repr(args.warmup), "--duration", repr(args.duration),
            "--child-out", str(out),
        ]  # fmt: skip
        planned = planned_s(mode, args)
        began = time.monotonic()
        child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
        first = True
        while True:
            try:
                child.wait(timeout=1.0)
                break
            except subprocess.TimeoutExpired:
                elapsed = time.monotonic() - began
                if elapsed > planned + CHILD_GRACE_S:
                    child.kill()
                    child.wait()
                    raise RuntimeError(f"{label}: the child ran {elapsed:.0f} s, killed") from None
                left = planned + 1.5 - elapsed  # about 1.5 s of imports and start-up
                progress.show(f"{label}: about {max(left, 0):.0f} s left", force=first)
                first = False
        if child.returncode != 0:
            raise RuntimeError(f"{label}: the child failed (exit {child.returncode}), see stderr")
        result: dict[str, Any] = json.loads(out.read_text())
    result["repeat"] = repeat
    return result


def mode_summary(mode: str, runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per repeat, avsync / floor; the median; the avsync sessions' worst p99."""
    pairs = []
    for repeat in sorted({run["repeat"] for run in runs if run["mode"] == mode}):
        by_kind = {r["kind"]: r for r in runs if r["mode"] == mode and r["repeat"] == repeat}
        floor, synced = by_kind["floor"], by_kind["avsync"]
        pairs.append(
            {
                "repeat": repeat,
                "floor_session_pct": floor["session_pct"],
                "avsync_session_pct": synced["session_pct"],
                "ratio": synced["session_pct"] / floor["session_pct"],
                "net_session_pct": synced["session_pct"] - floor["session_pct"],
                "p99_worst_ms": synced["avsync"]["p99_worst_ms"],
            }
        )
    synced_runs = [r["avsync"] for r in runs if r["mode"] == mode and r["kind"] == "avsync"]
    ratio = statistics.median(pair["ratio"] for pair in pairs)
    worst = max(s["p99_worst_ms"] for s in synced_runs)
    return {
        "pairs": pairs,
        "ratio_median": ratio,
        "p99_worst_ms": worst,
        "sessions_over_limit": sum(s["sessions_over_limit"] for s in synced_runs),
        "sessions_underrun": sum(s["sessions_underrun"] for s in synced_runs),
        "bar_met": ratio <= RATIO_LIMIT and worst <= OFFSET_LIMIT_MS,
    }


COLUMNS = (
    ("mode", "{mode}", 8),
    ("rep", "{repeat}", 3),
    ("kind", "{kind}", 6),
    ("core %", "{core_pct:.1f}", 6),
    ("%/session", "{session_pct:.3f}", 9),
    ("audio/s", "{audio_per_session_s:.1f}", 7),
    ("video/s", "{video_per_session_s:.1f}", 7),
    ("late p99/max ms", "{write_late_p99_ms:.1f}/{write_late_max_ms:.0f}", 15),
    ("blocked max ms", "{write_blocked_max_ms:.1f}", 14),
    ("gc max ms", "{gc_max_ms:.1f}", 9),
    ("preempt/s", "{preempt_s:.1f}", 9),
    ("p99 worst", "{p99_worst_ms}", 9),
    ("p99 med", "{p99_median_ms}", 7),
    (">5ms", "{sessions_over_limit}", 4),
    ("underrun s", "{underrun_window_s}", 10),
    ("shed", "{frames_shed_late}", 4),
    ("late", "{frames_dropped_late}", 4),
    ("overl.", "{sessions_overloaded}", 6),
    ("clock lag max", "{clock_lag_max}", 13),
)


def row(run: dict[str, Any]) -> str:
    synced = run["avsync"] or {}
    values = {
        **run,
        "preempt_s": run["preemptions"] / run["wall_s"],
        "p99_worst_ms": f"{synced['p99_worst_ms']:.2f}" if synced else "-",
        "p99_median_ms": f"{synced['p99_median_ms']:.2f}" if synced else "-",
        "sessions_over_limit": synced.get("sessions_over_limit", "-"),
        "underrun_window_s": f"{synced['underrun_window_s']:.2f}" if synced else "-",
        "frames_shed_late": synced.get("frames_shed_late", "-"),
        "frames_dropped_late": synced.get("frames_dropped_late", "-"),
        "sessions_overloaded": synced.get("sessions_overloaded", "-"),
        "clock_lag_max": f"{synced['loop_lag_max_ms']:.1f}" if synced else "-",
    }
    return "  ".join(f"{spec.format(**values):>{width}}" for _, spec, width in COLUMNS)


def report(
    args: argparse.Namespace, runs: Sequence[dict[str, Any]], summary: dict[str, Any]
) -> str:
    """The table and, per mode, the ratios and the worst p99."""
    lines = [
        f"Outside harness: {args.sessions} sessions (1280x720 yuv420p at 30 fps + 48 kHz mono "
        f"int16 in 20 ms chunks) per run, one process per run, warm-up {args.warmup:g} s, "
        f"window {args.duration:g} s",
        "  ".join(f"{title:>{width}}" for title, _, width in COLUMNS),
        *(row(run) for run in runs),
        "",
    ]
    for mode, figures in summary.items():
        pairs = ", ".join(f"{pair['ratio']:.2f}x" for pair in figures["pairs"])
        verdict = "met" if figures["bar_met"] else "not met"
        lines.append(
            f"{mode}: avsync / floor, CPU per session: median {figures['ratio_median']:.2f}x "
            f"(pairs {pairs}); worst p99 offset {figures['p99_worst_ms']:.2f} ms "
            f"({figures['sessions_over_limit']} session-runs over {OFFSET_LIMIT_MS:g} ms, "
            f"{figures['sessions_underrun']} with underrun in the window); issue 13's bar "
            f"(<= {RATIO_LIMIT}x, p99 <= {OFFSET_LIMIT_MS:g} ms): {verdict}"
        )
    lines += [
        "",
        "core %: process CPU / wall over the window; %/session: / sessions; audio/s, video/s: "
        "outputs each consumer received per second in the window (expect 50 and 30);",
        "late p99/max: how late the providers' writes were issued (the loop's load, and any "
        "wait in the write before); blocked max: the longest write call (waiting for room, "
        "and for the task's next turn: every trio send is a checkpoint);",
        "gc max: longest garbage-collector pass; preempt/s: involuntary context switches "
        "(other load on the machine);",
        "p99 worst / med: of the avsync sessions' stats() p99 of emit - due, over the frames "
        "since each session started (ms);",
        ">5ms: sessions over 5 ms; underrun s: silence mid-speech in the window, all sessions; "
        "shed / late: frames shed late / dropped late; overl.: sessions overloaded at the end;",
        "clock lag max: the latest any avsync clock tick went out, since the start (ms)",
    ]
    return "\n".join(lines)


def main_parent(args: argparse.Namespace) -> int:
    progress = Progress()
    machine = {**machine_facts(), "cpu_model": cpu_model()}
    order = [(repeat, mode, kind) for repeat in range(1, args.repeats + 1) for mode in args.modes
             for kind in KINDS]  # fmt: skip
    runs = []
    began = time.monotonic()
    for index, (repeat, mode, kind) in enumerate(order, 1):
        label = f"run {index}/{len(order)}: {kind} {args.sessions} sessions {mode}, repeat {repeat}"
        runs.append(run_child(kind, mode, repeat, args, label, progress))
    progress.close()
    summary = {mode: mode_summary(mode, runs) for mode in args.modes}
    print(report(args, runs, summary))
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "benchmark": "outside",
            "command": [sys.executable, "-m", "benchmarks.outside", *sys.argv[1:]],
            "settings": {
                "sessions": args.sessions,
                "warmup_s": args.warmup,
                "duration_s": args.duration,
                "repeats": args.repeats,
                "modes": args.modes,
                "seed": args.seed,
                "start_spans_s": {mode: SPANS[mode] for mode in args.modes},
                "offset_limit_ms": OFFSET_LIMIT_MS,
                "ratio_limit": RATIO_LIMIT,
            },
            "machine": machine,
            "loadavg_after": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            "elapsed_s": time.monotonic() - began,
            "summary": summary,
            "runs": runs,
        }
        path.write_text(json.dumps(document, indent=2) + "\n")
        print(f"figures written to {path}", file=sys.stderr)
    return 0


# -- the command ----------------------------------------------------------------------------------


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def seconds(minimum: float, inclusive: bool) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
        if not math.isfinite(value) or value < minimum or (value == minimum and not inclusive):
            bound = f">= {minimum:g}" if inclusive else f"> {minimum:g}"
            raise argparse.ArgumentTypeError(f"must be finite and {bound}, got {text!r}")
        return value

    return parse


def modes(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in SPANS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list of {', '.join(SPANS)}, got {text!r}"
        )
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"a mode is named twice: {text!r}")
    return names


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.outside",
        description=(__doc__ or "").splitlines()[0],
    )
    parser.add_argument("--sessions", type=positive_int, default=20, help="per run [20]")
    parser.add_argument("--warmup", type=seconds(0, True), default=3.0, help="s [3]")
    parser.add_argument("--duration", type=seconds(0, False), default=10.0, help="window, s [10]")
    parser.add_argument("--repeats", type=positive_int, default=2, help="pairs per mode [2]")
    parser.add_argument(
        "--modes", type=modes, default=list(SPANS), help="together,spread (either or both)"
    )
    parser.add_argument("--json", metavar="PATH", help="also write every figure here")
    parser.add_argument("--seed", default=str(SEED), help=f"of the start times [{SEED}]")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "MODE"), help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.sessions > 1000:
        parser.error("--sessions: at most 1000")
    if args.repeats > 50:
        parser.error("--repeats: at most 50")
    if args.duration > 3600 or args.warmup > 3600:
        parser.error("--duration and --warmup: at most 3600 s")
    if args.child is not None:
        kind, mode = args.child
        if kind not in KINDS or mode not in SPANS or not args.child_out:
            parser.error(f"--child KIND MODE: KIND in {KINDS}, MODE in {tuple(SPANS)}, --child-out")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child is None:
        return main_parent(args)
    kind, mode = args.child
    result = trio.run(run, kind, mode, args.sessions, args.warmup, args.duration, args.seed)
    Path(args.child_out).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
