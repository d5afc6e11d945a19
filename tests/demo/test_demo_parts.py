"""The demo's parts: speech, the provider's timetable, the face and its marker, the progress
bar, the MP4 recorder, the options; and the whole provider through a synchroniser under
MockClock, measured by the demo's own analysis."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import trio
import trio.testing
from PIL import Image, ImageDraw

import avsync
from avsync import loopback
from avsync.__main__ import main as avsync_main
from avsync._progress import ProgressBar
from avsync.marks import paint_strip, read_strip
from avsync_demo import DemoOptions
from avsync_demo._analysis import (
    SpeechIndex,
    Stale,
    frame_offsets,
    stale_after,
    syllable_skews,
)
from avsync_demo._face import FaceRenderer
from avsync_demo._mp4 import Mp4Recorder
from avsync_demo._provider import AvatarProvider, Happening
from avsync_demo._script import IN_FLIGHT_S, plan_session
from avsync_demo._speech import NOISE_LSB, compose
from avsync_demo._text import GlyphText

RATE, FPS = 48000, 30


# -- speech --------------------------------------------------------------------------------------


def test_syllables_start_on_frames_and_are_separated_by_silence() -> None:
    utterance = compose(6.0, rate=RATE, fps=FPS, seed=3)
    samples = utterance.samples()
    assert len(samples) == 6 * RATE
    assert len(utterance.syllables) >= 12
    for syllable, frame in zip(utterance.syllables, utterance.onset_frames, strict=True):
        assert syllable.start * FPS == pytest.approx(frame)
    for before, after in zip(utterance.syllables, utterance.syllables[1:], strict=False):
        assert after.start - before.end >= 0.1
        gap = samples[round(before.end * RATE) + 1 : round(after.start * RATE)]
        assert np.abs(gap).max() <= NOISE_LSB
    loud = [
        np.abs(samples[round(s.start * RATE) : round(s.end * RATE)]).max()
        for s in utterance.syllables
    ]
    assert min(loud) > 8000


def test_the_mouth_follows_the_voice() -> None:
    utterance = compose(4.0, rate=RATE, fps=FPS, seed=5)
    first, second = utterance.syllables[:2]
    assert utterance.opening(first.start + first.duration / 2) > 0.5
    assert utterance.opening((first.end + second.start) / 2) == 0.0
    # a frame shows what is voiced during its interval: the frame of an onset opens the mouth
    assert utterance.opening(first.start, 1 / FPS) > 0.3


def test_speech_is_seeded() -> None:
    a, b = (compose(3.0, rate=RATE, fps=FPS, seed=9).samples() for _ in range(2))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, compose(3.0, rate=RATE, fps=FPS, seed=10).samples())


# -- the provider's timetable --------------------------------------------------------------------


def test_the_plan_has_a_stall_a_barge_in_with_output_in_flight_and_a_second_turn() -> None:
    plan = plan_session(20.0, fps=FPS, rate=RATE, seed=1)
    first, second = plan.turns
    times = [write.at for write in plan.writes]
    assert times == sorted(times)
    one = [write for write in plan.writes if write.turn == 1]
    # turn 1 never ends: the barge-in cuts it, with output still arriving for IN_FLIGHT_S
    assert all(write.kind != "end" for write in one)
    in_flight = [write for write in one if write.at >= plan.barge_in_at]
    assert {write.kind for write in in_flight} == {"audio", "video"}
    assert max(write.at for write in one) < plan.barge_in_at + IN_FLIGHT_S
    # the stall: nothing of turn 1 for longer than the audio buffered ahead
    longest_gap = np.diff([write.at for write in one]).max()
    lead = (plan.stall_at - first.starts_at) * (first.speed - 1)  # audio buffered ahead by then
    assert longest_gap > lead + 0.1  # the stall outlasts it: playout underruns
    # turn 2 starts after the barge-in and ends with end_audio
    two = [write for write in plan.writes if write.turn == 2]
    assert second.starts_at > plan.barge_in_at + IN_FLIGHT_S
    assert two[-1].kind == "end" and min(write.at for write in two) >= second.starts_at
    audio = sum(write.count for write in two if write.kind == "audio")
    assert audio == round(second.utterance.duration * RATE)  # every sample, once


@pytest.mark.parametrize("duration", [5.0, 121.0, float("nan"), float("inf")])
def test_the_plan_refuses_durations_out_of_range(duration: float) -> None:
    with pytest.raises(ValueError, match="duration"):
        plan_session(duration, fps=FPS, rate=RATE, seed=1)


# -- the face and its marker ---------------------------------------------------------------------


def rendered(renderer: FaceRenderer, epoch: int, index: int, opening: float = 0.5) -> av.VideoFrame:
    pixels = renderer.render(
        caption=f"frame {index}", opening=opening, blink=False, mark=(epoch, index)
    )
    return av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(format="yuv420p")


def test_marks_survive_vp8() -> None:
    renderer = FaceRenderer(320, 180)
    encoder = av.CodecContext.create("libvpx", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 320, 180, "yuv420p"
    encoder.time_base = Fraction(1, 30)
    encoder.bit_rate = 300_000
    decoder = av.CodecContext.create("libvpx", "r")
    marks = [(epoch, index) for epoch in range(4) for index in (0, 1, 777, 4095)]
    decoded = []
    for pts, (epoch, index) in enumerate(marks):
        frame = rendered(renderer, epoch, index, opening=pts / len(marks))
        frame.pts = pts
        for packet in encoder.encode(frame):
            decoded += decoder.decode(packet)
    for packet in encoder.encode(None):
        decoded += decoder.decode(packet)
    assert [read_strip(frame) for frame in decoded] == marks


def test_unmarked_pictures_have_no_mark() -> None:
    renderer = FaceRenderer(320, 180)
    idle = renderer.render(caption="idle", opening=0.0, blink=True, mark=None)
    assert read_strip(av.VideoFrame.from_ndarray(idle, format="rgb24")) is None
    black = av.VideoFrame.from_ndarray(np.zeros((270, 320), np.uint8), format="yuv420p")
    assert read_strip(black) is None
    assert read_strip("not a frame") is None


def test_the_mouth_opens_in_the_picture() -> None:
    renderer = FaceRenderer(320, 180)
    shut = renderer.render(caption="", opening=0.0, blink=False, mark=None)
    wide = renderer.render(caption="", opening=1.0, blink=False, mark=None)
    dark = (155, 40, 50)  # darker than the lips: the inside of the mouth
    inside = lambda pixels: int((pixels.max(axis=2) < max(dark)).sum())  # noqa: E731
    assert inside(wide) > inside(shut) + 300


def test_the_caption_is_written_in_the_top_left_and_nowhere_else() -> None:
    renderer = FaceRenderer(640, 360)
    blank = renderer.render(caption="", opening=0.3, blink=False, mark=None)
    written = renderer.render(
        caption="turn 1  frame   42\nmedia time  1.400 s", opening=0.3, blink=False, mark=None
    )
    rows, columns = np.nonzero((blank != written).any(axis=2))
    assert rows.size > 500  # both lines are there
    assert rows.max() < 90 and columns.max() < 320
    assert (written[rows, columns] > blank[rows, columns]).all()  # light ink on a darker picture


def test_cached_glyphs_are_what_pillow_draws() -> None:
    text = GlyphText(30)
    for char in "tq1.M":
        ours, pillows = (Image.new("RGB", (60, 60)) for _ in range(2))
        text.draw(ours, 10, 5, char, (255, 255, 255))
        ImageDraw.Draw(pillows).text((10, 5), char, fill=(255, 255, 255), font=text.font)
        assert np.array_equal(np.asarray(ours), np.asarray(pillows)), char


@pytest.mark.parametrize("index", [-1, 4096])
def test_mark_indexes_are_checked(index: int) -> None:
    with pytest.raises(ValueError, match="frame index"):
        paint_strip(np.zeros((180, 320, 3), np.uint8), 0, index)


def test_frames_too_small_for_the_marker_are_refused() -> None:
    with pytest.raises(ValueError, match="320x180"):
        FaceRenderer(160, 90)


# -- progress bar --------------------------------------------------------------------------------


def test_progress_prints_a_line_per_tenth_when_not_a_terminal() -> None:
    stream = io.StringIO()
    bar = ProgressBar(10.0, stream=stream)
    for step in range(101):
        bar.update(step / 10, "working")
    bar.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 11
    assert lines[0].startswith("[" + "." * 30 + "]") and lines[-1].startswith("[" + "#" * 30 + "]")
    assert "100%" in lines[-1] and "working" in lines[-1]


def test_progress_redraws_in_place_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    bar = ProgressBar(2.0, stream=stream)
    bar.update(1.0)
    bar.update(2.0)
    bar.close()
    assert stream.getvalue().count("\r") == 2 and stream.getvalue().endswith("\n")


# -- MP4 -----------------------------------------------------------------------------------------


def test_the_recorder_writes_a_playable_mp4(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    recorder = Mp4Recorder(path, width=320, height=180, fps=30, layout="mono")
    recorder.start()
    renderer = FaceRenderer(320, 180)
    for index in range(30):
        recorder.add(rendered(renderer, 1, index), index / 30)
    for index in range(50):
        sound = av.AudioFrame.from_ndarray(
            np.zeros((1, 960), np.int16), format="s16", layout="mono"
        )
        sound.sample_rate = 48000
        recorder.add(sound, index * 0.02)
    recorder.add("ignored", 0.0)
    recorder.close()
    assert (recorder.video_frames, recorder.audio_frames, recorder.dropped) == (30, 50, 0)
    with av.open(str(path)) as container:
        kinds = sorted(stream.type for stream in container.streams)
        frames = list(container.decode(video=0))
    assert kinds == ["audio", "video"]
    assert [read_strip(frame) for frame in frames] == [(1, index) for index in range(30)]


def test_a_recorder_that_cannot_write_says_so(tmp_path: Path) -> None:
    recorder = Mp4Recorder(tmp_path / "missing" / "out.mp4", width=320, height=180, fps=30)
    recorder.start()
    recorder.add(rendered(FaceRenderer(320, 180), 0, 0), 0.0)
    with pytest.raises(RuntimeError, match=r"out\.mp4"):
        recorder.close()


# -- options -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"width": 321}, "width"),
        ({"width": 160}, "width"),
        ({"height": 100}, "height"),
        ({"fps": 0}, "fps"),
        ({"fps": 30.5}, "fps"),
        ({"record": "both"}, "record"),
        ({"duration": 3.0}, "duration"),
        ({"playout_delay_s": -1.0}, "playout_delay_s"),
    ],
)
def test_bad_options_name_the_option(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        DemoOptions(**changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--size", "640by360"], "--size"),
        (["--duration", "2"], "duration"),
        (["--fps", "0"], "fps"),
    ],
)
def test_the_command_refuses_bad_options(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert avsync_main(["demo", *argv]) == 2
    assert message in capsys.readouterr().err


# -- the provider through the synchroniser, under MockClock ---------------------------------------


async def test_the_provider_plays_in_sync_and_nothing_stale_gets_out(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The whole plan (stall, barge-in with output in flight, second turn) at 320x180, measured
    by the demo's analysis from the synchroniser's outputs: under MockClock, every frame that
    reached avsync before its audio was heard is exact, and nothing of turn 1 is emitted after
    the barge-in returned."""
    plan = plan_session(10.0, fps=FPS, rate=RATE, seed=4, playout_delay_s=0.1)
    config = avsync.SyncConfig(width=320, height=180, fps=FPS, playout_delay_s=0.1)
    log = loopback.MediaLog(read=read_strip, clock=trio.current_time)
    happenings: list[Happening] = []
    async with avsync.open_synchronizer(config) as sync:
        provider = AvatarProvider(
            sync,
            plan,
            FaceRenderer(320, 180),
            on_happening=happenings.append,
            clock=trio.current_time,
        )

        async def record(channel: trio.abc.ReceiveChannel[object]) -> None:
            async for item in channel:
                log.record(item)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(record, sync.audio_frames())
            nursery.start_soon(record, sync.video_frames())
            origin = trio.current_time()
            await provider.run(origin)
            await sync.aclose()
        stats = sync.stats()
    utterances = {turn.number: turn.utterance for turn in plan.turns}
    speech = SpeechIndex(utterances, config.packet_samples)
    speech.scan(log)
    offsets = frame_offsets(log, speech, provider.epochs, provider.frames_written, FPS, origin)
    in_time = [o.offset_ms for o in offsets if not o.arrived_late]
    late = [o for o in offsets if o.arrived_late]
    assert len(in_time) > 150
    assert max(abs(offset) for offset in in_time) < 1.0
    assert all(o.turn == 1 for o in late)  # only after the stall, where audio resumed first
    assert [h.what.split(" (")[0] for h in happenings] == [
        "turn 1",
        "stall",
        "barge-in",
        "turn 2",
        "turn 2 played",
    ]
    barge_in = happenings[2]
    assert stale_after(log, speech, 1, provider.epochs[1], barge_in.ended) == Stale(0, 0.0)
    assert stats.frames_dropped_stale > 0 and stats.audio_dropped_stale_s > 0
    assert 0 < stats.audio_underrun_s < 0.5
    # the analysis of skews at the onsets agrees where audio is bit-exact
    skews = syllable_skews(log, speech, utterances, provider.epochs, origin)
    late_frames = {(o.turn, o.index) for o in late}
    in_time_skews = [s.skew_ms for s in skews if (s.turn, s.frame) not in late_frames]
    assert len(in_time_skews) > 10
    assert max(abs(skew) for skew in in_time_skews) < 1.0
