"""Video input: validation at the call site and conversion to the output size and format.

Frames are held as I420 arrays of shape ``(height * 3 // 2, width)`` (the layout PyAV's
``yuv420p`` ndarray uses), or, for a caller's ``yuv420p`` frame of the output size, as views of
its three planes (shared, not copied: the ownership rule of ``write_video``), so that every
emission can wrap the same pixels in a fresh ``av.VideoFrame`` without copying them. Wrapping
three separate planes needs ``VideoFrame.from_dlpack`` (PyAV 17 and newer); with an older PyAV
such a frame is copied into one I420 array once, when it is written. No trio here.
"""

from __future__ import annotations

import functools
from fractions import Fraction
from typing import cast

import av
import numpy as np

from ._config import SyncConfig
from ._errors import InvalidVideoError, InvalidVideoTypeError
from ._messages import Image, Plane

__all__ = [
    "MAX_DIMENSION",
    "black_image",
    "placeholder_image",
    "plane_pixels",
    "prepare_video",
    "to_video_frame",
]

MAX_DIMENSION = 8192
BLACK_Y, NEUTRAL_UV = 16, 128  # video-range black, as PyAV's RGB->YUV conversion produces
VIDEO_TIME_BASE = Fraction(1, 90000)
#: whether this PyAV can wrap a caller's three planes in a new frame without copying them
SHARES_PLANES = hasattr(av.VideoFrame, "from_dlpack")


