"""Axis ranges with round ticks (1, 2, 5 x 10^k) and short number labels."""

from __future__ import annotations

import math

__all__ = ["format_tick", "format_value", "log_ticks", "nice_range", "nice_step", "ticks_within"]

_SI = ((1e9, "G"), (1e6, "M"), (1e3, "k"))


def nice_step(span: float, target: int) -> float:
    """The smallest step 1, 2 or 5 x 10^k giving at most ``target`` intervals over ``span`` > 0."""
    if not (math.isfinite(span) and span > 0) or target < 1:
        raise ValueError(f"nice_step needs a finite span > 0 and target >= 1, got {span}, {target}")
    raw = span / target
    mag = 10.0 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 5.0, 10.0):
        if m * mag >= raw * (1 - 1e-9):
            return m * mag
    return 10.0 * mag  # pragma: no cover - the loop always returns


def nice_range(
    lo: float, hi: float, *, target: int = 6, margin: float = 0.0, include_zero: bool = False
) -> tuple[float, float, list[float]]:
    """A range (a, b) covering [lo, hi] widened by ``margin`` of its span, with ends on its ticks.

    With ``include_zero`` the range reaches 0 (and gets no margin past 0). Equal ends are widened.
    Returns (a, b, ticks) with ticks = a, a + step, ..., b.
    """
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        raise ValueError(f"nice_range needs finite lo <= hi, got {lo}, {hi}")
    if include_zero:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi == lo:
        half = abs(lo) * 0.1 or 1.0
        lo, hi = lo - half, hi + half
        if include_zero and lo < 0 <= lo + half:
            lo = 0.0
    pad = (hi - lo) * margin
    lo = lo if include_zero and lo == 0 else lo - pad
    hi = hi if include_zero and hi == 0 else hi + pad
    step = nice_step(hi - lo, target)
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    ticks = [k * step + 0.0 for k in range(first, last + 1)]
    return ticks[0], ticks[-1], ticks


def format_tick(value: float, step: float) -> str:
    """``value`` with just the decimals ``step`` needs; thousands and up as 1.5k, 20M, 3G."""
    if value == 0:
        return "0"
    for size, suffix in _SI:
        if abs(value) >= size and step >= size / 100:
            return format_tick(value / size, step / size) + suffix
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    if decimals > 6:
        return f"{value:.2g}"
    return f"{value:.{decimals}f}"


def format_value(value: float) -> str:
    """``value`` in about 3 significant digits: 0.0123, 4.56, 789, 12.3k, 4.5M; NaN is "n/a"."""
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == 0:
        return "0"
    for size, suffix in _SI:
        if abs(value) >= size * 0.9995:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.3g}"


def log_ticks(lo: float, hi: float, *, target: int = 8) -> tuple[float, float, list[float]]:
    """A log10 range of whole decades covering [lo, hi] (both > 0), as exponents, with ticks."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo <= 0 or hi < lo:
        raise ValueError(f"log_ticks needs finite 0 < lo <= hi, got {lo}, {hi}")
    a = math.floor(math.log10(lo) + 1e-9)
    b = math.ceil(math.log10(hi) - 1e-9)
    if b <= a:
        b = a + 1
    every = max(1, math.ceil((b - a) / target))
    a -= a % every
    b += -b % every
    return float(a), float(b), [float(k) for k in range(a, b + 1, every)]


def ticks_within(lo: float, hi: float, *, target: int = 6) -> list[float]:
    """Round ticks (multiples of a 1, 2, 5 x 10^k step) inside [lo, hi], about ``target`` apart."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
        raise ValueError(f"ticks_within needs finite lo < hi, got {lo}, {hi}")
    step = nice_step(hi - lo, max(1, target))
    first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
    return [k * step + 0.0 for k in range(first, last + 1)]
