"""One demo run: avatar provider -> synchroniser -> WebRTC on 127.0.0.1 -> aiortc receiver.

Everything runs in one trio run with asyncio (aiortc) inside it through trio-asyncio, against
the real clock. What avsync emits is logged at an output of its own (alongside the aiortc
tracks), what the receiver decodes at the receiver; one of the two is recorded to MP4.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import attrs
import trio
import trio_asyncio
from aiortc import RTCPeerConnection

from avsync import Stats, SyncConfig, Synchronizer, loopback, open_synchronizer
from avsync._progress import ProgressBar
from avsync.marks import read_strip
from avsync.webrtc import add_tracks

from ._face import FaceRenderer
from ._mp4 import Mp4Recorder
from ._provider import AvatarProvider, Happening
from ._script import Plan, plan_session

__all__ = ["DemoOptions", "DemoRun", "Sample", "run_session"]

SAMPLE_EVERY_S = 0.05
SETTLE_S = 0.4  #: after the plan, so that the last frames reach the receiver
RECORD_SOURCES = ("received", "published")
MIN_WIDTH, MIN_HEIGHT = 320, 180  #: the marker strip must survive VP8


@attrs.frozen(kw_only=True)
class DemoOptions:
    """What to run and where to write it. Invalid values raise ``ValueError`` naming the option."""

    duration: float = 20.0
    width: int = 640
    height: int = 360
    fps: int = 30
    output_dir: Path = Path("avsync-demo")
    video_path: Path | None = None  #: default: output_dir / "demo.mp4"
    report_path: Path | None = None  #: default: output_dir / "report.json"
    plot_path: Path | None = None  #: default: output_dir / "plot.png"
    record: str = "received"  #: which stream goes to the MP4: "received" or "published"
    seed: int = 1
    #: the provider's frames trail their audio by up to 100 ms: hold each turn's start that long
    playout_delay_s: float = 0.1

    def __attrs_post_init__(self) -> None:
        for name, minimum in (("width", MIN_WIDTH), ("height", MIN_HEIGHT)):
            value = getattr(self, name)
            if not isinstance(value, int) or value < minimum or value % 2:
                raise ValueError(f"{name} must be an even integer >= {minimum}, got {value!r}")
        if not isinstance(self.fps, int) or not 10 <= self.fps <= 60:
            raise ValueError(f"fps must be an integer from 10 to 60, got {self.fps!r}")
        if self.record not in RECORD_SOURCES:
            raise ValueError(f"record must be one of {RECORD_SOURCES}, got {self.record!r}")
        self.plan()  # checks the duration
        _ = self.config  # checks playout_delay_s

    def plan(self) -> Plan:
        """What the provider will do."""
        return plan_session(
            self.duration,
            fps=self.fps,
            rate=48000,
            seed=self.seed,
            playout_delay_s=self.playout_delay_s,
        )

    @property
    def config(self) -> SyncConfig:
        """The synchroniser's configuration for this run."""
        return SyncConfig(
            width=self.width,
            height=self.height,
            fps=self.fps,
            playout_delay_s=self.playout_delay_s,
        )

    @property
    def video(self) -> Path:
        return self.video_path or self.output_dir / "demo.mp4"

    @property
    def report(self) -> Path:
        return self.report_path or self.output_dir / "report.json"

    @property
    def plot(self) -> Path:
        return self.plot_path or self.output_dir / "plot.png"


@attrs.frozen
class Sample:
    """The synchroniser's state ``at`` seconds into the run."""

    at: float
    stats: Stats


@attrs.define
class DemoRun:
    """Everything a run observed, for the report."""

    options: DemoOptions
    plan: Plan
    config: SyncConfig
    origin: float  #: time.monotonic() at the plan's time 0
    sender: loopback.MediaLog
    receiver: loopback.MediaLog
    happenings: list[Happening] = attrs.Factory(list)
    samples: list[Sample] = attrs.Factory(list)
    epochs: dict[int, int] = attrs.Factory(dict)
    frames_written: dict[tuple[int, int], float] = attrs.Factory(dict)
    stats: Stats | None = None
    overloaded_seen: bool = False  #: the synchroniser said it was overloaded at a sample
    wall_s: float = 0.0
    cpu_s: float = 0.0
    frames_rendered: int = 0
    recorded_video: int = 0
    recorded_audio: int = 0
    recorder_dropped: int = 0


