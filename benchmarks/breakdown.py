"""Where a session's CPU goes: the real-time fleet of :mod:`benchmarks.sessions`, without a
synchroniser and through avsync, its CPU split by what ran.

    python -m benchmarks.breakdown [--sessions 20] [--warmup 3] [--duration 10] [--rounds 2]
                                   [--packet-ms 20] [--json FILE] [--png FILE]

Runs the sessions of :mod:`benchmarks.fleet` (real-time providers of 20 ms chunks and 30 fps
720p frames with pts, two consumers per session that only count, starts spread over a second),
``--rounds`` times each kind, alternating, in one process on the real clock. Over each window a
trio instrument times every task step (``time.perf_counter`` around it: the process has one
thread, so the time in a step is CPU but for preemption by other processes) and adds it to the
part of the work the task does:

- ``writes``: the providers' tasks. Through avsync this includes what the actors do in the
  writer's task (the audio ingest, the video queue taking the frame in): they are served in
  their senders' tasks;
- ``rings``: the alarm service's task (avsync only): clock ticks, video emissions, the publisher
  and the pushes into the outputs, all handled in the task that rings them;
- ``output frames``, part of ``rings``: building each output ``av.AudioFrame`` and
  ``av.VideoFrame`` (the publisher's ``make_audio_frame`` and ``to_video_frame``, timed by
  wrappers);
- ``consumers``: the tasks that drain the outputs;
- ``other tasks``: every other task (actors woken in their own tasks, the window's watcher);
- ``the loop``: the process's CPU in the window (``time.process_time``) minus all task steps:
  trio's scheduler, its timers and the wait for I/O.

``--packet-ms`` sets avsync's output packet (``SyncConfig.packet_ms``, 20 ms by default: the
clock ticks once per packet); the providers write 20 ms chunks whatever it is.

Prints each part per session-second for both kinds, what avsync adds, and what avsync would
have to cost for 1.8x the floor (issue 13's bar); ``--json`` writes the figures and the machine,
``--png`` a stacked bar chart (needs matplotlib, the ``demo`` extra).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import attrs
import trio

import avsync._publisher
from avsync._progress import ProgressBar

from .endpoints import CONFIG, OPENERS, Opener, make_media, open_avsync
from .fleet import SETUP_S, STAGGER_S, Plan, Session, drain, run_session, watch
from .machine import machine_facts

KINDS = ("baseline", "avsync")
LABELS = {"baseline": "no synchroniser", "avsync": "avsync"}
PARTS = ("writes", "rings", "consumers", "other tasks", "the loop")
TARGET_RATIO = 1.8  #: issue 13's bar: avsync at most this many times the floor's CPU
#: which part a task's steps count in, by the task's name
TASK_PARTS = {
    f"{run_session.__module__}.{run_session.__qualname__}": "writes",
    f"{drain.__module__}.{drain.__qualname__}": "consumers",
    "actors.alarms": "rings",
}

P = ParamSpec("P")
R = TypeVar("R")


class StepTimer(trio.abc.Instrument):
    """Adds the time of every task step, while :attr:`measuring`, to the part its task's name
    says (:data:`TASK_PARTS`; ``other tasks`` for the rest)."""

    def __init__(self) -> None:
        self.measuring = False
        self.seconds: dict[str, float] = dict.fromkeys(PARTS[:-1], 0.0)
        self._started = 0.0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self._started = time.perf_counter()

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        if self.measuring:
            part = TASK_PARTS.get(task.name, "other tasks")
            self.seconds[part] += time.perf_counter() - self._started

    def reset(self) -> None:
        self.seconds = dict.fromkeys(self.seconds, 0.0)


@attrs.define
class FrameTimer:
    """Time spent building output frames, while :attr:`measuring`."""

    measuring: bool = False
    seconds: float = 0.0
    frames: int = 0

    def timed(self, build: Callable[P, R]) -> Callable[P, R]:
        """``build``, timing each call while measuring."""

        def timed_build(*args: P.args, **kwargs: P.kwargs) -> R:
            started = time.perf_counter()
            frame = build(*args, **kwargs)
            if self.measuring:
                self.seconds += time.perf_counter() - started
                self.frames += 1
            return frame

        return timed_build


#: the publisher's output frame builders (the names it calls them by)
FRAME_BUILDERS = ("make_audio_frame", "to_video_frame")


@contextlib.contextmanager
def timing_output_frames(timer: FrameTimer) -> Iterator[None]:
    """Route the publisher's output frame builders through ``timer``; restored on exit."""
    originals = {name: getattr(avsync._publisher, name) for name in FRAME_BUILDERS}
    for name, build in originals.items():
        setattr(avsync._publisher, name, timer.timed(build))
    try:
        yield
    finally:
        for name, build in originals.items():
            setattr(avsync._publisher, name, build)


