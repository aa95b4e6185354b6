"""What /proc says about a server: its worker processes, their CPU time, memory and open descriptors."""

from __future__ import annotations

import os
from pathlib import Path

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """The process and its direct children (uvicorn's workers and the multiprocessing helper)."""
    return [pid, *children(pid)]


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def cpu_seconds(pid: int) -> float:
    """User + system time; per request it is the figure to compare across changes (docs/bench.md,
    "Reading the numbers")."""
    try:
        # Fields after the parenthesised command name; utime and stime are the 14th and 15th overall.
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def peak_rss_kb(pid: int) -> int:
    """VmHWM: the most resident memory the process has had."""
    return _status_kb(pid, "VmHWM:")


def rss_kb(pid: int) -> int:
    """VmRSS: the resident memory of the process now."""
    return _status_kb(pid, "VmRSS:")


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def open_fds(pid: int) -> int:
    """The process's open file descriptors (sockets, database files, pipes)."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0
