"""The WebRTC face over real aiortc connections on 127.0.0.1, in real time.

aiortc runs on asyncio inside ``trio_asyncio.open_loop()``; never under MockClock (its network
timers would become virtual). Sync is measured with marked media (``avsync.loopback``): frames
carry their index in luma blocks, the audio has tone onsets on known frames. At the sender the
skew is taken where frames are handed to aiortc (a pass-through track that aiortc pulls from);
at the receiver, where aiortc hands decoded frames out. Run with ``-s`` to see the figures.
"""

from __future__ import annotations

import asyncio
import statistics

import numpy as np
import pytest
import trio
import trio_asyncio
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

import avsync
import avsync.webrtc
from avsync import loopback
from avsync.webrtc import add_tracks

from .harness import assert_frame_steps

pytestmark = pytest.mark.realtime

WIDTH, HEIGHT = 320, 240  # marker blocks of 80 x 80 pixels; cheap to encode
PACKET = 960  # 20 ms at 48 kHz
FRAME_PTS = 3000  # 1/30 s at 90 kHz


def config() -> avsync.SyncConfig:
    return avsync.SyncConfig(width=WIDTH, height=HEIGHT, fps=30, sample_rate=48000)


def msids(sdp: str) -> dict[str, tuple[str, str]]:
    """(stream id, track id) of each m-line of ``sdp``, by media kind."""
    found: dict[str, tuple[str, str]] = {}
    kind = ""
    for line in sdp.splitlines():
        if line.startswith("m="):
            kind = line[2:].split()[0]
        elif line.startswith("a=msid:"):
            stream, track = line[len("a=msid:") :].split()
            found[kind] = (stream, track)
    return found


async def test_a_marked_utterance_crosses_a_loopback_connection_in_sync() -> None:
    utterance = loopback.MarkedUtterance(WIDTH, HEIGHT, duration_s=3.5)
    sent = loopback.MediaLog()
    async with trio_asyncio.open_loop(), avsync.open_synchronizer(config()) as sync:
        async with loopback.open_peers(2) as (sender, receiver):
            audio_sender, video_sender = add_tracks(sender, sync)
            loopback.tap(audio_sender, sent)
            loopback.tap(video_sender, sent)
            received = loopback.Receiver(receiver)
            await loopback.connect(sender, receiver)
            with trio.fail_after(5):  # media flows (placeholder and silence) before speech
                while not (received.log.video and received.log.audio):
                    await trio.sleep(0.01)

            await utterance.perform(sync, speed=2.0)
            result = await sync.wait_for_playout()
            await trio.sleep(0.3)  # the last frames cross the connection
            stats = sync.stats()
            remote_msids = msids(receiver.remoteDescription.sdp)
            await received.aclose()
        await sync.aclose()

    assert not result.interrupted
    assert sorted(received.kinds) == ["audio", "video"]
    assert remote_msids["audio"][0] == remote_msids["video"][0], "one MediaStream"

    # the frames were handed to aiortc in order (all of them unless aiortc's sender fell more
    # than the track's 4 frames behind, as on a loaded machine); most arrived, decodable, in order
    handed = sent.marks()
    assert handed == sorted(set(handed)), handed
    assert len(handed) >= 0.9 * utterance.frame_count, handed
    marks = received.log.marks()
    assert len(marks) >= 0.9 * utterance.frame_count, f"only {len(marks)} frames arrived"
    assert marks == sorted(marks)
    assert stats.frames_dropped_late == 0 and stats.audio_underrun_s == 0

    sender_skews = sent.skews_ms(utterance.onset_frames)
    receiver_skews = received.log.skews_ms(utterance.onset_frames)
    print(
        f"\nA/V skew at {len(utterance.onset_frames)} markers, ms (positive: video late)"
        f"\n  handed to aiortc (sender):   {np.round(sender_skews, 2).tolist()}"
        f"  median {statistics.median(sender_skews):+.2f}"
        f"\n  handed out by aiortc (receiver): {np.round(receiver_skews, 1).tolist()}"
        f"  median {statistics.median(receiver_skews):+.1f}"
        f"\n  frames: {utterance.frame_count} written, {len(marks)} received and decoded"
    )
    # the skew at the sender is when aiortc's sender tasks (encoding on the same cores) take
    # each frame: within a millisecond or two unloaded; on a loaded machine some wake-ups are
    # tens of ms late. The exact timing of the outputs is checked under MockClock elsewhere.
    assert abs(statistics.median(sender_skews)) <= 5.0, sender_skews
    assert sum(abs(skew) <= 15.0 for skew in sender_skews) * 2 >= len(sender_skews), sender_skews
    # aiortc's receiver hands video out ~53 ms ahead of its audio (audio waits ~87 ms in its
    # jitter buffer and Opus, video ~34 ms for the next frame's first packet), so only a sanity
    # bound here; the figures are printed above
    assert all(abs(skew) <= 200.0 for skew in receiver_skews), receiver_skews


