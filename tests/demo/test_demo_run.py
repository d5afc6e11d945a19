"""``avsync demo`` end to end, in real time: over WebRTC on 127.0.0.1, with its files."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from avsync.marks import read_strip
from avsync_demo import DemoOptions, run_demo
from avsync_demo._report import summary

pytestmark = pytest.mark.realtime


async def test_a_short_demo_session_is_in_sync_and_writes_its_files(tmp_path: Path) -> None:
    options = DemoOptions(duration=10.0, width=320, height=180, output_dir=tmp_path)
    document = await run_demo(options, progress=False)

    # the report on disk is the one returned, and has every section
    assert json.loads(options.report.read_text()) == json.loads(json.dumps(document))
    for key in (
        "sync_at_sender_ms",
        "sync_at_receiver_ms",
        "barge_in",
        "drops",
        "underrun_ms",
        "cpu",
    ):
        assert key in document
    sender = document["sync_at_sender_ms"]
    assert sender["count"] > 150
    assert abs(sender["p50_ms"]) < 1.0  # real time, a shared machine: the median, not the worst
    barge_in = document["barge_in"]
    assert barge_in["stale_frames_published_after"] == 0
    assert barge_in["stale_audio_published_after_ms"] == 0
    assert barge_in["stale_frames_dropped"] > 0 and barge_in["stale_audio_dropped_ms"] > 0
    assert 0 < document["underrun_ms"] < 1000
    receiver = document["sync_at_receiver_ms"]
    assert receiver["count"] > 5
    assert abs(receiver["p50_ms"]) < 125  # aiortc's jitter buffers: within what viewers tolerate
    assert [h["what"].split(" (")[0] for h in document["happenings"]] == [
        "turn 1",
        "stall",
        "barge-in",
        "turn 2",
        "turn 2 played",
    ]

    # the MP4 holds the received session: both streams, marked turn frames among the idle ones
    with av.open(str(options.video)) as container:
        assert sorted(stream.type for stream in container.streams) == ["audio", "video"]
        marks = [read_strip(frame) for frame in container.decode(video=0)]
    # 300 frames in 10 s; on a loaded machine VP8 and the receiver drop some (counted)
    assert len(marks) == document["frames"]["recorded"] > 210
    turn_marks = [mark for mark in marks if mark is not None]
    assert len(turn_marks) > 150
    assert {epoch for epoch, _ in turn_marks} == {1, 3}  # turn 1, then turn 2 after the barge-in

    with Image.open(options.plot) as image:
        picture = np.asarray(image.convert("RGB"))
    assert picture.shape == (1200, 1400, 3) and picture.std() > 10
    text = summary(document)
    assert str(options.video) in text and "barge-in" in text
