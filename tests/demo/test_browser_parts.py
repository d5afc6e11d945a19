"""The parts of the browser path that need no browser: what the page is told, the page server,
the benchmark's provider timetable and calibration source, and its summary and table."""

from __future__ import annotations

import itertools

import aiohttp
import numpy as np
import pytest
import trio_asyncio

from avsync.__main__ import build_parser
from avsync.marks import read_strip
from avsync_demo._browser import demo_page_session
from avsync_demo._page import DETECTOR_THRESHOLD, page_onsets
from avsync_demo._script import plan_session
from avsync_demo._web import serve_page
from benchmarks.browser.__main__ import main as benchmark_main
from benchmarks.browser.__main__ import table
from benchmarks.browser.analysis import summarise
from benchmarks.browser.chromium import find_chromium, no_chromium_message
from benchmarks.browser.sources import Media, PacedTracks, misbehaving_provider


def test_the_demo_page_is_told_every_syllable_of_both_turns_with_their_epochs() -> None:
    plan = plan_session(20.0, fps=30, rate=48000, seed=1)
    session = demo_page_session(plan)
    by_epoch = {
        epoch: [onset.index for onset in onsets]
        for epoch, onsets in itertools.groupby(session.onsets, key=lambda onset: onset.epoch)
    }
    first, second = plan.turns
    assert by_epoch == {1: first.utterance.onset_frames, 3: second.utterance.onset_frames}
    assert all(0 <= onset.delay_ms < 50 for onset in session.onsets)
    # half the closest two syllables' distance (110 ms of silence at least between syllables)
    assert 100 < session.pair_window_ms < 200
    document = session.to_json()
    assert document["fps"] == 30 and document["detector"]["threshold"] == DETECTOR_THRESHOLD


def test_page_onsets_leave_out_what_the_detector_would_not_find() -> None:
    samples = np.zeros(48000, np.int16)
    samples[16000:16480] = 20000  # a loud burst on frame 10 at 30 fps, nothing on frame 20
    onsets = page_onsets(samples, rate=48000, fps=30, epoch=2, onset_frames=[10, 20])
    assert [(onset.epoch, onset.index, onset.delay_ms) for onset in onsets] == [(2, 10, 0.0)]


def test_the_browser_demo_options_parse() -> None:
    arguments = build_parser().parse_args(["demo", "--browser", "--port", "8123"])
    assert arguments.browser and arguments.port == 8123
    assert not build_parser().parse_args(["demo"]).browser


async def test_the_page_server_serves_the_page_on_loopback() -> None:
    async def fetch(url: str) -> list[tuple[str, str]]:
        async with aiohttp.ClientSession() as client:
            answers = []
            for name in ("", "page.js", "onsets.js"):
                async with client.get(url + name) as response:
                    assert response.status == 200
                    answers.append((response.content_type, await response.text()))
            return answers

    async with trio_asyncio.open_loop(), serve_page() as server:
        assert server.url.startswith("http://127.0.0.1:")
        index, page, worklet = await trio_asyncio.aio_as_trio(fetch)(server.url)
    assert index[0] == "text/html" and 'src="page.js"' in index[1]
    javascript = {"text/javascript", "application/javascript"}  # (RFC 9239; older aiohttp)
    assert page[0] in javascript and worklet[0] in javascript
    assert "requestVideoFrameCallback" in page[1] and "registerProcessor" in worklet[1]


