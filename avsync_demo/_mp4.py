"""An MP4 recorder (H.264 + AAC via PyAV) fed from the event loop, encoding in a child process.

Frames are stamped with the time they were handed over, so the file shows what a viewer at
that point saw and heard: video at its arrival times, audio as one continuous stream starting
at its first arrival (converted to the file's rate and layout by the AAC encoder).

The encoder runs in its own process: x264 holds the GIL for milliseconds at a time, which in a
thread would delay the very clock the demo measures. The event loop only copies each frame's
planes and enqueues them (never waits on the encoder); if the encoder falls more than
``QUEUE_LIMIT`` items behind, further items are dropped and counted.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
from fractions import Fraction
from typing import Any

import av
import numpy as np

from avsync._audio import int16_samples

__all__ = ["Mp4Recorder"]

QUEUE_LIMIT = 600
VIDEO_TIME_BASE = Fraction(1, 90000)
FINISH_TIMEOUT_S = 120.0

Item = tuple[str, float, np.ndarray, int]  # kind, arrival, planes/samples, sample rate


class Mp4Recorder:
    """Records ``av.VideoFrame`` (yuv420p) / ``av.AudioFrame`` (s16) items to ``path``.

    :meth:`add` has the :class:`~avsync.loopback.MediaLog` listener signature. Call
    :meth:`start` first and :meth:`close` last: ``close()`` waits for the encoder to finish the
    file and raises ``RuntimeError`` if it failed.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        width: int,
        height: int,
        fps: int,
        sample_rate: int = 48000,
        layout: str = "stereo",
    ) -> None:
        self.path = os.fspath(path)
        self.settings = (self.path, width, height, fps, sample_rate, layout)
        self.dropped = 0
        self.video_frames = 0
        self.audio_frames = 0
        context = multiprocessing.get_context("spawn")
        self._queue: Any = context.Queue(QUEUE_LIMIT)
        self._results: Any = context.Queue()
        self._process = context.Process(
            target=_encode, args=(self._queue, self._results, self.settings), daemon=True
        )

    def start(self) -> None:
        self._process.start()

    def add(self, frame: object, at: float) -> None:
        """Enqueue ``frame``, handed over at ``at`` (seconds, any monotonic origin); never
        blocks."""
        if isinstance(frame, av.VideoFrame):
            item: Item = ("video", at, _planes(frame), 0)
        elif isinstance(frame, av.AudioFrame):
            item = ("audio", at, int16_samples(frame), frame.sample_rate)
        else:
            return
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1

    def close(self) -> None:
        """Finish the file (blocks until it is written); ``RuntimeError`` if encoding failed.

        Never waits on an encoder that has died: the end marker is only queued while it lives.
        """
        if not self._process.is_alive() and self._process.exitcode is None:
            return  # never started
        self._send_end()
        outcome = self._outcome()
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()
        if self._process.exitcode != 0:
            self._queue.cancel_join_thread()  # what is left in the pipe has no reader
        self._queue.close()
        self._results.close()
        if outcome[0] != "done":
            raise RuntimeError(f"writing {self.path} failed: {outcome[1]}")
        self.video_frames, self.audio_frames = outcome[1], outcome[2]

    def _send_end(self) -> None:
        while self._process.is_alive():
            try:
                self._queue.put(None, timeout=0.5)
                return
            except queue.Full:
                continue

    def _outcome(self) -> tuple[Any, ...]:
        """What the child reported; a failure if it died or went silent for ``FINISH_TIMEOUT_S``."""
        waited = 0.0
        while waited < FINISH_TIMEOUT_S:
            try:
                return tuple(self._results.get(timeout=0.5))
            except queue.Empty:
                waited += 0.5
                if not self._process.is_alive():  # its report may still be on its way
                    try:
                        return tuple(self._results.get(timeout=1.0))
                    except queue.Empty:
                        code = self._process.exitcode
                        return ("failed", f"the encoder process exited ({code})")
        return ("failed", f"the encoder did not finish within {FINISH_TIMEOUT_S:g} s")


def _planes(frame: av.VideoFrame) -> np.ndarray:
    if frame.format.name != "yuv420p":
        frame = frame.reformat(format="yuv420p")
    return np.asarray(frame.to_ndarray())


def _encode(items: Any, results: Any, settings: tuple[str, int, int, int, int, str]) -> None:
    """The child process: encode until ``None`` arrives; report ("done", video, audio) counts
    or ("failed", reason) on ``results``. Ignores Ctrl-C: the parent ends the file, so that an
    interrupted demo still leaves a playable MP4."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with av.open(settings[0], "w", format="mp4") as container:
            counts = _mux(container, items, *settings[1:])
        results.put(("done", *counts))
    except Exception as error:
        results.put(("failed", f"{type(error).__name__}: {error}"))
        while items.get() is not None:  # let the parent's close() through
            pass


def _mux(
    container: Any, items: Any, width: int, height: int, fps: int, rate: int, layout: str
) -> tuple[int, int]:
    video = container.add_stream("libx264", rate=fps)
    video.width, video.height, video.pix_fmt = width, height, "yuv420p"
    video.time_base = video.codec_context.time_base = VIDEO_TIME_BASE
    video.codec_context.options = {"preset": "veryfast", "crf": "23"}
    audio = container.add_stream("aac", rate=rate, layout=layout)
    origin: float | None = None
    audio_start: int | None = None
    audio_samples = 0
    last_video_pts = -1
    counts = [0, 0]
    while (item := items.get()) is not None:
        kind, at, data, sample_rate = item
        origin = at if origin is None else origin
        if kind == "video":
            picture = av.VideoFrame.from_ndarray(data, format="yuv420p")
            if (picture.width, picture.height) != (width, height):
                picture = picture.reformat(width, height)
            last_video_pts = max(round((at - origin) / VIDEO_TIME_BASE), last_video_pts + 1)
            picture.pts, picture.time_base = last_video_pts, VIDEO_TIME_BASE
            container.mux(video.encode(picture))
            counts[0] += 1
        else:
            source = "mono" if data.shape[1] == 1 else "stereo"
            sound = av.AudioFrame.from_ndarray(data.reshape(1, -1), format="s16", layout=source)
            sound.sample_rate = sample_rate
            if audio_start is None:
                audio_start = round((at - origin) * sample_rate)
            sound.pts, sound.time_base = audio_start + audio_samples, Fraction(1, sample_rate)
            audio_samples += sound.samples
            container.mux(audio.encode(sound))
            counts[1] += 1
    container.mux(video.encode(None))
    container.mux(audio.encode(None))
    return counts[0], counts[1]
