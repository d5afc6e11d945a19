"""Measuring the demo's sync from what was handed over, independently of the synchroniser.

At the sender (frames as avsync hands them to aiortc, before any codec) every frame says which
frame of which turn it is (its marker strip) and every speech packet is found again in the
turns' audio by its first samples, so the offset of each frame is exact: (when the frame was
first handed over) - (when the audio sample at its media time was). At the receiver (after
VP8, Opus and aiortc's jitter buffers) the audio is no longer bit-exact, so skew is measured at
each syllable onset against the frame that shows it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs
import numpy as np

from avsync.loopback import MediaLog, find_onsets

from ._speech import Utterance

__all__ = [
    "FrameOffset",
    "SpeechIndex",
    "SyllableSkew",
    "Stale",
    "detector_delay",
    "frame_offsets",
    "stale_after",
    "syllable_skews",
]

KEY_SAMPLES = 32  #: a packet is recognised by this many leading samples
ONSET_THRESHOLD = 2000
ONSET_WINDOW_S = 0.5  #: a receiver onset is looked for this long after the sender's


@attrs.frozen
class FrameOffset:
    """A frame's A/V offset in ms (positive: video late), ``at`` seconds into the run."""

    at: float
    turn: int
    index: int
    offset_ms: float
    arrived_late: bool  #: the provider wrote it after its audio had been heard: cannot be in sync


@attrs.frozen
class SyllableSkew:
    """A/V skew at the receiver at a syllable onset, in ms (positive: video late)."""

    at: float
    turn: int
    syllable: int
    frame: int  #: the frame that shows the onset
    skew_ms: float


@attrs.frozen
class Stale:
    """Output of a flushed turn handed over after ``start_turn()`` returned."""

    frames: int
    audio_ms: float


class SpeechIndex:
    """Where each packet of each turn's speech was handed over, found by content.

    The synchroniser cuts a turn's audio into packets of ``packet_samples`` from its first
    sample, and at the sender packets are bit-exact, so a packet's first samples say which turn
    and which media sample it starts at (the utterances carry a noise floor, so no two stretches
    are alike).
    """

    def __init__(self, utterances: Mapping[int, Utterance], packet_samples: int) -> None:
        self.packet_samples = packet_samples
        self.rate = next(iter(utterances.values())).rate
        self._keys: dict[bytes, tuple[int, int]] = {}
        for turn, utterance in utterances.items():
            samples = utterance.samples()
            for first in range(0, len(samples) - KEY_SAMPLES, packet_samples):
                self._keys[samples[first : first + KEY_SAMPLES].tobytes()] = (turn, first)
        self.emitted: dict[int, dict[int, float]] = {turn: {} for turn in utterances}

    def scan(self, log: MediaLog) -> None:
        """Note when each speech packet in ``log`` was first handed over."""
        for arrival in log.audio:
            found = self._keys.get(arrival.samples[:KEY_SAMPLES].tobytes())
            if found is not None:
                self.emitted[found[0]].setdefault(found[1], arrival.at)

    def heard_at(self, turn: int, sample: int) -> float | None:
        """When media sample ``sample`` of ``turn`` was handed over (None if it never was)."""
        first = sample - sample % self.packet_samples
        at = self.emitted[turn].get(first)
        return None if at is None else at + (sample - first) / self.rate

    def turn_of(self, samples: np.ndarray) -> int | None:
        found = self._keys.get(samples[:KEY_SAMPLES].tobytes())
        return None if found is None else found[0]


def frame_offsets(
    log: MediaLog,
    speech: SpeechIndex,
    epochs: Mapping[int, int],
    written: Mapping[tuple[int, int], float],
    fps: int,
    origin: float,
) -> list[FrameOffset]:
    """The offset of every turn frame in ``log`` whose audio was handed over too; ``written``
    says when the provider wrote each (turn, frame index)."""
    turn_of_epoch = {epoch % 4: turn for turn, epoch in epochs.items()}
    offsets = []
    for (epoch, index), shown in log.first_arrivals().items():
        turn = turn_of_epoch.get(epoch)
        if turn is None:
            continue
        heard = speech.heard_at(turn, round(index / fps * speech.rate))
        if heard is not None:
            late = written.get((turn, index), -np.inf) > heard
            offsets.append(FrameOffset(shown - origin, turn, index, (shown - heard) * 1000, late))
    return sorted(offsets, key=lambda offset: offset.at)


def stale_after(
    log: MediaLog, speech: SpeechIndex, turn: int, epoch: int, flushed_at: float
) -> Stale:
    """What of ``turn`` (frames never shown before, speech packets) ``log`` got after
    ``flushed_at``."""
    frames = sum(
        1 for mark, at in log.first_arrivals().items() if at > flushed_at and mark[0] == epoch % 4
    )
    packets = sum(
        1
        for arrival in log.audio
        if arrival.at > flushed_at and speech.turn_of(arrival.samples) == turn
    )
    return Stale(frames, packets * speech.packet_samples / speech.rate * 1000)


def syllable_skews(
    receiver: MediaLog,
    speech: SpeechIndex,
    utterances: Mapping[int, Utterance],
    epochs: Mapping[int, int],
    origin: float,
) -> list[SyllableSkew]:
    """Skew at each syllable onset that reached the receiver, in time order.

    The onset heard at the receiver is the first one detected within ``ONSET_WINDOW_S`` after
    the sender handed it over, less the detector's own delay on the clean utterance (the
    threshold is crossed a little after a soft attack begins)."""
    heard = np.array(receiver.onset_times(ONSET_THRESHOLD))
    shown = receiver.first_arrivals()
    skews = []
    for turn, utterance in utterances.items():
        clean = find_onsets(utterance.samples(), utterance.rate, ONSET_THRESHOLD)
        for number, (syllable, frame) in enumerate(
            zip(utterance.syllables, utterance.onset_frames, strict=True)
        ):
            start = round(syllable.start * utterance.rate)
            sent = speech.heard_at(turn, start)
            video = shown.get((epochs[turn] % 4, frame))
            if sent is None or video is None or len(heard) == 0:
                continue
            after = heard[(heard >= sent) & (heard < sent + ONSET_WINDOW_S)]
            delay = detector_delay(clean, start, utterance.rate)
            if len(after) == 0 or delay is None:
                continue
            audio = float(after[0]) - delay
            skews.append(SyllableSkew(video - origin, turn, number, frame, (video - audio) * 1000))
    return sorted(skews, key=lambda skew: skew.at)


def detector_delay(onsets: Sequence[int], start: int, rate: int) -> float | None:
    """Seconds from a sound starting at sample ``start`` to the first of ``onsets`` (detected
    on the clean signal) within 50 ms of it; None if none is."""
    later = [onset for onset in onsets if start <= onset < start + rate // 20]
    return (later[0] - start) / rate if later else None
