"""The ``livekit`` package is optional: ``import avsync`` (and its other faces) never imports
it, and ``avsync.livekit`` without it fails with a message naming the extra. Each check runs in
a fresh interpreter so that nothing imported by other tests counts."""

from __future__ import annotations

import subprocess
import sys


def python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_avsync_never_imports_livekit() -> None:
    result = python(
        "import sys, avsync, avsync.aio, avsync.webrtc, avsync.testing, avsync.loopback\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'livekit'], 'livekit imported'"
    )
    assert result.returncode == 0, result.stderr


def test_without_livekit_the_error_names_the_extra() -> None:
    result = python(
        "import sys\n"
        "sys.modules['livekit'] = None  # as if it were not installed\n"
        "try:\n"
        "    import avsync.livekit\n"
        "except ImportError as error:\n"
        "    print(error)\n"
        "else:\n"
        "    raise SystemExit('imported')\n"
    )
    assert result.returncode == 0, result.stderr
    assert "pip install 'avsync[livekit]'" in result.stdout
