"""A hypothesis state machine over the public trio API, invariants checked after every step.

How trio is driven from synchronous rules: each example owns one trio run, started in **guest
mode** (``trio.lowlevel.start_guest_run``) on a tiny synchronous host loop of our own (a queue of
callbacks, :class:`_Host`). Trio only makes progress while a rule pumps that queue, so between
rules the run is frozen. Each rule hands one operation (a coroutine function taking the
synchroniser) to the driver task inside the run (``TrioToken.run_sync_soon``) and pumps until the
driver reports it done. The clock is a ``MockClock``: while an operation runs its autojump
threshold is 0 (virtual time jumps whenever every task is blocked, so ``sleep(0.3)`` takes
microseconds); after the operation the driver waits until every task is blocked (so outputs
emitted at that instant have reached the recorders) and sets the threshold to infinity, so no
virtual time passes while hypothesis runs the ``@invariant`` methods, which then read what the
recorders saw and a ``stats()`` snapshot. A failing invariant is reported at the step that broke
it; ``teardown`` closes the synchroniser and finishes the run.

Outputs: a main audio and video sink that always read (their receive time is the emit time),
and a second pair that a rule can stall (stop reading) and resume. ``fade_ms=0`` so that every
non-zero output sample is speech. Audio says which epoch and media sample it is: 48 kHz int16
writes carry ``epoch * 4000 + 1 + index % 3000``; other rates and float32 carry the constant
``epoch * 4000 + 3500`` (resampling smears marks), so a sample's epoch is its band of 4000.

Soak (10,000 examples): ``HYPOTHESIS_PROFILE=long pytest tests/avsync/test_stateful.py``; the
default profile runs 200 (the count is ``max(200, profile's max_examples)``).
"""

from __future__ import annotations

import collections
import itertools
import math
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import numpy as np
import pytest
import trio
import trio.testing
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

import avsync
from avsync.testing import RATE, config, marked_frame, read_mark

BAND = 4000
MARKS = 3000
TONE = 3500
MAX_EPOCH = 7  # int16 holds 8 bands of 4000
PACKET = RATE // 50  # 20 ms
OP_LIMIT_S = 30.0  # virtual seconds any one operation may take
REAL_LIMIT_S = 20.0  # wall seconds any one step may take
SYNC_TOLERANCE_S = 0.001
AUDIO_BUFFER_S = 1.0


def resampler_hold(rate: int) -> float:
    """Output samples libswresample may keep back from input at ``rate`` until it is flushed: a
    filter's worth, 32 input samples, and never less than ~34 output samples (measured: 192 at
    8 kHz, 96 at 16 kHz, 64 at 22.05 kHz, 34 at 44.1 and 96 kHz)."""
    return max(34.0, 32 * RATE / rate) + 1


Op = Callable[[avsync.Synchronizer], Awaitable[None]]


class _Host:
    """The synchronous host loop of a trio guest run: callbacks queued from any thread, run
    only while :meth:`pump_until` is called."""

    def __init__(self) -> None:
        self._queue: collections.deque[Callable[[], object]] = collections.deque()
        self._ready = threading.Condition()

    def post(self, callback: Callable[[], object]) -> None:
        with self._ready:
            self._queue.append(callback)
            self._ready.notify()

    def pump_until(self, done: Callable[[], bool], limit_s: float = REAL_LIMIT_S) -> None:
        deadline = time.monotonic() + limit_s
        while not done():
            with self._ready:
                while not self._queue:
                    left = deadline - time.monotonic()
                    if left <= 0 or not self._ready.wait(left):
                        raise AssertionError(f"trio made no progress for {limit_s} s: a hang")
                callback = self._queue.popleft()
            callback()


def speech_of_epochs_before(samples: np.ndarray, epoch: int) -> np.ndarray:
    """A mask of the samples that are speech of an epoch older than ``epoch``: in an older band
    and either a mark continuing a neighbour (+1) or that band's tone held for two samples
    (a resampler's ramp from or to zero crosses the bands too fast to look like either)."""
    band = (samples - 1) // BAND
    older = (samples > 0) & (band < epoch)
    step = np.diff(samples)
    rising = np.zeros(len(samples), bool)
    rising[1:] |= step == 1
    rising[:-1] |= step == 1
    tone = np.abs(samples - (band * BAND + TONE)) <= 4
    steady = np.zeros(len(samples), bool)
    steady[1:] |= tone[1:] & tone[:-1]
    steady[:-1] |= tone[1:] & tone[:-1]
    return older & (rising | steady)