async def test_add_tracks_puts_both_m_lines_in_one_media_stream() -> None:
    async with trio_asyncio.open_loop(), avsync.open_synchronizer(config()) as sync:
        async with loopback.open_peers(1) as (pc,):
            audio_sender, video_sender = add_tracks(pc, sync)
            assert (audio_sender.track, video_sender.track) == avsync.webrtc.tracks(sync)
            offer = await trio_asyncio.aio_as_trio(pc.createOffer)()
        await sync.aclose()

    found = msids(offer.sdp)
    assert set(found) == {"audio", "video"}
    (audio_stream, audio_track), (video_stream, video_track) = found["audio"], found["video"]
    assert audio_stream == video_stream
    assert (audio_track, video_track) == tuple(t.id for t in avsync.webrtc.tracks(sync))


async def test_after_aclose_the_tracks_are_ended_and_recv_raises() -> None:
    async with trio_asyncio.open_loop(), avsync.open_synchronizer(config()) as sync:
        audio, video = avsync.webrtc.tracks(sync)
        assert (audio.readyState, video.readyState) == ("live", "live")

        async def pull_until_ended(track: MediaStreamTrack) -> int:
            """Take frames until recv() raises; most of the time it is waiting for one."""
            frames = 0
            try:
                while True:
                    await track.recv()
                    frames += 1
            except MediaStreamError:
                return frames

        waiting = [
            asyncio.ensure_future(pull_until_ended(audio)),
            asyncio.ensure_future(pull_until_ended(video)),
        ]
        await trio.sleep(0.2)
        assert not any(task.done() for task in waiting)
        await sync.aclose()
        with trio.fail_after(1):  # a recv() waiting at the close is woken and raises
            frames = await trio_asyncio.aio_as_trio(asyncio.gather)(*waiting)
        assert all(count > 0 for count in frames)

        assert (audio.readyState, video.readyState) == ("ended", "ended")
        for track in (audio, video):
            with pytest.raises(MediaStreamError):
                await trio_asyncio.aio_as_trio(track.recv)()


async def test_tracks_hand_frames_over_at_their_emit_time() -> None:
    """Under trio_asyncio, successive recv() returns are one packet (one frame) apart, never in
    bursts, without drift; audio pts advance by exactly one packet, video pts by one frame.

    Measured from the first recv() that had to wait: what a track queued before anyone pulled
    from it (up to 200 ms of audio, 4 frames) is handed over at once, as it should be.
    Unloaded, gaps stay within 1 ms of the period; on a loaded machine a wake-up can be tens of
    ms late, and the next one then comes early: so the checks are that the typical gap is the
    period, that the times keep to one period per item (no drift), and that no lateness builds up.
    """
    async with trio_asyncio.open_loop(), avsync.open_synchronizer(config()) as sync:

        async def pull(track: MediaStreamTrack, count: int) -> list[tuple[float, int]]:
            loop = asyncio.get_running_loop()
            while True:  # catch up with the backlog: until a recv() waits for an emission
                started = loop.time()
                await track.recv()
                if loop.time() - started > 0.01:
                    break
            got = []
            for _ in range(count):
                frame = await track.recv()
                got.append((loop.time(), frame.pts))
            return got

        audio_got, video_got = await trio_asyncio.aio_as_trio(asyncio.gather)(
            pull(avsync.webrtc.tracks(sync)[0], 50), pull(avsync.webrtc.tracks(sync)[1], 30)
        )
        await sync.aclose()

    for got, period_ms in ((audio_got, 20.0), (video_got, 1000 / 30)):
        times_ms = np.array([at for at, _ in got]) * 1000
        gaps_ms = np.diff(times_ms)
        shown = np.round(gaps_ms, 1).tolist()
        assert np.median(np.abs(gaps_ms - period_ms)) <= 5.0, shown  # no bursts
        items = np.arange(len(times_ms))
        slope, intercept = np.polyfit(items, times_ms, 1)
        assert slope == pytest.approx(period_ms, rel=0.02), shown  # no drift
        assert np.all(np.abs(times_ms - (intercept + items * slope)) <= 60.0), shown
    assert np.all(np.diff([pts for _, pts in audio_got]) == PACKET)
    assert_frame_steps([pts for _, pts in video_got], FRAME_PTS)


async def test_a_connection_sending_the_tracks_closes_promptly_while_the_synchronizer_runs() -> (
    None
):
    """``loopback.close()`` stops the tracks a connection sends before ``pc.close()``. Under
    trio_asyncio a bare ``pc.close()`` issued while aiortc encodes (right after an emit) waits
    for as long as the synchroniser runs: the cancellation of aiortc's RTP task is lost while it
    awaits the encoder in an executor (see ``loopback.close``)."""
    async with trio_asyncio.open_loop(), avsync.open_synchronizer(config()) as sync:
        async with loopback.open_peers(2) as (sender, receiver):
            add_tracks(sender, sync)
            received = loopback.Receiver(receiver)
            await loopback.connect(sender, receiver)
            with trio.fail_after(5):
                while len(received.log.video) < 5:
                    await trio.sleep(0.01)
            async with sync.audio_frames() as emitted:
                await emitted.receive()  # aiortc is handed this packet now and encodes it
                with trio.fail_after(2):
                    await loopback.close(sender)
            assert not sync.closed
            assert [t.readyState for t in avsync.webrtc.tracks(sync)] == ["ended"] * 2
            await received.aclose()
        await sync.aclose()
