"""The demo's outputs: a JSON report, a PNG plot and a short human summary."""

from __future__ import annotations

import json
import platform
import sys
from typing import Any

import attrs
import numpy as np

from avsync import __version__

from ._analysis import (
    FrameOffset,
    SpeechIndex,
    Stale,
    SyllableSkew,
    frame_offsets,
    stale_after,
    syllable_skews,
)
from ._session import DemoRun

__all__ = ["Findings", "analyse", "report", "summary", "write_outputs"]


@attrs.frozen
class Findings:
    """What the run measured, independently of the synchroniser's own counters."""

    offsets: list[FrameOffset]  #: at the sender, every turn frame
    skews: list[SyllableSkew]  #: at the receiver, every syllable onset
    stale: Stale  #: turn 1 output published after the barge-in's start_turn() returned
    flush_ms: float  #: how long the barge-in's start_turn() took


def analyse(run: DemoRun) -> Findings:
    utterances = {turn.number: turn.utterance for turn in run.plan.turns}
    speech = SpeechIndex(utterances, run.config.packet_samples)
    speech.scan(run.sender)
    barge_in = next(h for h in run.happenings if h.what == "barge-in")
    return Findings(
        offsets=frame_offsets(
            run.sender, speech, run.epochs, run.frames_written, run.plan.fps, run.origin
        ),
        skews=syllable_skews(run.receiver, speech, utterances, run.epochs, run.origin),
        stale=stale_after(run.sender, speech, 1, run.epochs[1], barge_in.ended),
        flush_ms=(barge_in.ended - barge_in.started) * 1000,
    )


