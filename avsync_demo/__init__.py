"""``avsync demo`` (or ``python -m avsync_demo``): a whole talking-avatar session, end to end, in
under a minute.

A synthetic avatar provider (a drawn face whose mouth follows its voice, frame numbers and
media time on screen, syllables of synthesised speech) behaves like a real one: audio faster
than real time, video lagging with jitter, a stall mid-utterance, a barge-in while output of
the old turn is still in flight, then a new turn. Its output goes through the synchroniser,
over WebRTC on 127.0.0.1 to an aiortc receiver, and into an MP4, a JSON report and a PNG plot.
``avsync demo --browser`` serves the session live to a page on 127.0.0.1 instead
(:mod:`avsync_demo._browser`, the ``browser`` extra).
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import sys
from pathlib import Path
from typing import Any

import trio

from avsync._progress import ProgressBar

# first: without the demo extra, the import fails naming the install command
from . import _requirements  # noqa: F401
from ._session import DemoOptions, run_session

__all__ = ["DemoOptions", "add_arguments", "main", "run_demo"]

BROWSER_INSTALL = "pip install 'avsync[demo,browser]'"


async def run_demo(options: DemoOptions, progress: bool = True) -> dict[str, Any]:
    """Run a demo session (real time, about ``options.duration`` seconds plus set-up), write
    the MP4, the JSON report and the PNG plot, and return the report."""
    from ._report import analyse, write_outputs

    bar = ProgressBar(options.duration) if progress else None
    try:
        run = await run_session(options, bar)
    finally:
        if bar is not None:
            bar.close()
    return write_outputs(run, analyse(run))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo's command-line options."""
    defaults = DemoOptions()
    parser.add_argument(
        "--duration",
        type=float,
        default=defaults.duration,
        help="seconds of session, 10 to 120 (default %(default)s)",
    )
    parser.add_argument(
        "--size",
        default=f"{defaults.width}x{defaults.height}",
        help="frame size WIDTHxHEIGHT, even, at least 320x180 (default %(default)s)",
    )
    parser.add_argument(
        "--fps", type=int, default=defaults.fps, help="frame rate, 10 to 60 (default %(default)s)"
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=defaults.output_dir,
        help="where the files go (default %(default)s)",
    )
    parser.add_argument("--video", type=Path, help="MP4 path (default OUTPUT_DIR/demo.mp4)")
    parser.add_argument("--report", type=Path, help="JSON path (default OUTPUT_DIR/report.json)")
    parser.add_argument("--plot", type=Path, help="PNG path (default OUTPUT_DIR/plot.png)")
    parser.add_argument(
        "--record",
        choices=("received", "published"),
        default=defaults.record,
        help="record what the receiver got (default) or what avsync published",
    )
    parser.add_argument(
        "--playout-delay",
        type=float,
        default=defaults.playout_delay_s,
        help="SyncConfig.playout_delay_s: hold each turn's audio this long, seconds"
        " (default %(default)s: the demo provider's video trails by up to 0.1 s)",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="the provider's seed")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--browser",
        action="store_true",
        help="serve the session to a browser on 127.0.0.1 instead (prints the URL; each page"
        f" load plays a session, live; needs {BROWSER_INSTALL})",
    )
    parser.add_argument(
        "--port", type=int, default=0, help="with --browser: the port (default: any free one)"
    )


def options_from(arguments: argparse.Namespace) -> DemoOptions:
    """``DemoOptions`` from parsed arguments; raises ``ValueError`` saying what is wrong."""
    width, _, height = str(arguments.size).partition("x")
    if not (width.isdigit() and height.isdigit()):
        raise ValueError(f"--size must look like 640x360, got {arguments.size!r}")
    return DemoOptions(
        duration=arguments.duration,
        width=int(width),
        height=int(height),
        fps=arguments.fps,
        output_dir=arguments.output_dir,
        video_path=arguments.video,
        report_path=arguments.report,
        plot_path=arguments.plot,
        record=arguments.record,
        seed=arguments.seed,
        playout_delay_s=arguments.playout_delay,
    )


def main(arguments: argparse.Namespace) -> int:
    """Run ``avsync demo`` with parsed ``arguments``; print the summary; exit status."""
    from ._report import summary

    try:
        options = options_from(arguments)
    except ValueError as error:
        print(f"avsync demo: {error}", file=sys.stderr)
        return 2
    if arguments.browser:
        return _serve_to_browser(options, arguments.port)
    document = trio.run(run_demo, options, not arguments.quiet)
    print(summary(document))
    return 0


def _serve_to_browser(options: DemoOptions, port: int) -> int:
    """``avsync demo --browser``: serve until Ctrl-C; 1 with the install command when the
    ``browser`` extra is missing."""
    if importlib.util.find_spec("aiohttp") is None:
        print(f"avsync demo --browser needs the browser extra: {BROWSER_INSTALL}", file=sys.stderr)
        return 1
    from ._browser import serve_browser_demo

    try:
        trio.run(functools.partial(serve_browser_demo, options, port=port))
    except KeyboardInterrupt:
        pass
    return 0
