"""Repository hygiene: CI runs exactly the README's test command, and the README's first command
installs what the demo needs."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    """The one-line commands of the README's code blocks that create the virtualenv."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"^```\n(.*?)^```$", readme, flags=re.DOTALL | re.MULTILINE)
    return [block.strip() for block in blocks if block.startswith("python3.11 -m venv")]


def ci_commands() -> list[str]:
    return [
        line
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.startswith(("#", "set ", "cd "))
    ]


def test_ci_runs_the_readme_test_command_last() -> None:
    assert ci_commands()[-1] == readme_commands()[1]


def test_ci_lints_and_type_checks() -> None:
    commands = ci_commands()
    for tool in (".venv/bin/ruff check .", ".venv/bin/ruff format --check .", ".venv/bin/mypy"):
        assert tool in commands


def test_ci_tests_the_environments_users_have() -> None:
    commands = ci_commands()
    assert commands.index(".ci/environments") < len(commands) - 1
    script = (ROOT / ".ci" / "environments").read_text()
    for pin in ("lowest-direct", "vision-agents==0.6.9", "livekit-agents==1.8.9"):
        assert pin in script


def test_ci_installs_chromium_for_the_browser_test() -> None:
    commands = ci_commands()
    install = "command -v chromium || (apt-get update && apt-get install -y chromium)"
    assert commands.index(install) < len(commands) - 1


def test_the_readme_first_command_installs_and_runs_the_demo() -> None:
    first = readme_commands()[0]
    assert "\n" not in first
    assert "pip install -e '.[demo]'" in first and first.endswith(".venv/bin/avsync demo")


def test_the_test_extra_brings_the_demo_extra() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert "avsync[demo]" in extras["test"]
    assert {requirement.split(">")[0] for requirement in extras["demo"]} == {"matplotlib", "Pillow"}
