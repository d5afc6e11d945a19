"""The output sinks' hand-off to their consumers: one consumer woken per push, every consumer
at the close, a cancelled consumer forgotten; the audio frames they carry."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
import trio
import trio.testing

from avsync._sink import SinkRegistry, make_audio_frame


def frame(pts: int) -> av.AudioFrame:
    return make_audio_frame(np.full((4, 1), pts, np.int16), pts, 48000, "mono")


async def test_each_push_wakes_one_parked_consumer_and_the_close_wakes_the_rest() -> None:
    sink = SinkRegistry(1, 8, 4).add_audio()
    received: list[int | None] = []

    async def consume() -> None:
        try:
            received.append((await sink.receive()).pts)
        except trio.EndOfChannel:
            received.append(None)

    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(consume)
        await trio.testing.wait_all_tasks_blocked()
        sink.push_packet(0, frame(1), np.zeros((4, 1), np.int16))
        await trio.testing.wait_all_tasks_blocked()
        assert received == [1]
        sink.close()
    assert received == [1, None, None]


async def test_a_cancelled_consumer_is_forgotten() -> None:
    sink = SinkRegistry(1, 8, 4).add_audio()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(sink.receive)
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()  # a consumer cancelled while parked takes nothing
    async with trio.open_nursery() as nursery:
        got: list[av.AudioFrame] = []

        async def consume() -> None:
            got.append(await sink.receive())

        nursery.start_soon(consume)
        await trio.testing.wait_all_tasks_blocked()
        sink.push_packet(0, frame(2), np.zeros((4, 1), np.int16))
    assert [f.pts for f in got] == [2]


@pytest.mark.parametrize(("channels", "layout"), [(1, "mono"), (2, "stereo")])
def test_audio_frames_carry_the_samples_and_their_timing(channels: int, layout: str) -> None:
    samples = (np.arange(960 * channels) % 3000).astype(np.int16).reshape(960, channels)
    made = make_audio_frame(samples, 4800, 48000, layout)
    assert (made.samples, made.pts, made.sample_rate, made.layout.name) == (
        960,
        4800,
        48000,
        layout,
    )
    assert made.format.name == "s16" and made.time_base == Fraction(1, 48000)
    assert np.array_equal(made.to_ndarray().reshape(960, channels), samples)
    samples[:] = 0  # the frame holds a copy
    assert made.to_ndarray().any()


def test_a_purge_counts_the_speech_it_drops_not_the_silence() -> None:
    sink = SinkRegistry(1, 8, 4).add_audio()
    sink.push_packet(0, frame(1), np.ones((4, 1), np.int16))
    sink.push_packet(0, frame(2), np.zeros((4, 1), np.int16), speech=False)  # the clock's silence
    sink.push_packet(1, frame(3), np.ones((4, 1), np.int16))  # already the new epoch's
    purged = sink.purge(1, np.zeros((0, 1)))
    assert purged == pytest.approx(4 / 48000)
    assert [sink.receive_nowait().pts for _ in range(3)] == [1, 2, 3]  # pts kept, gapless
