"""The page results.md and soak.md share: one line on the run, then a section per backend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.meta import set_up_in_words

Section = Callable[[str, dict[str, Any]], list[str]]


def markdown_page(kind: str, particulars: str, report: dict[str, Any], section: Section) -> str:
    """`kind` and `particulars` frame the run's date, commit and set-up; `section` renders each backend."""
    meta = report["meta"]
    lines = [f"{kind} {meta['date']} at {meta['commit']}: {set_up_in_words(meta)}{particulars}", ""]
    for backend, result in report["backends"].items():
        lines += [*section(backend, result), ""]
    return "\n".join(lines)
