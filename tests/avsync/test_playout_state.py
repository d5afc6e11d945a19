"""The clock's playout state driven directly: plain numbers, no trio, no actor.

20 ms packets at 48 kHz (960 samples); ticks at 0, 0.02, 0.04 ... from origin 0.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from avsync._messages import AudioPacket, SpeechState
from avsync._playout import PACKET_WAITS, Playout
from avsync._stats import PlayoutResult

RATE = 48000
PACKET = 960


class Buffer:
    """The audio buffer as the playout reads it."""

    def __init__(self) -> None:
        self.items: deque[AudioPacket] = deque()

    def __len__(self) -> int:
        return len(self.items)

    def get_nowait(self) -> AudioPacket:
        return self.items.popleft()


def packet(epoch: int, index: int, *, real: int = PACKET, arrival: float = 0.0) -> AudioPacket:
    samples = np.full((PACKET, 1), index + 1, np.int16)
    return AudioPacket(epoch, index * PACKET, samples, real, arrival)


def playout(delay_s: float = 0.0) -> Playout[str]:
    return Playout(origin=0.0, packet_s=PACKET / RATE, sample_rate=RATE, playout_delay_s=delay_s)


def test_idle_ticks_are_silence_on_an_absolute_schedule_and_not_underrun() -> None:
    state, buffer = playout(), Buffer()
    ticks = [state.tick(buffer)[0] for _ in range(3)]
    assert [tick.at for tick in ticks] == [0.0, 0.02, 0.04]
    assert [tick.index for tick in ticks] == [0, 1, 2]
    assert all(tick.packet is None and tick.speech is SpeechState.IDLE for tick in ticks)
    assert state.counters.underrun_s == 0 and state.counters.packets_emitted == 3


def test_packets_play_in_order_then_a_gap_is_underrun_and_media_time_pauses() -> None:
    state, buffer = playout(), Buffer()
    buffer.items.extend(packet(0, index) for index in range(2))
    first, second, gap = (state.tick(buffer)[0] for _ in range(3))
    assert first.packet is not None and first.packet.start == 0
    assert second.packet is not None and second.packet.start == PACKET
    assert gap.packet is None and gap.speech is SpeechState.ACTIVE
    assert state.counters.underrun_s == PACKET / RATE
    assert state.position == 2 * PACKET / RATE  # the silence is not media time


def test_the_first_packet_waits_for_the_playout_delay() -> None:
    state, buffer = playout(delay_s=0.1), Buffer()
    buffer.items.append(packet(0, 0, arrival=0.0))
    silent = [state.tick(buffer)[0] for _ in range(5)]  # 0 .. 0.08
    assert all(tick.packet is None for tick in silent)
    assert state.speech is SpeechState.PENDING and state.held_packets == 1
    assert state.counters.underrun_s == 0  # waiting is not underrun
    played = state.tick(buffer)[0]  # at 0.1
    assert played.packet is not None and played.at == 0.1


def test_a_missing_packet_is_waited_for_until_the_waits_are_used_up() -> None:
    state, buffer = playout(), Buffer()
    buffer.items.append(packet(0, 0))
    state.tick(buffer)  # speech plays
    waits = [state.waits_for_packet(buffer) for _ in range(PACKET_WAITS + 1)]
    assert waits == [True] * PACKET_WAITS + [False]
    gap = state.tick(buffer)[0]
    assert gap.packet is None and state.counters.underrun_s == PACKET / RATE
    assert not state.waits_for_packet(buffer)  # a pause: its later ticks do not wait
    buffer.items.append(packet(0, 1))
    assert not state.waits_for_packet(buffer)  # the packet is here
    state.tick(buffer)
    assert state.waits_for_packet(buffer)  # a packet came: the next one missing is waited for


def test_only_playing_speech_with_no_known_end_waits_for_a_packet() -> None:
    state, buffer = playout(), Buffer()
    assert not state.waits_for_packet(buffer)  # idle: nothing to wait for
    buffer.items.append(packet(0, 0))
    state.tick(buffer)
    state.end_of_speech(0, 2 * PACKET, buffer)
    assert state.speech is SpeechState.ACTIVE
    assert not state.waits_for_packet(buffer)  # the end is known: every packet is buffered


def test_waiters_are_answered_when_the_last_sample_is_emitted() -> None:
    state, buffer = playout(), Buffer()
    buffer.items.extend([packet(0, 0), packet(0, 1, real=480)])
    assert state.wait(0, "a", buffer) == []
    assert state.end_of_speech(0, PACKET + 480, buffer) == []
    assert state.tick(buffer)[1] == []
    tick, answers = state.tick(buffer)
    assert tick.speech is SpeechState.ENDED
    assert answers == [("a", PlayoutResult(0.03, interrupted=False))]
    assert state.wait(0, "late", buffer) == [("late", PlayoutResult(0.03, interrupted=False))]


def test_end_of_speech_with_nothing_left_ends_at_once() -> None:
    state, buffer = playout(), Buffer()
    state.wait(0, "a", buffer)
    assert state.end_of_speech(0, 0, buffer) == [("a", PlayoutResult(0.0, interrupted=False))]


def test_a_flush_interrupts_waiters_at_the_position_heard_and_drops_stale_packets() -> None:
    state, buffer = playout(), Buffer()
    buffer.items.extend(packet(0, index) for index in range(3))
    state.tick(buffer)
    state.wait(0, "a", buffer)
    buffer.items.append(packet(1, 0))
    answers = state.flush(1, buffer)
    assert answers == [("a", PlayoutResult(0.02, interrupted=True))]
    assert state.epoch == 1 and state.speech is SpeechState.IDLE
    assert state.counters.dropped_stale_s == 2 * PACKET / RATE
    tick = state.tick(buffer)[0]
    assert tick.packet is not None and tick.packet.epoch == 1 and tick.epoch == 1
    assert state.flush(1, buffer) == []  # not newer: nothing happens


def test_a_packet_of_a_newer_epoch_catches_up_before_its_flush_arrives() -> None:
    state, buffer = playout(), Buffer()
    state.wait(0, "a", buffer)
    buffer.items.extend([packet(1, 0), packet(1, 1)])
    first, answers = state.tick(buffer)
    assert first.epoch == 1 and first.packet is not None and first.packet.start == 0
    assert answers == [("a", PlayoutResult(0.0, interrupted=True))]
    second = state.tick(buffer)[0]
    assert second.packet is not None and second.packet.start == PACKET  # in order


def test_a_stale_waiter_is_answered_at_once_and_close_returns_the_rest() -> None:
    state, buffer = playout(), Buffer()
    state.flush(2, buffer)
    assert state.wait(1, "old", buffer) == [("old", PlayoutResult(0.0, interrupted=True))]
    state.wait(2, "b", buffer)
    assert state.close() == ["b"]


operations = st.lists(
    st.one_of(
        st.tuples(st.just("write"), st.integers(1, 4)),
        st.tuples(st.just("tick"), st.integers(1, 5)),
        st.tuples(st.just("flush"), st.just(0)),
    ),
    max_size=40,
)


@given(operations, st.sampled_from([0.0, 0.05]))
def test_every_packet_is_emitted_once_in_order_or_counted_stale(
    script: list[tuple[str, int]], delay_s: float
) -> None:
    """Conservation and ordering: whatever the order of writes, ticks and flushes, each packet
    written is emitted exactly once, or dropped as stale and counted; what is emitted is in
    write order and never older than the epoch current when it goes out."""
    state, buffer = playout(delay_s), Buffer()
    writer_epoch, next_index = 0, 0
    written: list[AudioPacket] = []
    emitted: list[AudioPacket] = []
    for operation, count in script:
        if operation == "write":
            for _ in range(count):
                item = packet(writer_epoch, next_index, arrival=state.next_tick_at)
                next_index += 1
                written.append(item)
                buffer.items.append(item)
        elif operation == "tick":
            for _ in range(count):
                tick = state.tick(buffer)[0]
                if tick.packet is not None:
                    assert tick.packet.epoch == state.epoch
                    emitted.append(tick.packet)
        else:
            writer_epoch += 1
            next_index = 0
            state.flush(writer_epoch, buffer)
    while len(buffer) or state.held_packets:  # play out what is left
        tick = state.tick(buffer)[0]
        if tick.packet is not None:
            emitted.append(tick.packet)
    assert [written.index(item) for item in emitted] == sorted(
        written.index(item) for item in emitted
    )
    assert len(set(map(id, emitted))) == len(emitted)
    stale = [item for item in written if item not in emitted]
    assert all(item.epoch < writer_epoch for item in stale)
    assert np.isclose(state.counters.dropped_stale_s, len(stale) * PACKET / RATE)
