"""``python -m avsync_demo [options]``: the same as ``avsync demo [options]``."""

import sys

from avsync.__main__ import main

if __name__ == "__main__":
    raise SystemExit(main(["demo", *sys.argv[1:]]))
