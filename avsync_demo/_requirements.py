"""Imported first by ``avsync_demo``: without the ``demo`` extra the import fails here, with a
message naming the install command instead of the first missing module."""

from avsync.__main__ import DEMO_INSTALL, missing_demo_packages

__all__: list[str] = []

if missing_demo_packages():
    raise ModuleNotFoundError(
        f"avsync_demo needs the demo extra ({' and '.join(missing_demo_packages())} missing):"
        f" {DEMO_INSTALL}"
    )
