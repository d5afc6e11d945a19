"""Renders docs/bad-input.md from the bad-input catalogue of test_bad_input.py.

    python -m tests.avsync.bad_input_table > docs/bad-input.md

``test_bad_input.py::test_the_docs_table_is_current`` fails when the file is out of date, so
the table always shows what the code really raises.
"""

from __future__ import annotations

import trio

import avsync
from actors.testing import run_scenario

from .test_bad_input import CASES, CONFIG_CASES, make_config

HEADER = """# Bad input: what each malformed call raises

Generated from the test catalogue (`python -m tests.avsync.bad_input_table > docs/bad-input.md`;
a test fails when it is out of date). Every error is raised at the call site, is a `ValueError` or
`TypeError` subclass (and an `avsync.AvsyncError`), and leaves the session running with nothing
already queued lost. Calls after `aclose()` raise `avsync.SynchronizerClosed` and never hang.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def call_rows() -> list[tuple[str, str, str]]:
    """(case, exception class, message) for every call in the catalogue, run in one session."""
    rows: list[tuple[str, str, str]] = []

    async def run() -> None:
        async with avsync.open_synchronizer(make_config()) as sync:
            for name, case in CASES.items():
                try:
                    await case.call(sync)
                except case.error as error:
                    rows.append((name, type(error).__name__, str(error)))
                else:
                    raise AssertionError(f"{name}: nothing was raised")
                await trio.sleep(0.01)

    run_scenario(run)
    return rows


def config_rows() -> list[tuple[str, str, str]]:
    rows = []
    for field, value, _ in CONFIG_CASES:
        try:
            avsync.SyncConfig(**{field: value})  # type: ignore[arg-type]
        except ValueError as error:
            rows.append((f"`{field}={value!r}`", type(error).__name__, str(error)))
        else:
            raise AssertionError(f"{field}={value!r}: nothing was raised")
    return rows


def render() -> str:
    lines = [HEADER, "## Calls", "", "| input | raises | message |", "|---|---|---|"]
    lines += [f"| {_cell(a)} | `{b}` | {_cell(c)} |" for a, b, c in call_rows()]
    lines += ["", "## SyncConfig", "", "| value | raises | message |", "|---|---|---|"]
    lines += [f"| {_cell(a)} | `{b}` | {_cell(c)} |" for a, b, c in config_rows()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
