"""The synthetic avatar provider and the agent around it, playing a :class:`Plan` in real time.

The agent calls ``start_turn()`` when a turn starts and at the barge-in, and tags everything the
provider sends for a turn with the epoch it captured when the turn started: output of turn 1
still in flight after the barge-in is therefore recognised as stale by the synchroniser. Between
turns the avatar idles (it blinks), with frames that carry no pts.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import attrs
import numpy as np
import numpy.typing as npt
import trio

from avsync import Synchronizer

from ._face import FaceRenderer
from ._script import Plan, TurnPlan, Write

__all__ = ["AvatarProvider", "Happening"]

BLINK_EVERY_S = 3.3
BLINK_S = 0.13


@attrs.frozen
class Happening:
    """Something that happened, on the provider's clock: when it started and ended."""

    what: str  #: "turn 1", "barge-in", "turn 2", "turn 2 played", "stall"
    started: float
    ended: float
    epoch: int


class AvatarProvider:
    """Plays ``plan`` into ``sync``: the provider's writes, the agent's turns, idle frames.

    :meth:`run` returns once the plan is done and turn 2 has played out, or raises what the
    synchroniser raised. Cancellation stops it between two writes.
    """

    def __init__(
        self,
        sync: Synchronizer,
        plan: Plan,
        renderer: FaceRenderer,
        *,
        on_happening: Callable[[Happening], None] = lambda happening: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sync = sync
        self.clock = clock
        self.plan = plan
        self.renderer = renderer
        self.on_happening = on_happening
        self.epochs: dict[int, int] = {}  #: turn number -> its epoch
        self.speaking = False  #: a turn is being written or played: no idle frames
        self.frames_rendered = 0
        self.frames_written: dict[tuple[int, int], float] = {}  #: (turn, index) -> clock()
        self._audio = {turn.number: turn.utterance.samples() for turn in plan.turns}
        self._turns = {turn.number: turn for turn in plan.turns}

    async def run(self, origin: float) -> None:
        """Play the plan with its time 0 at trio time ``origin``, then idle until the plan's
        duration has passed (or longer, if turn 2 is still playing)."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._idle, origin)
            await self._play(origin)
            await trio.sleep_until(origin + self.plan.duration)
            nursery.cancel_scope.cancel()

    # -- the plan --------------------------------------------------------------------------------

    async def _play(self, origin: float) -> None:
        controls = self.plan.controls()
        stall_noted = False
        for write in self.plan.writes:
            while controls and controls[0][0] <= write.at:
                at, kind, number = controls.pop(0)
                await trio.sleep_until(origin + at)
                await self._control(kind, number)
            if not stall_noted and write.at >= self.plan.stall_at:
                stall_noted = True
                await trio.sleep_until(origin + self.plan.stall_at)
                now = self.clock()
                resumes = now + self.plan.stall_s
                self.on_happening(Happening("stall", now, resumes, self.epochs.get(1, 0)))
            await trio.sleep_until(origin + write.at)
            await self._write(write)
        for at, kind, number in controls:
            await trio.sleep_until(origin + at)
            await self._control(kind, number)
        result = await self.sync.wait_for_playout()
        now = self.clock()
        self.on_happening(
            Happening(f"turn 2 played ({result.position:.1f} s)", now, now, self.sync.epoch)
        )
        self.speaking = False

    async def _control(self, kind: str, number: int) -> None:
        started = self.clock()
        epoch = await self.sync.start_turn()
        ended = self.clock()
        if kind == "turn":
            self.epochs[number] = epoch
            self.speaking = True
            self.on_happening(Happening(f"turn {number}", started, ended, epoch))
        else:
            self.speaking = False
            self.on_happening(Happening("barge-in", started, ended, epoch))

    async def _write(self, write: Write) -> None:
        turn = self._turns[write.turn]
        epoch = self.epochs[write.turn]
        if write.kind == "audio":
            chunk = self._audio[write.turn][write.first : write.first + write.count]
            await self.sync.write_audio(chunk, epoch=epoch)
        elif write.kind == "video":
            frame = self._turn_frame(turn, epoch, write.first)
            self.frames_written[write.turn, write.first] = self.clock()
            await self.sync.write_video(frame, pts=write.first / self.plan.fps, epoch=epoch)
        else:
            await self.sync.end_audio(epoch=epoch)

    def _turn_frame(self, turn: TurnPlan, epoch: int, index: int) -> npt.NDArray[np.uint8]:
        media = index / self.plan.fps
        self.frames_rendered += 1
        return self.renderer.render(
            caption=f"turn {turn.number}  frame {index:4d}\nmedia time {media:6.3f} s",
            opening=turn.utterance.opening(media, 1 / self.plan.fps),
            blink=_blinking(turn.starts_at + media),
            mark=(epoch, index),
        )

    # -- idle ------------------------------------------------------------------------------------

    async def _idle(self, origin: float) -> None:
        """An idle frame every 1/fps while no turn is speaking, on an absolute schedule."""
        period = 1 / self.plan.fps
        tick = 0
        while True:
            tick += 1
            await trio.sleep_until(origin + tick * period)
            if self.speaking:
                continue
            at = tick * period
            self.frames_rendered += 1
            frame = self.renderer.render(
                caption=f"idle  {at:6.2f} s\nlistening" if self.epochs else f"idle  {at:6.2f} s",
                opening=0.0,
                blink=_blinking(at),
                mark=None,
            )
            await self.sync.write_video(frame)


def _blinking(at: float) -> bool:
    return at % BLINK_EVERY_S < BLINK_S
