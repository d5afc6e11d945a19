"""What a browser run measured, from the page's report (``avsyncReport()`` in ``page.js``).

Times are the page's (``performance.now()``, ms); a run's time 0 is when its connection came up.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

__all__ = ["RunSummary", "summarise"]

PLATEAU_FRACTION = 1 / 3  #: the plateau is the last third of a run: libwebrtc has settled


@attrs.frozen
class RunSummary:
    """One run as the browser saw it. Skews in ms, positive: video late."""

    name: str
    seconds: float  #: how long the page measured
    one_stream: bool  #: both tracks arrived in one MediaStream
    skews: tuple[tuple[float, float], ...]  #: (seconds into the run, skew) per onset measured
    onsets_shown: int  #: onset frames displayed after the warm-up
    onsets_heard: int  #: onsets heard after the warm-up
    onsets_measured: int  #: of those, paired into a skew
    plateau_ms: float | None  #: median skew over the last third of the run
    plateau_spread_ms: float | None  #: max - min over the last third
    frames_shown: int  #: frames the page saw displayed (requestVideoFrameCallback)
    frames_marked: int  #: of those, frames whose marker strip it read
    frames_decoded: int | None  #: libwebrtc's count (getStats)
    output_clock_runs: bool  #: AudioContext.getOutputTimestamp() advanced
    #: libwebrtc's own view (getStats, whole run): mean jitter-buffer delay per kind, and the
    #: difference between its estimated playout timestamps (video - audio) at the end
    audio_jitter_buffer_ms: float | None
    video_jitter_buffer_ms: float | None
    playout_timestamp_skew_ms: float | None

    @property
    def marked_ratio(self) -> float:
        return self.frames_marked / self.frames_shown if self.frames_shown else 0.0

    def to_json(self) -> dict[str, Any]:
        document = attrs.asdict(self)
        document["skews"] = [list(pair) for pair in self.skews]
        document["marked_ratio"] = self.marked_ratio
        return document


def summarise(name: str, report: Mapping[str, Any], seconds: float, warmup_s: float) -> RunSummary:
    """The summary of the page's ``report`` of a run of ``seconds`` whose first ``warmup_s``
    (the connection and the first frames) count for nothing but the skews plotted."""
    origin = float(report["connected_at"] or 0.0)
    skews = tuple(
        ((pair["heard"] - origin) / 1000, float(pair["skew_ms"])) for pair in report["pairs"]
    )
    plateau = [skew for at, skew in skews if at >= seconds * (1 - PLATEAU_FRACTION)]
    warm = origin + warmup_s * 1000
    streams = report["track_streams"]
    frames = report["frames"]
    stats = report["stats"][-1] if report["stats"] else {}
    clock = report["output_clock"]
    return RunSummary(
        name=name,
        seconds=seconds,
        one_stream=set(streams) == {"audio", "video"} and streams["audio"] == streams["video"],
        skews=skews,
        onsets_shown=sum(1 for shown in report["onsets_shown"] if shown >= warm),
        onsets_heard=sum(1 for heard in report["heard"] if heard >= warm),
        onsets_measured=sum(1 for pair in report["pairs"] if pair["heard"] >= warm),
        plateau_ms=statistics.median(plateau) if plateau else None,
        plateau_spread_ms=max(plateau) - min(plateau) if plateau else None,
        frames_shown=int(frames["callbacks"]),
        frames_marked=int(frames["marked"]),
        frames_decoded=stats.get("video", {}).get("framesDecoded"),
        output_clock_runs=len(clock) >= 2 and clock[-1][0] > clock[0][0] and clock[-1][1] > 0,
        audio_jitter_buffer_ms=_mean_jitter_buffer_ms(stats.get("audio")),
        video_jitter_buffer_ms=_mean_jitter_buffer_ms(stats.get("video")),
        playout_timestamp_skew_ms=_playout_skew_ms(stats),
    )


def _mean_jitter_buffer_ms(inbound: Mapping[str, Any] | None) -> float | None:
    if not inbound or not inbound.get("jitterBufferEmittedCount"):
        return None
    return 1000 * float(inbound["jitterBufferDelay"]) / float(inbound["jitterBufferEmittedCount"])


def _playout_skew_ms(stats: Mapping[str, Any]) -> float | None:
    stamps: Sequence[Any] = [
        stats.get(kind, {}).get("estimatedPlayoutTimestamp") for kind in ("video", "audio")
    ]
    if any(stamp is None for stamp in stamps):
        return None
    return float(stamps[0]) - float(stamps[1])
