"""Video input: av.VideoFrame of any size and pixel format, or numpy uint8 (h, w, 3) rgb, comes
out as width x height yuv420p (letterboxed when the aspect differs, untouched when it already
fits); a placeholder before the first real frame; the last frame repeats at the configured fps;
output pts on 90 kHz share their origin with the audio output and strictly increase.

The first half tests ``prepare_video`` directly; the second goes through the public API under
``MockClock``.
"""

from __future__ import annotations

from fractions import Fraction
from typing import cast

import attrs
import av
import numpy as np
import numpy.typing as npt
import pytest
import trio
import trio.testing

import avsync
from avsync._messages import Image
from avsync._video import FRAME_FORMATS, SHARES_PLANES, prepare_video, to_video_frame

BLACK_Y, NEUTRAL = 16, 128
WHITE_Y = 235
RED_YUV = (81, 90, 240)  # BT.601 video range, as PyAV converts pure red


def make_config(width: int = 640, height: int = 480, **overrides: object) -> avsync.SyncConfig:
    return avsync.SyncConfig(width=width, height=height, **overrides)  # type: ignore[arg-type]


def as_array(image: Image) -> npt.NDArray[np.uint8]:
    """An image as one I420 array (shared planes are gathered into one)."""
    if isinstance(image, tuple):
        return cast(npt.NDArray[np.uint8], to_video_frame(image, 0).to_ndarray())
    return image


