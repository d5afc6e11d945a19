"""Bad input gets a clear ValueError/TypeError subclass naming the problem, at the call site, and
the session keeps running with nothing already queued lost. Invalid SyncConfig values raise
ValueError naming the field. After aclose() every call raises SynchronizerClosed, never hangs.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Awaitable, Callable

import attrs
import av
import numpy as np
import numpy.typing as npt
import pytest
import trio
import trio.testing

import avsync

WIDTH, HEIGHT, RATE = 64, 48, 48000
BEFORE = RATE * 3 // 10  # 0.3 s written before the bad call
AFTER = RATE // 5  # 0.2 s written after it


def make_config(**overrides: object) -> avsync.SyncConfig:
    return avsync.SyncConfig(width=WIDTH, height=HEIGHT, sample_rate=RATE, **overrides)  # type: ignore[arg-type]


def speech(start: int, count: int) -> npt.NDArray[np.int16]:
    """Samples that say their own media index (1-based, never 0: silence is 0)."""
    return (1 + np.arange(start, start + count) % 30000).astype(np.int16)


def marked_frame(index: int) -> av.VideoFrame:
    image = np.full((HEIGHT * 3 // 2, WIDTH), 128, np.uint8)
    image[:HEIGHT] = 50 + index  # luma says which frame it is (the placeholder is 16)
    return av.VideoFrame.from_ndarray(image, format="yuv420p")


def audio_frame(
    data: npt.NDArray[np.generic], format: str = "flt", layout: str = "mono", rate: int = RATE
) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(data, format=format, layout=layout)
    frame.sample_rate = rate
    return frame


def with_value(index: int, value: float, dtype: type[np.generic] = np.float32) -> object:
    samples = np.zeros(480, dtype)
    samples[index] = value
    return samples


class PcmFormat(enum.Enum):
    S16 = "s16"
    F32 = "f32"


@attrs.frozen
class Pcm:
    """Shaped like getstream's ``PcmData`` (avsync takes any object with these attributes)."""

    samples: object
    sample_rate: object = RATE
    channels: object = 1
    format: object = None


# == the catalogue ================================================================================

Call = Callable[[avsync.Synchronizer], Awaitable[object]]


@attrs.frozen
class Case:
    call: Call  #: makes the bad call; valid writes before it must return the samples they wrote
    error: type[Exception]
    match: str


def audio(samples: object, **kwargs: object) -> Call:
    async def call(sync: avsync.Synchronizer) -> object:
        return await sync.write_audio(samples, **kwargs)  # type: ignore[arg-type]

    return call


def video(frame: object, **kwargs: object) -> Call:
    async def call(sync: avsync.Synchronizer) -> object:
        return await sync.write_video(frame, **kwargs)  # type: ignore[arg-type]

    return call


async def pts_backwards(sync: avsync.Synchronizer) -> object:
    await sync.write_audio(speech(BEFORE, 4800), pts=BEFORE / RATE)  # valid: continues
    await sync.write_audio(speech(0, 480), pts=0.2)  # before the previous pts
    raise AssertionError("not reached")


async def newer_epoch_audio(sync: avsync.Synchronizer) -> object:
    return await sync.write_audio(speech(0, 480), epoch=sync.epoch + 1)


async def newer_epoch_video(sync: avsync.Synchronizer) -> object:
    return await sync.write_video(marked_frame(9), epoch=sync.epoch + 1)


async def newer_epoch_end(sync: avsync.Synchronizer) -> object:
    return await sync.end_audio(epoch=sync.epoch + 1)


A, AT, V, VT = (
    avsync.InvalidAudioError,
    avsync.InvalidAudioTypeError,
    avsync.InvalidVideoError,
    avsync.InvalidVideoTypeError,
)
RGB = np.zeros((HEIGHT, WIDTH, 3), np.uint8)

