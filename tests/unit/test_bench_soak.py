"""The soak's arithmetic (bench/soak_figures.py): the duration it runs, the rate it paces at, each
minute's figures and the goals it checks, with CI's two-minute variant."""

from __future__ import annotations

from typing import Any

import pytest

from bench.soak_figures import (
    SMOKE_RSS_GROWTH_MB,
    Sample,
    goals,
    interval_ms,
    minute_figures,
    minute_lengths,
    paced_rate,
    parse_duration,
    parse_gauge,
    per_thread_rate,
    smoke_goals,
)


def run(rps: float = 100.0, p99_ms: float = 40.0, errors: int = 0, non_2xx: int = 0) -> dict[str, Any]:
    return {
        "rps": rps,
        "requests": round(rps * 60),
        "p50_ms": p99_ms / 4,
        "p99_ms": p99_ms,
        "max_ms": p99_ms * 2,
        "errors": errors,
        "non_2xx": non_2xx,
        "conflicts_409": 7,
        "cpu_ms_per_request": 1.9,
    }


def minute(
    number: int,
    rss_mb: float = 100.0,
    fds: int = 40,
    p99_ms: float = 40.0,
    rps: float = 100.0,
    errors: int = 0,
    non_2xx: int = 0,
) -> dict[str, Any]:
    return minute_figures(
        number, [Sample(rss_mb, fds, 2)], run(rps, p99_ms, errors, non_2xx), target_rps=100.0
    )


def thirty(**changes: dict[str, Any]) -> list[dict[str, Any]]:
    """A steady 30-minute soak; `changes` maps "m<number>" to the figures that minute has instead."""
    return [minute(n, **changes.get(f"m{n}", {})) for n in range(1, 31)]


PEAK = run(rps=200.0)


def verdicts(checked: list[Any]) -> dict[str, bool]:
    return {goal.name.split(" ")[0]: goal.passed for goal in checked}


@pytest.mark.parametrize(
    ("text", "seconds"), [("30m", 1800), ("120s", 120), ("120", 120), ("1h", 3600), ("1.5m", 90)]
)
def test_durations_read_in_seconds_minutes_or_hours(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["30 minutes", "m", "", "59s"])
def test_a_duration_that_is_not_one_or_under_a_minute_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|at least 60 s"):
        parse_duration(text)


def test_a_soak_is_cut_into_whole_minutes_and_a_remainder_of_ten_seconds_or_more() -> None:
    assert minute_lengths(120) == [60.0, 60.0]
    assert minute_lengths(150) == [60.0, 60.0, 30.0]
    assert minute_lengths(125) == [60.0, 60.0]


def test_the_pace_is_half_the_peak_split_over_wrk_threads() -> None:
    assert paced_rate(612.0) == 306.0
    assert per_thread_rate(300.0, threads=2) == 150.0
    assert interval_ms(250.0) == 4.0
    with pytest.raises(ValueError, match="positive"):
        paced_rate(0.0)


def test_a_minute_reports_memory_and_descriptors_at_its_end_and_at_most_and_the_pool_it_used() -> None:
    samples = [Sample(101.0, 44, 3), Sample(104.0, 47, None), Sample(102.5, 45, 1)]
    figures = minute_figures(3, samples, run(rps=95.0), target_rps=100.0)
    assert figures["rss_mb"] == 102.5
    assert figures["rss_max_mb"] == 104.0
    assert (figures["fds"], figures["fds_max"]) == (45, 47)
    # A scrape of /metrics that failed (None) counts neither as 0 nor at all.
    assert (figures["pool_in_use_max"], figures["pool_in_use_mean"]) == (3, 2.0)
    assert figures["rate_share"] == pytest.approx(0.95)
    assert figures["conflicts_409"] == 7
    assert figures["cpu_ms_per_request"] == 1.9


def test_a_steady_soak_meets_every_goal() -> None:
    assert all(goal.passed for goal in goals(thirty(), PEAK))


def test_rss_is_compared_between_minute_five_and_the_last() -> None:
    # Growth in the first minutes (caches filling) does not count; 5 MB after minute 5 is allowed.
    warming = thirty(m1={"rss_mb": 80.0}, m4={"rss_mb": 95.0}, m30={"rss_mb": 105.0})
    assert verdicts(goals(warming, PEAK))["RSS"]
    assert not verdicts(goals(thirty(m30={"rss_mb": 105.2}), PEAK))["RSS"]


def test_one_more_open_descriptor_at_the_end_than_in_minute_five_is_not_flat() -> None:
    assert not verdicts(goals(thirty(m30={"fds": 41}), PEAK))["open"]
    assert verdicts(goals(thirty(m30={"fds": 39}), PEAK))["open"]


def test_p99_of_the_last_minute_may_reach_one_and_a_half_times_the_fifth_minutes() -> None:
    assert verdicts(goals(thirty(m5={"p99_ms": 40.0}, m30={"p99_ms": 60.0}), PEAK))["p99"]
    assert not verdicts(goals(thirty(m5={"p99_ms": 40.0}, m30={"p99_ms": 60.5}), PEAK))["p99"]


def test_one_error_in_any_minute_or_in_the_peak_run_fails_the_soak() -> None:
    assert not verdicts(goals(thirty(m12={"errors": 1}), PEAK))["zero"]
    assert not verdicts(goals(thirty(m2={"non_2xx": 1}), PEAK))["zero"]
    assert not verdicts(goals(thirty(), run(errors=1)))["zero"]


def test_a_minute_under_95_percent_of_the_target_rate_did_not_hold_the_pace() -> None:
    checked = verdicts(goals(thirty(m17={"rps": 94.0}), PEAK))
    assert not checked["paced"]
    assert verdicts(goals(thirty(m17={"rps": 95.0}), PEAK))["paced"]


def test_a_soak_shorter_than_five_minutes_compares_with_its_first_minute() -> None:
    short = [minute(1, rss_mb=100.0), minute(2, rss_mb=106.0)]
    rss = next(goal for goal in goals(short, PEAK) if goal.name.startswith("RSS"))
    assert not rss.passed
    assert "minute 1 → 2" in rss.detail


def test_ci_fails_on_rss_growth_past_its_bound_or_on_any_error_and_on_nothing_else() -> None:
    steady = [minute(1), minute(2)]
    assert all(goal.passed for goal in smoke_goals(steady, PEAK))
    grown = [minute(1, rss_mb=100.0), minute(2, rss_mb=100.0 + SMOKE_RSS_GROWTH_MB + 0.1)]
    assert not verdicts(smoke_goals(grown, PEAK))["RSS"]
    assert not verdicts(smoke_goals([minute(1), minute(2, errors=1)], PEAK))["zero"]
    # Slow and short of its pace: CI never fails on speed.
    slow = [minute(1, p99_ms=10.0), minute(2, p99_ms=900.0, rps=20.0, fds=90)]
    assert all(goal.passed for goal in smoke_goals(slow, PEAK))


def test_the_pool_gauge_is_read_from_prometheus_text() -> None:
    text = (
        "# HELP orders_db_connections_in_use Pooled database connections checked out now.\n"
        "# TYPE orders_db_connections_in_use gauge\n"
        "orders_db_connections_in_use_total 9.0\n"
        "orders_db_connections_in_use 3.0\n"
    )
    assert parse_gauge(text, "orders_db_connections_in_use") == 3
    assert parse_gauge("", "orders_db_connections_in_use") is None
