"""Audio input: validation at the call site, conversion with PyAV, cutting into packets.

Pure functions and small state objects; no trio here.
"""

from __future__ import annotations

import math
from typing import Any, cast

import av
import numpy as np
import numpy.typing as npt

from ._config import SyncConfig
from ._errors import InvalidAudioError, InvalidAudioTypeError
from ._messages import Samples

__all__ = ["AudioConverter", "Packetizer", "PreparedAudio", "int16_samples", "prepare_audio"]

MIN_INPUT_RATE = 8000
MAX_INPUT_RATE = 96000


class PreparedAudio:
    """Validated input audio, copied, in PyAV's ndarray layout for ``format``."""

    __slots__ = ("data", "format", "frames", "layout", "rate")

    def __init__(
        self, data: npt.NDArray[Any], format: str, layout: str, rate: int, frames: int
    ) -> None:
        self.data = data
        self.format = format
        self.layout = layout
        self.rate = rate
        self.frames = frames

    @property
    def duration(self) -> float:
        return self.frames / self.rate


def _check_rate(rate: object) -> int:
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)):
        raise InvalidAudioError(f"sample_rate must be an int, got {rate!r}")
    if not MIN_INPUT_RATE <= rate <= MAX_INPUT_RATE:
        raise InvalidAudioError(
            f"sample_rate must be from {MIN_INPUT_RATE} to {MAX_INPUT_RATE} Hz, got {rate}"
        )
    return int(rate)


def _check_finite(data: npt.NDArray[Any]) -> None:
    if data.dtype.kind == "f" and not np.isfinite(data).all():
        raise InvalidAudioError("audio samples must be finite (found NaN or inf)")


def prepare_audio(samples: object, sample_rate: int | None, config: SyncConfig) -> PreparedAudio:
    """Validate ``write_audio`` input and take a private copy. Raises an
    :class:`InvalidAudioError` / :class:`InvalidAudioTypeError` that says what is wrong."""
    if isinstance(samples, av.AudioFrame):
        if samples.samples == 0:
            raise InvalidAudioError("audio frame has no samples")
        rate = _check_rate(samples.sample_rate)
        if sample_rate is not None and _check_rate(sample_rate) != rate:
            raise InvalidAudioError(
                f"sample_rate={sample_rate} contradicts the frame's sample_rate={rate}"
            )
        data = samples.to_ndarray()
        _check_finite(data)
        return PreparedAudio(data, samples.format.name, samples.layout.name, rate, samples.samples)

    if not isinstance(samples, np.ndarray):
        if _is_pcm(samples):
            return _prepare_pcm(samples, sample_rate)
        raise InvalidAudioTypeError(
            "audio must be a numpy array, an av.AudioFrame or a PCM object (with samples, "
            f"sample_rate and channels), got {type(samples).__name__}"
        )
    if samples.dtype == np.int16:
        sample_format = "s16"
    elif samples.dtype == np.float32:
        sample_format = "flt"
    else:
        raise InvalidAudioTypeError(f"audio samples must be int16 or float32, got {samples.dtype}")
    rate = config.sample_rate if sample_rate is None else _check_rate(sample_rate)
    if samples.ndim == 1 or (samples.ndim == 2 and samples.shape[1] == 1):
        layout = "mono"
    elif samples.ndim == 2 and samples.shape[1] == config.channels:
        layout = config.layout
    elif samples.ndim == 2:
        raise InvalidAudioError(
            f"audio has {samples.shape[1]} channels but the synchroniser has "
            f"channels={config.channels} (pass shape (n,) or (n, {config.channels}))"
        )
    else:
        raise InvalidAudioError(
            f"audio must have shape (n,) or (n, channels), got shape {samples.shape}"
        )
    frames = samples.shape[0]
    if frames == 0:
        raise InvalidAudioError("audio chunk has no samples")
    _check_finite(samples)
    # PyAV's packed layout: one row of interleaved samples. reshape on a C-contiguous copy.
    data = np.array(samples, dtype=samples.dtype, order="C", copy=True).reshape(1, -1)
    return PreparedAudio(data, sample_format, layout, rate, frames)


#: A PCM object's ``format`` (a string, or an enum whose ``value`` is one): the dtype it declares.
PCM_FORMATS: dict[str, np.dtype[Any]] = {"s16": np.dtype(np.int16), "f32": np.dtype(np.float32)}
#: PyAV's name of each input dtype's packed sample format.
_AV_FORMATS = {np.dtype(np.int16): "s16", np.dtype(np.float32): "flt"}


