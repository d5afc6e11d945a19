"""The audio write timeline and the ingest's state, driven directly: plain numbers, no trio.

Output 48 kHz mono, 20 ms packets (960 samples).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from avsync import InvalidAudioError, SyncConfig
from avsync._audio import prepare_audio
from avsync._ingest_state import IngestState
from avsync._messages import AudioIn, EndAudio
from avsync._timeline import AudioTimeline

RATE = 48000
PACKET = 960
CONFIG = SyncConfig(width=64, height=48, sample_rate=RATE, channels=1)


# -- the write timeline ----------------------------------------------------------------------------


def test_writes_without_pts_continue_the_cursor() -> None:
    timeline = AudioTimeline(0, RATE)
    for _ in range(3):
        placement = timeline.place(None, 0.1)
        assert placement.start is None
        timeline.commit(placement)
    assert timeline.cursor == pytest.approx(3 * 4800) and timeline.cursor_s == pytest.approx(0.3)


def test_the_first_write_starts_at_its_pts_and_a_later_gap_is_kept() -> None:
    timeline = AudioTimeline(0, RATE)
    first = timeline.place(0.5, 0.1)
    assert first.start == 24000
    timeline.commit(first)
    assert timeline.cursor_s == pytest.approx(0.6)
    later = timeline.place(1.0, 0.1)
    assert later.start == 48000  # 0.4 s after the audio before: silence fills it
    timeline.commit(later)
    assert timeline.cursor_s == pytest.approx(1.1)


def test_pts_within_a_millisecond_of_the_cursor_continues_it() -> None:
    timeline = AudioTimeline(0, RATE)
    timeline.commit(timeline.place(0.0, 0.1))
    for pts in (0.0995, 0.1, 0.1009):
        assert timeline.place(pts, 0.1).start is None


def test_overlap_backwards_and_writes_after_the_end_are_refused_and_change_nothing() -> None:
    timeline = AudioTimeline(3, RATE)
    timeline.commit(timeline.place(1.0, 0.5))
    with pytest.raises(InvalidAudioError, match=r"overlaps .* epoch 3 \(up to 1.500000 s\)"):
        timeline.place(1.2, 0.1)
    with pytest.raises(InvalidAudioError, match=r"went backwards within epoch 3: 0\.5 after 1\.0"):
        timeline.place(0.5, 0.1)
    assert timeline.cursor_s == pytest.approx(1.5)
    timeline.end()
    with pytest.raises(InvalidAudioError, match="end_audio"):
        timeline.place(None, 0.1)


# -- the ingest ------------------------------------------------------------------------------------


def ingest() -> IngestState:
    return IngestState(sample_rate=RATE, layout="mono", packet_samples=PACKET)


def chunk(
    samples: np.ndarray, *, start: int | None = None, epoch: int = 0, rate: int = RATE
) -> AudioIn:
    return AudioIn(epoch, prepare_audio(samples, rate, CONFIG), start, 0.0)


def test_chunks_become_stamped_packets_and_the_end_pads_the_last_one() -> None:
    state = ingest()
    first = state.chunk(chunk(np.arange(1, 1441, dtype=np.int16)))  # 1.5 packets
    assert [(p.start, p.real) for p in first] == [(0, PACKET)]
    ended = state.end(EndAudio(0))
    assert ended is not None
    packets, end = ended
    assert [(p.start, p.real) for p in packets] == [(PACKET, 480)]
    assert np.array_equal(packets[0].samples[:480, 0], np.arange(961, 1441))
    assert not packets[0].samples[480:].any()
    assert end.end == 1440


def test_a_chunk_after_a_gap_is_preceded_by_silence() -> None:
    state = ingest()
    state.chunk(chunk(np.ones(480, np.int16), start=PACKET * 10))  # the epoch starts at 0.2 s
    packets = state.chunk(chunk(np.full(480, 2, np.int16), start=PACKET * 11 + 480))
    assert [p.start for p in packets] == [PACKET * 10, PACKET * 11]
    first, second = (p.samples[:, 0] for p in packets)
    assert np.all(first[:480] == 1) and not first[480:].any()  # then 480 samples of silence
    assert np.all(second[480:] == 2) and not second[:480].any()


def test_stale_chunks_and_what_a_flush_cuts_off_are_counted() -> None:
    state = ingest()
    state.chunk(chunk(np.ones(1200, np.int16)))  # one packet out, 240 samples pending
    state.flush(1)
    assert state.counters.dropped_stale_s == pytest.approx(240 / RATE)
    assert state.chunk(chunk(np.ones(480, np.int16), epoch=0)) == []
    assert state.counters.dropped_stale_s == pytest.approx(720 / RATE)
    assert state.end(EndAudio(0)) is None
    assert [p.epoch for p in state.chunk(chunk(np.ones(PACKET, np.int16), epoch=1))] == [1]


@given(
    sizes=st.lists(st.integers(1, 3000), min_size=1, max_size=12),
    rate=st.sampled_from([RATE, 16000, 44100]),
)
def test_every_sample_written_comes_out_once_in_order(sizes: list[int], rate: int) -> None:
    """Conservation: the real samples of the packets add up to the audio written (resampled:
    exactly round(frames * 48000 / rate)), and packets follow each other without gap."""
    state = ingest()
    packets = []
    for size in sizes:
        packets += state.chunk(chunk(np.full(size, 100, np.int16), rate=rate))
    ended = state.end(EndAudio(0))
    assert ended is not None
    packets += ended[0]
    assert sum(p.real for p in packets) == round(sum(sizes) * RATE / rate)
    assert [p.start for p in packets] == [i * PACKET for i in range(len(packets))]
    assert ended[1].end == sum(p.real for p in packets)


@given(
    writes=st.lists(
        st.tuples(
            st.integers(1, 3000),
            st.sampled_from([RATE, 16000, 44100, 8000]),
            st.sampled_from([np.int16, np.float32]),
            st.none() | st.integers(0, 3 * PACKET),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_max_packets_bounds_what_a_chunk_returns(
    writes: list[tuple[int, int, type, int | None]],
) -> None:
    """The bound the ingest checks room with, before it takes a chunk in at once: never
    fewer than the packets the chunk completes, whatever the rate, format or gap (a gap is
    given as samples after the end of what was written so far)."""
    state = ingest()
    for size, rate, dtype, gap in writes:
        audio = np.full(size, 100 if dtype is np.int16 else 0.01, dtype)
        start = None
        if gap is not None and state.next_start is not None:
            start = state.next_start + state.packetizer.pending + gap
        message = chunk(audio, start=start, rate=rate)
        bound = state.max_packets(message)
        assert len(state.chunk(message)) <= bound
