"""wait_for_playout(): exact completion, interruption by a flush, and closing."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import actors
import avsync

from .harness import RATE, config, recording, speech


async def test_returns_exactly_when_the_last_sample_is_emitted(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with recording(config()) as (sync, recorder):
        await sync.write_audio(speech(0, 1234 * 10))  # not a whole number of packets
        await sync.end_audio()
        result = await sync.wait_for_playout()
        returned_at = trio.current_time()
    assert result == avsync.PlayoutResult(position=12340 / RATE, interrupted=False)
    last_packet_at = recorder.speech_packets()[-1][0]
    assert returned_at == pytest.approx(last_packet_at, abs=1e-9)


async def test_a_flush_interrupts_the_wait_with_the_position_heard(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with recording(config()) as (sync, recorder):
        await sync.write_audio(speech(0, RATE * 3))
        await sync.end_audio()

        async def barge_in() -> None:
            await trio.sleep(1.01)
            await sync.start_turn()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(barge_in)
            result = await sync.wait_for_playout()
        heard = sum(count for _, _, count in recorder.speech_packets()) / RATE
    assert result.interrupted
    assert result.position == pytest.approx(heard)
    assert 1.0 <= result.position <= 1.04


async def test_no_audio_then_end_audio_returns_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with avsync.open_synchronizer(config()) as sync:
        await sync.end_audio()
        start = trio.current_time()
        result = await sync.wait_for_playout()
        assert result == avsync.PlayoutResult(0.0, False)
        assert trio.current_time() - start <= 0.02


async def test_closing_ends_a_wait_and_later_calls_fail_fast(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with avsync.open_synchronizer(config()) as sync:
        await sync.write_audio(speech(0, RATE))  # no end_audio: the wait cannot complete
        async with trio.open_nursery() as nursery:

            async def close_soon() -> None:
                await trio.sleep(0.3)
                await sync.aclose()

            nursery.start_soon(close_soon)
            with pytest.raises(avsync.SynchronizerClosed):
                await sync.wait_for_playout()
        with pytest.raises(avsync.SynchronizerClosed):
            await sync.wait_for_playout()
        with pytest.raises(avsync.SynchronizerClosed):
            await sync.write_audio(speech(0, 10))
        with pytest.raises(avsync.SynchronizerClosed):
            await sync.start_turn()
        await sync.aclose()  # idempotent


async def test_a_clock_rung_early_waits_for_a_packet_written_before_its_tick(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The clock's alarm rings early with another alarm due just before it; a packet written
    between that ring and the tick still plays at the tick: no underrun, none late."""
    packet_s, ticks = 0.02, 50
    async with avsync.open_synchronizer(config()) as sync:
        origin = trio.current_time()  # (the clock's ticks fall at origin + k * packet_s)
        decoy = actors.Alarm("another session's alarm")

        async def ring_just_before_each_tick() -> None:
            for tick in range(2, ticks):
                decoy.set(origin + tick * packet_s - actors.SLACK_S / 2)
                await decoy.mailbox.get()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(ring_just_before_each_tick)
            await trio.sleep(packet_s / 4)
            await sync.write_audio(speech(0, 960))  # played at tick 1: speech has started
            for tick in range(2, ticks):  # packet k written just before tick k + 1
                await trio.sleep_until(origin + tick * packet_s - actors.SLACK_S / 4)
                await sync.write_audio(speech((tick - 1) * 960, 960))
        await sync.end_audio()
        played = await sync.wait_for_playout()
        stats = sync.stats()
    assert played.position == pytest.approx((ticks - 1) * packet_s)
    assert stats.audio_underrun_s == 0
    assert trio.current_time() - origin == pytest.approx((ticks - 1) * packet_s)  # on time
