"""The benchmark's report (bench/report.py): each scenario's share of S0 is printed as a reading, with
no target beside it; the peer's bar (ours at least 3x the peer) is the one bar it names."""

from __future__ import annotations

from typing import Any

import pytest

from bench.compare import against
from bench.report import markdown, print_table


def summary(rps: float, ratio: float | None) -> dict[str, Any]:
    return {
        "rps": rps,
        "ratio": ratio,
        "p50_ms": 10.0,
        "p99_ms": 20.0,
        "non_2xx": 0,
        "conflicts_409": 0,
        "errors": 0,
        "cpu_ms_per_request": 1.25,
    }


@pytest.fixture
def report() -> dict[str, Any]:
    ours = {"S0": summary(5000.0, 1.0), "S2": summary(500.0, 0.1)}
    peer = {"S2": summary(125.0, 0.025)}
    return {
        "meta": {
            "date": "2026-11-29T01:32:00+00:00",
            "commit": "cf84cb1",
            "cpus": 2,
            "loop": "uvloop",
            "http": "httptools",
            "workers": 1,
            "connections": 32,
            "runs": 3,
            "duration_s": 10.0,
            "warmup_s": 3.0,
        },
        "backends": {
            "sqlite": {
                "workers": 1,
                "scenarios": ours,
                "peak_rss_mb": 100.8,
                "hello_peak_rss_mb": 52.3,
                "peer": {"scenarios": peer, "peak_rss_mb": 140.5},
                "against_peer": against(ours, peer, "peer", 3.0),
            }
        },
    }


def test_the_printed_table_gives_the_share_of_s0_and_no_target(
    report: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    print_table(report)
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("scenario "))
    assert " ".join(header.split()) == "scenario req/s of S0 p50 ms p99 ms non-2xx 409 errors CPU ms/req"
    s2 = next(line for line in out.splitlines() if line.startswith("S2 GET"))
    assert s2.split()[3:5] == ["500.0", "10.0%"]
    assert "target" not in out
    assert "bar: ours ≥ 3x the peer" in out
    assert "4.00x" in out  # ours over the peer


def test_results_md_gives_the_share_of_s0_and_no_target(report: dict[str, Any]) -> None:
    text = markdown(report)
    assert "| scenario | req/s | of S0 | p50 ms | p99 ms | non-2xx | 409 | errors | CPU ms/req |" in text
    assert "| S2 GET /orders/{id} | 500 | 10.0% | 10.0 | 20.0 | 0 | 0 | 0 | 1.25 |" in text
    assert "target" not in text
    assert "≥ 45%" not in text
    assert "Against the peer (bar: ≥ 3x the peer):" in text
