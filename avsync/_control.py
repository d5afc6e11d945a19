"""The control actor: owns the epoch and broadcasts flushes."""

from __future__ import annotations

import attrs

import actors

from ._epochs import EpochGate
from ._messages import Barrier, Flush

__all__ = ["ControlActor", "EpochState", "StartTurn"]

BARRIER_TIMEOUT_S = 5.0


@attrs.define
class EpochState:
    """The current epoch, readable by the facade at any time; outlives control restarts."""

    gate: EpochGate = attrs.Factory(EpochGate)
    flushes: int = 0

    @property
    def epoch(self) -> int:
        return self.gate.epoch

    def next_turn(self) -> int:
        """Move to the next epoch and return it."""
        self.gate.advance(self.gate.epoch + 1)
        self.flushes += 1
        return self.gate.epoch


@attrs.frozen(eq=False)
class StartTurn:
    reply: actors.Reply[int]


class ControlActor(actors.Actor[StartTurn]):
    """Bumps the epoch, broadcasts ``Flush(epoch)`` to every actor, and answers once the publisher
    has applied it — from then on no sink can receive anything older."""

    def __init__(
        self,
        state: EpochState,
        topic: actors.Topic[Flush],
        publisher_control: actors.ActorRef[Flush | Barrier],
    ) -> None:
        self.state = state
        self.topic = topic
        self.publisher_control = publisher_control

    async def handle(self, message: StartTurn) -> None:
        epoch = self.state.next_turn()
        await self.topic.publish(Flush(epoch))
        await self.publisher_control.ask(
            lambda reply: Barrier(epoch, reply), timeout=BARRIER_TIMEOUT_S
        )
        message.reply.send(epoch)
