"""Audio input: any rate 8-96 kHz, mono or stereo, int16/float32 or av.AudioFrame, any chunking,
comes out as s16 packets of exactly ``packet_ms`` at the configured rate and layout, resampled by
PyAV, every sample once (unless a flush or the overflow policy dropped it, counted), with
silence when nothing is buffered and pts that advance by exactly one packet.

The first half tests the sans-io pieces (``prepare_audio``, ``AudioConverter``, ``Packetizer``)
directly, with hypothesis; the second half goes through the public API under ``MockClock``.
"""

from __future__ import annotations

from fractions import Fraction

import attrs
import av
import numpy as np
import numpy.typing as npt
import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

import avsync
from actors.testing import run_scenario
from avsync._audio import AudioConverter, Packetizer, prepare_audio

OUT_RATE = 48000


def make_config(**overrides: object) -> avsync.SyncConfig:
    values: dict[str, object] = {"width": 64, "height": 48, "sample_rate": OUT_RATE}
    values.update(overrides)
    return avsync.SyncConfig(**values)  # type: ignore[arg-type]


def expected_frames(frames_in: int, rate_in: int, rate_out: int) -> int:
    return round(frames_in * rate_out / rate_in)


def noise(
    seed: int, frames: int, channels_shape: tuple[int, ...], dtype: type[np.generic]
) -> npt.NDArray[np.generic]:
    rng = np.random.default_rng(seed)
    shape = (frames, *channels_shape)
    if dtype is np.int16:
        return rng.integers(-20000, 20000, shape, dtype=np.int16)
    return (rng.uniform(-0.6, 0.6, shape)).astype(np.float32)


def audio_frame(
    data: npt.NDArray[np.generic], format: str, layout: str, rate: int
) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(data, format=format, layout=layout)
    frame.sample_rate = rate
    return frame


# == prepare_audio ===============================================================================


def test_prepare_audio_mono_int16_is_s16_mono_at_the_config_rate() -> None:
    samples = np.arange(100, dtype=np.int16)
    prepared = prepare_audio(samples, None, make_config(sample_rate=16000))
    assert (prepared.format, prepared.layout, prepared.rate, prepared.frames) == (
        "s16",
        "mono",
        16000,
        100,
    )
    assert prepared.duration == pytest.approx(100 / 16000)
    np.testing.assert_array_equal(prepared.data.reshape(-1), samples)


def test_prepare_audio_stereo_float32_is_interleaved_flt_and_a_private_copy() -> None:
    samples = np.array([[0.1, -0.1], [0.2, -0.2], [0.3, -0.3]], np.float32)
    prepared = prepare_audio(samples, 44100, make_config(channels=2))
    assert (prepared.format, prepared.layout, prepared.rate, prepared.frames) == (
        "flt",
        "stereo",
        44100,
        3,
    )
    np.testing.assert_array_equal(prepared.data, samples.reshape(1, -1))
    samples[:] = 0  # the caller reuses its buffer
    assert prepared.data[0, 0] == np.float32(0.1)


def test_prepare_audio_n_by_1_is_mono_even_for_a_stereo_synchroniser() -> None:
    prepared = prepare_audio(np.ones((10, 1), np.int16), 8000, make_config(channels=2))
    assert prepared.layout == "mono" and prepared.frames == 10


def test_prepare_audio_takes_a_copy_of_an_audio_frame() -> None:
    planar = np.stack([np.full(50, 0.25, np.float32), np.full(50, -0.25, np.float32)])
    frame = audio_frame(planar, "fltp", "stereo", 22050)
    prepared = prepare_audio(frame, None, make_config(channels=2))
    assert (prepared.format, prepared.layout, prepared.rate, prepared.frames) == (
        "fltp",
        "stereo",
        22050,
        50,
    )
    frame.planes[0].update(bytes(frame.planes[0].buffer_size))  # the caller reuses its frame
    assert not frame.to_ndarray()[0].any()
    np.testing.assert_array_equal(prepared.data, planar)


@pytest.mark.parametrize("rate", [8000, 11025, 44100, 96000])
def test_prepare_audio_accepts_the_whole_rate_range(rate: int) -> None:
    assert prepare_audio(np.zeros(8, np.int16), rate, make_config()).rate == rate


