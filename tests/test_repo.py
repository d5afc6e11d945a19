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


def test_ci_runs_the_readme_test_command() -> None:
    ci_commands = [
        line
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.startswith(("#", "set ", "cd "))
    ]
    assert len(ci_commands) == 1, ci_commands
    assert ci_commands[0] in readme_commands()


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