def _is_pcm(value: object) -> bool:
    """Whether ``value`` looks like a PCM object (getstream's ``PcmData`` and the like)."""
    return all(hasattr(value, name) for name in ("samples", "sample_rate", "channels"))


def _prepare_pcm(pcm: Any, sample_rate: int | None) -> PreparedAudio:
    """Validate a PCM object (duck-typed: ``samples``, ``sample_rate``, ``channels``, and
    optionally ``format``) and take a private copy. ``samples`` is numpy int16 or float32, either
    1-D interleaved or 2-D planar ``(channels, n)`` (``(n, channels)`` is taken too); ``format``,
    if given, must agree with the dtype. The object's own timestamps are not read: ``pts=`` of
    ``write_audio`` says where the audio goes."""
    samples = pcm.samples
    if not isinstance(samples, np.ndarray):
        raise InvalidAudioTypeError(
            f"PCM samples must be a numpy array, got {type(samples).__name__}"
        )
    if samples.dtype not in _AV_FORMATS:
        raise InvalidAudioTypeError(f"PCM samples must be int16 or float32, got {samples.dtype}")
    declared = getattr(pcm, "format", None)
    if declared is not None:
        name = getattr(declared, "value", declared)
        if not isinstance(name, str) or name.lower() not in PCM_FORMATS:
            raise InvalidAudioError(
                f"PCM format must be one of {sorted(PCM_FORMATS)}, got {declared!r}"
            )
        if PCM_FORMATS[name.lower()] != samples.dtype:
            raise InvalidAudioError(
                f"PCM format {name.lower()!r} contradicts samples of dtype {samples.dtype}"
            )
    channels = pcm.channels
    if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)):
        raise InvalidAudioError(f"PCM channels must be an int, got {channels!r}")
    if channels not in (1, 2):
        raise InvalidAudioError(f"PCM channels must be 1 or 2, got {channels}")
    rate = _check_rate(pcm.sample_rate)
    if sample_rate is not None and _check_rate(sample_rate) != rate:
        raise InvalidAudioError(
            f"sample_rate={sample_rate} contradicts the PCM object's sample_rate={rate}"
        )
    if samples.ndim == 1:
        if len(samples) % channels:
            raise InvalidAudioError(
                f"PCM has {len(samples)} interleaved samples, not a whole number of "
                f"{channels}-channel frames"
            )
        packed = samples.reshape(-1, channels)
    elif samples.ndim == 2 and samples.shape[0] == channels:
        packed = samples.T  # planar (channels, n)
    elif samples.ndim == 2 and samples.shape[1] == channels:
        packed = samples
    else:
        raise InvalidAudioError(
            f"PCM samples of shape {samples.shape} do not match channels={channels} "
            f"(pass 1-D interleaved or ({channels}, n) planar)"
        )
    frames = packed.shape[0]
    if frames == 0:
        raise InvalidAudioError("audio chunk has no samples")
    _check_finite(packed)
    data = np.array(packed, order="C", copy=True).reshape(1, -1)
    layout = "mono" if channels == 1 else "stereo"
    return PreparedAudio(data, _AV_FORMATS[samples.dtype], layout, rate, frames)


