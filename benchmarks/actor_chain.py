"""Messages per second through a chain of 4 actors vs. a chain of 4 bare trio memory channels.

    python -m benchmarks.actor_chain [--messages 200000] [--rounds 5] [--capacity 64] [--json FILE]

Both chains have the same shape: a producer, 4 relay stages, a consumer, and 5 bounded queues of
the same capacity (trio memory channels vs. actor mailboxes with the ``block`` policy). Rounds
alternate between the two so machine noise hits both alike; the figure that matters is the ratio
of their medians (actor cost / bare cost), measured in the same run.
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio

import actors

STAGES = 4


async def bare_chain(messages: int, capacity: int) -> float:
    """Seconds to pass ``messages`` ints through 4 relay tasks over memory channels."""
    channels = [trio.open_memory_channel[int](capacity) for _ in range(STAGES + 1)]

    async def relay(
        receive: trio.MemoryReceiveChannel[int], send: trio.MemorySendChannel[int]
    ) -> None:
        async for message in receive:
            await send.send(message)
        await send.aclose()

    async def produce(send: trio.MemorySendChannel[int]) -> None:
        for message in range(messages):
            await send.send(message)
        await send.aclose()

    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(produce, channels[0][0])
        for stage in range(STAGES):
            nursery.start_soon(relay, channels[stage][1], channels[stage + 1][0])
        received = 0
        async for _ in channels[STAGES][1]:
            received += 1
    elapsed = time.perf_counter() - start
    assert received == messages
    return elapsed


class Relay(actors.Actor[int]):
    def __init__(self, forward_to: actors.ActorRef[int]) -> None:
        self.forward_to = forward_to

    async def handle(self, message: int) -> None:
        await self.forward_to.tell(message)

    async def on_stop(self, context: actors.Context[int]) -> None:
        self.forward_to.close()  # propagate end-of-stream down the chain


async def actor_chain(messages: int, capacity: int) -> float:
    """Seconds to pass ``messages`` ints through 4 relay actors in an actor group."""
    sink: actors.Mailbox[int] = actors.Mailbox(capacity, name="sink")
    start = time.perf_counter()
    async with actors.open_group("chain") as group:
        target = sink.ref
        for stage in reversed(range(STAGES)):
            target = await group.spawn(
                functools.partial(Relay, target), name=f"relay{stage}", capacity=capacity
            )
        first = target

        async def produce() -> None:
            for message in range(messages):
                await first.tell(message)
            first.close()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(produce)
            received = 0
            async for _ in sink:
                received += 1
    elapsed = time.perf_counter() - start
    assert received == messages
    return elapsed


def measure(chain: Callable[[int, int], Awaitable[float]], messages: int, capacity: int) -> float:
    return trio.run(chain, messages, capacity)


@attrs.frozen
class ChainResult:
    """Both chains' rates (medians of alternating rounds) and the cost ratio actors / bare."""

    messages: int
    capacity: int
    rounds: int
    bare_msgs_per_s: float
    actor_msgs_per_s: float

    @property
    def cost_ratio(self) -> float:
        return self.bare_msgs_per_s / self.actor_msgs_per_s

    def summary(self) -> str:
        """One line: the ratio and both rates."""
        return (
            f"actor chain vs bare trio channels ({STAGES} stages, {self.messages:,} messages, "
            f"median of {self.rounds} rounds): {self.cost_ratio:.2f}x the cost "
            f"({self.actor_msgs_per_s:,.0f} vs {self.bare_msgs_per_s:,.0f} msg/s)"
        )

    def to_json(self) -> dict[str, Any]:
        return {**attrs.asdict(self), "stages": STAGES, "cost_ratio": self.cost_ratio}


def compare(
    messages: int, rounds: int, capacity: int, progress: Callable[[int, float, float], None]
) -> ChainResult:
    """Alternate rounds of the two chains (so machine noise hits both alike) after a warm-up;
    ``progress`` gets each round's index and both durations."""
    bare: list[float] = []
    actor: list[float] = []
    measure(bare_chain, 1000, capacity)  # warm up imports and caches
    measure(actor_chain, 1000, capacity)
    for round_index in range(rounds):
        bare.append(measure(bare_chain, messages, capacity))
        actor.append(measure(actor_chain, messages, capacity))
        progress(round_index, bare[-1], actor[-1])
    return ChainResult(
        messages,
        capacity,
        rounds,
        messages / statistics.median(bare),
        messages / statistics.median(actor),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--capacity", type=int, default=64)
    parser.add_argument("--json", type=argparse.FileType("w"), help="also write the figures here")
    args = parser.parse_args(argv)
    if args.messages < 1 or args.rounds < 1 or args.capacity < 1:
        parser.error("--messages, --rounds and --capacity must be >= 1")

    def progress(round_index: int, bare_s: float, actor_s: float) -> None:
        print(
            f"\rround {round_index + 1}/{args.rounds}: bare {args.messages / bare_s:>9,.0f} msg/s"
            f"  actors {args.messages / actor_s:>9,.0f} msg/s",
            end="",
            file=sys.stderr,
            flush=True,
        )

    result = compare(args.messages, args.rounds, args.capacity, progress)
    print(file=sys.stderr)
    print(
        f"chain of {STAGES} stages, {args.messages:,} messages, capacity {args.capacity}, "
        f"median of {args.rounds} rounds"
    )
    print(f"  bare trio memory channels: {result.bare_msgs_per_s:>10,.0f} msg/s")
    print(f"  actors (mailboxes + refs): {result.actor_msgs_per_s:>10,.0f} msg/s")
    print(f"  cost ratio actors / bare:  {result.cost_ratio:>10.2f}x   (goal <= 1.5x)")
    if args.json:
        json.dump(
            {
                "benchmark": "actor_chain",
                **result.to_json(),
                "python": platform.python_version(),
                "trio": trio.__version__,
                "machine": platform.machine(),
            },
            args.json,
            indent=2,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
