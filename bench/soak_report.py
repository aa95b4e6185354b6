"""The soak's report: its goals printed as pass/fail, soak.json, soak.md and soak.png."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.markdown_page import markdown_page


def failed_goals(report: dict[str, Any]) -> list[str]:
    found = []
    for backend, result in report["backends"].items():
        found += [f"{backend}: {failure}" for failure in result.get("server_failures", [])]
        found += [f"{backend}: {g['name']}: {g['detail']}" for g in result["goals"] if not g["passed"]]
    return found


def print_goals(report: dict[str, Any]) -> None:
    for backend, result in report["backends"].items():
        print(
            f"\n{backend} soak: peak {result['peak']['rps']:.1f} req/s, paced at {result['target_rps']:.1f}"
        )
        for goal in result["goals"]:
            print(f"  {'PASS' if goal['passed'] else 'FAIL'}  {goal['name']}: {goal['detail']}")


def markdown(report: dict[str, Any]) -> str:
    """One table per backend, a row per minute, as docs/bench.md shows it."""
    meta = report["meta"]
    load = (
        f"; load average {_load(meta['loadavg_start'])} at the start, "
        f"{_load(meta.get('loadavg_end'))} at the end."
    )
    return markdown_page("Soak", load, report, _markdown_backend)


def _markdown_backend(backend: str, result: dict[str, Any]) -> list[str]:
    lines = [
        f"**{backend}**: peak {result['peak']['rps']:.0f} req/s, paced at {result['target_rps']:.0f} req/s.",
        "",
        "| minute | req/s | p50 ms | p99 ms | CPU ms/req | RSS MB | open fds | pool in use (max / mean) "
        "| 409 | non-2xx | errors |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in result["minutes"]:
        pool = "" if m["pool_in_use_max"] is None else f"{m['pool_in_use_max']} / {m['pool_in_use_mean']:.1f}"
        lines.append(
            f"| {m['minute']} | {m['rps']:.0f} | {m['p50_ms']:.1f} | {m['p99_ms']:.1f} | "
            f"{m.get('cpu_ms_per_request') or 0:.2f} | {m['rss_mb']:.1f} | "
            f"{m['fds_max']} | {pool} | {m['conflicts_409']} | {m['non_2xx']} | {m['errors']} |"
        )
    lines.append("")
    lines += [
        f"- {'pass' if g['passed'] else '**FAIL**'}: {g['name']}: {g['detail']}" for g in result["goals"]
    ]
    return lines


def _load(loadavg: list[float] | None) -> str:
    return "?" if loadavg is None else " / ".join(f"{value:.1f}" for value in loadavg)


def write(report: dict[str, Any], out: Path) -> None:
    from bench.soak_chart import draw_soak_chart

    (out / "soak.json").write_text(json.dumps(report, indent=2))
    (out / "soak.md").write_text(markdown(report))
    draw_soak_chart(report, out / "soak.png")
    print(f"\nwrote {out / 'soak.json'}, soak.md and soak.png")