def test_the_provider_trails_stalls_and_bursts() -> None:
    media = Media(320, 180, 30.0)
    plan = misbehaving_provider(media, seed=3)
    chunks = {w.first: w.at for w in plan.writes if w.kind == "audio"}
    video_at = {w.first: w.at for w in plan.writes if w.kind == "video"}

    def audio_at(index: int) -> float:
        """When the audio of frame ``index``'s instant was written (real time: its chunk's
        time plus its place in it)."""
        sample = index * media.rate // media.fps
        first = sample - sample % 960
        return chunks[first] + (sample - first) / media.rate

    assert len(video_at) == media.frame_count
    # outside the burst every frame comes 40-100 ms after the audio of its instant
    lags = [video_at[i] - audio_at(i) for i in range(media.frame_count) if i < plan.burst_at * 30]
    assert 0.04 <= min(lags) and max(lags) <= 0.1
    times = sorted(w.at for w in plan.writes)
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # the stall: nothing for its length, less the last frames' lag
    assert plan.stall_s - 0.1 <= max(gaps) <= plan.stall_s + 0.02
    burst = [w for w in plan.writes if w.kind == "audio" and w.at == plan.burst_at + plan.stall_s]
    assert sum(w.count for w in burst) >= plan.burst_s * media.rate  # the burst, at once
    quiet = misbehaving_provider(media, seed=3, stall_s=0.0, burst_s=0.0)
    assert (
        max(b.at - a.at for a, b in itertools.pairwise(sorted(quiet.writes, key=lambda w: w.at)))
        < 0.1
    )


async def test_the_calibration_source_is_marked_and_paced_on_one_clock() -> None:
    tracks = PacedTracks(Media(320, 180, 21.0))
    async with trio_asyncio.open_loop():
        frames = [await trio_asyncio.aio_as_trio(tracks.video.recv)() for _ in range(3)]
        packets = [await trio_asyncio.aio_as_trio(tracks.audio.recv)() for _ in range(5)]
    assert [read_strip(frame) for frame in frames] == [(0, 0), (0, 1), (0, 2)]
    assert [frame.pts for frame in frames] == [0, 3000, 6000]
    assert [packet.pts for packet in packets] == [0, 960, 1920, 2880, 3840]


def _report(skews: list[tuple[float, float]], heard_extra: int = 0) -> dict[str, object]:
    origin = 1000.0
    pairs = [{"heard": origin + at * 1000, "skew_ms": skew} for at, skew in skews]
    heard = [pair["heard"] for pair in pairs] + [origin + 60_000.0] * heard_extra
    return {
        "connected_at": origin,
        "track_streams": {"audio": "s", "video": "s"},
        "frames": {"callbacks": 100, "marked": 95},
        "pairs": pairs,
        "heard": heard,
        "onsets_shown": heard,
        "output_clock": [[0.0, 5.0], [1.0, 1005.0]],
        "stats": [{"audio": {"jitterBufferDelay": 2.0, "jitterBufferEmittedCount": 40}}],
    }


def test_summaries_and_the_table_report_differences_from_the_calibration() -> None:
    calibration = summarise("calibration", _report([(10, -90), (50, -40), (55, -30)]), 60, 5)
    avsync = summarise("avsync", _report([(50, -20), (58, -24)], heard_extra=1), 60, 5)
    assert calibration.plateau_ms == -35 and calibration.plateau_spread_ms == 10
    assert avsync.onsets_heard == 3 and avsync.onsets_measured == 2
    assert avsync.one_stream and avsync.output_clock_runs and avsync.marked_ratio == 0.95
    assert avsync.audio_jitter_buffer_ms == 50 and avsync.video_jitter_buffer_ms is None
    rows = table([calibration, avsync]).splitlines()
    assert rows[2].split()[:3] == ["calibration", "-35", "+0"]
    assert rows[3].split()[:3] == ["avsync", "-22", "+13"]
    again = summarise("calibration (3)", _report([(50, -25), (55, -25)]), 60, 5)
    rows = table([calibration, avsync, again]).splitlines()  # against the calibrations' mean
    assert rows[3].split()[:3] == ["avsync", "-22", "+8"]
    assert "the calibration runs' plateaus differ by 10 ms" in rows[5]


def test_no_chromium_is_reported_with_the_package_that_installs_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert find_chromium("/nowhere/chromium") is None
    assert "apt-get install chromium" in no_chromium_message()
    assert benchmark_main(["--chromium", "/nowhere/chromium"]) == 1
    assert "no Chromium at '/nowhere/chromium'" in capsys.readouterr().err
