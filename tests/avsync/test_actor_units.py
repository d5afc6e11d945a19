"""The control and publisher actors and the output sinks, driven directly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import numpy as np
import pytest
import trio
import trio.testing

import actors
from actors.testing import Probe
from avsync._config import SyncConfig
from avsync._control import ControlActor, EpochState, StartTurn
from avsync._messages import AudioOut, Barrier, Flush, FrameKind, VideoOut
from avsync._publisher import PublisherActor, PublisherState
from avsync._sink import SinkRegistry
from avsync._video import black_image

CONFIG = SyncConfig(width=64, height=48)


async def test_start_turn_answers_only_after_the_publisher_applied_the_flush() -> None:
    state = EpochState()
    topic: actors.Topic[Flush] = actors.Topic()
    subscriber: Probe[Flush] = Probe("video")
    publisher: Probe[Flush | Barrier] = Probe("publisher")
    topic.subscribe(subscriber.ref)
    answered: list[int] = []
    async with trio.open_nursery() as nursery:
        control = await actors.spawn(
            nursery, lambda: ControlActor(state, topic, publisher.ref), name="control"
        )

        async def start_turn() -> None:
            answered.append(await control.ask(StartTurn))

        nursery.start_soon(start_turn)
        barrier = await publisher.receive()
        assert isinstance(barrier, Barrier) and barrier.epoch == 1
        assert await subscriber.receive() == Flush(1)  # broadcast before the barrier
        await trio.testing.wait_all_tasks_blocked()
        assert answered == []  # still waiting for the publisher
        barrier.reply.send(None)
        await trio.testing.wait_all_tasks_blocked()
        assert answered == [1] and state.epoch == 1 and state.flushes == 1
        nursery.cancel_scope.cancel()


def publisher_state() -> PublisherState:
    return PublisherState(
        origin=0.0,
        packet_samples=CONFIG.packet_samples,
        channels=1,
        placeholder=black_image(CONFIG.width, CONFIG.height),
    )


@asynccontextmanager
async def running_publisher(
    sinks: SinkRegistry,
) -> AsyncIterator[
    tuple[actors.ActorRef[AudioOut | VideoOut], actors.Mailbox[Flush | Barrier], PublisherState]
]:
    """A publisher actor over ``sinks``: its ref, its control mailbox and its state."""
    state = publisher_state()
    control: actors.Mailbox[Flush | Barrier] = actors.Mailbox(8)
    async with trio.open_nursery() as nursery:
        publisher = await actors.spawn(
            nursery, lambda: PublisherActor(CONFIG, state, control, sinks), name="publisher"
        )
        yield publisher, control, state
        nursery.cancel_scope.cancel()


def flat_image(value: int) -> np.ndarray:
    """An I420 image of CONFIG's size with every byte ``value``."""
    return np.full((CONFIG.height * 3 // 2, CONFIG.width), value, np.uint8)


async def test_publisher_gates_stale_output_that_arrives_after_a_flush() -> None:
    sinks = SinkRegistry(CONFIG.channels, 16, 16)
    audio = sinks.add_audio()
    video = sinks.add_video()
    speech = np.full((CONFIG.packet_samples, 1), 5000, np.int16)
    image = black_image(64, 48)
    async with running_publisher(sinks) as (publisher, control, state):
        await publisher.tell(AudioOut(0, 0, speech, 0.0))
        await publisher.tell(VideoOut(0, image, 0.0, FrameKind.NEW))
        await trio.testing.wait_all_tasks_blocked()
        first_audio = audio.receive_nowait()
        assert np.all(first_audio.to_ndarray() == 5000)
        assert video.receive_nowait().pts == 0
        reply: actors.Reply[None] = actors.Reply()
        await control.put(Flush(1))
        await control.put(Barrier(1, reply))
        await reply.wait()
        # emitted before the flush, arriving after it:
        await publisher.tell(AudioOut(0, 1, speech, 0.02))
        await publisher.tell(VideoOut(0, image, 1 / 30, FrameKind.NEW))
        await publisher.tell(VideoOut(1, image, 2 / 30, FrameKind.REPEAT))
        await trio.testing.wait_all_tasks_blocked()
        replaced = audio.receive_nowait()
        assert replaced.pts == CONFIG.packet_samples  # the same place on the timeline
        samples = replaced.to_ndarray().reshape(-1).astype(np.int32)
        assert samples.max() < 5000 and samples[-1] == 0  # a fade to silence, not stale speech
        assert np.abs(np.diff(np.concatenate([[5000], samples]))).max() <= 5000 / 240 + 1
        repeat = video.receive_nowait()  # the stale NEW frame was dropped, the repeat went out
        assert repeat.pts == 6000
        with pytest.raises(trio.WouldBlock):
            video.receive_nowait()
        assert state.frames_dropped_stale == 1
        assert state.audio_dropped_stale_s == pytest.approx(0.02)


async def test_publisher_never_shows_a_repeat_of_a_frame_that_went_stale() -> None:
    """The video queue repeats a frame whose new emission the publisher dropped (a flush came
    between): a consumer that has seen nothing gets the placeholder, not that frame."""
    sinks = SinkRegistry(CONFIG.channels, 16, 16)
    video = sinks.add_video()
    never_shown = flat_image(200)
    async with running_publisher(sinks) as (publisher, control, state):
        reply: actors.Reply[None] = actors.Reply()
        await control.put(Barrier(1, reply))
        await reply.wait()
        await publisher.tell(VideoOut(0, never_shown, 0.0, FrameKind.NEW))  # stale: dropped
        await publisher.tell(VideoOut(0, never_shown, 1 / 30, FrameKind.REPEAT))
        await trio.testing.wait_all_tasks_blocked()
        shown = video.receive_nowait()
        assert np.array_equal(shown.to_ndarray(), black_image(CONFIG.width, CONFIG.height))
        assert state.frames_dropped_stale == 1


async def test_an_output_attached_after_a_frame_went_out_gets_its_repeats() -> None:
    """A new frame that went out while no video output was attached is still what repeats show
    to an output attached afterwards."""
    sinks = SinkRegistry(CONFIG.channels, 16, 16)
    frame_image = flat_image(90)
    async with running_publisher(sinks) as (publisher, _, _):
        await publisher.tell(VideoOut(0, frame_image, 0.0, FrameKind.NEW))  # nobody attached
        await trio.testing.wait_all_tasks_blocked()
        video = sinks.add_video()
        await publisher.tell(VideoOut(0, frame_image, 1 / 30, FrameKind.REPEAT))
        await trio.testing.wait_all_tasks_blocked()
        assert np.array_equal(video.receive_nowait().to_ndarray(), frame_image)


def test_audio_purge_replaces_queued_stale_packets_keeping_pts() -> None:
    sinks = SinkRegistry(1, 8, 4)
    sink = sinks.add_audio()
    from avsync._sink import make_audio_frame

    for index in range(3):
        samples = np.full((960, 1), 3000, np.int16)
        sink.push_packet(0, make_audio_frame(samples, index * 960, 48000, "mono"), samples)
    sink.receive_nowait()  # the consumer holds the first one: it may play
    ramp = np.linspace(1, 0, 240, endpoint=False)[1:, None]
    purged = sink.purge(1, np.repeat(ramp, 1, axis=1))
    assert purged == pytest.approx(0.04)
    second, third = sink.receive_nowait(), sink.receive_nowait()
    assert (second.pts, third.pts) == (960, 1920)
    faded = second.to_ndarray().reshape(-1)
    assert 0 < faded[0] < 3000 and np.all(faded[240:] == 0)
    assert np.all(third.to_ndarray() == 0)


def test_video_purge_keeps_what_the_consumer_last_saw_on_screen() -> None:
    from avsync._video import to_video_frame

    sink = SinkRegistry(1, 8, 4).add_video()
    seen = black_image(64, 48)
    stale = black_image(64, 48)
    sink.push_frame(0, to_video_frame(seen, 0), seen, new=True)
    assert sink.receive_nowait().pts == 0
    sink.push_frame(0, to_video_frame(stale, 3000), stale, new=True)  # never received
    placeholder = np.full_like(seen, 7)
    assert sink.purge(1, placeholder) == 1
    sink.push_frame(1, to_video_frame(stale, 6000), stale, new=False)  # the schedule repeats it
    repeat = sink.receive_nowait()
    assert repeat.pts == 6000
    stale[0, 0] = 200  # tell the two images apart by content too
    assert repeat.to_ndarray()[0, 0] == seen[0, 0]


def test_video_purge_before_anything_was_received_shows_the_placeholder() -> None:
    """What a flush found queued was all this consumer would have seen: its screen is empty."""
    from avsync._video import to_video_frame

    sink = SinkRegistry(1, 8, 4).add_video()
    stale = np.full((72, 64), 200, np.uint8)
    placeholder = black_image(64, 48)
    sink.push_frame(0, to_video_frame(stale, 0), stale, new=True)  # never received
    assert sink.purge(1, placeholder) == 1
    sink.push_frame(1, to_video_frame(stale, 3000), stale, new=False)  # the schedule repeats it
    assert np.array_equal(sink.receive_nowait().to_ndarray(), placeholder)


def test_receiving_the_current_frame_skips_superseded_repeats_but_no_new_frame() -> None:
    from avsync._video import to_video_frame

    sink = SinkRegistry(1, 8, 8).add_video()
    image = black_image(64, 48)
    kinds = [False, False, True, True, False, False]  # new?
    for pts, new in enumerate(kinds):
        sink.push_frame(0, to_video_frame(image, pts), image, new=new)
    got = [sink.receive_current_nowait().pts for _ in range(3)]
    assert got == [2, 3, 5]  # repeats 0, 1 and 4 were superseded; the last repeat is current
    assert sink.superseded == 3
    with pytest.raises(trio.WouldBlock):
        sink.receive_current_nowait()


async def test_a_slow_sink_drops_its_oldest_and_counts() -> None:
    sinks = SinkRegistry(1, 2, 2)
    slow = sinks.add_video()
    image = black_image(64, 48)
    from avsync._video import to_video_frame

    for index in range(5):
        slow.push_frame(0, to_video_frame(image, index), image, new=True)
    assert slow.dropped == 3 and sinks.dropped == 3
    assert [slow.receive_nowait().pts for _ in range(2)] == [3, 4]


async def test_a_flush_counts_stale_output_once_however_many_outputs() -> None:
    from avsync._sink import make_audio_frame
    from avsync._video import to_video_frame

    sinks = SinkRegistry(CONFIG.channels, 16, 16)
    audio_outputs = [sinks.add_audio(), sinks.add_audio()]
    video_outputs = [sinks.add_video(), sinks.add_video()]
    image = black_image(64, 48)
    for index in range(2):  # two stale packets and frames waiting in every output
        samples = np.full((CONFIG.packet_samples, 1), 100, np.int16)
        frame = make_audio_frame(samples, index * CONFIG.packet_samples, 48000, "mono")
        for audio in audio_outputs:
            audio.push_packet(0, frame, samples)
        for video in video_outputs:
            video.push_frame(0, to_video_frame(image, index), image, new=True)
    state = publisher_state()
    control: actors.Mailbox[Flush | Barrier] = actors.Mailbox(8)
    async with trio.open_nursery() as nursery:
        await actors.spawn(nursery, lambda: PublisherActor(CONFIG, state, control, sinks))
        reply: actors.Reply[None] = actors.Reply()
        await control.put(Barrier(1, reply))
        await reply.wait()
        nursery.cancel_scope.cancel()
    assert state.audio_dropped_stale_s == pytest.approx(0.04)
    assert state.frames_dropped_stale == 2
