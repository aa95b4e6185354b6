"""Starting, watching and stopping the servers under test, each on a free port of 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bench import procfs
from bench.config import ROOT, BenchError

READY_TIMEOUT_S = 60
STOP_TIMEOUT_S = 20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    cwd: Path = ROOT

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_path: str) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
                [*self.command, "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                raise BenchError(f"{self.name} exited with {code} on start; see {self.log}")
            try:
                with urllib.request.urlopen(self.url + ready_path, timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise BenchError(f"{self.name} did not become ready within {READY_TIMEOUT_S} s; see {self.log}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _pids(self) -> list[int]:
        assert self.process is not None
        return procfs.process_tree(self.process.pid)

    def peak_rss_mb(self) -> float:
        """Peak resident memory (VmHWM) of the server and its worker processes, the largest one."""
        return max(procfs.peak_rss_kb(pid) for pid in self._pids()) / 1024

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server and its workers have used so far."""
        return sum(procfs.cpu_seconds(pid) for pid in self._pids())

    def worker_peaks_mb(self) -> list[float]:
        return [procfs.peak_rss_kb(pid) / 1024 for pid in self._pids()]

    def stop(self) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode
