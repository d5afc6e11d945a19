"""The ``avsync`` command line: ``avsync demo`` (also ``python -m avsync demo``)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from . import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="avsync", description="Audio/video lip-sync for talking avatars over WebRTC."
    )
    parser.add_argument("--version", action="version", version=f"avsync {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="run a whole avatar session over WebRTC on 127.0.0.1 (MP4, JSON report, PNG plot)",
        description="A synthetic avatar provider -> avsync -> WebRTC on 127.0.0.1 -> an aiortc "
        "receiver, in real time; writes an MP4, a JSON report and a PNG plot.",
    )
    from .demo import add_arguments

    add_arguments(demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``avsync`` console script; returns the process exit status."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    if arguments.command == "demo":
        from .demo import main as demo

        return demo(arguments)
    parser.print_help()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
