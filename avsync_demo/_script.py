"""What the demo's avatar provider does and when: a pure, seeded timetable.

The session, for a run of ``duration`` seconds (times scale with it; 20 s shown):

- 0 - 1 s: idle; the avatar blinks (frames without pts).
- turn 1 (1 s): speech for 60% of the run, audio at 1.5x real time in jittered 20-60 ms chunks,
  each frame 60-100 ms behind its audio; a stall pauses both streams for 0.25 s longer than the
  audio buffered ahead (the synchroniser's ``playout_delay_s`` included), so playout underruns
  briefly mid-word.
- barge-in (42%): the agent starts a new turn while turn 1 is still streaming; the provider's
  output already in flight keeps arriving for 250 ms, tagged with turn 1's epoch (stale).
- listening: idle frames for 0.6 s.
- turn 2: speech for 38% of the run in 100 ms chunks at 2.5x real time, frames 40-70 ms
  behind; played to the end; then idle until the end of the run.
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from ._speech import Utterance, compose

__all__ = ["Plan", "TurnPlan", "Write", "plan_session"]

MIN_DURATION_S = 10.0
MAX_DURATION_S = 120.0
IN_FLIGHT_S = 0.25  #: how long stale output keeps arriving after the barge-in
LISTEN_S = 0.6  #: between the barge-in and the next turn
UNDERRUN_S = 0.25  #: how far the stall outlasts the audio buffered ahead


@attrs.frozen
class Write:
    """One call the provider makes: at ``at`` seconds into the run, for ``turn`` (1-based),
    ``kind`` "audio" (samples ``first`` .. ``first + count``), "video" (frame ``first``) or
    "end" (``end_audio``)."""

    at: float
    turn: int
    kind: str
    first: int = 0
    count: int = 0


@attrs.frozen
class TurnPlan:
    """A turn: its speech and when the agent starts it (``start_turn()``)."""

    number: int
    utterance: Utterance
    starts_at: float
    speed: float


@attrs.frozen
class Plan:
    """The whole run: turns, every provider write in time order, the agent's calls."""

    duration: float
    fps: int
    rate: int
    turns: tuple[TurnPlan, ...]
    writes: tuple[Write, ...]
    barge_in_at: float
    stall_at: float  #: seconds into the run when turn 1's provider stalls
    stall_s: float  #: for how long

    def controls(self) -> list[tuple[float, str, int]]:
        """The agent's calls, in time order: (when, "turn" or "barge-in", turn number)."""
        first, second = self.turns
        return [
            (first.starts_at, "turn", first.number),
            (self.barge_in_at, "barge-in", first.number),
            (second.starts_at, "turn", second.number),
        ]


def plan_session(
    duration: float, *, fps: int, rate: int, seed: int, playout_delay_s: float = 0.0
) -> Plan:
    """The timetable of a demo run of ``duration`` seconds (10 to 120) for a synchroniser that
    holds each turn's audio ``playout_delay_s`` (the stall outlasts that too)."""
    if not (math.isfinite(duration) and MIN_DURATION_S <= duration <= MAX_DURATION_S):
        raise ValueError(
            f"duration must be between {MIN_DURATION_S:g} and {MAX_DURATION_S:g} s,"
            f" got {duration!r}"
        )
    rng = np.random.default_rng(seed)
    barge_in = 0.42 * duration
    first = TurnPlan(1, compose(0.6 * duration, rate=rate, fps=fps, seed=seed + 1), 1.0, 1.5)
    second_start = barge_in + IN_FLIGHT_S + LISTEN_S
    second = TurnPlan(
        2, compose(0.38 * duration, rate=rate, fps=fps, seed=seed + 2), second_start, 2.5
    )
    stall_at = 0.2 * duration  # media seconds into turn 1
    stall_s = stall_at * (1 - 1 / first.speed) + playout_delay_s + UNDERRUN_S
    writes = _turn_writes(
        first, rng, chunk_s=(0.02, 0.06), lag_s=(0.06, 0.1), stall=(stall_at, stall_s)
    )
    writes = [w for w in writes if w.at < barge_in + IN_FLIGHT_S and w.kind != "end"]
    writes += _turn_writes(second, rng, chunk_s=(0.1, 0.1), lag_s=(0.04, 0.07), stall=None)
    writes.sort(key=lambda w: (w.at, w.kind != "audio"))
    stalls_at = first.starts_at + stall_at / first.speed
    return Plan(duration, fps, rate, (first, second), tuple(writes), barge_in, stalls_at, stall_s)


def _turn_writes(
    turn: TurnPlan,
    rng: np.random.Generator,
    *,
    chunk_s: tuple[float, float],
    lag_s: tuple[float, float],
    stall: tuple[float, float] | None,
) -> list[Write]:
    """Audio chunks and frames of a whole turn, with the provider's pace, lag and stall."""
    utterance = turn.utterance

    def when(media: float) -> float:
        at = turn.starts_at + media / turn.speed
        if stall is not None and media >= stall[0]:
            at += stall[1]
        return at

    writes = []
    total = round(utterance.duration * utterance.rate)
    first = 0
    while first < total:
        count = min(total - first, round(rng.uniform(*chunk_s) * utterance.rate))
        writes.append(Write(when(first / utterance.rate), turn.number, "audio", first, count))
        first += count
    frames = math.floor(utterance.duration * utterance.fps + 1e-9)
    for index in range(frames):
        lag = float(rng.uniform(*lag_s))
        writes.append(Write(when(index / utterance.fps) + lag, turn.number, "video", index))
    last = max(write.at for write in writes)
    writes.append(Write(last, turn.number, "end"))
    return writes
