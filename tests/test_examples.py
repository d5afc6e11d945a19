"""The examples run as their docstrings say, and do what they claim."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.realtime
def test_the_provider_integration_example_runs_and_drops_the_old_turn() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "examples.provider_integration"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    relayed = re.search(r"(\d+) video frames, (\d+) audio packets relayed", out)
    assert relayed and int(relayed[1]) > 100 and int(relayed[2]) > 200, out
    stale = re.search(r"dropped as stale: (\d+) frames, ([\d.]+) s of audio", out)
    assert stale and int(stale[1]) > 0 and float(stale[2]) > 0, out
    assert "in 1 MediaStream" in out, out