@attrs.frozen
class Split:
    """One fleet's CPU by part, in milliseconds per session-second."""

    kind: str
    sessions: int
    window_s: float
    parts: Mapping[str, float]  #: every name of :data:`PARTS`
    output_frames: float  #: part of ``rings``
    frames_per_session_s: float  #: output frames built, per session-second

    @property
    def total(self) -> float:
        return sum(self.parts.values())

    @classmethod
    def measure(
        cls,
        kind: str,
        sessions: int,
        window_s: float,
        cpu_s: float,
        steps: StepTimer,
        frames: FrameTimer,
    ) -> Split:
        """The split of ``cpu_s`` of process CPU over a window of ``window_s``: the task steps
        timed, and the rest as the loop's."""
        scale = 1000 / (sessions * window_s)
        parts = {part: seconds * scale for part, seconds in steps.seconds.items()}
        parts["the loop"] = (cpu_s - sum(steps.seconds.values())) * scale
        return cls(
            kind=kind,
            sessions=sessions,
            window_s=window_s,
            parts=parts,
            output_frames=frames.seconds * scale,
            frames_per_session_s=frames.frames / (sessions * window_s),
        )

    @classmethod
    def mean(cls, splits: Sequence[Split]) -> Split:
        """The splits of several fleets of one kind, averaged (their windows added up)."""
        count = len(splits)
        return cls(
            kind=splits[0].kind,
            sessions=splits[0].sessions,
            window_s=sum(split.window_s for split in splits),
            parts={part: sum(split.parts[part] for split in splits) / count for part in PARTS},
            output_frames=sum(split.output_frames for split in splits) / count,
            frames_per_session_s=sum(split.frames_per_session_s for split in splits) / count,
        )

    def to_json(self) -> dict[str, Any]:
        return {**attrs.asdict(self), "total": self.total}


async def run_kind(
    kind: str,
    opener: Opener,
    sessions: int,
    warmup: float,
    duration: float,
    progress: ProgressBar,
) -> Split:
    """One fleet of ``kind``, its sessions opened by ``opener``: its CPU over the window
    (measured as :func:`benchmarks.fleet.watch` measures every fleet's), split."""
    steps, frames = StepTimer(), FrameTimer()

    def measuring(on: bool) -> None:
        steps.measuring = frames.measuring = on

    media = make_media()
    plan = Plan.make(trio.current_time() + SETUP_S, sessions, warmup, duration)
    fleet = [Session() for _ in plan.starts]
    trio.lowlevel.add_instrument(steps)
    try:
        with timing_output_frames(frames):
            async with trio.open_nursery() as nursery:
                for start_at, session in zip(plan.starts, fleet, strict=True):
                    nursery.start_soon(run_session, opener, media, start_at, plan.stop_at, session)
                window = await watch(plan, fleet, progress, LABELS[kind], measuring)
    finally:
        trio.lowlevel.remove_instrument(steps)
    return Split.measure(kind, sessions, window.wall_s, window.cpu_s, steps, frames)


async def run(args: argparse.Namespace) -> dict[str, list[Split]]:
    """``args.rounds`` fleets of each kind, alternating."""
    openers: dict[str, Opener] = {**OPENERS, "avsync": functools.partial(open_avsync, args.config)}
    splits: dict[str, list[Split]] = {kind: [] for kind in KINDS}
    for _ in range(args.rounds):
        for kind in KINDS:
            progress = ProgressBar(args.duration)
            split = await run_kind(
                kind, openers[kind], args.sessions, args.warmup, args.duration, progress
            )
            splits[kind].append(split)
    return splits