def _percentiles(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return dict.fromkeys(("p50_ms", "p99_ms", "min_ms", "max_ms", "max_abs_ms"), None) | {
            "count": 0
        }
    array = np.array(values)
    p50, p99 = np.percentile(array, [50, 99])
    return {
        "count": len(values),
        "p50_ms": round(float(p50), 3),
        "p99_ms": round(float(p99), 3),
        "min_ms": round(float(array.min()), 3),
        "max_ms": round(float(array.max()), 3),
        "max_abs_ms": round(float(np.abs(array).max()), 3),
    }


def report(run: DemoRun, findings: Findings) -> dict[str, Any]:
    """The JSON report: settings, sync at both ends, stale output, drops, underrun, CPU, and
    the time series behind the plot."""
    stats = run.stats
    assert stats is not None
    options = run.options
    return {
        "avsync": __version__,
        "machine": {"python": sys.version.split()[0], "platform": platform.platform()},
        "options": {
            "duration_s": options.duration,
            "width": options.width,
            "height": options.height,
            "fps": options.fps,
            "record": options.record,
            "seed": options.seed,
            "playout_delay_s": options.playout_delay_s,
        },
        "files": {"mp4": str(options.video), "json": str(options.report), "png": str(options.plot)},
        "sync_at_sender_ms": _percentiles(
            [o.offset_ms for o in findings.offsets if not o.arrived_late]
        ),
        "frames_arrived_after_their_audio": _percentiles(
            [o.offset_ms for o in findings.offsets if o.arrived_late]
        ),
        "sync_at_receiver_ms": _percentiles([s.skew_ms for s in findings.skews]),
        "sync_by_synchronizer_ms": {
            "count": stats.offset.count,
            "p50_ms": stats.offset.p50_ms,
            "p99_ms": stats.offset.p99_ms,
            "max_ms": stats.offset.max_ms,
        },
        "barge_in": {
            "start_turn_ms": round(findings.flush_ms, 3),
            "stale_frames_dropped": stats.frames_dropped_stale,
            "stale_audio_dropped_ms": round(stats.audio_dropped_stale_s * 1000, 1),
            "stale_frames_published_after": findings.stale.frames,
            "stale_audio_published_after_ms": round(findings.stale.audio_ms, 1),
        },
        "drops": {
            "frames_late": stats.frames_dropped_late,
            "frames_overflow": stats.frames_dropped_overflow,
            "audio_overflow_ms": round(stats.audio_dropped_overflow_s * 1000, 1),
            "sink_items": stats.sink_frames_dropped,
            "mp4_items": run.recorder_dropped,
        },
        "underrun_ms": round(stats.audio_underrun_s * 1000, 1),
        "overload": {
            "overloaded_at_the_end": stats.overload.overloaded,
            "seen_overloaded": run.overloaded_seen,
            "loop_lag_p50_ms": round(stats.overload.loop_lag_p50_ms, 2),
            "loop_lag_p99_ms": round(stats.overload.loop_lag_p99_ms, 2),
            "loop_lag_max_ms": round(stats.overload.loop_lag_max_ms, 2),
            "over_budget_ms": round(stats.overload.over_budget_s * 1000, 1),
            "audio_skipped_ms": round(stats.overload.audio_skipped_s * 1000, 1),
            "speech_lost_ms": round(stats.overload.speech_lost_s * 1000, 1),
            "frames_shed_late": stats.overload.frames_shed_late,
            "repeats_shed": stats.overload.repeats_shed,
        },
        "cpu": {
            "process_s": round(run.cpu_s, 3),
            "wall_s": round(run.wall_s, 3),
            "percent_of_one_core": round(100 * run.cpu_s / max(run.wall_s, 1e-9), 1),
            "includes": "everything in the demo's process: avatar rendering, avsync, VP8/Opus "
            "encoding and decoding, the receiver (not the MP4 encoder, a child process)",
        },
        "frames": {
            "rendered": run.frames_rendered,
            "published": len(run.sender.video),
            "received": len(run.receiver.video),
            "recorded": run.recorded_video,
            "audio_packets_published": len(run.sender.audio),
        },
        "happenings": [
            {
                "what": h.what,
                "at_s": round(h.started - run.origin, 4),
                "took_ms": round((h.ended - h.started) * 1000, 3),
                "epoch": h.epoch,
            }
            for h in run.happenings
        ],
        "timeline": {
            "at_s": [round(s.at, 4) for s in run.samples],
            "epoch": [s.stats.epoch for s in run.samples],
            "audio_buffered_s": [round(s.stats.audio_buffered_s, 4) for s in run.samples],
            "video_queued": [s.stats.video_queued for s in run.samples],
            "frames_dropped_stale": [s.stats.frames_dropped_stale for s in run.samples],
            "frames_dropped_late": [s.stats.frames_dropped_late for s in run.samples],
            "audio_underrun_s": [round(s.stats.audio_underrun_s, 4) for s in run.samples],
        },
        "frame_offsets": [attrs.asdict(o) for o in findings.offsets],
        "syllable_skews": [attrs.asdict(s) for s in findings.skews],
    }


def write_outputs(run: DemoRun, findings: Findings) -> dict[str, Any]:
    """Write the JSON report and the PNG plot; return the report."""
    from ._plot import write_plot  # matplotlib is loaded only here

    document = report(run, findings)
    run.options.report.parent.mkdir(parents=True, exist_ok=True)
    run.options.report.write_text(json.dumps(document, indent=1) + "\n")
    write_plot(run, findings, run.options.plot)
    return document


def summary(document: dict[str, Any]) -> str:
    """A few lines a person reads at the end of the run."""
    sender = document["sync_at_sender_ms"]
    receiver = document["sync_at_receiver_ms"]
    barge = document["barge_in"]
    drops = document["drops"]
    options = document["options"]
    files = document["files"]
    lines = [
        f"avsync demo: {options['duration_s']:g} s avatar session, {options['width']}x"
        f"{options['height']} @ {options['fps']} fps, WebRTC over 127.0.0.1",
    ]
    late = document["frames_arrived_after_their_audio"]
    if sender["count"]:
        lines.append(
            f"  lip sync as published: {sender['count']} frames, offset p50 {sender['p50_ms']:+.2f}"
            f" ms, p99 {sender['p99_ms']:+.2f} ms, worst |{sender['max_abs_ms']:.2f}| ms"
            " (positive: video late)"
        )
    if late["count"]:
        lines.append(
            f"  {late['count']} frames reached avsync after their audio had been heard"
            f" ({_where_late(document)}) and were shown at once, up to"
            f" {late['max_ms']:.0f} ms late"
        )
    if receiver["count"]:
        lines.append(
            f"  at the receiver (after VP8/Opus and aiortc's jitter buffers): {receiver['count']}"
            f" syllables, skew p50 {receiver['p50_ms']:+.0f} ms ({receiver['min_ms']:+.0f} to"
            f" {receiver['max_ms']:+.0f} ms)"
        )
    lines += [
        f"  barge-in: start_turn() returned in {barge['start_turn_ms']:.1f} ms;"
        f" {barge['stale_frames_dropped']} stale frames and {barge['stale_audio_dropped_ms']:.0f}"
        " ms of stale audio dropped; published after it returned:"
        f" {barge['stale_frames_published_after']} frames,"
        f" {barge['stale_audio_published_after_ms']:.0f} ms of audio",
        f"  provider stall: {document['underrun_ms']:.0f} ms of audio underrun (video waited with"
        f" it); frames dropped late {drops['frames_late']}, overflow {drops['frames_overflow']},"
        f" by slow outputs {drops['sink_items']}",
        _load_line(document["overload"]),
        f"  CPU: {document['cpu']['percent_of_one_core']:.0f}% of one core for the whole process"
        " (rendering, avsync, VP8/Opus both ways, receiver; the MP4 encoder runs apart)",
        f"  wrote {files['mp4']} ({options['record']} stream), {files['json']}, {files['png']}",
    ]
    return "\n".join(lines)


def _load_line(load: dict[str, Any]) -> str:
    """Whether the loop kept up, in words."""
    lag = f"clock lag p99 {load['loop_lag_p99_ms']:.1f} ms, max {load['loop_lag_max_ms']:.1f} ms"
    if not load["seen_overloaded"]:
        return f"  load: the loop kept up ({lag})"
    return (
        f"  load: OVERLOADED at times ({lag}): {load['audio_skipped_ms']:.0f} ms of audio"
        f" skipped ({load['speech_lost_ms']:.0f} ms of speech lost), {load['frames_shed_late']}"
        f" frames and {load['repeats_shed']} repeats shed"
    )


def _where_late(document: dict[str, Any]) -> str:
    """Where the frames that arrived after their audio were, in words."""
    stalls = [h for h in document["happenings"] if h["what"] == "stall"]
    late = [o["at"] for o in document["frame_offsets"] if o["arrived_late"]]
    if stalls and all(
        stalls[0]["at_s"] <= at <= stalls[0]["at_s"] + stalls[0]["took_ms"] / 1000 + 1.0
        for at in late
    ):
        return "just after the stall: audio resumed before video"
    return "a frame that arrives after its audio cannot be in sync"
