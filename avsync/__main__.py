"""The ``avsync`` command line: ``avsync demo`` (also ``python -m avsync demo``).

The demo lives in the ``avsync_demo`` package and needs the ``demo`` extra (matplotlib and
Pillow); it is imported only when the command line is built with that extra installed.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence

from . import __version__

DEMO_EXTRA = {"matplotlib": "matplotlib", "PIL": "Pillow"}  #: module -> package of the extra
DEMO_INSTALL = "pip install 'avsync[demo]'"


def missing_demo_packages() -> list[str]:
    """The packages of the ``demo`` extra whose modules cannot be imported (empty when the extra
    is installed). Imports nothing."""
    return [name for module, name in DEMO_EXTRA.items() if importlib.util.find_spec(module) is None]


def build_parser() -> argparse.ArgumentParser:
    """The parser of the ``avsync`` command; the demo's options only when the demo can run."""
    parser = argparse.ArgumentParser(
        prog="avsync", description="Audio/video lip-sync for talking avatars over WebRTC."
    )
    parser.add_argument("--version", action="version", version=f"avsync {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="run a whole avatar session over WebRTC on 127.0.0.1 (MP4, JSON report, PNG plot)",
        description="A synthetic avatar provider -> avsync -> WebRTC on 127.0.0.1 -> an aiortc "
        "receiver, in real time; writes an MP4, a JSON report and a PNG plot. Needs "
        f"{DEMO_INSTALL}.",
    )
    if not missing_demo_packages():
        from avsync_demo import add_arguments

        add_arguments(demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``avsync`` console script; returns the process exit status (1 with a
    message naming the install command when the demo's extra is missing)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    missing = missing_demo_packages()
    if argv[:1] == ["demo"] and missing:
        print(
            f"avsync demo needs the demo extra ({' and '.join(missing)} missing): {DEMO_INSTALL}",
            file=sys.stderr,
        )
        return 1
    parser = build_parser()
    arguments = parser.parse_args(argv)
    if arguments.command == "demo":
        from avsync_demo import main as demo

        return demo(arguments)
    parser.print_help()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
