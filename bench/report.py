"""The report: the failures that fail the run, the tables printed at the end and results.md."""

from __future__ import annotations

from functools import partial
from typing import Any

from bench.config import PEER_TARGET, SCENARIOS
from bench.markdown_page import markdown_page


def problems(report: dict[str, Any]) -> list[str]:
    found = []
    for backend, result in report["backends"].items():
        found += [f"{backend}: {failure}" for failure in result.get("server_failures", [])]
        sections = dict(result.get("scenarios", {}))
        # The peer and the baseline must run clean too: a comparison with failed requests is void.
        for other in ("baseline", "peer"):
            for name, summary in result.get(other, {}).get("scenarios", {}).items():
                sections[f"{other} {name}"] = summary
        if "scaling" in result:
            sections["S2 (scaling)"] = result["scaling"]
        for name, summary in sections.items():
            if summary["errors"] or summary["non_2xx"]:
                found.append(
                    f"{backend} {name}: {summary['errors']} socket errors, "
                    f"{summary['non_2xx']} non-2xx responses"
                )
    return found


def print_table(report: dict[str, Any]) -> None:
    for backend, result in report["backends"].items():
        print(f"\n{backend} — {result['workers']} worker(s), {report['meta']['connections']} connections")
        print(
            f"{'scenario':<40} {'req/s':>9} {'of S0':>7} {'p50 ms':>8} {'p99 ms':>8} "
            f"{'non-2xx':>8} {'409':>6} {'errors':>7} {'CPU ms/req':>10}"
        )
        for name, summary in result["scenarios"].items():
            share = _share(summary.get("ratio"))
            print(
                f"{name + ' ' + SCENARIOS[name][1]:<40} {summary['rps']:9.1f} {share:>7} "
                f"{summary['p50_ms']:8.2f} {summary['p99_ms']:8.2f} {summary['non_2xx']:8d} "
                f"{summary['conflicts_409']:6d} {summary['errors']:7d} {summary['cpu_ms_per_request']:10.2f}"
            )
        print(
            f"peak RSS of the app server: {result['peak_rss_mb']:.1f} MB "
            f"(bare app: {result['hello_peak_rss_mb']:.1f} MB)"
        )
        for other, (heading, _) in headings(report).items():
            if f"against_{other}" in result:
                print_against(result, other, heading)
        if "metrics_cost" in result:
            cost = result["metrics_cost"]
            print(
                f"S2 metrics on {cost['on']['rps']:.1f} req/s against off {cost['off']['rps']:.1f} req/s: "
                f"throughput cost {cost['rps_cost']:.1%}, CPU per request {cost['cpu_cost']:+.1%} "
                f"(p99 on {cost['on']['p99_ms']:.2f} ms, off {cost['off']['p99_ms']:.2f} ms)"
            )
        if "scaling" in result:
            scaling = result["scaling"]
            print(
                f"S2 with {scaling['workers']} workers: {scaling['rps']:.1f} req/s "
                f"(x{scaling['speedup']:.2f} of 1 worker), "
                f"p50 {scaling['p50_ms']:.2f} ms, p99 {scaling['p99_ms']:.2f} ms"
            )


def _share(ratio: float | None) -> str:
    return "" if ratio is None else f"{ratio:.1%}"