CASES: dict[str, Case] = {
    # audio: type and dtype
    "audio list": Case(audio([0.1, 0.2]), AT, "numpy array, an av.AudioFrame or a PCM.*list"),
    "audio bytes": Case(audio(b"\x00\x01" * 100), AT, "numpy array, an av.AudioFrame.*bytes"),
    "audio None": Case(audio(None), AT, "numpy array, an av.AudioFrame.*NoneType"),
    "audio float64": Case(audio(np.zeros(480)), AT, "int16 or float32.*float64"),
    "audio int32": Case(audio(np.zeros(480, np.int32)), AT, "int16 or float32.*int32"),
    "audio uint8": Case(audio(np.zeros(480, np.uint8)), AT, "int16 or float32.*uint8"),
    # audio: shape and channels
    "audio 2 channels into mono": Case(audio(np.zeros((480, 2), np.int16)), A, "2 channels"),
    "audio 3 channels": Case(audio(np.zeros((480, 3), np.float32)), A, "3 channels"),
    "audio 3-d": Case(audio(np.zeros((480, 1, 1), np.int16)), A, r"shape.*\(480, 1, 1\)"),
    "audio 0-d": Case(audio(np.array(5, np.int16)), A, r"shape.*\(\)"),
    # audio: zero size
    "audio empty": Case(audio(np.zeros(0, np.int16)), A, "no samples"),
    "audio empty (0, 1)": Case(audio(np.zeros((0, 1), np.float32)), A, "no samples"),
    "audio frame of 0 samples": Case(
        audio(av.AudioFrame(format="s16", layout="mono", samples=0)), A, "no samples"
    ),
    # audio: non-finite samples
    "audio NaN": Case(audio(with_value(100, math.nan)), A, "finite.*NaN"),
    "audio +inf": Case(audio(with_value(0, math.inf)), A, "finite"),
    "audio -inf stereo-shaped": Case(audio(np.full((480, 1), -np.inf, np.float32)), A, "finite"),
    "audio frame NaN": Case(
        audio(audio_frame(np.full((1, 480), np.nan, np.float32))), A, "finite.*NaN"
    ),
    "audio frame fltp inf": Case(
        audio(audio_frame(np.full((2, 480), np.inf, np.float32), "fltp", "stereo")), A, "finite"
    ),
    # audio: sample rate
    "audio rate 7999": Case(audio(np.zeros(480, np.int16), sample_rate=7999), A, "sample_rate"),
    "audio rate 96001": Case(
        audio(np.zeros(480, np.int16), sample_rate=96001), A, "sample_rate.*96001"
    ),
    "audio rate float": Case(
        audio(np.zeros(480, np.int16), sample_rate=44100.0), A, "sample_rate must be an int"
    ),
    "audio rate bool": Case(
        audio(np.zeros(480, np.int16), sample_rate=True), A, "sample_rate must be an int"
    ),
    "audio frame without a rate": Case(
        audio(audio_frame(np.zeros((1, 480), np.float32), rate=0)), A, "sample_rate.*got 0"
    ),
    "audio frame rate contradicted": Case(
        audio(audio_frame(np.zeros((1, 480), np.float32), rate=44100), sample_rate=48000),
        A,
        "contradicts",
    ),
    # audio: pts
    "audio pts negative": Case(audio(speech(0, 480), pts=-0.1), A, "pts.*non-negative"),
    "audio pts NaN": Case(audio(speech(0, 480), pts=math.nan), A, "pts.*finite"),
    "audio pts inf": Case(audio(speech(0, 480), pts=math.inf), A, "pts.*finite"),
    "audio pts str": Case(audio(speech(0, 480), pts="0.5"), A, "pts must be a number"),
    "audio pts backwards": Case(pts_backwards, A, "backwards"),
    # audio: PCM objects (shaped like getstream's PcmData)
    "PCM samples list": Case(audio(Pcm([1, 2])), AT, "PCM samples must be a numpy array.*list"),
    "PCM samples float64": Case(audio(Pcm(np.zeros(480))), AT, "int16 or float32.*float64"),
    "PCM format s16, samples float32": Case(
        audio(Pcm(np.zeros(480, np.float32), format="s16")), A, "'s16' contradicts.*float32"
    ),
    "PCM format enum F32, samples int16": Case(
        audio(Pcm(np.zeros(480, np.int16), format=PcmFormat.F32)), A, "'f32' contradicts.*int16"
    ),
    "PCM format u8": Case(audio(Pcm(np.zeros(480, np.int16), format="u8")), A, "one of"),
    "PCM stereo, odd interleaved count": Case(
        audio(Pcm(np.zeros(481, np.int16), channels=2)), A, "481 interleaved.*2-channel"
    ),
    "PCM stereo, 3 planar rows": Case(
        audio(Pcm(np.zeros((3, 480), np.int16), channels=2)), A, r"shape \(3, 480\).*channels=2"
    ),
    "PCM 3 channels": Case(audio(Pcm(np.zeros(480, np.int16), channels=3)), A, "1 or 2"),
    "PCM channels str": Case(audio(Pcm(np.zeros(480, np.int16), channels="2")), A, "an int"),
    "PCM rate 7999": Case(audio(Pcm(np.zeros(480, np.int16), 7999)), A, "sample_rate.*7999"),
    "PCM rate contradicted": Case(
        audio(Pcm(np.zeros(480, np.int16), 16000), sample_rate=48000), A, "contradicts the PCM"
    ),
    "PCM empty": Case(audio(Pcm(np.zeros((2, 0), np.int16), channels=2)), A, "no samples"),
    "PCM NaN": Case(audio(Pcm(with_value(3, math.nan), format="f32")), A, "finite"),
    # epochs
    "audio epoch newer": Case(newer_epoch_audio, avsync.EpochError, "newer than the current"),
    "audio epoch str": Case(audio(speech(0, 480), epoch="0"), avsync.EpochError, "int"),
    "audio epoch float": Case(audio(speech(0, 480), epoch=0.0), avsync.EpochError, "int"),
    "video epoch newer": Case(newer_epoch_video, avsync.EpochError, "newer than the current"),
    "end_audio epoch newer": Case(newer_epoch_end, avsync.EpochError, "newer than the current"),
    # video: type and dtype
    "video list": Case(video([[0, 0, 0]]), VT, "av.VideoFrame or a numpy array.*list"),
    "video None": Case(video(None), VT, "av.VideoFrame or a numpy array.*NoneType"),
    "video bytes": Case(video(bytes(WIDTH * HEIGHT * 3)), VT, "VideoFrame.*bytes"),
    "video float32": Case(video(RGB.astype(np.float32)), VT, "uint8.*float32"),
    "video uint16": Case(video(RGB.astype(np.uint16)), VT, "uint8.*uint16"),
    # video: shape
    "video 2 channels": Case(video(RGB[..., :2]), V, r"shape.*\(48, 64, 2\)"),
    "video 5 channels": Case(video(np.zeros((HEIGHT, WIDTH, 5), np.uint8)), V, r"\(48, 64, 5\)"),
    "video 1-d": Case(video(np.zeros(WIDTH * 3, np.uint8)), V, r"\(192,\)"),
    "video 4-d": Case(video(RGB[None]), V, r"\(1, 48, 64, 3\)"),
    # video: pixel format
    "video frame bayer": Case(video(av.VideoFrame(4, 4, "bayer_rggb8")), V, "bayer_rggb8 is"),
    "video frame rgbaf32le": Case(video(av.VideoFrame(4, 4, "rgbaf32le")), V, "rgbaf32le is not"),
    "video frame rgb4": Case(video(av.VideoFrame(4, 4, "rgb4")), V, "rgb4 is not supported"),
    # video: zero size, huge
    "video numpy 0x0": Case(video(np.zeros((0, 0, 3), np.uint8)), V, "no pixels"),
    "video numpy 0 rows": Case(video(np.zeros((0, WIDTH, 3), np.uint8)), V, "no pixels"),
    "video frame 0x0": Case(video(av.VideoFrame(0, 0, "yuv420p")), V, "no pixels"),
    "video frame 0 high": Case(video(av.VideoFrame(WIDTH, 0, "rgb24")), V, "no pixels"),
    "video numpy huge": Case(video(np.zeros((8194, 2, 3), np.uint8)), V, "2x8194 exceeds 8192"),
    "video frame huge": Case(video(av.VideoFrame(8200, 2, "gray")), V, "8200x2 exceeds 8192"),
    # video: pts
    "video pts negative": Case(video(marked_frame(9), pts=-1), V, "pts.*non-negative"),
    "video pts NaN": Case(video(marked_frame(9), pts=math.nan), V, "pts.*finite"),
    "video pts -inf": Case(video(marked_frame(9), pts=-math.inf), V, "pts.*finite"),
    "video pts str": Case(video(marked_frame(9), pts="1"), V, "pts must be a number"),
    "video pts bool": Case(video(marked_frame(9), pts=True), V, "pts must be a number"),
}


