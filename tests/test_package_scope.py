"""The installed ``avsync`` package is the synchroniser: importing it loads neither the demo nor
the asyncio bridge nor a drawing library, and ``avsync demo`` says how to install what it needs."""

from __future__ import annotations

import subprocess
import sys

import pytest

OUTSIDE_THE_SYNCHRONISER = (
    *("avsync_demo", "trio_asyncio", "matplotlib", "PIL"),
    *("livekit", "vision_agents", "getstream"),
)


def run_python(code: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    """``code`` (or ``-m module``) in a fresh interpreter of this environment."""
    return subprocess.run(
        [sys.executable, *(("-c", code) if code else ()), *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_importing_avsync_loads_nothing_outside_the_synchroniser() -> None:
    result = run_python(
        "import avsync, sys\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {OUTSIDE_THE_SYNCHRONISER!r}))"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_vision_agents_face_without_vision_agents_names_the_extra() -> None:
    as_if_not_installed = "import sys\nsys.modules['vision_agents'] = None\n"
    result = run_python(as_if_not_installed + "import avsync.vision_agents")
    assert result.returncode == 1
    assert "pip install 'avsync[vision-agents]'" in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        "from avsync.__main__ import main\nraise SystemExit(main(['demo', '--duration', '10']))",
        "import runpy\nrunpy.run_module('avsync_demo', run_name='__main__', alter_sys=True)",
    ],
    ids=["avsync demo", "python -m avsync_demo"],
)
def test_the_demo_without_its_extra_names_the_install_command(command: str) -> None:
    as_if_not_installed = "import sys\nsys.modules['PIL'] = sys.modules['matplotlib'] = None\n"
    result = run_python(as_if_not_installed + command)
    assert result.returncode == 1
    assert "demo extra (matplotlib and Pillow missing): pip install 'avsync[demo]'" in result.stderr


def test_python_m_avsync_demo_is_the_demo_command() -> None:
    result = run_python("", "-m", "avsync_demo", "--size", "640by360")
    assert result.returncode == 2
    assert "avsync demo: --size must look like 640x360" in result.stderr