def black_image(width: int, height: int) -> Plane:
    image = np.empty((height * 3 // 2, width), np.uint8)
    image[:height] = BLACK_Y
    image[height:] = NEUTRAL_UV
    return image


@functools.lru_cache(maxsize=16)
def placeholder_image(width: int, height: int, rgb: tuple[int, int, int] = (0, 0, 0)) -> Plane:
    """The image of colour ``rgb`` shown before the first frame, and after a flush by a consumer
    that was shown nothing: one per size and colour in the process, shared by every session of
    that size (1.4 MB at 720p) and read-only. Black is video-range black, as PyAV converts
    RGB (0, 0, 0)."""
    image = black_image(width, height)
    if rgb != (0, 0, 0):
        pixel = np.full((2, 2, 3), rgb, np.uint8)
        yuv = av.VideoFrame.from_ndarray(pixel, format="rgb24").reformat(format="yuv420p")
        y, u, v = (int(plane_pixels(plane)[0, 0]) for plane in yuv.planes)
        image[:height] = y
        _chroma_plane(image, width, height, 0)[:] = u
        _chroma_plane(image, width, height, 1)[:] = v
    image.flags.writeable = False
    return image


def _check_dimensions(width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise InvalidVideoError(f"frame has no pixels ({width}x{height})")
    if width > MAX_DIMENSION or height > MAX_DIMENSION:
        raise InvalidVideoError(f"frame {width}x{height} exceeds {MAX_DIMENSION} pixels a side")


#: the pixel formats of ``av.VideoFrame`` that ``write_video`` takes: what decoders and renderers
#: hand over. Others are refused, not tried: some crash swscale in older FFmpeg builds.
FRAME_FORMATS = frozenset(
    {
        *("yuv420p", "yuvj420p", "yuva420p", "nv12", "nv21", "yuv420p10le", "p010le"),
        *("yuv422p", "yuvj422p", "yuyv422", "uyvy422", "yuv444p", "yuvj444p", "gbrp"),
        *("rgb24", "bgr24", "rgba", "bgra", "argb", "abgr", "rgb0", "bgr0", "0rgb", "0bgr"),
        *("rgb48le", "rgb565le", "gray", "gray16le"),
    }
)
#: the numpy shapes ``write_video`` takes, by number of dimensions and channels: PyAV's format
NUMPY_FORMATS = {(3, 3): "rgb24", (3, 4): "rgba", (2, 1): "gray"}


def prepare_video(frame: object, config: SyncConfig) -> Image:
    """Validate a ``write_video`` frame and return it as an I420 image of the output size,
    letterboxed (black bars, centred) when the aspect ratio differs.

    Takes an ``av.VideoFrame`` of any size (odd ones too) in a pixel format of
    :data:`FRAME_FORMATS` (yuv420p, yuvj420p, nv12, rgb24, bgr24, rgba, bgra, argb, gray, ...),
    or a numpy uint8 array: ``(h, w, 3)`` RGB, ``(h, w, 4)`` RGBA (alpha ignored) or ``(h, w)``
    gray.

    A ``yuv420p`` frame of the output size is not converted: its planes are shared, not copied
    (the caller hands the frame over and must not modify it), unless ``config.copy_video``, which
    copies it (one memcpy) so the caller may reuse its frame, and with a PyAV that cannot share
    planes (:data:`SHARES_PLANES`). Raises :class:`InvalidVideoError` /
    :class:`InvalidVideoTypeError` saying what is wrong; never anything else.
    """
    if isinstance(frame, av.VideoFrame):
        _check_dimensions(frame.width, frame.height)
        if frame.format.name not in FRAME_FORMATS:
            raise InvalidVideoError(
                f"pixel format {frame.format.name} is not supported; convert the frame to one of "
                f"{', '.join(sorted(FRAME_FORMATS))} (frame.reformat(format='yuv420p'))"
            )
        if (
            frame.width == config.width
            and frame.height == config.height
            and frame.format.name == "yuv420p"
        ):
            if config.copy_video or not SHARES_PLANES:
                return _copy_i420(frame)
            planes = frame.planes
            return (plane_pixels(planes[0]), plane_pixels(planes[1]), plane_pixels(planes[2]))
        return _letterbox(frame, config.width, config.height)
    if not isinstance(frame, np.ndarray):
        raise InvalidVideoTypeError(
            f"video must be an av.VideoFrame or a numpy array, got {type(frame).__name__}"
        )
    if frame.dtype != np.uint8:
        raise InvalidVideoTypeError(f"numpy video must be uint8, got dtype {frame.dtype}")
    channels = frame.shape[2] if frame.ndim == 3 else 1
    pixel_format = NUMPY_FORMATS.get((frame.ndim, channels))
    if pixel_format is None:
        raise InvalidVideoError(
            "numpy video must have shape (height, width, 3) for RGB, (height, width, 4) for "
            f"RGBA or (height, width) for gray, got {frame.shape}"
        )
    height, width = frame.shape[:2]
    _check_dimensions(width, height)
    pixels = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format=pixel_format)
    return _letterbox(pixels, config.width, config.height)


def _copy_i420(frame: av.VideoFrame) -> Plane:
    """The frame's three planes copied into one I420 array (one memcpy a row; no conversion)."""
    image = np.empty((frame.height * 3 // 2, frame.width), np.uint8)
    flat = image.reshape(-1)
    offset = 0
    for plane in frame.planes:
        size = plane.width * plane.height
        flat[offset : offset + size].reshape(plane.height, plane.width)[:] = plane_pixels(plane)
        offset += size
    return image


def plane_pixels(plane: av.video.plane.VideoPlane) -> Plane:
    """A (height, width) uint8 view of an 8-bit plane's pixels, without its row padding (one
    strided view over the plane's buffer, which it keeps alive)."""
    pixels = memoryview(plane)
    return np.ndarray((plane.height, plane.width), np.uint8, pixels, 0, (plane.line_size, 1))


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def _letterbox(frame: av.VideoFrame, width: int, height: int) -> Plane:
    scale = min(width / frame.width, height / frame.height)
    scaled_w = min(width, _even(frame.width * scale))
    scaled_h = min(height, _even(frame.height * scale))
    scaled = cast(
        Plane, frame.reformat(width=scaled_w, height=scaled_h, format="yuv420p").to_ndarray()
    )
    if scaled_w == width and scaled_h == height:
        return scaled
    image = black_image(width, height)
    x = (width - scaled_w) // 4 * 2
    y = (height - scaled_h) // 4 * 2
    image[y : y + scaled_h, x : x + scaled_w] = scaled[:scaled_h]
    for plane in (0, 1):
        source = _chroma_plane(scaled, scaled_w, scaled_h, plane)
        target = _chroma_plane(image, width, height, plane)
        target[y // 2 : y // 2 + scaled_h // 2, x // 2 : x // 2 + scaled_w // 2] = source
    return image


def _chroma_plane(image: Plane, width: int, height: int, plane: int) -> Plane:
    """A (height/2, width/2) view of the U (plane 0) or V (plane 1) plane of an I420 image."""
    size = (height // 2) * (width // 2)
    flat = image[height:].reshape(-1)
    return flat[plane * size : (plane + 1) * size].reshape(height // 2, width // 2)


def to_video_frame(image: Image, pts: int) -> av.VideoFrame:
    """A new ``av.VideoFrame`` over ``image``'s pixels (no copy), with ``pts`` on 1/90000."""
    if isinstance(image, tuple):
        y = image[0]
        frame = av.VideoFrame.from_dlpack(
            image, format="yuv420p", width=y.shape[1], height=y.shape[0]
        )
    else:
        frame = av.VideoFrame.from_numpy_buffer(image, format="yuv420p")
    frame.pts = pts
    frame.time_base = VIDEO_TIME_BASE
    return frame
