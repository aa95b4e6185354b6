"""The report: the failures that fail the run, the tables printed at the end and results.md."""

from __future__ import annotations

from typing import Any

from bench.config import PEER_TARGET, SCENARIOS, TARGETS


def problems(report: dict[str, Any]) -> list[str]:
    found = []
    for backend, result in report["backends"].items():
        found += [f"{backend}: {failure}" for failure in result.get("server_failures", [])]
        sections = dict(result.get("scenarios", {}))
        # The peer must run clean too: a comparison against a peer that failed requests is void.
        for name, summary in result.get("peer", {}).get("scenarios", {}).items():
            sections[f"peer {name}"] = summary
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
            f"{'scenario':<40} {'req/s':>9} {'of S0':>7} {'target':>7} {'p50 ms':>8} {'p99 ms':>8} "
            f"{'non-2xx':>8} {'409':>6} {'errors':>7} {'CPU ms/req':>10}"
        )
        for name, summary in result["scenarios"].items():
            ratio = summary.get("ratio")
            share = "" if ratio is None else f"{ratio:.1%}"
            target = "" if name not in TARGETS else f"{TARGETS[name]:.0%}"
            print(
                f"{name + ' ' + SCENARIOS[name][1]:<40} {summary['rps']:9.1f} {share:>7} {target:>7} "
                f"{summary['p50_ms']:8.2f} {summary['p99_ms']:8.2f} {summary['non_2xx']:8d} "
                f"{summary['conflicts_409']:6d} {summary['errors']:7d} {summary['cpu_ms_per_request']:10.2f}"
            )
        print(
            f"peak RSS of the app server: {result['peak_rss_mb']:.1f} MB "
            f"(bare app: {result['hello_peak_rss_mb']:.1f} MB)"
        )
        if "against_peer" in result:
            print_against_peer(result)
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


def print_against_peer(result: dict[str, Any]) -> None:
    print(
        f"\nagainst the peer (bench/peer, Litestar + Advanced Alchemy as documented; bar: ours ≥ "
        f"{PEER_TARGET:g}x the peer)"
    )
    print(
        f"{'scenario':<10} {'ours req/s':>10} {'peer req/s':>10} {'ours/peer':>9} {'ours of S0':>10} "
        f"{'peer of S0':>10} {'ours p50/p99 ms':>16} {'peer p50/p99 ms':>16} {'CPU ms/req ours/peer':>20} "
        f"{'peer non-2xx':>12} {'peer errors':>11}"
    )
    for name, row in result["against_peer"].items():
        times = "" if row["ours_over_peer"] is None else f"{row['ours_over_peer']:.2f}x"
        ours = f"{row['ours_p50_ms']:.1f} / {row['ours_p99_ms']:.1f}"
        theirs = f"{row['peer_p50_ms']:.1f} / {row['peer_p99_ms']:.1f}"
        cpu = f"{row['ours_cpu_ms_per_request']:.2f} / {row['peer_cpu_ms_per_request']:.2f}"
        print(
            f"{name:<10} {row['ours_rps']:10.1f} {row['peer_rps']:10.1f} {times:>9} "
            f"{_share(row['ours_share_of_S0']):>10} {_share(row['peer_share_of_S0']):>10} "
            f"{ours:>16} {theirs:>16} {cpu:>20} {row['peer_non_2xx']:12d} {row['peer_errors']:11d}"
        )
    print(f"peak RSS of the peer server: {result['peer']['peak_rss_mb']:.1f} MB")


def markdown_against_peer(result: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"Against the peer (bar: ≥ {PEER_TARGET:g}x the peer):",
        "",
        "| scenario | ours req/s | peer req/s | ours / peer | ours of S0 | peer of S0 | ours p50 / p99 ms "
        "| peer p50 / p99 ms | CPU ms/req ours / peer | peer non-2xx | peer errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in result["against_peer"].items():
        times = row["ours_over_peer"]
        lines.append(
            f"| {name} {SCENARIOS[name][1]} | {row['ours_rps']:.0f} | {row['peer_rps']:.0f} | "
            f"{'' if times is None else f'{times:.2f}x'} | {_share(row['ours_share_of_S0'])} | "
            f"{_share(row['peer_share_of_S0'])} | {row['ours_p50_ms']:.1f} / {row['ours_p99_ms']:.1f} | "
            f"{row['peer_p50_ms']:.1f} / {row['peer_p99_ms']:.1f} | "
            f"{row['ours_cpu_ms_per_request']:.2f} / {row['peer_cpu_ms_per_request']:.2f} | "
            f"{row['peer_non_2xx']} | {row['peer_errors']} |"
        )
    lines.append(f"\nPeak RSS of the peer server: {result['peer']['peak_rss_mb']:.1f} MB.")
    return lines


def markdown(report: dict[str, Any]) -> str:
    """The tables of docs/bench.md, one per backend, from a results.json report."""
    meta = report["meta"]
    lines = [
        f"Run {meta['date']} at {meta['commit']}: {meta['cpus']} CPUs shared with wrk, {meta['loop']}/"
        f"{meta['http']}, {meta['workers']} worker, {meta['connections']} connections, "
        f"{meta['runs']} runs of {meta['duration_s']:g} s after {meta['warmup_s']:g} s warm-up; medians.",
        "",
    ]
    for backend, result in report["backends"].items():
        lines += [
            f"**{backend}**",
            "",
            "| scenario | req/s | share of S0 | target | p50 ms | p99 ms | non-2xx | 409 | errors "
            "| CPU ms/req |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name, summary in result["scenarios"].items():
            ratio = summary.get("ratio")
            target = f"≥ {TARGETS[name]:.0%}" if name in TARGETS else ""
            lines.append(
                f"| {name} {SCENARIOS[name][1]} | {summary['rps']:.0f} | "
                f"{'' if ratio is None else f'{ratio:.1%}'} | {target} | {summary['p50_ms']:.1f} | "
                f"{summary['p99_ms']:.1f} | {summary['non_2xx']} | {summary['conflicts_409']} | "
                f"{summary['errors']} | {summary['cpu_ms_per_request']:.2f} |"
            )
        lines += ["", f"Peak RSS of the app server: {result['peak_rss_mb']:.1f} MB."]
        if "against_peer" in result:
            lines += markdown_against_peer(result)
        if "scaling" in result:
            scaling = result["scaling"]
            peaks = ", ".join(f"{mb:.0f}" for mb in scaling["peak_rss_mb_per_worker"])
            lines.append(
                f"S2 with {scaling['workers']} workers: {scaling['rps']:.0f} req/s, "
                f"x{scaling['speedup']:.2f} of one worker (p50 {scaling['p50_ms']:.1f} ms, "
                f"p99 {scaling['p99_ms']:.1f} ms; peak RSS of the supervisor, its helper and the "
                f"workers {peaks} MB)."
            )
        lines.append("")
    return "\n".join(lines)