def mark(epoch: int, index: np.ndarray) -> np.ndarray:
    return (epoch * BAND + 1 + index % MARKS).astype(np.int16)


@attrs.define
class Frame:
    epoch: int
    pts: float | None
    covered: bool  #: its audio was written (and speech not ended) when the frame was written


@attrs.define
class Output:
    """What one consumer received, in order, with the virtual time of each receive."""

    audio: list[tuple[float, int, np.ndarray]] = attrs.Factory(list)
    video: list[tuple[float, int, tuple[int, int] | None]] = attrs.Factory(list)
    checked_audio: int = 0
    checked_video: int = 0
    shown: set[tuple[int, int]] = attrs.Factory(set)


class SynchronizerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.host = _Host()
        self.outcome: Any = None
        self.token: trio.lowlevel.TrioToken | None = None
        self.started = False
        self.done_ops = 0
        self.error: BaseException | None = None
        self.clock = trio.testing.MockClock(autojump_threshold=0)
        self.main = Output()
        self.stalling = Output()
        self.stalled = False
        self.resume = trio.Event()
        #: per output: what it had received when each start_turn() returned
        self.boundaries: dict[str, dict[str, Any]] = {
            name: {"audio": [], "video": [], "shown": {}} for name in ("main", "stalling")
        }
        # the model
        self.overflow = "block"
        self.epoch = 0
        self.flushes = 0
        self.ended: set[int] = set()
        self.cursor: dict[int, float] = collections.defaultdict(float)  #: 48 kHz samples
        self.pure: dict[int, int] = {}  #: epoch -> length of its leading marked audio
        self.impure: set[int] = set()
        self.written = 0.0  #: samples at 48 kHz, stale writes included
        self.resampled_writes = 0
        self.resampler_hold = 0.0  #: the most any resampler used so far may hold back
        self.recent_writes: collections.deque[float] = collections.deque(maxlen=2)
        self.flushes_while_stalled = 0
        self.frames: dict[int, Frame] = {}
        self.stats: avsync.Stats | None = None
        self.baseline: avsync.Stats | None = None

    # -- the trio side ---------------------------------------------------------------------------

    async def _consume(self, channel: Any, output: Output, kind: str, stalls: bool) -> None:
        async for frame in channel:
            now = trio.current_time()
            if kind == "audio":
                record = (now, frame.pts, frame.to_ndarray().reshape(-1).astype(np.int32))
                output.audio.append(record)
            else:
                output.video.append((now, frame.pts, read_mark(frame)))
            while stalls and self.stalled:
                await self.resume.wait()

    async def _driver(
        self, cfg: avsync.SyncConfig, ops: trio.MemoryReceiveChannel[Op | None]
    ) -> None:
        async with avsync.open_synchronizer(cfg) as sync:
            self.sync = sync
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._consume, sync.audio_frames(), self.main, "audio", False)
                nursery.start_soon(self._consume, sync.video_frames(), self.main, "video", False)
                nursery.start_soon(self._consume, sync.audio_frames(), self.stalling, "audio", True)
                nursery.start_soon(self._consume, sync.video_frames(), self.stalling, "video", True)
                self.token = trio.lowlevel.current_trio_token()
                await self._settle(sync)
                async for op in ops:
                    if op is None:
                        break
                    self.clock.autojump_threshold = 0
                    try:
                        with trio.fail_after(OP_LIMIT_S):
                            await op(sync)
                    except Exception as error:  # reported on the host side
                        self.error = error
                    await self._settle(sync)
                self.clock.autojump_threshold = 0
                self.stalled = False
                self.resume.set()
                with trio.fail_after(OP_LIMIT_S):
                    await sync.aclose()

    async def _settle(self, sync: avsync.Synchronizer) -> None:
        await trio.testing.wait_all_tasks_blocked()
        self.stats = sync.stats()
        if self.baseline is None:  # emitted before the outputs were opened
            self.baseline = self.stats
        self.clock.autojump_threshold = math.inf
        self.done_ops += 1

    def _run(self, op: Op) -> None:
        assert self.token is not None
        target = self.done_ops + 1
        self.token.run_sync_soon(self._send.send_nowait, op)
        self.host.pump_until(lambda: self.done_ops >= target or self.outcome is not None)
        if self.outcome is not None:
            self.outcome.unwrap()
            raise AssertionError("the trio run ended early")
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    # -- rules -----------------------------------------------------------------------------------

    @initialize(overflow=st.sampled_from(["block", "drop-oldest"]))
    def start(self, overflow: str) -> None:
        self.overflow = overflow
        cfg = config(
            overflow=overflow, fade_ms=0.0, audio_buffer_s=AUDIO_BUFFER_S, video_buffer_s=1.0
        )
        self._send, receive = trio.open_memory_channel[Op | None](1)
        trio.lowlevel.start_guest_run(
            self._driver,
            cfg,
            receive,
            run_sync_soon_threadsafe=self.host.post,
            done_callback=self._finished,
            clock=self.clock,
        )
        self.started = True
        self.host.pump_until(lambda: self.done_ops >= 1 or self.outcome is not None)
        if self.outcome is not None:
            self.outcome.unwrap()

    def _finished(self, outcome: Any) -> None:
        self.outcome = outcome

    def teardown(self) -> None:
        if not self.started:
            return
        if self.outcome is None:
            self.token.run_sync_soon(self._send.send_nowait, None)  # type: ignore[union-attr]
            self.host.pump_until(lambda: self.outcome is not None)
        self.outcome.unwrap()

    def _epoch_for(self, stale: int) -> int:
        return max(0, self.epoch - stale)

    @rule(
        data=st.data(),
        rate=st.sampled_from([48000, 48000, 8000, 16000, 22050, 44100, 96000]),
        dtype=st.sampled_from(["int16", "int16", "float32"]),
        stale=st.sampled_from([0, 0, 0, 1, 2]),
    )
    def write_audio(self, data: st.DataObject, rate: int, dtype: str, stale: int) -> None:
        count = data.draw(st.one_of(st.integers(1, 64), st.integers(1, rate // 2)), label="samples")
        epoch = self._epoch_for(stale)
        marked = rate == RATE and dtype == "int16"
        if marked:
            start = round(self.cursor[epoch])
            samples: np.ndarray = mark(epoch, np.arange(start, start + count))
        else:
            samples = np.full(count, epoch * BAND + TONE, np.int16)
            if dtype == "float32":
                samples = (samples / 32768).astype(np.float32)
        rejected = epoch == self.epoch and epoch in self.ended

        async def op(sync: avsync.Synchronizer) -> None:
            try:
                await sync.write_audio(samples, sample_rate=rate, epoch=epoch)
            except avsync.InvalidAudioError as error:
                assert rejected and "end_audio" in str(error), error
            else:
                assert not rejected, "audio accepted after end_audio()"

        self._run(op)
        if rejected:
            return
        self.written += count * RATE / rate
        self.recent_writes.append(count * RATE / rate)
        if epoch == self.epoch:
            if not marked or epoch in self.impure:
                self.impure.add(epoch)
            else:
                self.pure[epoch] = self.pure.get(epoch, 0) + count
            self.cursor[epoch] += count * RATE / rate
        if rate != RATE:
            self.resampled_writes += 1
            self.resampler_hold = max(self.resampler_hold, resampler_hold(rate))

    @rule(
        data=st.data(),
        with_pts=st.booleans(),
        stale=st.sampled_from([0, 0, 0, 1]),
    )
    def write_video(self, data: st.DataObject, with_pts: bool, stale: int) -> None:
        epoch = self._epoch_for(stale)
        index = len(self.frames)
        pts = None
        covered = False
        if with_pts:
            cursor_s = self.cursor[epoch] / RATE
            pts = data.draw(st.floats(0, cursor_s + 0.2), label="pts")
            covered = (
                epoch == self.epoch
                and epoch not in self.ended
                and pts * RATE < self.pure.get(epoch, 0)
                and epoch not in self.impure
            )
        self.frames[index] = Frame(epoch, pts, covered)
        frame = marked_frame(index, epoch)

        async def op(sync: avsync.Synchronizer) -> None:
            await sync.write_video(frame, pts=pts, epoch=epoch)

        self._run(op)

    @precondition(lambda self: self.epoch < MAX_EPOCH)
    @rule()
    def start_turn(self) -> None:
        async def op(sync: avsync.Synchronizer) -> None:
            new_epoch = await sync.start_turn()
            assert new_epoch == self.epoch + 1
            for name, output in (("main", self.main), ("stalling", self.stalling)):
                bounds = self.boundaries[name]
                bounds["audio"].append((len(output.audio), new_epoch))
                bounds["video"].append((len(output.video), new_epoch))
                bounds["shown"][new_epoch] = {
                    shown for _, _, shown in output.video if shown is not None
                }

        self._run(op)
        self.epoch += 1
        self.flushes += 1
        if self.stalled:
            self.flushes_while_stalled += 1

    @rule(stale=st.sampled_from([0, 0, 1]))
    def end_audio(self, stale: int) -> None:
        epoch = self._epoch_for(stale)

        async def op(sync: avsync.Synchronizer) -> None:
            await sync.end_audio(epoch=epoch)

        self._run(op)
        if epoch == self.epoch:
            self.ended.add(epoch)

    @rule(ms=st.integers(0, 400))
    def advance(self, ms: int) -> None:
        async def op(sync: avsync.Synchronizer) -> None:
            await trio.sleep(ms / 1000)

        self._run(op)

    @rule()
    def stall_or_resume(self) -> None:
        async def op(sync: avsync.Synchronizer) -> None:
            if self.stalled:
                self.stalled = False
                self.resume.set()
            else:
                self.resume = trio.Event()
                self.stalled = True
            await trio.lowlevel.checkpoint()

        self._run(op)

    # -- invariants ------------------------------------------------------------------------------

    @invariant()
    def no_stale_output_after_a_flush(self) -> None:
        """Walk each output in order: after the flush to epoch e returned, no speech of an older
        epoch (8 samples of slack for resampler ripple), and no frame of an older epoch that
        this output had not received before the flush."""
        self._check_outputs()

    def _check_outputs(self) -> None:
        for name, output in (("main", self.main), ("stalling", self.stalling)):
            boundaries = self.boundaries[name]
            for position in range(output.checked_audio, len(output.audio)):
                current = _epoch_at(boundaries["audio"], position)
                samples = output.audio[position][2]
                old = int(np.count_nonzero(speech_of_epochs_before(samples, current)))
                assert old < 2, (
                    f"{name}: {old} samples of an epoch older than {current} in audio "
                    f"packet {position} after the flush returned: {samples[:16]}..."
                )
            output.checked_audio = len(output.audio)
            for position in range(output.checked_video, len(output.video)):
                current = _epoch_at(boundaries["video"], position)
                shown_mark = output.video[position][2]
                if shown_mark is not None:
                    if shown_mark[1] < current:
                        shown_before = boundaries["shown"].get(current, set())
                        assert shown_mark in shown_before, (
                            f"{name}: new frame {shown_mark} shown after the flush to {current}"
                        )
                    output.shown.add(shown_mark)
            output.checked_video = len(output.video)

    @invariant()
    def pts_strictly_increase(self) -> None:
        main_audio = [pts for _, pts, _ in self.main.audio]
        assert all(b - a == PACKET for a, b in itertools.pairwise(main_audio)), main_audio
        for output in (self.main, self.stalling):
            audio = [pts for _, pts, _ in output.audio]
            video = [pts for _, pts, _ in output.video]
            assert all(b > a for a, b in itertools.pairwise(audio)), audio
            assert all(b > a for a, b in itertools.pairwise(video)), video

    @invariant()
    def video_never_ahead_of_audio(self) -> None:
        """Frames with pts whose (marked, 48 kHz) audio was written first: shown no earlier than
        1 ms before that sample is heard. Also checks the marked speech comes out in order."""
        if self.overflow != "block":
            return  # drop-oldest loses audio: media positions are not countable
        heard: dict[int, list[float]] = collections.defaultdict(list)
        boundaries = self.boundaries["main"]["audio"]
        for position, (at, _pts, samples) in enumerate(self.main.audio):
            epoch = _epoch_at(boundaries, position)  # no_stale_output... checks this
            times = heard[epoch]
            for offset in np.flatnonzero(samples):
                if len(times) >= self.pure.get(epoch, 0):
                    break
                expected = int(mark(epoch, np.array([len(times)]))[0])
                assert samples[offset] == expected, (
                    f"epoch {epoch} sample {len(times)} is {samples[offset]}, "
                    f"expected {expected}: speech lost, repeated or reordered"
                )
                times.append(at + offset / RATE)
        first_shown: dict[int, float] = {}
        for at, _pts, shown_mark in self.main.video:
            if shown_mark is not None and shown_mark[0] not in first_shown:
                first_shown[shown_mark[0]] = at
        for index, shown_at in first_shown.items():
            frame = self.frames[index]
            if not frame.covered or frame.pts is None:
                continue
            times = heard[frame.epoch]
            media = math.floor(frame.pts * RATE + 1e-6)
            if media < len(times):
                offset = shown_at - times[media]
                assert offset >= -SYNC_TOLERANCE_S, (
                    f"frame {index} (pts {frame.pts}) shown {-offset * 1000:.3f} ms before "
                    "its audio"
                )

    @invariant()
    def audio_samples_are_conserved(self) -> None:
        stats = self.stats
        if stats is None:
            return
        heard = sum(int(np.count_nonzero(samples)) for _, _, samples in self.main.audio)
        accounted = (
            heard
            + (stats.audio_dropped_stale_s + stats.audio_dropped_overflow_s) * RATE
            + stats.audio_buffered_s * RATE
        )
        missing = self.written - accounted
        tolerance = 2 * self.resampled_writes + 2 * self.flushes + 1e-6
        # up to one packet (less a sample) may wait in the packetizer, not counted as
        # buffered; a stalled output purges up to 0.2 s per flush into audio_dropped_stale_s
        # (it is the max over the outputs) that the main output did hear
        # the end_audio() padding of a last partial packet counts as buffered (< 1 packet)
        low = -PACKET - tolerance - 0.2 * RATE * self.flushes_while_stalled
        # a resampler holds back a few samples of history until the epoch ends
        high = PACKET + tolerance + self.resampler_hold
        if stats.audio_buffered_s >= AUDIO_BUFFER_S - 0.02 - 1e-9:
            # the buffer is full: the last writes returned once the audio-ingest actor took
            # them, which then waits to push them; stats() does not count audio held there
            high += sum(self.recent_writes)
        assert low <= missing < high, (
            f"written {self.written:.1f} samples, heard {heard}, stats {stats}: "
            f"{missing:.1f} unaccounted"
        )

    @invariant()
    def stats_match_what_was_observed(self) -> None:
        stats = self.stats
        base = self.baseline
        if stats is None or base is None:
            return
        assert stats.epoch == self.epoch
        assert stats.flushes == self.flushes
        emitted = stats.frames_emitted - base.frames_emitted
        assert emitted == len(self.main.video), (emitted, len(self.main.video))
        repeats = sum(
            1 for a, b in zip(self.main.video, self.main.video[1:], strict=False) if a[2] == b[2]
        )
        assert stats.frames_repeated - base.frames_repeated >= repeats
        assert stats.packets_emitted - base.packets_emitted == len(self.main.audio)
        assert stats.video_queued >= 0 and stats.audio_buffered_s >= 0


def _epoch_at(boundaries: list[tuple[int, int]], position: int) -> int:
    current = 0
    for start, epoch in boundaries:
        if position >= start:
            current = epoch
    return current


SynchronizerMachine.TestCase.settings = settings(
    settings.default,
    max_examples=max(200, settings.default.max_examples),
    stateful_step_count=25,
)
TestSynchronizer = SynchronizerMachine.TestCase
pytestmark = pytest.mark.filterwarnings("ignore::trio.TrioDeprecationWarning")
