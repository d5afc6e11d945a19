"""What real providers hand over, fed through the faces: every pixel format a decoder or a
renderer delivers, at the output size, larger, smaller, another aspect and odd sizes, as
``av.VideoFrame`` and as numpy arrays; audio s16 and f32, interleaved and planar, mono and
stereo, 8-48 kHz. Mixed with input that is refused, so that each session also sees errors.

Whatever comes in, the session survives, a refused write raises ``InvalidVideoError`` /
``InvalidAudioError`` (or their ``...TypeError`` kin) and changes nothing, and every accepted
frame and sample comes out. Frames are told apart by their brightness: the k-th accepted frame
is a flat grey picture at RGB level ``LEVELS[k % len(LEVELS)]`` in whatever format it is written,
which survives any conversion and scaling, and the letterbox bars around it are black.

The trio face is driven by hypothesis under ``MockClock``; the asyncio face, which runs trio as
a guest of a real asyncio loop, by a fixed matrix in real time (two sessions in one loop).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import attrs
import av
import numpy as np
import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

import avsync
from actors.testing import run_scenario
from avsync._video import BLACK_Y, FRAME_FORMATS

from .harness import run_asyncio

W, H, FPS, RATE = 64, 48, 30, 48000
LEVELS = (40, 70, 100, 130, 160, 190, 220)  #: RGB grey levels of consecutive accepted frames
PROVIDER_FORMATS = ("yuv420p", "yuvj420p", "nv12", "rgb24", "bgr24", "rgba", "bgra", "argb", "gray")
NUMPY_SHAPES = {"rgb24": 3, "rgba": 4, "gray": None}  #: numpy input: channels (None: 2-D)
SIZES = [(W, H), (W * 2, H * 2), (W // 2, H // 2), (W, H * 2), (33, 17), (W + 1, H - 1), (1, 1)]
REFUSED_FORMATS = ("rgb4", "bayer_rggb8", "pal8", "rgbaf32le")  # made directly, never converted
AUDIO_ERRORS = (avsync.InvalidAudioError, avsync.InvalidAudioTypeError)
VIDEO_ERRORS = (avsync.InvalidVideoError, avsync.InvalidVideoTypeError)


def grey_picture(level: int, width: int, height: int, pixel_format: str, as_numpy: bool) -> Any:
    """A flat grey picture at RGB ``level``, as a provider in ``pixel_format`` would hand it."""
    rgb = np.full((height, width, 3), level, np.uint8)
    if as_numpy:
        channels = NUMPY_SHAPES[pixel_format]
        if channels is None:
            return rgb[..., 0].copy()
        return np.concatenate([rgb, np.full((height, width, 1), 255, np.uint8)], axis=2)[
            ..., :channels
        ].copy()
    return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=pixel_format)


def level_of(frame: av.VideoFrame) -> int | None:
    """The RGB level of the picture in an output frame (its bars left out); None for black."""
    luma = np.asarray(frame.to_ndarray())[: frame.height]
    picture = luma[luma > BLACK_Y + 8]
    if picture.size == 0:
        return None
    return round((float(np.median(picture)) - BLACK_Y) * 255 / 219)


def shown_levels(frames: list[av.VideoFrame]) -> list[int]:
    """The levels of the pictures shown, in order, each once (repeats and black left out)."""
    shown: list[int] = []
    for frame in frames:
        level = level_of(frame)
        if level is not None and (not shown or shown[-1] != level):
            shown.append(level)
    return shown


def same_pictures(shown: list[int], written: list[int]) -> bool:
    return len(shown) == len(written) and all(
        abs(a - b) <= 6 for a, b in zip(shown, written, strict=True)
    )


def speech(frames: int, rate: int, dtype: str, layout: str, as_frame: bool) -> Any:
    """``frames`` samples of a DC level at ``rate``: numpy (interleaved ``(n, channels)`` or
    ``(n,)``) or an ``av.AudioFrame`` (packed or planar)."""
    channels = 2 if layout == "stereo" else 1
    value = 0.3 if dtype == "f32" else 9830
    np_dtype = np.float32 if dtype == "f32" else np.int16
    if not as_frame:
        shape = (frames, channels) if channels == 2 else (frames,)
        return np.full(shape, value, np_dtype)
    planar = layout == "stereo planar"
    name = ("fltp" if planar else "flt") if dtype == "f32" else ("s16p" if planar else "s16")
    shape = (channels, frames) if planar else (1, frames * channels)
    frame = av.AudioFrame.from_ndarray(
        np.full(shape, value, np_dtype), format=name, layout="stereo" if channels == 2 else "mono"
    )
    frame.sample_rate = rate
    return frame


# == the writes ===================================================================================


@attrs.frozen
class Write:
    """One provider write: what it is, and whether avsync must take it."""

    kind: str  # "audio" or "video"
    make: Callable[[int], Any]  # the input, given the level for the next accepted frame
    accepted: bool
    seconds: float = 0.0  # accepted audio: its duration
    rate: int | None = None  # audio: the sample_rate argument


@st.composite
def video_writes(draw: st.DrawFn) -> Write:
    width, height = draw(st.sampled_from(SIZES))
    if draw(st.booleans()):
        pixel_format = draw(st.sampled_from(PROVIDER_FORMATS + tuple(sorted(FRAME_FORMATS))))
        return Write("video", lambda lv: grey_picture(lv, width, height, pixel_format, False), True)
    if draw(st.booleans()):
        pixel_format = draw(st.sampled_from(list(NUMPY_SHAPES)))
        return Write("video", lambda lv: grey_picture(lv, width, height, pixel_format, True), True)
    refused_format = draw(st.sampled_from(REFUSED_FORMATS))
    dtype = draw(st.sampled_from([np.uint16, np.float32]))
    channels = draw(st.sampled_from([1, 2, 5]))
    refused: list[Callable[[int], Any]] = [
        lambda lv: av.VideoFrame(width, height, refused_format),
        lambda lv: np.zeros((height, width, 3), dtype),
        lambda lv: np.zeros((height, width, channels), np.uint8),
        lambda lv: np.zeros((height, width, 3, 1), np.uint8),
        lambda lv: np.zeros((0, width, 3), np.uint8),
        lambda lv: np.zeros((1, 8193, 3), np.uint8),
        lambda lv: bytes(width * height * 3),
    ]
    return Write("video", draw(st.sampled_from(refused)), False)


@st.composite
def audio_writes(draw: st.DrawFn) -> Write:
    rate = draw(st.sampled_from([8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000]))
    frames = draw(st.integers(1, rate // 4))
    dtype = draw(st.sampled_from(["s16", "f32"]))
    as_frame = draw(st.booleans())
    layout = draw(st.sampled_from(["mono", "stereo", "stereo planar"] if as_frame else ["mono"]))
    if draw(st.integers(0, 4)):  # mostly accepted
        return Write(
            "audio",
            lambda lv: speech(frames, rate, dtype, layout, as_frame),
            True,
            frames / rate,
            None if as_frame else rate,
        )
    refused: list[tuple[Callable[[int], Any], int | None]] = [
        (lambda lv: np.full(frames, 1000, np.int32), rate),
        (lambda lv: np.full(frames, 0.1, np.float64), rate),
        (lambda lv: np.full((frames, 3), 1000, np.int16), rate),
        (lambda lv: np.full(frames, np.nan, np.float32), rate),
        (lambda lv: np.full(frames, 1000, np.int16), 7999),
        (lambda lv: np.zeros(0, np.int16), rate),
        (lambda lv: list(range(frames)), rate),
    ]
    make, bad_rate = draw(st.sampled_from(refused))
    return Write("audio", make, False, rate=bad_rate)


@attrs.define
class Outcome:
    written_levels: list[int]
    audio_s: float
    audio_writes: int
    shown: list[av.VideoFrame]
    result: avsync.PlayoutResult


async def feed(sync: Any, writes: list[Write], sleep: Callable[[float], Any]) -> Outcome:
    """Write ``writes`` in order through ``sync`` (either face), as fast as it takes them, each
    accepted frame followed by a frame interval of speech, then end the audio and wait until
    everything has come out (frames written with no audio between are shown a frame interval
    apart). Checks that refused writes raise avsync's errors and accepted ones do not."""
    levels: list[int] = []
    audio_s, audio_count = 0.0, 0
    for write in writes:
        value = write.make(LEVELS[len(levels) % len(LEVELS)])
        errors = AUDIO_ERRORS if write.kind == "audio" else VIDEO_ERRORS
        try:
            if write.kind == "audio":
                await sync.write_audio(value, sample_rate=write.rate)
            else:
                await sync.write_video(value)
        except errors:
            assert not write.accepted, f"refused: {value!r:.200}"
            continue
        assert write.accepted, f"accepted: {value!r:.200}"
        if write.kind == "audio":
            audio_s += write.seconds
            audio_count += 1
        else:
            levels.append(LEVELS[len(levels) % len(LEVELS)])
            # a frame interval of speech: the next frame is due a whole interval later, so
            # that none is superseded (frames faster than fps are; test_schedule.py)
            await sync.write_audio(np.full(RATE // FPS, 3000, np.int16), sample_rate=RATE)
            audio_s += 1 / FPS
            audio_count += 1
    await sync.end_audio()
    result = await sync.wait_for_playout()
    while sync.stats().video_queued:  # frames due together are shown one a frame interval
        await sleep(1 / FPS)
    await sleep(2 / FPS)
    return Outcome(levels, audio_s, audio_count, [], result)


def check(outcome: Outcome) -> None:
    shown = shown_levels(outcome.shown)
    assert same_pictures(shown, outcome.written_levels), (shown, outcome.written_levels)
    # every accepted sample plays once: the resampler may round each write by a sample or two
    tolerance = (2.5 * outcome.audio_writes + 1) / RATE
    assert outcome.result.position == pytest.approx(outcome.audio_s, abs=tolerance)


# == the trio face, under hypothesis ==============================================================


async def trio_session(writes: list[Write], channels: int) -> Outcome:
    config = avsync.SyncConfig(width=W, height=H, fps=FPS, sample_rate=RATE, channels=channels)
    shown: list[av.VideoFrame] = []
    async with avsync.open_synchronizer(config) as sync, trio.open_nursery() as nursery:
        video = sync.video_frames()

        async def record() -> None:
            async for frame in video:
                shown.append(frame)

        nursery.start_soon(record)
        outcome = await feed(sync, writes, trio.sleep)
        assert not sync.overloaded and sync.stats().frames_dropped_late == 0
        await sync.aclose()
    outcome.shown = shown
    return outcome


@settings(max_examples=25)
@given(
    writes=st.lists(st.one_of(video_writes(), audio_writes()), min_size=1, max_size=12),
    channels=st.sampled_from([1, 2]),
)
def test_the_trio_face_survives_any_provider_input_and_puts_out_all_it_took(
    writes: list[Write], channels: int
) -> None:
    outcome = run_scenario(trio_session, writes, channels)
    check(outcome)


# == the asyncio face, in real time ==============================================================


def matrix() -> list[Write]:
    """Every provider format at every size, as a frame and (where numpy has a shape for it) as an
    array, between writes of every kind of audio; and a refused write of each kind."""
    writes: list[Write] = []
    rates = [8000, 16000, 24000, 44100, 48000]
    layouts = [("s16", "mono", False), ("f32", "mono", False)]
    layouts += [
        (d, lay, True) for d in ("s16", "f32") for lay in ("mono", "stereo", "stereo planar")
    ]
    for i, pixel_format in enumerate(PROVIDER_FORMATS):
        for j, (width, height) in enumerate(SIZES):
            rate = rates[(i + j) % len(rates)]
            dtype, layout, as_frame = layouts[(i * len(SIZES) + j) % len(layouts)]
            frames = rate // 50
            writes.append(
                Write(
                    "audio",
                    lambda lv, r=rate, d=dtype, la=layout, f=as_frame, n=frames: speech(
                        n, r, d, la, f
                    ),
                    True,
                    frames / rate,
                    None if as_frame else rate,
                )
            )
            writes.append(
                Write(
                    "video",
                    lambda lv, w=width, h=height, p=pixel_format: grey_picture(lv, w, h, p, False),
                    True,
                )
            )
            if pixel_format in NUMPY_SHAPES:
                writes.append(
                    Write(
                        "video",
                        lambda lv, w=width, h=height, p=pixel_format: grey_picture(
                            lv, w, h, p, True
                        ),
                        True,
                    )
                )
    writes.insert(5, Write("video", lambda lv: av.VideoFrame(W, H, "rgb4"), False))
    writes.insert(9, Write("audio", lambda lv: np.zeros(480, np.float64), False, rate=RATE))
    return writes


def tts_chunk(frames: int) -> Any:
    """20 ms of speech as Vision-Agents' TTS plugins hand it over: getstream's ``PcmData`` at
    16 kHz where getstream is installed (in Vision-Agents' environments), else numpy."""
    samples = np.full(frames, 9830, np.int16)
    try:
        from getstream.video.rtc.track_util import PcmData
    except ImportError:
        return samples
    return PcmData(sample_rate=16000, format="s16", samples=samples, channels=1)


def provider_formats() -> list[Write]:
    """The three formats real providers send most, at the output size: decoders' yuv420p and
    renderers' rgb24 and nv12, each frame after 20 ms of TTS audio."""
    kept: list[Write] = []
    for pixel_format in ("yuv420p", "rgb24", "nv12"):
        for _ in range(10):
            kept.append(Write("audio", lambda lv: tts_chunk(320), True, 0.02, 16000))
            kept.append(
                Write("video", lambda lv, p=pixel_format: grey_picture(lv, W, H, p, False), True)
            )
    return kept


@pytest.mark.realtime
def test_two_asyncio_sessions_put_out_every_provider_frame_and_packet() -> None:
    from avsync.aio import AVSynchronizer

    async def session(writes: list[Write], channels: int) -> Outcome:
        sync = AVSynchronizer(width=W, height=H, fps=FPS, sample_rate=RATE, channels=channels)
        shown: list[av.VideoFrame] = []

        async def record() -> None:
            while True:
                try:
                    shown.append(await sync.video_track.recv())
                except Exception:  # the track ends with MediaStreamError at aclose()
                    return

        async with sync:
            reader = asyncio.ensure_future(record())
            outcome = await feed(sync, writes, asyncio.sleep)
        await reader
        outcome.shown = shown
        return outcome

    async def main() -> list[Outcome]:
        return list(await asyncio.gather(session(matrix(), 2), session(provider_formats(), 1)))

    for outcome in run_asyncio(main, timeout=60.0):
        check(outcome)


def test_the_matrix_covers_every_provider_format_as_frame_and_array() -> None:
    writes = matrix()
    assert sum(w.kind == "video" and w.accepted for w in writes) == len(PROVIDER_FORMATS) * len(
        SIZES
    ) + len(NUMPY_SHAPES) * len(SIZES)
    assert any(not w.accepted and w.kind == "video" for w in writes)
    assert any(not w.accepted and w.kind == "audio" for w in writes)


# == the LiveKit face, in real time ==============================================================

#: bytes per pixel of each packed LiveKit buffer type; the planar ones are sized below
_PACKED = {"RGBA": 4, "BGRA": 4, "ARGB": 4, "ABGR": 4, "RGB24": 3}
_PLANAR = ("I420", "NV12", "I444")


def livekit_frame(rtc: Any, buffer_type: str, width: int, height: int, level: int) -> Any:
    """An ``rtc.VideoFrame`` of ``buffer_type`` filled with ``level`` (what a renderer or a
    decoder hands a LiveKit avatar worker; the face passes it to the VideoSource as it is)."""
    chroma = ((width + 1) // 2) * ((height + 1) // 2)
    size = {
        **{name: width * height * depth for name, depth in _PACKED.items()},
        "I420": width * height + 2 * chroma,
        "NV12": width * height + 2 * chroma,
        "I444": 3 * width * height,
    }[buffer_type]
    data = bytes([level]) * size
    return rtc.VideoFrame(width, height, getattr(rtc.VideoBufferType, buffer_type), data)


@pytest.mark.realtime
def test_the_livekit_face_publishes_every_provider_frame_and_sample() -> None:
    """Every LiveKit buffer type a provider hands over, at every size (odd ones too), between
    int16 audio frames at 8-48 kHz, mono into a stereo source: each frame reaches the
    VideoSource (the very object pushed), and every sample is captured once."""
    rtc = pytest.importorskip("livekit.rtc")
    from avsync.livekit import AVSynchronizer

    captured: list[Any] = []
    frames: list[Any] = []
    audio_s = 0.0

    async def main() -> float:
        nonlocal audio_s
        audio = rtc.AudioSource(RATE, 2)
        video = rtc.VideoSource(W, H)
        real_capture = video.capture_frame

        def capture(frame: Any, **kwargs: Any) -> None:
            captured.append(frame)
            real_capture(frame, **kwargs)

        video.capture_frame = capture  # type: ignore[method-assign]
        heard = 0
        real_audio_capture = audio.capture_frame

        async def capture_audio(frame: Any) -> None:
            nonlocal heard
            heard += int(np.count_nonzero(np.frombuffer(frame.data, np.int16))) // 2
            await real_audio_capture(frame)

        audio.capture_frame = capture_audio  # type: ignore[method-assign]
        sync = AVSynchronizer(audio_source=audio, video_source=video, video_fps=FPS)
        # started by a first push; the LiveKit stream it opens stalls the loop for some tens
        # of ms at first, which is the machine's doing: the provider starts after that
        await sync.push(rtc.AudioFrame(bytes(480 * 2), RATE, 1, 480))
        await sync.wait_for_playout()
        await asyncio.sleep(0.2)
        rates = [8000, 16000, 24000, 44100, 48000]
        for i, buffer_type in enumerate([*_PACKED, *_PLANAR]):
            for j, (width, height) in enumerate(SIZES):
                rate = rates[(i + j) % len(rates)]
                samples = np.full(rate // 25, 9000, np.int16)  # (frames 25 a second at most)
                await sync.push(rtc.AudioFrame(samples.tobytes(), rate, 1, len(samples)))
                audio_s += len(samples) / rate
                frame = livekit_frame(rtc, buffer_type, width, height, LEVELS[j % len(LEVELS)])
                frames.append(frame)
                await sync.push(frame)
        with pytest.raises(avsync.InvalidAudioError):  # three channels into a stereo source
            await sync.push(rtc.AudioFrame(bytes(960 * 3 * 2), RATE, 3, 960))
        await sync.wait_for_playout()
        await asyncio.sleep(0.2)
        await sync.aclose()
        return heard / RATE

    heard_s = run_asyncio(main, timeout=30.0)
    assert [id(frame) for frame in captured] == [id(frame) for frame in frames]
    assert heard_s == pytest.approx(audio_s, abs=len(frames) * 2.5 / RATE)