@pytest.mark.parametrize("name", list(CASES))
async def test_bad_input_raises_a_clear_error_and_the_session_keeps_running(
    name: str, autojump_clock: trio.testing.MockClock
) -> None:
    case = CASES[name]
    assert issubclass(case.error, ValueError | TypeError)
    audio_out: list[npt.NDArray[np.int16]] = []
    video_out: list[int] = []
    async with avsync.open_synchronizer(make_config()) as sync:
        audio_frames, video_frames = sync.audio_frames(), sync.video_frames()

        async def record_audio() -> None:
            async for frame in audio_frames:
                audio_out.append(frame.to_ndarray().reshape(-1))

        async def record_video() -> None:
            async for frame in video_frames:
                video_out.append(int(frame.to_ndarray()[0, 0]))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(record_audio)
            nursery.start_soon(record_video)
            await trio.sleep(0.05)
            await sync.write_audio(speech(0, BEFORE))
            await sync.write_video(marked_frame(1), pts=0.0)
            with trio.fail_after(5):
                with pytest.raises(case.error, match=case.match) as raised:
                    await case.call(sync)
            assert isinstance(raised.value, avsync.AvsyncError)
            assert not sync.closed
            # the session keeps running: the cursor stands where the valid writes left it
            written = BEFORE + (4800 if name == "audio pts backwards" else 0)
            await sync.write_audio(speech(written, AFTER))
            await sync.write_video(marked_frame(2), pts=(written + AFTER // 2) / RATE)
            await sync.end_audio()
            with trio.fail_after(5):
                result = await sync.wait_for_playout()
            await trio.sleep(0.1)
            stats = sync.stats()
            await sync.aclose()
    total = written + AFTER
    assert not result.interrupted
    assert result.position == total / RATE, "everything queued before the bad call played"
    heard = np.concatenate(audio_out)
    heard = heard[heard != 0]
    np.testing.assert_array_equal(heard, speech(0, total))  # every sample once, in order
    assert 50 + 1 in video_out and 50 + 2 in video_out  # both valid frames were shown
    assert 50 + 9 not in video_out  # the rejected frame never was
    assert stats.audio_dropped_stale_s == 0 and stats.frames_dropped_stale == 0
    assert stats.audio_dropped_overflow_s == 0 and stats.frames_dropped_overflow == 0


def test_the_catalogue_is_large() -> None:
    assert len(CASES) >= 30


# == SyncConfig ==================================================================================

CONFIG_CASES: list[tuple[str, object, str]] = [
    ("width", 641, "width must be a positive even int"),
    ("width", 0, "width must be a positive even int"),
    ("width", -2, "width must be a positive even int"),
    ("width", 64.0, "width must be a positive even int"),
    ("width", True, "width"),
    ("width", 8194, "width must be at most 8192"),
    ("height", 481, "height must be a positive even int"),
    ("height", 0, "height"),
    ("height", -480, "height"),
    ("fps", 0, "fps must be finite and positive"),
    ("fps", -30, "fps must be finite and positive"),
    ("fps", math.inf, "fps must be finite and positive"),
    ("fps", math.nan, "fps must be finite and positive"),
    ("fps", "30", "fps must be a number"),
    ("fps", 1000, "fps must be at most"),
    ("sample_rate", 7999, "sample_rate"),
    ("sample_rate", 44100.0, "sample_rate"),
    ("channels", 3, "channels must be 1 or 2"),
    ("channels", 0, "channels must be 1 or 2"),
    ("channels", True, "channels must be 1 or 2"),
    ("packet_ms", 0, "packet_ms must be finite and positive"),
    ("packet_ms", -20, "packet_ms must be finite and positive"),
    ("packet_ms", math.inf, "packet_ms must be finite and positive"),
    ("packet_ms", 0.01, "packet_ms must be a whole number of samples"),
    ("packet_ms", 7.3, "packet_ms must be a whole number of samples"),
    ("audio_buffer_s", 0, "audio_buffer_s must be finite and positive"),
    ("audio_buffer_s", -1.0, "audio_buffer_s"),
    ("audio_buffer_s", math.nan, "audio_buffer_s"),
    ("audio_buffer_s", 0.001, "audio_buffer_s must hold at least one packet"),
    ("video_buffer_s", 0, "video_buffer_s must be finite and positive"),
    ("video_buffer_s", math.inf, "video_buffer_s"),
    ("overflow", "sometimes", "overflow must be 'block' or 'drop-oldest'.*sometimes"),
    ("overflow", "drop-newest", "overflow"),
    ("av_offset_s", -0.1, "av_offset_s must be finite and non-negative"),
    ("av_offset_s", math.inf, "av_offset_s"),
    ("av_offset_s", math.nan, "av_offset_s"),
    ("playout_delay_s", -1, "playout_delay_s must be finite and non-negative"),
    ("playout_delay_s", math.inf, "playout_delay_s"),
    ("fade_ms", -5, "fade_ms must be finite and non-negative"),
    ("fade_ms", math.inf, "fade_ms"),
    ("fade_ms", math.nan, "fade_ms"),
    ("copy_video", 1, "copy_video must be a bool"),
    ("await_following_audio", "yes", "await_following_audio must be a bool"),
    ("placeholder_rgb", (0, 0, 256), "placeholder_rgb must be a tuple of three ints 0-255"),
    ("placeholder_rgb", [0, 0, 255], "placeholder_rgb must be a tuple"),
    ("placeholder_rgb", (0, 0), "placeholder_rgb must be a tuple"),
]


@pytest.mark.parametrize(("field", "value", "match"), CONFIG_CASES, ids=repr)
def test_invalid_config_raises_value_error_naming_the_field(
    field: str, value: object, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        avsync.SyncConfig(**{field: value})  # type: ignore[arg-type]


def test_every_config_field_is_validated() -> None:
    fields = {field.name for field in attrs.fields(avsync.SyncConfig)}
    assert fields == {field for field, _, _ in CONFIG_CASES}


@pytest.mark.parametrize(
    "overrides",
    [
        {"packet_ms": 10, "sample_rate": 44100},  # 441 samples
        {"packet_ms": 2.5, "sample_rate": 16000},  # 40 samples
        {"fps": 29.97, "channels": 2, "overflow": "drop-oldest"},
        {"av_offset_s": 0, "playout_delay_s": 0.1, "fade_ms": 0},
        {"width": 2, "height": 2},
    ],
    ids=repr,
)
def test_valid_edge_configs_are_accepted(overrides: dict[str, object]) -> None:
    config = avsync.SyncConfig(**overrides)  # type: ignore[arg-type]
    for field, value in overrides.items():
        assert getattr(config, field) == value


async def test_open_synchronizer_takes_only_a_sync_config() -> None:
    with pytest.raises(TypeError, match="SyncConfig"):
        async with avsync.open_synchronizer({"width": 64}):  # type: ignore[arg-type]
            pass  # pragma: no cover


# == closed ======================================================================================

CLOSED_CALLS: dict[str, Call] = {
    "write_audio": audio(speech(0, 480)),
    "write_audio bad": audio(None),  # closed wins over a bad argument: nothing more is taken
    "write_video": video(marked_frame(1)),
    "end_audio": lambda sync: sync.end_audio(),
    "start_turn": lambda sync: sync.start_turn(),
    "flush": lambda sync: sync.flush(),
    "wait_for_playout": lambda sync: sync.wait_for_playout(),
}


@pytest.mark.parametrize("name", list(CLOSED_CALLS))
async def test_calls_after_aclose_raise_closed_and_never_hang(
    name: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with avsync.open_synchronizer(make_config()) as sync:
        await sync.write_audio(speech(0, BEFORE))
        await trio.sleep(0.05)
        await sync.aclose()
        assert sync.closed
        with trio.fail_after(1):
            with pytest.raises(avsync.SynchronizerClosed, match="closed"):
                await CLOSED_CALLS[name](sync)
        await sync.aclose()  # idempotent
    with trio.fail_after(1):  # and after the context has exited
        with pytest.raises(avsync.SynchronizerClosed):
            await CLOSED_CALLS[name](sync)
    assert issubclass(avsync.SynchronizerClosed, trio.ClosedResourceError)


async def test_a_write_waiting_for_room_ends_with_closed_when_the_session_closes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = make_config(audio_buffer_s=0.1, video_buffer_s=0.1, overflow="block")
    outcomes: dict[str, BaseException | None] = {}

    async def keep_writing(kind: str, write: Call) -> None:
        try:
            while True:
                await write(sync)
        except BaseException as error:
            outcomes[kind] = error

    async with avsync.open_synchronizer(config) as sync:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(keep_writing, "audio", audio(speech(0, RATE)))
            nursery.start_soon(keep_writing, "video", video(marked_frame(1), pts=100.0))
            await trio.sleep(0.5)  # both are now waiting for room
            assert not outcomes
            with trio.fail_after(1):
                await sync.aclose()
    assert isinstance(outcomes["audio"], avsync.SynchronizerClosed)
    assert isinstance(outcomes["video"], avsync.SynchronizerClosed)


# == epochs ======================================================================================


async def test_an_older_epoch_is_dropped_silently_and_counted(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with avsync.open_synchronizer(make_config()) as sync:
        await sync.write_audio(speech(0, BEFORE))
        assert await sync.start_turn() == 1
        await sync.write_audio(speech(0, RATE // 2), epoch=0)  # no error
        await sync.write_video(marked_frame(1), epoch=0)
        await sync.end_audio(epoch=0)
        stats = sync.stats()
        assert stats.audio_dropped_stale_s >= 0.5
        assert stats.frames_dropped_stale >= 1
        with pytest.raises(avsync.EpochError, match="epoch 2 is newer than the current epoch 1"):
            await sync.write_audio(speech(0, 480), epoch=2)
        await sync.write_audio(speech(0, AFTER), epoch=1)
        await sync.end_audio()
        result = await sync.wait_for_playout()
        assert result.position == AFTER / RATE and not result.interrupted
        await sync.aclose()


@pytest.mark.parametrize("first_pts", [None, 0.0], ids=["pts-less first", "pts first"])
async def test_audio_pts_inside_audio_already_written_is_refused(
    first_pts: float | None, autojump_clock: trio.testing.MockClock
) -> None:
    """0.3 s written from media time 0, then a chunk stamped 0.1 s: the timeline would go back
    0.2 s. It must be refused (and the queued audio still play), not silently moved to 0.3 s."""
    async with avsync.open_synchronizer(make_config()) as sync:
        await sync.write_audio(speech(0, BEFORE), pts=first_pts)
        with pytest.raises(avsync.InvalidAudioError, match=r"backwards|overlap"):
            await sync.write_audio(speech(RATE // 10, 4800), pts=0.1)
        await sync.end_audio()
        assert (await sync.wait_for_playout()).position == BEFORE / RATE
        await sync.aclose()


async def test_audio_after_end_audio_is_refused_until_the_next_turn(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with avsync.open_synchronizer(make_config()) as sync:
        await sync.write_audio(speech(0, BEFORE))
        await sync.end_audio()
        with pytest.raises(avsync.InvalidAudioError, match="end_audio"):
            await sync.write_audio(speech(BEFORE, 480))
        result = await sync.wait_for_playout()
        assert result.position == BEFORE / RATE
        await sync.start_turn()
        await sync.write_audio(speech(0, 480))
        await sync.end_audio()
        assert (await sync.wait_for_playout()).position == 480 / RATE
        await sync.aclose()


def test_the_docs_table_is_current() -> None:
    """docs/bad-input.md lists what each catalogued call really raises."""
    from pathlib import Path

    from .bad_input_table import render

    table = Path(__file__).resolve().parents[2] / "docs" / "bad-input.md"
    regenerate = "python -m tests.avsync.bad_input_table > docs/bad-input.md"
    assert table.read_text() == render(), f"docs/bad-input.md is out of date: {regenerate}"