class AudioConverter:
    """Turns prepared chunks into int16 samples at the output rate and layout.

    Input already in the output format passes through untouched; anything else goes through one
    ``av.AudioResampler`` per input signature (format, layout, rate). Samples the resampler holds
    back come out with the next chunk or at :meth:`flush`, so every input sample comes out once.
    """

    def __init__(self, rate: int, layout: str) -> None:
        self.rate = rate
        self.layout = layout
        self.channels = 1 if layout == "mono" else 2
        self._signature: tuple[str, str, int] | None = None
        self._resampler: av.AudioResampler | None = None
        self._frames_in = 0  # through the current resampler
        self._frames_out = 0

    def convert(self, chunk: PreparedAudio) -> Samples:
        """The chunk's audio (plus anything held back before), shape (n, channels)."""
        if chunk.format == "s16" and chunk.rate == self.rate and chunk.layout == self.layout:
            if self._resampler is None:
                return cast(Samples, chunk.data.reshape(-1, self.channels))
            held = self.flush()
            return np.concatenate([held, chunk.data.reshape(-1, self.channels)])
        signature = (chunk.format, chunk.layout, chunk.rate)
        parts: list[Samples] = []
        if self._signature != signature:
            parts.append(self.flush())
            self._resampler = av.AudioResampler(format="s16", layout=self.layout, rate=self.rate)
            self._signature = signature
        frame = av.AudioFrame.from_ndarray(chunk.data, format=chunk.format, layout=chunk.layout)
        frame.sample_rate = chunk.rate
        assert self._resampler is not None
        converted = self._join([self._to_samples(out) for out in self._resampler.resample(frame)])
        self._frames_in += chunk.frames
        self._frames_out += len(converted)
        parts.append(converted)
        return self._join(parts)

    def max_output(self, chunk: PreparedAudio) -> int:
        """At most how many samples :meth:`convert` returns for ``chunk``: what the resampler may
        still owe for its input so far, plus the chunk at the output rate (rounded up, plus one
        for the resampler's own rounding)."""
        owed = 0
        if self._signature is not None:
            owed = max(
                0, math.ceil(self._frames_in * self.rate / self._signature[2]) - self._frames_out
            )
        return owed + math.ceil(chunk.frames * self.rate / chunk.rate) + 1

    def flush(self) -> Samples:
        """Whatever the resampler still holds; afterwards the converter starts afresh.

        Exactly ``round(frames in * out rate / in rate)`` samples come out of a resampler in all:
        libswresample keeps back a filter's worth of samples (and all of a very short input), so
        a little silence is pushed through after the input and the excess is trimmed off.
        """
        resampler, signature = self._resampler, self._signature
        self._resampler = None
        self._signature = None
        if resampler is None or signature is None:
            return self._join([])
        sample_format, layout, rate = signature
        padding = av.AudioFrame(format=sample_format, layout=layout, samples=max(64, rate // 50))
        for plane in padding.planes:
            plane.update(bytes(plane.buffer_size))
        padding.sample_rate = rate
        tail = self._join(
            [
                self._to_samples(out)
                for out in [*resampler.resample(padding), *resampler.resample(None)]
            ]
        )
        owed = max(0, round(self._frames_in * self.rate / rate) - self._frames_out)
        self._frames_in = self._frames_out = 0
        if len(tail) < owed:
            tail = np.concatenate([tail, np.zeros((owed - len(tail), self.channels), np.int16)])
        return tail[:owed]

    def _to_samples(self, frame: av.AudioFrame) -> Samples:
        return cast(Samples, frame.to_ndarray().reshape(-1, self.channels))

    def _join(self, parts: list[Samples]) -> Samples:
        parts = [part for part in parts if len(part)]
        if not parts:
            return np.zeros((0, self.channels), np.int16)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


class Packetizer:
    """Cuts a stream of samples into packets of exactly ``packet_samples``."""

    def __init__(self, packet_samples: int, channels: int) -> None:
        self.packet_samples = packet_samples
        self.channels = channels
        self._pending: Samples = np.zeros((0, channels), np.int16)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def push(self, samples: Samples) -> list[Samples]:
        """Full packets now available, oldest first."""
        if len(self._pending):
            samples = np.concatenate([self._pending, samples])
        size = self.packet_samples
        full = len(samples) // size
        packets = [samples[i * size : (i + 1) * size] for i in range(full)]
        self._pending = samples[full * size :]
        return packets

    def finish(self) -> tuple[Samples, int] | None:
        """The last, partial packet padded with silence, and how many samples in it are real."""
        real = len(self._pending)
        if real == 0:
            return None
        packet = np.zeros((self.packet_samples, self.channels), np.int16)
        packet[:real] = self._pending
        self._pending = packet[:0]
        return packet, real


def int16_samples(frame: av.AudioFrame) -> Samples:
    """An audio frame's samples as (samples, channels) int16, whatever its sample format
    (planar or packed; float scaled by 32767 and rounded, wider integers shifted down)."""
    channels = len(frame.layout.channels)
    data: Any = np.asarray(frame.to_ndarray())
    data = data.T if frame.format.is_planar else data.reshape(-1, channels)
    if data.dtype.kind == "f":
        data = np.clip(np.round(data * 32767), -32768, 32767)
    elif data.dtype.itemsize > 2:
        data = data >> (8 * (data.dtype.itemsize - 2))
    return np.ascontiguousarray(data, dtype=np.int16)
