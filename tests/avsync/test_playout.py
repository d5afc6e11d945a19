"""wait_for_playout(): exact completion, interruption by a flush, and closing."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import avsync
from avsync.testing import RATE, config, recording, speech


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
