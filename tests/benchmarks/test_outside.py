"""The outside harness (``python -m benchmarks.outside``) runs end to end with tiny parameters,
one child process per run, and its JSON has what the report is made of; its options are
checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import outside


@pytest.mark.realtime
def test_runs_both_kinds_and_reports_a_ratio_and_offsets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "outside.json"
    argv = ["--sessions", "2", "--warmup", "0.5", "--duration", "1", "--repeats", "1"]
    assert outside.main([*argv, "--modes", "together", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "together: avsync / floor, CPU per session: median" in out
    document = json.loads(path.read_text())
    assert {"settings", "machine", "summary", "runs"} <= set(document)
    assert {"nproc", "python", "commit"} <= set(document["machine"])
    runs = document["runs"]
    assert [(run["kind"], run["mode"]) for run in runs] == [
        ("floor", "together"),
        ("avsync", "together"),
    ]
    for run in runs:
        assert run["started"] == 2 and run["cpu_s"] > 0 and run["writes_measured"] > 0
        assert run["audio_per_session_s"] > 0 and run["video_per_session_s"] > 0
    floor, synced = runs
    assert floor["avsync"] is None
    assert synced["avsync"]["sessions_without_offsets"] == 0
    assert all(s["offset_count"] > 0 for s in synced["per_session"])
    summary = document["summary"]["together"]
    assert summary["ratio_median"] > 0 and summary["pairs"][0]["ratio"] > 0
    assert summary["p99_worst_ms"] == synced["avsync"]["p99_worst_ms"]


@pytest.mark.parametrize(
    "argv",
    [
        ["--sessions", "0"],
        ["--sessions", "two"],
        ["--warmup", "-1"],
        ["--duration", "0"],
        ["--duration", "nan"],
        ["--repeats", "0"],
        ["--modes", "sideways"],
        ["--modes", "spread,spread"],
        ["--modes", ","],
    ],
)
def test_bad_options_are_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        outside.parse_args(argv)
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_the_modes_and_defaults() -> None:
    args = outside.parse_args(["--modes", "spread"])
    assert args.modes == ["spread"]
    defaults = outside.parse_args([])
    assert (defaults.sessions, defaults.warmup, defaults.duration, defaults.repeats) == (
        20,
        3.0,
        10.0,
        2,
    )
    assert defaults.modes == ["together", "spread"]
