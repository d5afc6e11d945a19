"""The CPU breakdown's accounting: task steps timed into the part their task does, output frames
timed through the publisher, the split and its verdict, and the options."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import trio
import trio.testing

import avsync
import avsync._publisher
from avsync.testing import RATE, speech
from benchmarks import breakdown
from benchmarks.endpoints import CONFIG
from benchmarks.fleet import drain, run_session

WRITER = f"{run_session.__module__}.{run_session.__qualname__}"
CONSUMER = f"{drain.__module__}.{drain.__qualname__}"


def busy(seconds: float) -> None:
    """Use the CPU for ``seconds`` without yielding."""
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        pass


async def test_each_task_step_counts_in_the_part_its_task_does() -> None:
    timer = breakdown.StepTimer()
    timer.measuring = True

    async def work(seconds: float) -> None:
        busy(seconds)
        await trio.lowlevel.checkpoint()
        busy(seconds)  # a second step

    trio.lowlevel.add_instrument(timer)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(work, 0.006, name=WRITER)
            nursery.start_soon(work, 0.002, name=CONSUMER)
            nursery.start_soon(work, 0.004, name="actors.alarms")
            nursery.start_soon(work, 0.001, name="someone.else")
    finally:
        trio.lowlevel.remove_instrument(timer)
    seconds = timer.seconds
    assert seconds["writes"] >= 0.012 and seconds["rings"] >= 0.008
    assert seconds["consumers"] >= 0.004 and seconds["other tasks"] >= 0.002
    # each part holds its own task's steps, not the others' (a generous bound for a busy machine)
    assert seconds["writes"] > seconds["rings"] > seconds["consumers"]
    timer.reset()
    assert set(timer.seconds.values()) == {0.0}


async def test_output_frames_are_timed_only_while_measuring_and_the_builders_restored(
    autojump_clock: trio.testing.MockClock,
) -> None:
    originals = avsync._publisher.make_audio_frame, avsync._publisher.to_video_frame
    timer = breakdown.FrameTimer()
    received = []

    async def consume(frames: trio.abc.ReceiveChannel[object]) -> None:
        async for frame in frames:
            received.append(frame)

    steps = breakdown.StepTimer()
    trio.lowlevel.add_instrument(steps)
    with breakdown.timing_output_frames(timer):
        async with avsync.open_synchronizer(CONFIG) as sync, trio.open_nursery() as nursery:
            nursery.start_soon(consume, sync.audio_frames())
            await sync.write_audio(speech(0, RATE // 5))
            await trio.sleep(0.1)
            timer.measuring = steps.measuring = True
            await trio.sleep(0.2)  # ten 20 ms ticks, each an output packet
            timer.measuring = steps.measuring = False
            await trio.sleep(0.1)
            await sync.aclose()
    trio.lowlevel.remove_instrument(steps)
    assert 9 <= timer.frames <= 11 and len(received) >= timer.frames + 9
    assert timer.seconds > 0
    assert steps.seconds["rings"] > 0  # the clock's ticks run in the alarm service's task
    assert (avsync._publisher.make_audio_frame, avsync._publisher.to_video_frame) == originals


def split(
    kind: str, steps: dict[str, float], cpu_s: float, frames_s: float = 0.0
) -> breakdown.Split:
    timer = breakdown.StepTimer()
    timer.seconds.update(steps)
    frames = breakdown.FrameTimer(seconds=frames_s, frames=100)
    return breakdown.Split.measure(kind, 10, 2.0, cpu_s, timer, frames)


def test_the_loop_is_the_cpu_outside_task_steps_and_the_verdict_names_the_cut() -> None:
    floor = split("baseline", {"writes": 0.05, "consumers": 0.02}, cpu_s=0.2)  # 20 session-s
    assert floor.parts["writes"] == pytest.approx(2.5)
    assert floor.parts["the loop"] == pytest.approx(6.5)
    assert floor.total == pytest.approx(10.0)  # ms of CPU per session-second
    synced = split("avsync", {"writes": 0.1, "rings": 0.1, "consumers": 0.03}, 0.5, 0.02)
    assert synced.total == pytest.approx(25.0) and synced.output_frames == pytest.approx(1.0)
    assert synced.frames_per_session_s == pytest.approx(5.0)
    # 1.8x is 18 ms: 7 ms less, of the 14 ms added besides output frames
    assert "2.50x; 1.8x needs 18.00 ms" in breakdown.verdict(floor, synced)
    assert "7.00 ms less, 50% of what avsync adds" in breakdown.verdict(floor, synced)
    cheap = split("avsync", {"writes": 0.06}, cpu_s=0.3)
    assert breakdown.verdict(floor, cheap).endswith("1.50x: within 1.8x")
    table = breakdown.table(floor, synced)
    assert table[-1].split() == ["total", "10.00", "25.00", "+15.00"]
    mean = breakdown.Split.mean([synced, cheap])
    assert mean.total == pytest.approx(20.0) and mean.window_s == 4.0


@pytest.mark.parametrize(
    "argv",
    [
        ["--sessions", "0"],
        ["--rounds", "0"],
        ["--duration", "0"],
        ["--warmup", "1"],
        ["--packet-ms", "0"],
        ["--packet-ms", "20.01"],  # not a whole number of samples at 48 kHz
    ],
)
def test_bad_options_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        breakdown.parse_args(argv)


def test_the_chart_is_written(tmp_path: Path) -> None:
    floor = split("baseline", {"writes": 0.05, "consumers": 0.02}, cpu_s=0.2)
    synced = split("avsync", {"writes": 0.1, "rings": 0.1, "consumers": 0.03}, 0.5, 0.02)
    path = tmp_path / "charts" / "breakdown.png"
    breakdown.write_png(path, floor, synced)
    assert path.read_bytes().startswith(b"\x89PNG")


def test_the_packet_option_sets_avsyncs_packets() -> None:
    assert breakdown.parse_args(["--packet-ms", "40"]).config.packet_samples == 1920
    assert breakdown.parse_args([]).config == CONFIG
