"""A network namespace of its own for the benchmark: only ``lo``, up (``unshare -n``), so that
neither aiortc nor Chromium can bind or reach anything but 127.0.0.1."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence

__all__ = ["INSIDE", "in_own_network"]

INSIDE = "AVSYNC_OWN_NETWORK"  #: set in the environment of a command run by :func:`in_own_network`


def in_own_network(command: Sequence[str]) -> list[str] | None:
    """``command`` wrapped to run in a new network namespace whose only interface, ``lo``, is
    up; None where no namespace can be made here (no ``unshare`` or ``ip``, not root and no
    user namespaces). Makes a throwaway namespace once to find out."""
    unshare, ip = shutil.which("unshare"), shutil.which("ip")
    if unshare is None or ip is None:
        return None
    try:
        probe = subprocess.run(
            [unshare, "-n", ip, "link", "set", "lo", "up"], capture_output=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if probe.returncode != 0:
        return None
    return [unshare, "-n", "sh", "-c", f'"{ip}" link set lo up && exec "$@"', "sh", *command]
