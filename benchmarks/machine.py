"""The machine and the checkout measured: machine facts for benchmark reports (versions, CPUs,
load, the commit), and this process's resident memory."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import av
import numpy as np
import trio

import avsync

ROOT = Path(__file__).resolve().parent.parent  #: the checkout: child processes run here


def machine_facts() -> dict[str, Any]:
    """Versions, CPUs, load and the commit, for a benchmark report."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "av": av.__version__,
        "trio": trio.__version__,
        "numpy": np.__version__,
        "avsync": avsync.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "nproc": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "commit": git_describe(),
    }


def cpu_model() -> str | None:
    """The CPU's model name ("AMD EPYC ..."), None where it cannot be told."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def git_describe() -> str | None:
    """The commit measured, with "-dirty" if the working tree differs from it."""
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        )  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    return described.stdout.strip()


def current_rss_mb() -> float:
    """This process's resident set size now, MiB (the peak where /proc is missing)."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
    except OSError:
        return peak_rss_mb()
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    """This process's peak resident set size, MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10
