"""The epoch gate: the one rule for every message stamped with an epoch. Pure state, no trio.

An actor (or the facade) is in one epoch at a time. A message of an older epoch is stale. A
message of a newer epoch means that epoch's ``Flush`` is still on its way to this actor (the
control actor broadcasts it, and other actors may be faster): the actor catches up first, as if
the flush had arrived, then takes the message. Epochs only move forward.
"""

from __future__ import annotations

__all__ = ["EpochGate"]


class EpochGate:
    """The epoch one actor is in."""

    __slots__ = ("epoch",)

    def __init__(self, epoch: int = 0) -> None:
        self.epoch = epoch

    def __repr__(self) -> str:
        return f"EpochGate(epoch={self.epoch})"

    def advance(self, epoch: int) -> bool:
        """Move to ``epoch`` if it is newer; return whether it moved (the caller then drops
        everything older it holds)."""
        if epoch <= self.epoch:
            return False
        self.epoch = epoch
        return True

    def is_stale(self, epoch: int) -> bool:
        """Whether something stamped ``epoch`` is older than the epoch the gate is in."""
        return epoch < self.epoch
