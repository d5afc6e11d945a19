"""``python -m benchmarks.browser``: lip sync as a browser shows it, in headless Chromium.

Four runs in one go, each a page session of its own, each ``--seconds`` long (libwebrtc takes
15-30 s to settle):

1. **calibration**: synthetic tracks paced on one clock, no synchroniser. The page's method has
   a bias of its own (the audio path through WebAudio, the display estimate), so the figure
   that counts for the others is their difference from the calibration.
2. **avsync**, fed by a misbehaving real-time provider (:func:`sources.misbehaving_provider`:
   video 40-100 ms behind its audio with jitter, a stall, a burst).
3. **baseline**: the enqueue-time synchroniser (:mod:`benchmarks.baseline`) fed by the same.
4. **calibration** again: the reference is the mean of the calibration runs, and their
   difference is the method's own run-to-run tolerance on this machine, now.

Per run: the plateau skew (median over the last third) and its difference from the
calibrations' mean, the onsets measured, the frames decoded and read, and libwebrtc's own view
(getStats). Prints a table, writes JSON and a PNG (skew per onset) to ``benchmark-results/``.
Needs the ``browser`` extra (``pip install -e '.[browser]'``) and a Chromium (``--chromium``,
else found on PATH).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import trio

from avsync._progress import ProgressBar

from ..machine import cpu_model, machine_facts
from .analysis import RunSummary, summarise
from .chromium import find_chromium, missing_driver, no_chromium_message, version
from .netns import INSIDE, in_own_network

DEFAULT_DIRECTORY = Path("benchmark-results")
WARMUP_S = 5.0  #: onsets before this count for the plot only


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.browser", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--chromium", help="the browser to run [chromium on PATH]")
    parser.add_argument("--seconds", type=float, default=60.0, help="per run [%(default)s]")
    parser.add_argument(
        "--runs",
        default="calibration,avsync,baseline,calibration",
        help="which, in order [%(default)s]",
    )
    parser.add_argument(
        "--json", type=Path, default=DEFAULT_DIRECTORY / "browser.json", help="[%(default)s]"
    )
    parser.add_argument(
        "--png", type=Path, default=DEFAULT_DIRECTORY / "browser.png", help="[%(default)s]"
    )
    parser.add_argument("--seed", type=int, default=1, help="the provider's seed [1]")
    parser.add_argument(
        "--network",
        choices=("own", "host"),
        default="own",
        help="own: run in a network namespace of its own, only lo (unshare -n; falls back to"
        " host, saying so, where none can be made); host: this one, aiortc offering 127.0.0.1"
        " candidates only [%(default)s]",
    )
    args = parser.parse_args(argv)
    from .runs import RUNS

    args.chosen = [name for name in args.runs.split(",") if name]
    unknown = sorted(set(args.chosen) - set(RUNS))
    if unknown or not args.chosen:
        parser.error(f"--runs: choose from {', '.join(RUNS)}")
    if not 20 <= args.seconds <= 130:
        parser.error("--seconds must be from 20 to 130")
    return args


async def run_all(args: argparse.Namespace, chromium: str) -> list[RunSummary]:
    """Every chosen run, in order, with a progress bar; their summaries."""
    import trio_asyncio

    from avsync_demo._web import serve_page

    from .runs import RUNS, Bench

    bar = ProgressBar(args.seconds * len(args.chosen))
    summaries = []
    try:
        async with trio_asyncio.open_loop(), serve_page() as server:
            bench = Bench(server, chromium, args.seconds, seed=args.seed)
            for number, name in enumerate(args.chosen):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(_tick, bar, number, args.seconds, name)
                    report = await RUNS[name](bench)
                    nursery.cancel_scope.cancel()
                label = name if name not in args.chosen[:number] else f"{name} ({number + 1})"
                summaries.append(summarise(label, report, args.seconds, WARMUP_S))
    finally:
        bar.close()
    return summaries


async def _tick(bar: ProgressBar, number: int, seconds: float, name: str) -> None:
    """Run ``number`` (from 0) of ``seconds`` is going on: the bar shows its time, up to its
    share (the browser's start and the connection come on top)."""
    start = time.monotonic()
    while True:
        bar.update(seconds * number + min(time.monotonic() - start, seconds), name)
        await trio.sleep(0.5)


def _ms(value: float | None, signed: bool = True) -> str:
    return "-" if value is None else f"{value:+.0f}" if signed else f"{value:.0f}"


def calibration_plateaus(summaries: Sequence[RunSummary]) -> list[float]:
    """The plateaus of the calibration runs (named "calibration", "calibration (4)", ...)."""
    return [
        s.plateau_ms
        for s in summaries
        if s.name.split()[0] == "calibration" and s.plateau_ms is not None
    ]


def table(summaries: Sequence[RunSummary]) -> str:
    """The results, one row per run; "vs calib." is the plateau's difference from the mean of
    the calibration runs' plateaus, whose own spread closes the table."""
    calibrations = calibration_plateaus(summaries)
    reference = sum(calibrations) / len(calibrations) if calibrations else None
    header = (
        f"{'run':<16}{'plateau':>9}{'vs calib.':>10}{'spread':>8}{'onsets':>9}"
        f"{'frames read':>13}{'decoded':>9}{'jb a/v ms':>11}{'playout ts':>11}"
    )
    lines = [header, "-" * len(header)]
    for s in summaries:
        difference = None if reference is None or s.plateau_ms is None else s.plateau_ms - reference
        jitter = f"{_ms(s.audio_jitter_buffer_ms, False)}/{_ms(s.video_jitter_buffer_ms, False)}"
        lines.append(
            f"{s.name:<16}{_ms(s.plateau_ms):>9}{_ms(difference):>10}"
            f"{_ms(s.plateau_spread_ms, False):>8}"
            f"{f'{s.onsets_measured}/{s.onsets_heard}':>9}"
            f"{f'{s.frames_marked}/{s.frames_shown}':>13}{s.frames_decoded or '-':>9}"
            f"{jitter:>11}{_ms(s.playout_timestamp_skew_ms):>11}"
        )
    if len(calibrations) > 1:
        lines.append(
            f"the calibration runs' plateaus differ by {max(calibrations) - min(calibrations):.0f}"
            " ms: the method's own run-to-run tolerance here, now"
        )
    lines.append(
        "ms, positive: video late. plateau: median skew over the last third of the run; vs"
        " calib.: its difference from the calibration runs' mean; spread: max - min over that"
        " third; onsets: measured / heard after the warm-up; frames read: marker read /"
        " displayed; jb: libwebrtc's mean jitter-buffer delay; playout ts: its estimated"
        " playout timestamps, video - audio"
    )
    return "\n".join(lines)


def document_network() -> str:
    """Where the run's WebRTC went: its own namespace, or the host's loopback."""
    return "own namespace, lo only" if INSIDE in os.environ else "host, 127.0.0.1"


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    missing = missing_driver()
    if missing:
        print(f"python -m benchmarks.browser needs {missing}", file=sys.stderr)
        return 1
    chromium = find_chromium(args.chromium)
    if chromium is None:
        print(
            f"python -m benchmarks.browser: {no_chromium_message(args.chromium)}", file=sys.stderr
        )
        return 1
    if args.network == "own" and INSIDE not in os.environ:
        wrapped = in_own_network([sys.executable, "-m", "benchmarks.browser", *argv])
        if wrapped is not None:
            return subprocess.call(wrapped, env={**os.environ, INSIDE: "1"})
        print("no network namespace can be made here: on the host's loopback", file=sys.stderr)
    machine = {"cpu_model": cpu_model(), "chromium": version(chromium), **machine_facts()}
    summaries = trio.run(run_all, args, chromium)  # the machine as it was when they started
    print(table(summaries))
    print(
        f"machine: {machine['cpu_model']}, {machine['nproc']} CPUs, load average"
        f" {machine['loadavg']}; {machine['chromium']}; network: {document_network()}"
    )
    document = {
        "machine": machine,
        "network": document_network(),
        "seconds": args.seconds,
        "warmup_s": WARMUP_S,
        "runs": [summary.to_json() for summary in summaries],
        "calibration_plateaus_ms": calibration_plateaus(summaries),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=2))
    from .plot import write_plot

    described = f"{machine['chromium']}, {machine['cpu_model']}, {machine['nproc']} CPUs"
    write_plot(args.png, summaries, described)
    print(f"wrote {args.json} and {args.png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
