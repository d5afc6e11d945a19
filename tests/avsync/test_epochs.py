"""Epochs: after start_turn() returns, no sink receives anything older, any interleaving."""

from __future__ import annotations

import numpy as np
import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

import avsync
from actors.testing import run_scenario
from avsync.testing import RATE, Recorder, config, marked_frame, recording


def epoch_tone(epoch: int, count: int) -> np.ndarray:
    """Audio that says which epoch it belongs to: a constant 1000 * (epoch + 1)."""
    return np.full(count, 1000 * (epoch + 1), np.int16)


def audio_epoch(samples: np.ndarray) -> int | None:
    """The epoch a packet of speech belongs to; None for silence, fades and mixes."""
    nonzero = samples[samples != 0]
    if len(nonzero) < 2 or not np.all(nonzero == nonzero[0]) or nonzero[0] % 1000:
        return None
    return int(nonzero[0]) // 1000 - 1


def check_no_stale_output(recorder: Recorder) -> int:
    """Walk the shared log; return how many flush points were checked."""
    current = 0
    shown_before_flush: set[tuple[int, int]] = set()
    shown: set[tuple[int, int]] = set()
    checked = 0
    for kind, value in recorder.events:
        if kind == "flushed":
            assert isinstance(value, int)
            current = value
            shown_before_flush = set(shown)
            checked += 1
        elif kind == "audio":
            epoch = audio_epoch(value)  # type: ignore[arg-type]
            assert epoch is None or epoch >= current, (
                f"audio of epoch {epoch} after flush to {current}"
            )
        elif kind == "video" and value is not None:
            mark: tuple[int, int] = value  # type: ignore[assignment]
            shown.add(mark)
            if mark[1] < current:
                assert mark in shown_before_flush, (
                    f"new frame {mark} shown after flush to {current}"
                )
    return checked


async def test_start_turn_bumps_the_epoch_and_rejects_future_epochs(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with avsync.open_synchronizer(config()) as sync:
        assert sync.epoch == 0
        assert await sync.start_turn() == 1
        assert await sync.flush() == 2
        assert sync.epoch == 2
        with pytest.raises(avsync.EpochError, match="newer"):
            await sync.write_audio(epoch_tone(0, 960), epoch=3)
        with pytest.raises(avsync.EpochError, match="newer"):
            await sync.write_video(marked_frame(0), epoch=5)
        with pytest.raises(avsync.EpochError, match="int"):
            await sync.write_audio(epoch_tone(0, 960), epoch="1")  # type: ignore[arg-type]
        # stale writes are counted and dropped
        await sync.write_audio(epoch_tone(0, 4800), epoch=1)
        await sync.write_video(marked_frame(0), epoch=0)
        stats = sync.stats()
        assert stats.flushes == 2 and stats.epoch == 2
        assert stats.audio_dropped_stale_s == pytest.approx(0.1)
        assert stats.frames_dropped_stale == 1


async def test_flush_mid_speech_fades_and_keeps_the_last_frame(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with recording(config(fade_ms=5.0)) as (sync, recorder):
        await sync.write_audio(epoch_tone(0, RATE * 2))  # 2 s buffered
        for index in range(60):
            await sync.write_video(marked_frame(index), pts=index / 30)
        await trio.sleep(0.5)
        await sync.start_turn()
        recorder.events.append(("flushed", 1))
        flushed_at = trio.current_time()
        await trio.sleep(0.3)
        stats = sync.stats()
    assert check_no_stale_output(recorder) == 1
    # the audio after the flush ramps down from the last sample delivered: no click
    stream = np.concatenate([record.samples for record in recorder.audio]).astype(np.int32)
    cut = int(np.flatnonzero(stream == 1000)[-1])
    ramp = stream[cut : cut + 400]
    max_step = np.abs(np.diff(ramp)).max()
    assert max_step <= 1000 / round(0.005 * RATE) + 1
    assert np.all(stream[cut + round(0.005 * RATE) + 1 :] == 0)
    # the last frame shown stays on screen (repeated), nothing newer of epoch 0 appears
    after = [record.mark for record in recorder.video if record.at > flushed_at]
    last_before = [record.mark for record in recorder.video if record.at <= flushed_at][-1]
    assert after and all(mark == last_before for mark in after)
    assert stats.frames_dropped_stale >= 60 - 16
    assert stats.audio_dropped_stale_s == pytest.approx(1.5, abs=0.03)


Step = tuple[str, int, int]

steps = st.lists(
    st.one_of(
        st.tuples(st.just("audio"), st.integers(0, 2), st.integers(1, 400)),
        st.tuples(st.just("video"), st.integers(0, 2), st.integers(0, 1)),
        st.tuples(st.just("turn"), st.just(0), st.just(0)),
        st.tuples(st.just("sleep"), st.just(0), st.integers(0, 120)),
        st.tuples(st.just("end"), st.just(0), st.just(0)),
    ),
    max_size=40,
)


@given(
    main=steps,
    in_flight=steps,
    overflow=st.sampled_from(["block", "drop-oldest"]),
    consumer_lag=st.sampled_from([0.0, 0.004, 0.03]),
)
def test_no_stale_output_after_start_turn_returns(
    main: list[Step], in_flight: list[Step], overflow: str, consumer_lag: float
) -> None:
    """Two writers (the agent and a provider with frames still in flight), tagging writes with
    the current epoch or an older one, interleaved with flushes and time steps; consumers that
    keep up or lag (so stale items wait in the output buffers when the flush comes)."""

    async def writer(sync: avsync.Synchronizer, recorder: Recorder, program: list[Step]) -> None:
        frame_index = 0
        for kind, age, amount in program:
            epoch = max(0, sync.epoch - age)
            if kind == "audio":
                try:
                    await sync.write_audio(epoch_tone(epoch, amount * 48), epoch=epoch)
                except avsync.InvalidAudioError as error:  # after end_audio() in this epoch
                    assert "end_audio" in str(error)
            elif kind == "video":
                pts = frame_index / 30 if amount else None
                await sync.write_video(marked_frame(frame_index, epoch), pts=pts, epoch=epoch)
                frame_index += 1
            elif kind == "turn":
                new_epoch = await sync.start_turn()
                recorder.events.append(("flushed", new_epoch))
            elif kind == "sleep":
                await trio.sleep(amount / 1000)
            else:
                await sync.end_audio(epoch=epoch)

    async def scenario() -> None:
        recorder = Recorder(lag_s=consumer_lag)
        cfg = config(overflow=overflow, audio_buffer_s=0.2, video_buffer_s=0.2)
        async with avsync.open_synchronizer(cfg) as sync:
            async with trio.open_nursery() as nursery:
                await nursery.start(recorder.run, sync)
                async with trio.open_nursery() as writers:
                    writers.start_soon(writer, sync, recorder, main)
                    writers.start_soon(writer, sync, recorder, in_flight)
                await trio.sleep(0.5)
                await sync.aclose()
        check_no_stale_output(recorder)

    run_scenario(scenario)