# == AudioConverter ==============================================================================


@st.composite
def input_streams(draw: st.DrawFn) -> tuple[int, int, int, type[np.generic], list[int], int]:
    """(input rate, config channels, input channels, dtype, chunk sizes, seed)."""
    rate = draw(st.integers(8000, 96000))
    channels = draw(st.sampled_from([1, 2]))
    input_channels = draw(st.sampled_from([1, channels]))
    dtype = draw(st.sampled_from([np.int16, np.float32]))
    sizes = draw(st.lists(st.integers(1, rate // 2), min_size=1, max_size=8))
    seed = draw(st.integers(0, 2**32 - 1))
    return rate, channels, input_channels, dtype, sizes, seed


def convert_all(
    converter: AudioConverter, chunks: list[npt.NDArray[np.generic]], rate: int, config: object
) -> npt.NDArray[np.int16]:
    parts = [converter.convert(prepare_audio(chunk, rate, config)) for chunk in chunks]  # type: ignore[arg-type]
    parts.append(converter.flush())
    for part in parts:
        assert part.dtype == np.int16 and part.ndim == 2 and part.shape[1] == converter.channels
    return np.concatenate(parts)


@settings(max_examples=60)
@given(stream=input_streams(), out_rate=st.sampled_from([16000, 24000, 44100, 48000]))
def test_converter_conserves_samples_for_any_rate_layout_dtype_and_chunking(
    stream: tuple[int, int, int, type[np.generic], list[int], int], out_rate: int
) -> None:
    rate, channels, input_channels, dtype, sizes, seed = stream
    config = make_config(channels=channels, sample_rate=out_rate)
    shape = () if input_channels == 1 else (channels,)
    chunks = [noise(seed + i, size, shape, dtype) for i, size in enumerate(sizes)]
    converter = AudioConverter(out_rate, config.layout)
    out = convert_all(converter, chunks, rate, config)
    expected = expected_frames(sum(sizes), rate, out_rate)
    assert abs(len(out) - expected) <= 2, (len(out), expected)
    assert len(converter.flush()) == 0  # nothing left behind after the flush


@settings(max_examples=40)
@given(
    channels=st.sampled_from([1, 2]),
    sizes=st.lists(st.integers(1, 30000), min_size=1, max_size=10),
    seed=st.integers(0, 2**32 - 1),
)
def test_converter_passes_output_format_through_bit_identical(
    channels: int, sizes: list[int], seed: int
) -> None:
    config = make_config(channels=channels)
    shape = () if channels == 1 else (2,)
    chunks = [noise(seed + i, size, shape, np.int16) for i, size in enumerate(sizes)]
    out = convert_all(AudioConverter(OUT_RATE, config.layout), chunks, OUT_RATE, config)
    np.testing.assert_array_equal(out, np.concatenate(chunks).reshape(-1, channels))


@settings(max_examples=30)
@given(
    segments=st.lists(
        st.tuples(
            st.sampled_from([8000, 22050, 44100, 48000, 96000]),
            st.sampled_from([np.int16, np.float32]),
            st.lists(st.integers(1, 5000), min_size=1, max_size=4),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_converter_conserves_samples_when_the_input_format_changes(
    segments: list[tuple[int, type[np.generic], list[int]]],
) -> None:
    """Switching rate or dtype mid-stream flushes the old resampler: nothing is lost."""
    config = make_config()
    converter = AudioConverter(OUT_RATE, "mono")
    total_out = 0
    expected = 0.0
    for index, (rate, dtype, sizes) in enumerate(segments):
        for j, size in enumerate(sizes):
            chunk = noise(index * 100 + j, size, (), dtype)
            total_out += len(converter.convert(prepare_audio(chunk, rate, config)))
        expected += sum(sizes) * OUT_RATE / rate
    total_out += len(converter.flush())
    assert abs(total_out - expected) <= 2 * len(segments), (total_out, expected)


@pytest.mark.parametrize(("rate", "frames"), [(8000, 1), (8000, 16), (44100, 16), (96000, 50)])
def test_converter_keeps_a_stream_shorter_than_its_filter(rate: int, frames: int) -> None:
    """libswresample alone returns nothing for a stream shorter than its filter (up to ~330
    input samples at 96 -> 8 kHz); the converter must still give every sample back."""
    config = make_config()
    chunk = np.full(frames, 1000, np.int16)
    out = convert_all(AudioConverter(OUT_RATE, "mono"), [chunk], rate, config)
    assert abs(len(out) - expected_frames(frames, rate, OUT_RATE)) <= 2


def test_converter_takes_a_10_second_chunk_in_one_go() -> None:
    rate = 44100
    config = make_config(channels=2)
    chunk = noise(7, 10 * rate, (2,), np.float32)
    converter = AudioConverter(OUT_RATE, "stereo")
    out = convert_all(converter, [chunk], rate, config)
    assert abs(len(out) - 10 * OUT_RATE) <= 2


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 96000])
def test_converter_is_a_real_resampler_matching_pyav(rate: int) -> None:
    """Chunked conversion equals PyAV's resampler on the whole signal (up to the last 10 ms),
    and a 440 Hz tone stays a 440 Hz tone (no hand-written interpolation, no pitch or level
    change)."""
    config = make_config()
    t = np.arange(rate) / rate
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    cuts = np.sort(np.random.default_rng(rate).choice(np.arange(1, rate), 30, replace=False))
    chunks = np.split(tone, cuts)
    out = convert_all(AudioConverter(OUT_RATE, "mono"), chunks, rate, config)[:, 0]

    resampler = av.AudioResampler(format="s16", layout="mono", rate=OUT_RATE)
    whole = audio_frame(tone.reshape(1, -1), "flt", "mono", rate)
    reference = np.concatenate(
        [
            f.to_ndarray().reshape(-1)
            for f in [*resampler.resample(whole), *resampler.resample(None)]
        ]
    )
    assert abs(len(out) - len(reference)) <= 2
    body = len(reference) - OUT_RATE // 100  # how the very end is flushed is the converter's call
    np.testing.assert_array_equal(out[:body], reference[:body])

    ideal = 0.5 * 32767 * np.sin(2 * np.pi * 440 * np.arange(len(out)) / OUT_RATE)
    assert np.abs(out - ideal)[OUT_RATE // 100 : -OUT_RATE // 100].max() < 4
    assert np.abs(out - ideal)[-OUT_RATE // 100 :].max() < 0.02 * 32767


def test_converter_scales_float_to_s16() -> None:
    config = make_config()
    values = np.array([0.0, 0.5, -0.5, 1.0, -1.0] * 200, np.float32)
    out = convert_all(AudioConverter(OUT_RATE, "mono"), [values], OUT_RATE, config)[:, 0]
    np.testing.assert_allclose(out[:5], [0, 16384, -16384, 32767, -32768], atol=1)


# == Packetizer ==================================================================================


@settings(max_examples=80)
@given(
    packet_samples=st.sampled_from([80, 160, 441, 960, 1920]),
    channels=st.sampled_from([1, 2]),
    sizes=st.lists(st.integers(0, 5000), max_size=12),
)
def test_packetizer_cuts_exact_packets_and_keeps_every_sample(
    packet_samples: int, channels: int, sizes: list[int]
) -> None:
    packetizer = Packetizer(packet_samples, channels)
    total = sum(sizes)
    stream = (np.arange(total * channels) % 30000 + 1).astype(np.int16).reshape(-1, channels)
    packets: list[npt.NDArray[np.int16]] = []
    start = 0
    for size in sizes:
        out = packetizer.push(stream[start : start + size])
        start += size
        assert all(p.shape == (packet_samples, channels) for p in out)
        packets.extend(out)
    assert packetizer.pending == total % packet_samples
    assert len(packets) == total // packet_samples
    full = len(packets) * packet_samples
    if packets:
        np.testing.assert_array_equal(np.concatenate(packets), stream[:full])
    last = packetizer.finish()
    if total % packet_samples == 0:
        assert last is None
    else:
        assert last is not None
        padded, real = last
        assert padded.shape == (packet_samples, channels) and real == total - full
        np.testing.assert_array_equal(padded[:real], stream[full:])
        assert not padded[real:].any()  # padded with silence
    assert packetizer.pending == 0 and packetizer.finish() is None


# == through the public API ======================================================================


@attrs.define
class AudioRun:
    """What one session emitted on its audio output."""

    frames: list[tuple[float, av.AudioFrame]]
    first_write_at: float
    played_out_at: float
    result: avsync.PlayoutResult
    stats: avsync.Stats

    def samples(self, channels: int) -> npt.NDArray[np.int16]:
        return np.concatenate([f.to_ndarray().reshape(-1, channels) for _, f in self.frames])


async def play(
    config: avsync.SyncConfig,
    writes: list[tuple[object, int | None]],
    *,
    before_s: float = 0.1,
    after_s: float = 0.1,
) -> AudioRun:
    """Open a session, idle ``before_s``, write everything, end_audio, wait for playout, idle
    ``after_s``; return everything the audio output emitted, stamped with its (mock) time."""
    frames: list[tuple[float, av.AudioFrame]] = []
    async with avsync.open_synchronizer(config) as sync:
        output = sync.audio_frames()

        async def record() -> None:
            async for frame in output:
                frames.append((trio.current_time(), frame))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(record)
            await trio.sleep(before_s)
            first_write_at = trio.current_time()
            for samples, rate in writes:
                await sync.write_audio(samples, sample_rate=rate)
            await sync.end_audio()
            with trio.fail_after(60):
                result = await sync.wait_for_playout()
            played_out_at = trio.current_time()
            await trio.sleep(after_s)
            stats = sync.stats()
            await sync.aclose()
    return AudioRun(frames, first_write_at, played_out_at, result, stats)


def check_packets(run: AudioRun, config: avsync.SyncConfig) -> None:
    """Every output item is one s16 packet in the configured format; pts advance by one packet."""
    assert len(run.frames) > 5
    size = config.packet_samples
    for _, frame in run.frames:
        assert frame.samples == size
        assert frame.format.name == "s16"  # packed signed 16-bit
        assert frame.layout.name == config.layout
        assert frame.sample_rate == config.sample_rate
        assert frame.time_base == Fraction(1, config.sample_rate)
        assert frame.to_ndarray().shape == (1, size * config.channels)
    pts = np.array([frame.pts for _, frame in run.frames])
    assert np.all(np.diff(pts) == size), "pts advance by exactly one packet"
    assert pts[0] % size == 0


def check_silence_around(run: AudioRun, channels: int) -> None:
    before = [f for at, f in run.frames if at < run.first_write_at]
    after = [f for at, f in run.frames if at > run.played_out_at + 1e-9]
    assert len(before) >= 2 and len(after) >= 2
    for frame in [*before, *after]:
        assert not frame.to_ndarray().any(), "silence when nothing is buffered"


OUTPUTS = {
    "mono 48k 20ms": {"channels": 1, "sample_rate": 48000, "packet_ms": 20},
    "stereo 48k 10ms": {"channels": 2, "sample_rate": 48000, "packet_ms": 10},
    "stereo 24k 40ms": {"channels": 2, "sample_rate": 24000, "packet_ms": 40},
}

# (rate, dtype or AudioFrame format, input layout); input is DC so every real sample is nonzero
INPUTS = {
    "int16 mono 8k": (8000, "int16", "mono"),
    "float32 mono 16k": (16000, "float32", "mono"),
    "int16 (n,1) 22.05k": (22050, "int16", "n1"),
    "int16 out-layout 44.1k": (44100, "int16", "out"),
    "float32 out-layout 96k": (96000, "float32", "out"),
    "int16 out-layout 48k": (48000, "int16", "out"),
    "frame s16 mono 24k": (24000, "s16", "mono"),
    "frame s16 stereo 48k": (48000, "s16", "stereo"),
    "frame fltp stereo 44.1k": (44100, "fltp", "stereo"),
    "frame flt stereo 32k": (32000, "flt", "stereo"),
    "frame s32 mono 48k": (48000, "s32", "mono"),
    "frame s16p stereo 48k": (48000, "s16p", "stereo"),
    "frame dbl mono 11.025k": (11025, "dbl", "mono"),
    "frame u8 mono 8k": (8000, "u8", "mono"),
}

_FRAME_DTYPES = {"s16": np.int16, "s32": np.int32, "flt": np.float32, "dbl": np.float64}
_FULL_SCALE = {"s16": 32768, "s32": 2**31, "flt": 1.0, "dbl": 1.0}


def dc_chunk(kind: str, layout: str, frames: int, rate: int, channels: int) -> object:
    """``frames`` samples at a level of 0.3 full scale, as write_audio input of ``kind``."""
    if kind in ("int16", "float32"):
        dtype = np.int16 if kind == "int16" else np.float32
        value = 9830 if kind == "int16" else 0.3
        shape = {"mono": (frames,), "n1": (frames, 1), "out": (frames, channels)}[layout]
        return np.full(shape, value, dtype)
    count = 1 if layout == "mono" else 2
    if kind == "u8":
        data = np.full((1, frames), 128 + 38, np.uint8)
    else:
        base = kind.rstrip("p")
        value = 0.3 * _FULL_SCALE[base]
        dtype = _FRAME_DTYPES[base]
        shape = (count, frames) if kind.endswith("p") else (1, frames * count)
        data = np.full(shape, value, dtype)
    return audio_frame(data, kind, layout, rate)


@pytest.mark.parametrize("output", list(OUTPUTS))
@pytest.mark.parametrize("source", list(INPUTS))
async def test_any_input_comes_out_as_exact_packets_with_every_sample_once(
    source: str, output: str, autojump_clock: trio.testing.MockClock
) -> None:
    config = make_config(**OUTPUTS[output])
    rate, kind, layout = INPUTS[source]
    sizes = [1, 7, rate // 10, 333, rate // 4, 1, rate // 7]  # 1 sample .. 0.25 s, ~0.55 s in all
    writes: list[tuple[object, int | None]] = [
        (dc_chunk(kind, layout, size, rate, config.channels), rate) for size in sizes
    ]
    if kind not in ("int16", "float32"):  # frames carry their rate; omit it for half of them
        writes = [(chunk, None if i % 2 else rate) for i, (chunk, _) in enumerate(writes)]
    run = await play(config, writes)
    check_packets(run, config)
    check_silence_around(run, config.channels)

    total_in = sum(sizes)
    assert not run.result.interrupted
    assert run.result.position == pytest.approx(total_in / rate, abs=2.5 / config.sample_rate)
    out = run.samples(config.channels)
    speech = np.flatnonzero(out[:, 0])
    expected = expected_frames(total_in, rate, config.sample_rate)
    assert abs(len(speech) - expected) <= 2, (len(speech), expected)
    assert speech[-1] - speech[0] + 1 == len(speech), "speech plays in one piece"
    assert len(speech) == round(run.result.position * config.sample_rate)
    if config.channels == 2:
        np.testing.assert_array_equal(out[:, 0], out[:, 1])  # equal channels stay equal
    assert run.stats.audio_dropped_overflow_s == 0 and run.stats.audio_dropped_stale_s == 0


async def test_output_format_passes_through_bit_identical(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = make_config(channels=2, packet_ms=10)
    chunks = [noise(i, size, (2,), np.int16) for i, size in enumerate([1, 480, 1000, 2, 4797])]
    run = await play(config, [(chunk, None) for chunk in chunks])
    check_packets(run, config)
    out = run.samples(2)
    first = np.flatnonzero(out[:, 0] | out[:, 1])[0]
    written = np.concatenate(chunks)
    np.testing.assert_array_equal(out[first : first + len(written)], written)
    assert not out[first + len(written) :].any()
    assert run.result.position == len(written) / OUT_RATE


async def test_one_sample_chunks(autojump_clock: trio.testing.MockClock) -> None:
    config = make_config()
    writes: list[tuple[object, int | None]] = [
        (np.array([1000 + i], np.int16), 8000) for i in range(240)
    ]
    run = await play(config, writes)
    check_packets(run, config)
    assert run.result.position == pytest.approx(240 / 8000, abs=2.5 / OUT_RATE)
    assert abs(np.count_nonzero(run.samples(1)) - 1440) <= 2


async def test_a_very_short_resampled_turn_is_heard(
    autojump_clock: trio.testing.MockClock,
) -> None:
    run = await play(make_config(), [(np.full(16, 1000, np.int16), 8000)])
    assert run.result.position == pytest.approx(16 / 8000, abs=2.5 / OUT_RATE)


async def test_a_10_second_chunk(autojump_clock: trio.testing.MockClock) -> None:
    config = make_config(channels=2)
    chunk = np.full((441000, 2), 5000, np.int16)
    run = await play(config, [(chunk, 44100)], after_s=0.06)
    check_packets(run, config)
    check_silence_around(run, 2)
    assert run.result.position == pytest.approx(10.0, abs=2.5 / OUT_RATE)
    assert abs(np.count_nonzero(run.samples(2)[:, 0]) - 480000) <= 2
    assert run.played_out_at - run.first_write_at == pytest.approx(10.0, abs=0.021)


@settings(max_examples=12)
@given(stream=input_streams(), packet_ms=st.sampled_from([10, 20]))
def test_property_any_input_plays_out_as_exact_packets(
    stream: tuple[int, int, int, type[np.generic], list[int], int], packet_ms: int
) -> None:
    rate, channels, input_channels, dtype, sizes, _ = stream
    config = make_config(channels=channels, packet_ms=packet_ms)
    kind = "int16" if dtype is np.int16 else "float32"
    layout = "mono" if input_channels == 1 else "out"
    writes: list[tuple[object, int | None]] = [
        (dc_chunk(kind, layout, size, rate, channels), rate) for size in sizes
    ]
    run = run_scenario(play, config, writes)
    check_packets(run, config)
    check_silence_around(run, channels)
    total_in = sum(sizes)
    assert run.result.position == pytest.approx(total_in / rate, abs=2.5 / OUT_RATE)
    expected = expected_frames(total_in, rate, OUT_RATE)
    assert abs(np.count_nonzero(run.samples(channels)[:, 0]) - expected) <= 2


# == drops are counted ===========================================================================


async def test_overflow_drop_oldest_counts_what_it_drops(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = make_config(audio_buffer_s=0.2, overflow="drop-oldest")
    run = await play(config, [(np.full(OUT_RATE, 1000, np.int16), None)])
    check_packets(run, config)
    dropped = run.stats.audio_dropped_overflow_s
    assert dropped > 0.5
    assert run.result.position + dropped == pytest.approx(1.0, abs=1e-9)
    heard = np.count_nonzero(run.samples(1)) / OUT_RATE
    assert heard == pytest.approx(run.result.position, abs=1e-9)


async def test_overflow_block_loses_nothing(autojump_clock: trio.testing.MockClock) -> None:
    config = make_config(audio_buffer_s=0.2, overflow="block")
    run = await play(config, [(np.full(OUT_RATE, 1000, np.int16), None)] * 2)
    assert run.stats.audio_dropped_overflow_s == 0
    assert run.result.position == 2.0
    assert np.count_nonzero(run.samples(1)) == 2 * OUT_RATE


@pytest.mark.parametrize(
    "rate",
    [
        48000,
        22050,  # the resampler holds some back: a flush drops and counts those too
    ],
)
async def test_flush_counts_the_audio_it_drops(
    rate: int, autojump_clock: trio.testing.MockClock
) -> None:
    config = make_config(fade_ms=0)
    frames: list[av.AudioFrame] = []
    async with avsync.open_synchronizer(config) as sync:
        output = sync.audio_frames()

        async def record() -> None:
            async for frame in output:
                frames.append(frame)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(record)
            await trio.sleep(0.05)
            await sync.write_audio(np.full(rate, 1000, np.int16), sample_rate=rate)
            await trio.sleep(0.3)
            await sync.start_turn()
            await trio.sleep(0.1)
            stats = sync.stats()
            await sync.aclose()
    heard = sum(np.count_nonzero(f.to_ndarray()) for f in frames) / OUT_RATE
    assert 0.25 <= heard <= 0.35
    assert heard + stats.audio_dropped_stale_s == pytest.approx(1.0, abs=2.5 / OUT_RATE)