async def run_session(options: DemoOptions, progress: ProgressBar | None = None) -> DemoRun:
    """Run the demo session in real time and return what it observed; writes the MP4.

    Must run under ``trio.run`` (never under MockClock: aiortc's network timers must stay real).
    Cancellation stops the session; the peer connections, the synchroniser and the MP4 are
    closed on the way out.
    """
    plan = options.plan()
    config = options.config
    renderer = FaceRenderer(options.width, options.height)
    options.video.parent.mkdir(parents=True, exist_ok=True)
    recorder = Mp4Recorder(
        options.video,
        width=options.width,
        height=options.height,
        fps=options.fps,
        layout="stereo" if options.record == "received" else "mono",
    )
    received = options.record == "received"
    run = DemoRun(
        options,
        plan,
        config,
        origin=0.0,
        sender=loopback.MediaLog(read=read_strip, listener=None if received else recorder.add),
        receiver=loopback.MediaLog(read=read_strip, listener=recorder.add if received else None),
    )
    recorder.start()
    try:
        async with trio_asyncio.open_loop(), open_synchronizer(config) as sync:
            await _over_webrtc(sync, run, renderer, progress)
            await sync.aclose()
    except BaseException:
        with trio.CancelScope(shield=True), contextlib.suppress(RuntimeError):
            await trio.to_thread.run_sync(recorder.close)  # the session's error matters more
        raise
    with trio.CancelScope(shield=True):
        await trio.to_thread.run_sync(recorder.close)
    run.recorded_video, run.recorded_audio = recorder.video_frames, recorder.audio_frames
    run.recorder_dropped = recorder.dropped
    return run


async def _over_webrtc(
    sync: Synchronizer, run: DemoRun, renderer: FaceRenderer, progress: ProgressBar | None
) -> None:
    async with loopback.open_peers(2) as (agent, user):
        add_tracks(agent, sync)
        receiver = loopback.Receiver(user, run.receiver)
        try:
            await _play(sync, run, renderer, progress, agent, user)
        finally:
            await receiver.aclose()


async def _play(
    sync: Synchronizer,
    run: DemoRun,
    renderer: FaceRenderer,
    progress: ProgressBar | None,
    agent: RTCPeerConnection,
    user: RTCPeerConnection,
) -> None:
    """Connect the peers, play the plan, and note what the run cost."""
    await loopback.connect(agent, user)
    provider = AvatarProvider(sync, run.plan, renderer, on_happening=run.happenings.append)
    run.epochs = provider.epochs
    run.frames_written = provider.frames_written
    origin = trio.current_time() + 0.1
    run.origin = time.monotonic() + 0.1
    cpu_start = time.process_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_log, sync.audio_frames(), run.sender)
        nursery.start_soon(_log, sync.video_frames(), run.sender)
        nursery.start_soon(_sample, sync, run)
        if progress is not None:
            nursery.start_soon(_show_progress, sync, run, progress)
        await provider.run(origin)
        await trio.sleep(SETTLE_S)
        nursery.cancel_scope.cancel()
    run.stats = sync.stats()
    run.cpu_s = time.process_time() - cpu_start
    run.wall_s = time.monotonic() - run.origin
    run.frames_rendered = provider.frames_rendered


async def _log(outputs: trio.abc.ReceiveChannel[object], log: loopback.MediaLog) -> None:
    """Log every item of one of the synchroniser's outputs the moment it is emitted."""
    async for item in outputs:
        log.record(item)


async def _sample(sync: Synchronizer, run: DemoRun) -> None:
    while True:
        run.samples.append(Sample(time.monotonic() - run.origin, sync.stats()))
        run.overloaded_seen |= sync.overloaded
        await trio.sleep(SAMPLE_EVERY_S)


async def _show_progress(sync: Synchronizer, run: DemoRun, progress: ProgressBar) -> None:
    while True:
        stats = sync.stats()
        progress.update(
            time.monotonic() - run.origin,
            f"epoch {stats.epoch}  audio buffered {stats.audio_buffered_s:4.2f} s  "
            f"frames {stats.frames_emitted}" + ("  OVERLOADED" if sync.overloaded else ""),
        )
        await trio.sleep(0.25)
