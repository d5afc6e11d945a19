"""Repository hygiene: CI runs exactly the README's test command."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readme_test_command() -> None:
    ci_commands = [
        line
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.startswith(("#", "set ", "cd "))
    ]
    assert len(ci_commands) == 1, ci_commands
    readme = (ROOT / "README.md").read_text()
    assert f"\n{ci_commands[0]}\n" in readme