def table(floor: Split, synced: Split) -> list[str]:
    """Each part per session-second for both kinds, and what avsync adds."""
    lines = [f"{'ms of CPU per session-second':32s} {'no sync':>8s} {'avsync':>8s} {'added':>8s}"]
    for part in PARTS:
        added = synced.parts[part] - floor.parts[part]
        lines.append(f"{part:32s} {floor.parts[part]:8.2f} {synced.parts[part]:8.2f} {added:+8.2f}")
        if part == "rings":
            lines.append(f"{'  of which output frames':32s} {'':8s} {synced.output_frames:8.2f}")
    added = synced.total - floor.total
    lines.append(f"{'total':32s} {floor.total:8.2f} {synced.total:8.2f} {added:+8.2f}")
    return lines


def verdict(floor: Split, synced: Split) -> str:
    """The ratio, and what avsync would have to shed to meet :data:`TARGET_RATIO`."""
    ratio = synced.total / floor.total
    target = TARGET_RATIO * floor.total
    text = f"avsync / no synchroniser: {ratio:.2f}x"
    if synced.total <= target:
        return f"{text}: within {TARGET_RATIO}x"
    besides_frames = synced.total - floor.total - synced.output_frames
    cut = synced.total - target
    return (
        f"{text}; {TARGET_RATIO}x needs {target:.2f} ms per session-second: "
        f"{cut:.2f} ms less, {100 * cut / besides_frames:.0f}% of what avsync adds "
        f"besides building output frames ({besides_frames:.2f} ms)"
    )


def write_png(path: Path, floor: Split, synced: Split) -> None:
    """The split as two stacked bars (:func:`benchmarks.chart.write_breakdown_chart`)."""
    from .chart import write_breakdown_chart  # (matplotlib takes a while to load)

    bars = {
        LABELS[split.kind]: {
            "writes": split.parts["writes"],
            "output frames": split.output_frames,
            "rings (the rest)": split.parts["rings"] - split.output_frames,
            **{part: split.parts[part] for part in PARTS[2:]},
        }
        for split in (floor, synced)
    }
    write_breakdown_chart(
        path,
        bars,
        line=(TARGET_RATIO * floor.total, f"{TARGET_RATIO}x no synchroniser"),
        title=f"{synced.sessions} real-time sessions in one process: where the CPU goes",
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command's options, checked."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20, help="sessions per fleet [20]")
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="s from the start to the window [3]"
    )
    parser.add_argument("--duration", type=float, default=10.0, help="the window, s [10]")
    parser.add_argument("--rounds", type=int, default=2, help="fleets of each kind [2]")
    parser.add_argument(
        "--packet-ms", type=float, default=CONFIG.packet_ms, help="avsync's output packet, ms [20]"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the figures here")
    parser.add_argument("--png", metavar="PATH", help="also draw the split here")
    args = parser.parse_args(argv)
    if args.sessions < 1 or args.rounds < 1:
        parser.error("--sessions and --rounds must be >= 1")
    if args.duration <= 0 or args.warmup <= STAGGER_S:
        parser.error(
            f"--duration must be positive and --warmup over {STAGGER_S:g} s (the starts' spread)"
        )
    try:
        args.config = attrs.evolve(CONFIG, packet_ms=args.packet_ms)
    except ValueError as error:
        parser.error(f"--packet-ms: {error}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.png:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("--png needs matplotlib: pip install -e '.[demo]'", file=sys.stderr)
            return 2
    splits = trio.run(run, args)
    floor, synced = (Split.mean(splits[kind]) for kind in KINDS)
    print(
        f"{args.sessions} sessions, {args.rounds} x {args.duration:g} s windows per kind, "
        f"avsync's packets {args.packet_ms:g} ms:"
    )
    for line in table(floor, synced):
        print("  " + line)
    print("  " + verdict(floor, synced))
    if args.json:
        report = {
            "benchmark": "breakdown",
            "sessions": args.sessions,
            "rounds": args.rounds,
            "packet_ms": args.packet_ms,
            "fleets": {kind: [split.to_json() for split in splits[kind]] for kind in KINDS},
            "mean": {
                kind: split.to_json() for kind, split in zip(KINDS, (floor, synced), strict=True)
            },
            "machine": machine_facts(),
        }
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    if args.png:
        write_png(Path(args.png), floor, synced)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
