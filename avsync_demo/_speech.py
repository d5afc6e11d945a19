"""Speech-like audio for the synthetic avatar: voiced syllables separated by silence.

Each syllable is a glottal-like harmonic tone (a falling pitch, two vowel formants) under a
short attack and a longer release. Syllables start on video frame boundaries, so the frame that
shows a syllable's onset and the onset itself share one media instant: their skew, measured
anywhere downstream, is the A/V skew of the pipeline. A faint seeded noise floor makes every
stretch of the utterance distinct, so a packet of it can be found again by its first samples.
"""

from __future__ import annotations

import functools
import math

import attrs
import numpy as np
import numpy.typing as npt

__all__ = ["Syllable", "Utterance", "compose"]

ATTACK_S = 0.012
RELEASE_S = 0.06
NOISE_LSB = 3  #: amplitude of the noise floor, in int16 steps (inaudible, -80 dBFS)
VOWELS = ((730, 1090), (270, 2290), (300, 870), (530, 1840), (570, 840))  #: (F1, F2) in Hz


@attrs.frozen
class Syllable:
    """One voiced sound: ``start`` and ``duration`` in seconds of media time."""

    start: float
    duration: float
    pitch_hz: float
    vowel: int
    loudness: float  #: peak amplitude, 0..1

    @property
    def end(self) -> float:
        return self.start + self.duration

    def opening(self, t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """The amplitude envelope at media times ``t``: 0 outside, 1 at full voice."""
        local = t - self.start
        rise = np.clip(local / ATTACK_S, 0.0, 1.0)
        fall = np.clip((self.duration - local) / RELEASE_S, 0.0, 1.0)
        inside = (local >= 0) & (local < self.duration)
        return np.where(inside, np.minimum(rise, fall) ** 0.5, 0.0)


@attrs.frozen
class Utterance:
    """A turn's speech: its syllables, sample rate and the video frame rate it aligns to."""

    syllables: tuple[Syllable, ...]
    duration: float
    rate: int
    fps: int
    seed: int

    @property
    def onset_frames(self) -> list[int]:
        """The index of the frame on which each syllable starts."""
        return [round(syllable.start * self.fps) for syllable in self.syllables]

    def samples(self) -> npt.NDArray[np.int16]:
        """The whole utterance, mono int16, ``round(duration * rate)`` samples (read-only,
        synthesised once)."""
        return self._samples

    @functools.cached_property
    def _samples(self) -> npt.NDArray[np.int16]:
        count = round(self.duration * self.rate)
        voice = np.zeros(count, np.float64)
        for syllable in self.syllables:
            first = round(syllable.start * self.rate)
            last = min(count, round(syllable.end * self.rate))
            t = np.arange(first, last) / self.rate
            voice[first:last] += (
                syllable.loudness * syllable.opening(t) * _vowel(syllable, t, self.rate)
            )
        noise = np.random.default_rng(self.seed).integers(-NOISE_LSB, NOISE_LSB + 1, count)
        samples = np.clip(np.round(voice * 32767) + noise, -32768, 32767).astype(np.int16)
        samples.flags.writeable = False
        return samples

    def opening(self, t: float, span: float = 0.0) -> float:
        """How open the mouth is (0..1) at media time ``t``: the strongest envelope over
        ``[t, t + span]`` (a frame shows what is voiced during its interval)."""
        times = np.linspace(t, t + span, 4) if span > 0 else np.array([t])
        best = 0.0
        for syllable in self.syllables:
            if syllable.end < t or syllable.start > t + span:
                continue
            best = max(best, float(syllable.opening(times).max()) * syllable.loudness / 0.6)
        return min(best, 1.0)


def _vowel(syllable: Syllable, t: npt.NDArray[np.float64], rate: int) -> npt.NDArray[np.float64]:
    """Harmonics of a gently falling pitch, weighted by the vowel's two formants; peak 1."""
    local = t - syllable.start
    pitch = syllable.pitch_hz * (1.0 - 0.12 * local / max(syllable.duration, 1e-3))
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    first, second = VOWELS[syllable.vowel % len(VOWELS)]
    wave = np.zeros_like(t)
    for harmonic in range(1, 24):
        frequency = harmonic * syllable.pitch_hz
        weight = math.exp(-(((frequency - first) / 180) ** 2)) + 0.6 * math.exp(
            -(((frequency - second) / 260) ** 2)
        )
        weight += 0.15 / harmonic
        wave += weight * np.sin(harmonic * phase)
    peak = float(np.abs(wave).max()) if len(wave) else 0.0
    return wave / peak if peak > 0 else wave


def compose(duration: float, *, rate: int, fps: int, seed: int) -> Utterance:
    """A seeded utterance of ``duration`` seconds: syllables of 120-280 ms with 110-220 ms of
    silence between them (longer pauses between words), each starting on a frame boundary."""
    if duration <= 0 or not math.isfinite(duration):
        raise ValueError(f"duration must be positive and finite, got {duration!r}")
    rng = np.random.default_rng(seed)
    syllables: list[Syllable] = []
    t = 0.1
    while True:
        length = float(rng.uniform(0.12, 0.28))
        start = round(t * fps) / fps
        if start + length > duration - 0.05:
            break
        syllables.append(
            Syllable(
                start=start,
                duration=length,
                pitch_hz=float(rng.uniform(105, 150)),
                vowel=int(rng.integers(len(VOWELS))),
                loudness=float(rng.uniform(0.45, 0.6)),
            )
        )
        pause = float(rng.uniform(0.11, 0.22))
        if rng.random() < 0.25:
            pause += 0.2  # between words
        t = start + length + pause
    return Utterance(tuple(syllables), duration, rate, fps, seed)
