"""The soak's arithmetic, free of servers and wrk: the duration option, the paced rate, each minute's
figures from its samples and its wrk run, and the goals (docs/bench.md, "Soak")."""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from typing import Any

# The paced rate: this share of the peak requests/s measured at the start of the same run.
PEAK_SHARE = 0.5
# A paced minute that reached less than this share of its target rate did not hold the load.
RATE_TOLERANCE = 0.95
# The goals between the reference minute and the last one.
RSS_GROWTH_MB = 5.0
P99_RATIO = 1.5
REFERENCE_MINUTE = 5
# CI's two-minute soak (--smoke): RSS growth from the end of minute 1 to the end of minute 2. Figures
# and reasoning in docs/bench.md ("Soak in CI").
SMOKE_RSS_GROWTH_MB = 10.0

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smh]?)$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600}


def parse_duration(text: str) -> float:
    """Seconds in `30m`, `90s`, `1h` or a bare number of seconds; at least one minute."""
    match = _DURATION.match(text.strip().lower())
    if match is None:
        raise ValueError(f"not a duration: {text!r} (examples: 30m, 120s, 1h)")
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds < 60:
        raise ValueError(f"a soak samples every minute, so it lasts at least 60 s, not {text!r}")
    return seconds


def minute_lengths(seconds: float) -> list[float]:
    """The wrk runs that make up the soak: whole minutes, then what remains (dropped under 10 s)."""
    whole, rest = divmod(seconds, 60)
    lengths = [60.0] * int(whole)
    if rest >= 10:
        lengths.append(rest)
    return lengths


def paced_rate(peak_rps: float, share: float = PEAK_SHARE) -> float:
    """The constant requests/s the soak drives."""
    if peak_rps <= 0:
        raise ValueError(f"the peak must be positive to pace at a share of it, got {peak_rps}")
    return peak_rps * share


def per_thread_rate(rate: float, threads: int) -> float:
    """Each wrk thread paces its own connections (bench/soak.lua): the total split evenly."""
    return rate / threads


def interval_ms(rate_per_thread: float) -> float:
    """The gap between two scheduled sends of one wrk thread."""
    return 1000.0 / rate_per_thread


@dataclass(frozen=True)
class Sample:
    """What /proc and /metrics said about the server at one instant of a minute."""

    rss_mb: float
    fds: int
    pool_in_use: int | None


def minute_figures(
    minute: int, samples: list[Sample], run: dict[str, Any], target_rps: float
) -> dict[str, Any]:
    """One minute of the soak: memory and descriptors at its end and at most, the pool, wrk's figures."""
    if not samples:
        raise ValueError(f"minute {minute} has no samples")
    pools = [sample.pool_in_use for sample in samples if sample.pool_in_use is not None]
    return {
        "minute": minute,
        "target_rps": target_rps,
        "rps": run["rps"],
        "rate_share": run["rps"] / target_rps,
        "requests": run["requests"],
        "p50_ms": run["p50_ms"],
        "p99_ms": run["p99_ms"],
        "max_ms": run["max_ms"],
        "errors": run["errors"],
        "non_2xx": run["non_2xx"],
        "conflicts_409": run["conflicts_409"],
        # Moves least with the neighbours' load: a rate that falls short at a steady CPU cost per request
        # is a starved server, a rising cost is the app (docs/bench.md, "Reading the numbers").
        "cpu_ms_per_request": run["cpu_ms_per_request"],
        "rss_mb": samples[-1].rss_mb,
        "rss_max_mb": max(sample.rss_mb for sample in samples),
        "fds": samples[-1].fds,
        "fds_max": max(sample.fds for sample in samples),
        "pool_in_use_max": max(pools) if pools else None,
        "pool_in_use_mean": statistics.fmean(pools) if pools else None,
        "samples": len(samples),
    }


@dataclass(frozen=True)
class Goal:
    name: str
    passed: bool
    detail: str


def reference_minute(minutes: list[dict[str, Any]]) -> dict[str, Any]:
    """Minute 5, once caches and pools have filled; the first minute of a run too short for that."""
    return minutes[REFERENCE_MINUTE - 1] if len(minutes) > REFERENCE_MINUTE else minutes[0]


def failures(minutes: list[dict[str, Any]], peak: dict[str, Any]) -> str | None:
    """Socket errors and unexpected non-2xx answers (409s excepted) of the peak run and every minute."""
    errors = peak["errors"] + sum(minute["errors"] for minute in minutes)
    non_2xx = peak["non_2xx"] + sum(minute["non_2xx"] for minute in minutes)
    return None if errors == non_2xx == 0 else f"{errors} socket errors, {non_2xx} non-2xx responses"


def goals(minutes: list[dict[str, Any]], peak: dict[str, Any]) -> list[Goal]:
    """The soak's goals, between the reference minute and the last."""
    if not minutes:
        raise ValueError("a soak without a minute has nothing to check")
    first, last = reference_minute(minutes), minutes[-1]
    span = f"minute {first['minute']} → {last['minute']}"
    growth = last["rss_mb"] - first["rss_mb"]
    failed = failures(minutes, peak)
    slow = [m["minute"] for m in minutes if m["rate_share"] < RATE_TOLERANCE]
    return [
        Goal(
            f"RSS grows by {RSS_GROWTH_MB:g} MB or less",
            growth <= RSS_GROWTH_MB,
            f"{first['rss_mb']:.1f} → {last['rss_mb']:.1f} MB ({growth:+.1f} MB), {span}",
        ),
        Goal(
            "open descriptors flat",
            last["fds_max"] <= first["fds_max"],
            f"at most {first['fds_max']} → {last['fds_max']} open, {span}",
        ),
        Goal(
            f"p99 at most {P99_RATIO:g}x the reference minute's",
            last["p99_ms"] <= P99_RATIO * first["p99_ms"],
            f"{first['p99_ms']:.1f} → {last['p99_ms']:.1f} ms "
            f"({last['p99_ms'] / first['p99_ms']:.2f}x), {span}",
        ),
        Goal("zero errors", failed is None, failed or "0 socket errors, 0 non-2xx responses"),
        Goal(
            f"paced rate held (every minute at {RATE_TOLERANCE:.0%} of the target or more)",
            not slow,
            f"lowest {min(m['rate_share'] for m in minutes):.1%} of "
            f"{minutes[0]['target_rps']:.0f} req/s" + (f"; short in minutes {slow}" if slow else ""),
        ),
    ]


def smoke_goals(minutes: list[dict[str, Any]], peak: dict[str, Any]) -> list[Goal]:
    """CI's checks: no failed request, and RSS growth from minute 1 to the last under CI's bound."""
    if not minutes:
        raise ValueError("a soak without a minute has nothing to check")
    first, last = minutes[0], minutes[-1]
    growth = last["rss_mb"] - first["rss_mb"]
    failed = failures(minutes, peak)
    return [
        Goal(
            f"RSS grows by {SMOKE_RSS_GROWTH_MB:g} MB or less (CI bound)",
            growth <= SMOKE_RSS_GROWTH_MB,
            f"{first['rss_mb']:.1f} → {last['rss_mb']:.1f} MB ({growth:+.1f} MB), "
            f"minute {first['minute']} → {last['minute']}",
        ),
        Goal("zero errors", failed is None, failed or "0 socket errors, 0 non-2xx responses"),
    ]


def parse_gauge(text: str, name: str) -> int | None:
    """The value of an unlabelled gauge in Prometheus' text format, or None when it is absent."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return round(float(line.split()[1]))
    return None
