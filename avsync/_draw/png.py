"""PNG files through PyAV's png codec: RGB uint8 arrays in and out, losslessly."""

from __future__ import annotations

import os
from typing import Any

import av
import numpy as np
import numpy.typing as npt

__all__ = ["decode_png", "encode_png", "read_png", "write_png"]


def _check_pixels(pixels: Any) -> npt.NDArray[np.uint8]:
    if not isinstance(pixels, np.ndarray):
        raise ValueError(f"pixels must be a numpy array, got {type(pixels).__name__}")
    if pixels.dtype != np.uint8:
        raise ValueError(f"pixels must have dtype uint8, got {pixels.dtype}")
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.shape[0] < 1 or pixels.shape[1] < 1:
        raise ValueError(f"pixels must have shape (height, width, 3), got {pixels.shape}")
    return np.ascontiguousarray(pixels)


def encode_png(pixels: npt.NDArray[np.uint8]) -> bytes:
    """The PNG file (RGB, 8 bits a channel) of an (h, w, 3) uint8 array; ValueError otherwise."""
    rgb = _check_pixels(pixels)
    ctx: Any = av.CodecContext.create("png", "w")
    ctx.width, ctx.height = rgb.shape[1], rgb.shape[0]
    ctx.pix_fmt = "rgb24"
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    packets = [*ctx.encode(frame), *ctx.encode(None)]
    return b"".join(bytes(p) for p in packets)


def decode_png(data: bytes) -> npt.NDArray[np.uint8]:
    """The (h, w, 3) uint8 RGB pixels of a PNG file's bytes (any PNG colour type is converted)."""
    ctx: Any = av.CodecContext.create("png", "r")
    try:
        frames = [*ctx.decode(av.Packet(bytes(data))), *ctx.decode(None)]
    except av.FFmpegError as exc:
        raise ValueError(f"not a decodable PNG image: {exc}") from exc
    if not frames:
        raise ValueError("not a decodable PNG image")
    out: npt.NDArray[np.uint8] = frames[0].to_ndarray(format="rgb24")
    return out


def write_png(path: str | os.PathLike[str], pixels: npt.NDArray[np.uint8]) -> None:
    """Write ``pixels`` ((h, w, 3) uint8 RGB, else ValueError) to ``path`` as a PNG file."""
    data = encode_png(pixels)
    with open(path, "wb") as f:
        f.write(data)


def read_png(path: str | os.PathLike[str]) -> npt.NDArray[np.uint8]:
    """The (h, w, 3) uint8 RGB pixels of the PNG file at ``path``."""
    with open(path, "rb") as f:
        return decode_png(f.read())