def headings(report: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Per server compared with ours ("baseline", "peer"): the printed heading and the results.md one."""
    found: dict[str, tuple[str, str]] = {}
    baseline = report["meta"].get("baseline")
    if baseline is not None:
        found["baseline"] = (
            f"against the baseline ({baseline['commit']} from {baseline['dir']}, served with "
            f"{baseline['loop']}/{baseline['http']}; ours/baseline above 1.00x: ours is faster)",
            f"Against the baseline ({baseline['commit']} from `{baseline['dir']}`):",
        )
    found["peer"] = (
        "against the peer (bench/peer, Litestar + Advanced Alchemy as documented; bar: ours ≥ "
        f"{PEER_TARGET:g}x the peer)",
        f"Against the peer (bar: ≥ {PEER_TARGET:g}x the peer):",
    )
    return found


def print_against(result: dict[str, Any], other: str, heading: str) -> None:
    columns = [
        "ours req/s",
        f"{other} req/s",
        f"ours/{other}",
        "ours of S0",
        f"{other} of S0",
        "ours p50/p99 ms",
        f"{other} p50/p99 ms",
        f"CPU ms/req ours/{other}",
        f"{other} non-2xx",
        f"{other} errors",
    ]
    # Latency columns are one wider than their heading, so that "1234.5 / 1234.5" still fits.
    widths = [max(len(column), 16 if "p50" in column else 0) for column in columns]
    print(f"\n{heading}")
    print(f"{'scenario':<10} " + " ".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True)))
    for name, row in result[f"against_{other}"].items():
        times = "" if row[f"ours_over_{other}"] is None else f"{row[f'ours_over_{other}']:.2f}x"
        cells = [
            f"{row['ours_rps']:.1f}",
            f"{row[f'{other}_rps']:.1f}",
            times,
            _share(row["ours_share_of_S0"]),
            _share(row[f"{other}_share_of_S0"]),
            f"{row['ours_p50_ms']:.1f} / {row['ours_p99_ms']:.1f}",
            f"{row[f'{other}_p50_ms']:.1f} / {row[f'{other}_p99_ms']:.1f}",
            f"{row['ours_cpu_ms_per_request']:.2f} / {row[f'{other}_cpu_ms_per_request']:.2f}",
            str(row[f"{other}_non_2xx"]),
            str(row[f"{other}_errors"]),
        ]
        print(f"{name:<10} " + " ".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True)))
    print(f"peak RSS of the {other} server: {result[other]['peak_rss_mb']:.1f} MB")


def markdown_against(result: dict[str, Any], other: str, heading: str) -> list[str]:
    lines = [
        "",
        heading,
        "",
        f"| scenario | ours req/s | {other} req/s | ours / {other} | ours of S0 | {other} of S0 "
        f"| ours p50 / p99 ms | {other} p50 / p99 ms | CPU ms/req ours / {other} | {other} non-2xx "
        f"| {other} errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in result[f"against_{other}"].items():
        times = row[f"ours_over_{other}"]
        lines.append(
            f"| {name} {SCENARIOS[name][1]} | {row['ours_rps']:.0f} | {row[f'{other}_rps']:.0f} | "
            f"{'' if times is None else f'{times:.2f}x'} | {_share(row['ours_share_of_S0'])} | "
            f"{_share(row[f'{other}_share_of_S0'])} | {row['ours_p50_ms']:.1f} / {row['ours_p99_ms']:.1f} | "
            f"{row[f'{other}_p50_ms']:.1f} / {row[f'{other}_p99_ms']:.1f} | "
            f"{row['ours_cpu_ms_per_request']:.2f} / {row[f'{other}_cpu_ms_per_request']:.2f} | "
            f"{row[f'{other}_non_2xx']} | {row[f'{other}_errors']} |"
        )
    lines.append(f"\nPeak RSS of the {other} server: {result[other]['peak_rss_mb']:.1f} MB.")
    return lines


def markdown(report: dict[str, Any]) -> str:
    """The tables of docs/bench.md, one per backend, from a results.json report."""
    meta = report["meta"]
    runs = f", {meta['runs']} runs of {meta['duration_s']:g} s after {meta['warmup_s']:g} s warm-up; medians."
    return markdown_page("Run", runs, report, partial(_markdown_backend, headings(report)))


def _markdown_backend(
    headings: dict[str, tuple[str, str]], backend: str, result: dict[str, Any]
) -> list[str]:
    lines = [
        f"**{backend}**",
        "",
        "| scenario | req/s | of S0 | p50 ms | p99 ms | non-2xx | 409 | errors | CPU ms/req |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, summary in result["scenarios"].items():
        lines.append(
            f"| {name} {SCENARIOS[name][1]} | {summary['rps']:.0f} | "
            f"{_share(summary.get('ratio'))} | {summary['p50_ms']:.1f} | "
            f"{summary['p99_ms']:.1f} | {summary['non_2xx']} | {summary['conflicts_409']} | "
            f"{summary['errors']} | {summary['cpu_ms_per_request']:.2f} |"
        )
    lines += ["", f"Peak RSS of the app server: {result['peak_rss_mb']:.1f} MB."]
    for other, (_, heading) in headings.items():
        if f"against_{other}" in result:
            lines += markdown_against(result, other, heading)
    if "scaling" in result:
        scaling = result["scaling"]
        peaks = ", ".join(f"{mb:.0f}" for mb in scaling["peak_rss_mb_per_worker"])
        lines.append(
            f"S2 with {scaling['workers']} workers: {scaling['rps']:.0f} req/s, "
            f"x{scaling['speedup']:.2f} of one worker (p50 {scaling['p50_ms']:.1f} ms, "
            f"p99 {scaling['p99_ms']:.1f} ms; peak RSS of the supervisor, its helper and the "
            f"workers {peaks} MB)."
        )
    return lines