def planes(
    image: Image, width: int, height: int
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """Y, U, V planes of an I420 image of shape (height * 3 // 2, width)."""
    image = as_array(image)
    assert image.shape == (height * 3 // 2, width) and image.dtype == np.uint8
    chroma = image[height:].reshape(-1)
    size = (width // 2) * (height // 2)
    u = chroma[:size].reshape(height // 2, width // 2)
    v = chroma[size:].reshape(height // 2, width // 2)
    return image[:height], u, v


def rgb(height: int, width: int, colour: tuple[int, int, int]) -> npt.NDArray[np.uint8]:
    image = np.empty((height, width, 3), np.uint8)
    image[:] = colour
    return image


# == prepare_video: letterboxing =================================================================


@pytest.mark.parametrize("as_numpy", [False, True], ids=["VideoFrame", "numpy"])
def test_wide_frame_is_letterboxed_with_bars_top_and_bottom(as_numpy: bool) -> None:
    white = rgb(720, 1280, (255, 255, 255))
    frame = white if as_numpy else av.VideoFrame.from_ndarray(white, format="rgb24")
    y, u, v = planes(prepare_video(frame, make_config(640, 480)), 640, 480)
    # 1280x720 scales to 640x360: 60 rows of black above and below
    assert np.all(y[:60] == BLACK_Y) and np.all(y[420:] == BLACK_Y)
    assert np.all(y[60:420] == WHITE_Y)
    assert np.all(u == NEUTRAL) and np.all(v == NEUTRAL)


def test_tall_frame_is_pillarboxed_with_bars_left_and_right() -> None:
    frame = av.VideoFrame.from_ndarray(rgb(1280, 480, (255, 255, 255)), format="rgb24")
    y, _, _ = planes(prepare_video(frame, make_config(640, 480)), 640, 480)
    # 480x1280 scales to 180x480, centred: 230 columns of black either side
    assert np.all(y[:, :230] == BLACK_Y) and np.all(y[:, 410:] == BLACK_Y)
    assert np.all(y[:, 230:410] == WHITE_Y)


def test_coloured_letterbox_keeps_the_colour_and_black_chroma_in_the_bars() -> None:
    frame = av.VideoFrame.from_ndarray(rgb(360, 1280, (255, 0, 0)), format="rgb24")
    y, u, v = planes(prepare_video(frame, make_config(640, 480)), 640, 480)
    # 1280x360 scales to 640x180: 150 rows of black above and below
    assert np.all(y[:150] == BLACK_Y) and np.all(y[330:] == BLACK_Y)
    assert np.all(u[:75] == NEUTRAL) and np.all(v[165:] == NEUTRAL)
    assert (y[240, 320], u[120, 160], v[120, 160]) == RED_YUV


def test_same_aspect_is_scaled_without_bars() -> None:
    frame = av.VideoFrame.from_ndarray(rgb(960, 1280, (255, 255, 255)), format="rgb24")
    y, _, _ = planes(prepare_video(frame, make_config(640, 480)), 640, 480)
    assert np.all(y == WHITE_Y)


def test_smaller_frame_is_scaled_up() -> None:
    frame = av.VideoFrame.from_ndarray(rgb(48, 64, (255, 255, 255)), format="rgb24")
    y, _, _ = planes(prepare_video(frame, make_config(640, 480)), 640, 480)
    assert np.all(y == WHITE_Y)


@pytest.mark.parametrize(("width", "height"), [(8192, 2), (2, 8192), (2, 2), (1922, 1080)])
def test_extreme_aspects_give_a_valid_image(width: int, height: int) -> None:
    frame = av.VideoFrame.from_ndarray(rgb(height, width, (255, 255, 255)), format="rgb24")
    y, _, _ = planes(prepare_video(frame, make_config(320, 240)), 320, 240)
    assert (y == WHITE_Y).any()  # the picture is there, however thin
    assert y[0, 0] == BLACK_Y or y.min() == WHITE_Y


# == prepare_video: formats ======================================================================


@pytest.mark.skipif(not SHARES_PLANES, reason="this PyAV has no VideoFrame.from_dlpack")
def test_yuv420p_of_the_target_size_is_shared_not_copied() -> None:
    pixels = np.random.default_rng(3).integers(0, 256, (480 * 3 // 2, 640), dtype=np.uint8)
    frame = av.VideoFrame.from_ndarray(pixels, format="yuv420p")
    image = prepare_video(frame, make_config(640, 480))
    assert isinstance(image, tuple)
    y, u, v = planes(pixels, 640, 480)
    for shared, plane, expected in zip(image, frame.planes, (y, u, v), strict=True):
        assert shared.ctypes.data == plane.buffer_ptr  # the caller's pixels, no copy
        np.testing.assert_array_equal(shared, expected)
    np.testing.assert_array_equal(to_video_frame(image, 0).to_ndarray(), pixels)


@pytest.mark.parametrize(
    "copy_video",
    [True, pytest.param(False, marks=pytest.mark.skipif(SHARES_PLANES, reason="shared"))],
)
def test_yuv420p_of_the_target_size_is_copied_with_copy_video_or_an_older_pyav(
    copy_video: bool,
) -> None:
    pixels = np.random.default_rng(3).integers(0, 256, (480 * 3 // 2, 640), dtype=np.uint8)
    frame = av.VideoFrame.from_ndarray(pixels, format="yuv420p")
    image = prepare_video(frame, make_config(640, 480, copy_video=copy_video))
    np.testing.assert_array_equal(image, pixels)
    frame.planes[0].update(bytes(frame.planes[0].buffer_size))  # the caller reuses its frame
    assert not frame.to_ndarray()[:480].any()
    np.testing.assert_array_equal(image, pixels)  # a private copy


def _solid_frames() -> dict[str, object]:
    """The same red picture in several pixel formats (and as numpy rgb)."""
    red = rgb(96, 128, (255, 0, 0))
    yuv = [np.full((96, 128), value, np.uint8) for value in RED_YUV]
    nv12 = np.empty((144, 128), np.uint8)
    nv12[:96] = RED_YUV[0]
    nv12[96:, 0::2] = RED_YUV[1]
    nv12[96:, 1::2] = RED_YUV[2]
    alpha = np.full((96, 128, 1), 255, np.uint8)
    return {
        "rgb24": av.VideoFrame.from_ndarray(red, format="rgb24"),
        "bgr24": av.VideoFrame.from_ndarray(np.ascontiguousarray(red[..., ::-1]), format="bgr24"),
        "rgba": av.VideoFrame.from_ndarray(np.concatenate([red, alpha], axis=2), format="rgba"),
        "bgra": av.VideoFrame.from_ndarray(
            np.concatenate([red[..., ::-1], alpha], axis=2), format="bgra"
        ),
        "argb": av.VideoFrame.from_ndarray(np.concatenate([alpha, red], axis=2), format="argb"),
        "yuv444p": av.VideoFrame.from_ndarray(np.stack(yuv), format="yuv444p"),
        "nv12": av.VideoFrame.from_ndarray(nv12, format="nv12"),
        "rgb24 at the target size": av.VideoFrame.from_ndarray(rgb(48, 64, (255, 0, 0)), "rgb24"),
        "rgb24 of an odd size": av.VideoFrame.from_ndarray(rgb(97, 131, (255, 0, 0)), "rgb24"),
        "numpy rgb": red,
        "numpy rgba": np.concatenate([red, alpha], axis=2),
        "numpy rgb of an odd size": rgb(49, 65, (255, 0, 0)),
    }


@pytest.mark.parametrize("name", list(_solid_frames()))
def test_pixel_formats_are_converted_to_the_same_yuv420p(name: str) -> None:
    image = prepare_video(_solid_frames()[name], make_config(64, 48))
    # (scaled from an odd size, older FFmpeg builds miss the last chroma sample by a few %)
    y, u, v = (plane[:-1, :-1] for plane in planes(image, 64, 48))
    assert np.all(np.abs(y.astype(int) - RED_YUV[0]) <= 1)
    assert np.all(np.abs(u.astype(int) - RED_YUV[1]) <= 1)
    assert np.all(np.abs(v.astype(int) - RED_YUV[2]) <= 1)


@pytest.mark.parametrize("as_numpy", [False, True], ids=["VideoFrame", "numpy"])
def test_gray_frame_is_accepted_with_neutral_chroma(as_numpy: bool) -> None:
    gray = np.full((96, 128), 200, np.uint8)
    frame = gray if as_numpy else av.VideoFrame.from_ndarray(gray, format="gray")
    y, u, v = planes(prepare_video(frame, make_config(64, 48)), 64, 48)
    assert np.all(y == y[0, 0]) and 180 <= y[0, 0] <= 200
    assert np.all(u == NEUTRAL) and np.all(v == NEUTRAL)


@pytest.mark.parametrize("pixel_format", sorted(FRAME_FORMATS))
@pytest.mark.parametrize(
    ("width", "height"), [(1280, 720), (64, 48), (100, 300), (1, 1), (33, 17), (641, 359)]
)
def test_any_size_and_pixel_format_gives_an_output_sized_image(
    pixel_format: str, width: int, height: int
) -> None:
    frame = av.VideoFrame(width, height, pixel_format)
    image = as_array(prepare_video(frame, make_config(64, 48)))
    assert image.shape == (72, 64) and image.dtype == np.uint8


# == through the public API ======================================================================


@attrs.define
class Outputs:
    audio: list[tuple[float, av.AudioFrame]] = attrs.Factory(list)
    video: list[tuple[float, av.VideoFrame]] = attrs.Factory(list)

    def video_pts(self) -> npt.NDArray[np.int64]:
        return np.array([frame.pts for _, frame in self.video])


async def record(
    sync: avsync.Synchronizer, outputs: Outputs, task_status: trio.TaskStatus[None]
) -> None:
    audio_out = sync.audio_frames()
    video_out = sync.video_frames()
    task_status.started()

    async def audio() -> None:
        async for frame in audio_out:
            outputs.audio.append((trio.current_time(), frame))

    async def video() -> None:
        async for frame in video_out:
            outputs.video.append((trio.current_time(), frame))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(audio)
        nursery.start_soon(video)


def is_placeholder(frame: av.VideoFrame) -> bool:
    y, u, v = planes(frame.to_ndarray(), frame.width, frame.height)
    return bool(np.all(y == BLACK_Y) and np.all(u == NEUTRAL) and np.all(v == NEUTRAL))


def check_video_format(outputs: Outputs, config: avsync.SyncConfig) -> None:
    assert outputs.video
    for _, frame in outputs.video:
        assert (frame.width, frame.height) == (config.width, config.height)
        assert frame.format.name == "yuv420p"
        assert frame.time_base == Fraction(1, 90000)
    assert np.all(np.diff(outputs.video_pts()) > 0), "video pts strictly increase"


@pytest.mark.parametrize("rgb_colour", [(0, 0, 0), (0, 0, 255), (255, 255, 255), (200, 30, 90)])
async def test_the_placeholder_has_the_configured_colour_as_pyav_converts_it(
    rgb_colour: tuple[int, int, int], autojump_clock: trio.testing.MockClock
) -> None:
    config = make_config(64, 48, placeholder_rgb=rgb_colour)
    outputs = Outputs()
    async with avsync.open_synchronizer(config) as sync, trio.open_nursery() as nursery:
        await nursery.start(record, sync, outputs)
        await trio.sleep(0.1)
        await sync.aclose()
    shown = outputs.video[0][1].to_ndarray()
    expected = av.VideoFrame.from_ndarray(rgb(48, 64, rgb_colour), "rgb24").reformat(
        format="yuv420p"
    )
    np.testing.assert_array_equal(shown, expected.to_ndarray())
    if rgb_colour == (0, 0, 0):
        assert np.all(shown[:48] == BLACK_Y) and np.all(shown[48:] == NEUTRAL)


@pytest.mark.parametrize("fps", [15, 30, 60])
async def test_placeholder_first_then_repeats_every_frame_interval(
    fps: int, autojump_clock: trio.testing.MockClock
) -> None:
    config = make_config(64, 48, fps=fps)
    step = 90000 // fps
    outputs = Outputs()
    async with avsync.open_synchronizer(config) as sync:
        async with trio.open_nursery() as nursery:
            await nursery.start(record, sync, outputs)
            await trio.sleep(0.5)
            idle = len(outputs.video)
            stats_idle = sync.stats()
            await trio.sleep(0.01)  # off the frame grid
            await sync.write_video(rgb(48, 64, (255, 255, 255)))
            await trio.sleep(0.5)
            stats = sync.stats()
            await sync.aclose()
    check_video_format(outputs, config)
    first_time, first = outputs.video[0]
    assert is_placeholder(first)
    assert 0 <= first.pts <= step, "the placeholder starts at the origin"
    pts = outputs.video_pts()
    assert idle >= 0.5 * fps - 1
    assert all(is_placeholder(frame) for _, frame in outputs.video[:idle])
    assert np.all(np.diff(pts[:idle]) == step), "idle repeats advance by exactly 90000/fps"
    assert stats_idle.frames_repeated == stats_idle.frames_emitted  # placeholders count as repeats

    shown = [i for i, (_, frame) in enumerate(outputs.video) if not is_placeholder(frame)]
    assert shown and shown[0] == idle, "the real frame follows the placeholders"
    assert np.all(np.diff(pts[shown]) == step), "the last frame repeats every 90000/fps"
    assert len(shown) >= 0.5 * fps - 1
    white = outputs.video[shown[0]][1].to_ndarray()
    for index in shown[1:]:
        np.testing.assert_array_equal(outputs.video[index][1].to_ndarray(), white)
    assert stats.frames_emitted - stats.frames_repeated == 1
    # pts is the emit time since the origin, on 90 kHz
    for at, frame in outputs.video:
        assert frame.pts / 90000 == pytest.approx(at - first_time + first.pts / 90000, abs=1e-5)


async def test_output_frames_have_the_configured_size_and_format(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = make_config(160, 120)
    passthrough = np.random.default_rng(5).integers(0, 256, (180, 160), dtype=np.uint8)
    inputs: list[object] = [
        av.VideoFrame.from_ndarray(rgb(720, 1280, (255, 255, 255)), format="rgb24"),
        rgb(300, 100, (255, 0, 0)),
        av.VideoFrame.from_ndarray(np.full((480, 640), 200, np.uint8), format="gray"),
        av.VideoFrame.from_ndarray(passthrough, format="yuv420p"),
    ]
    outputs = Outputs()
    async with avsync.open_synchronizer(config) as sync:
        async with trio.open_nursery() as nursery:
            await nursery.start(record, sync, outputs)
            await trio.sleep(0.1)
            for frame in inputs:
                await sync.write_video(frame)
                await trio.sleep(0.1)
            await sync.aclose()
    check_video_format(outputs, config)
    distinct: list[npt.NDArray[np.uint8]] = []
    for _, frame in outputs.video:
        image = frame.to_ndarray()
        if not is_placeholder(frame) and not any(np.array_equal(image, d) for d in distinct):
            distinct.append(image)
    assert len(distinct) == len(inputs), "every written frame was shown"
    y, _, _ = planes(distinct[0], 160, 120)  # 1280x720 into 160x120: 160x90, 30 rows of bars
    rows = np.flatnonzero(np.all(y == WHITE_Y, axis=1))
    assert len(rows) == 90 and rows[-1] - rows[0] == 89
    top, bottom = rows[0], 120 - rows[-1] - 1
    assert top + bottom == 30 and abs(top - bottom) <= 2  # centred (on even lines)
    assert np.all(y[:top] == BLACK_Y) and np.all(y[120 - bottom :] == BLACK_Y)
    y, _, _ = planes(distinct[1], 160, 120)  # 100x300 into 160x120: 40x120, 60-column bars
    assert np.all(y[:, :60] == BLACK_Y) and np.all(y[:, 100:] == BLACK_Y)
    assert np.all(np.abs(y[:, 61:99].astype(int) - RED_YUV[0]) <= 1)
    np.testing.assert_array_equal(distinct[3], passthrough)  # no conversion when it fits


@pytest.mark.parametrize(("fps", "packet_ms"), [(30, 20), (25, 20), (60, 10), (15, 40)], ids=str)
@pytest.mark.parametrize("speech", [False, True], ids=["idle", "speech"])
async def test_video_and_audio_pts_share_their_origin(
    fps: int, packet_ms: int, speech: bool, autojump_clock: trio.testing.MockClock
) -> None:
    config = make_config(64, 48, fps=fps, packet_ms=packet_ms)
    rate = config.sample_rate
    outputs = Outputs()
    async with avsync.open_synchronizer(config) as sync:
        async with trio.open_nursery() as nursery:
            await nursery.start(record, sync, outputs)
            await trio.sleep(0.13)
            if speech:
                await sync.write_audio(np.full(rate, 1000, np.int16))
                for index in range(fps):
                    image = np.full((72, 64), 128, np.uint8)
                    image[:48] = 20 + index
                    frame = av.VideoFrame.from_ndarray(image, format="yuv420p")
                    await sync.write_video(frame, pts=index / fps)
                await sync.end_audio()
            await trio.sleep(1.2)
            stats = sync.stats()
            await sync.aclose()
    check_video_format(outputs, config)
    audio_at: dict[float, int] = {}
    for at, packet in outputs.audio:
        audio_at.setdefault(round(at, 7), packet.pts)
    pairs = 0
    seen: set[float] = set()
    for at, frame in outputs.video:
        key = round(at, 7)
        if key in audio_at and key not in seen:  # the first frame emitted at that instant
            seen.add(key)
            pairs += 1
            assert frame.pts / 90000 == pytest.approx(audio_at[key] / rate, abs=1 / 90000)
    assert pairs >= 5
    if speech:
        assert stats.frames_emitted - stats.frames_repeated == fps  # every frame was shown
        assert stats.offset_max_ms <= 1.0


async def test_placeholder_until_the_first_frame_is_due_then_it_repeats(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A frame written after 0.3 s of audio shows when that audio has played; the placeholder
    covers the wait, and the frame repeats after it until something new is due."""
    config = make_config(64, 48)
    outputs = Outputs()
    async with avsync.open_synchronizer(config) as sync:
        async with trio.open_nursery() as nursery:
            await nursery.start(record, sync, outputs)
            await trio.sleep(0.05)
            await sync.write_audio(np.full(14400, 1000, np.int16))
            written_at = trio.current_time()
            await sync.write_video(rgb(48, 64, (255, 0, 0)))
            await trio.sleep(0.6)
            await sync.aclose()
    check_video_format(outputs, config)
    first_real = next(i for i, (_, f) in enumerate(outputs.video) if not is_placeholder(f))
    assert all(is_placeholder(f) for _, f in outputs.video[:first_real])
    shown_at = outputs.video[first_real][0]
    assert shown_at - written_at >= 0.3 - 1e-6
    after = outputs.video[first_real:]
    assert len(after) >= 8
    red = after[0][1].to_ndarray()
    for _, frame in after[1:]:
        np.testing.assert_array_equal(frame.to_ndarray(), red)
    assert np.all(np.diff([frame.pts for _, frame in after]) == 3000)


async def test_never_a_repeat_and_a_new_frame_at_one_instant(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """docs/design.md, section 3: never two emissions at one instant; the last frame repeats
    only when nothing new is due."""
    config = make_config(64, 48, fps=30)
    outputs = Outputs()
    async with avsync.open_synchronizer(config) as sync:
        async with trio.open_nursery() as nursery:
            await nursery.start(record, sync, outputs)
            await trio.sleep(0.3)  # a placeholder repeat is due at this very instant
            for _ in range(10):
                await trio.lowlevel.checkpoint()  # let the repeat go out first
            await sync.write_video(rgb(48, 64, (255, 255, 255)))  # due at once: now
            await trio.sleep(0.2)
            await sync.aclose()
    check_video_format(outputs, config)
    times = [round(at, 7) for at, _ in outputs.video]
    assert len(times) == len(set(times)), "two frames at one instant"


@pytest.mark.parametrize("audio_s", [0.0, 0.3])
async def test_settle_video_returns_once_a_frame_due_at_once_is_in_the_outputs(
    audio_s: float, autojump_clock: trio.testing.MockClock
) -> None:
    """With no audio buffered a frame is due at once: when ``settle_video()`` returns it is in
    every output. With audio buffered it is only queued, and settling does not wait for it."""
    config = make_config(64, 48)
    async with avsync.open_synchronizer(config) as sync:
        frames = sync.video_frames()
        await trio.sleep(0.1)  # placeholders go out meanwhile
        if audio_s:
            await sync.write_audio(np.full(round(audio_s * 48000), 1000, np.int16))
        start = trio.current_time()
        await sync.write_video(rgb(48, 64, (255, 0, 0)))
        await sync.settle_video()
        assert trio.current_time() - start < 0.001
        received = []
        while True:
            try:
                received.append(frames.receive_nowait())
            except trio.WouldBlock:
                break
        red_shown = any(not is_placeholder(frame) for frame in received)
        assert red_shown == (not audio_s)
        await sync.aclose()
