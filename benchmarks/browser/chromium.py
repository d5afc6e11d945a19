"""Finding the browser and its driver: a system Chromium (Playwright's own download is not used)
and Python Playwright (the ``browser`` extra)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess

__all__ = ["BROWSER_INSTALL", "CHROMIUM_INSTALL", "find_chromium", "missing_driver", "version"]

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_INSTALL = "apt-get install chromium (Debian; chromium-browser on Ubuntu)"
BROWSER_INSTALL = "pip install -e '.[browser]'"


def find_chromium(given: str | None = None) -> str | None:
    """The Chromium to run: ``given`` (a path or a name on PATH) if it is there, else the first
    of ``chromium``, ``chromium-browser``, ``google-chrome`` found on PATH; None when none is."""
    for name in (given,) if given else CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def missing_driver() -> str | None:
    """What is missing to drive Chromium (the message to show), None when nothing is."""
    for module, package in (("playwright", "playwright"), ("aiohttp", "aiohttp")):
        if importlib.util.find_spec(module) is None:
            return f"the browser extra ({package} missing): {BROWSER_INSTALL}"
    return None


def no_chromium_message(given: str | None = None) -> str:
    """Why there is no browser to run, and how to get one."""
    if given:
        return f"no Chromium at {given!r}"
    return (
        f"no Chromium found on PATH (looked for {', '.join(CHROMIUM_NAMES)}): install it with"
        f" {CHROMIUM_INSTALL}, or give its path (python -m benchmarks.browser --chromium PATH)"
    )


def version(chromium: str) -> str:
    """``chromium --version``'s answer ("Chromium 156.0.8078.108 ..."), or "unknown"."""
    try:
        answer = subprocess.run(
            [chromium, "--version"], capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return answer.stdout.strip() or "unknown"
