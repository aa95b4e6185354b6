"""Debian's HAProxy in front of live servers: the configuration it runs, the process, and its stats.

The configuration is Debian 12's /etc/haproxy/haproxy.cfg `defaults` section as the package ships it
(without syslog: the process runs in the foreground, `-db`, as the test's user), one frontend, one
backend with an active health check on /health/ready, and a stats listener whose CSV says which
servers are UP.
"""

from __future__ import annotations

import csv
import io
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from tests.processes import StartedProcess, output_so_far

BACKEND = "app"
# The 18th column of HAProxy's stats CSV is a server's state: UP, DOWN, or a transition such as "UP 1/2".
STATUS_COLUMN = 17


def haproxy_binary() -> str | None:
    return shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)


@dataclass(frozen=True)
class HealthCheck:
    """HAProxy's active check. A check timeout shorter than a loaded replica's worst readiness latency
    marks healthy replicas down (seen with the default timeout on 2 cores under wrk): keep it generous."""

    path: str = "/health/ready"
    inter_ms: int = 1000
    fall: int = 2
    rise: int = 2
    timeout_ms: int = 5000

    def detection_seconds(self) -> float:
        """At worst, how long a replica answering 503 stays in rotation: `fall` checks `inter` apart."""
        return (self.fall + 1) * self.inter_ms / 1000


def haproxy_config(
    frontend_port: int, stats_port: int, servers: Mapping[str, int], check: HealthCheck = HealthCheck()
) -> str:
    """The whole haproxy.cfg: Debian's defaults, the health check, `servers` (name -> port on 127.0.0.1)."""
    server_lines = "\n".join(f"    server {name} 127.0.0.1:{port}" for name, port in servers.items())
    return f"""\
global
    maxconn 4096

# Debian 12's haproxy.cfg defaults, as the package ships them (less `log global`: no syslog here).
defaults
    mode http
    option httplog
    option dontlognull
    timeout connect 5000
    timeout client  50000
    timeout server  50000
    errorfile 400 /etc/haproxy/errors/400.http
    errorfile 403 /etc/haproxy/errors/403.http
    errorfile 408 /etc/haproxy/errors/408.http
    errorfile 500 /etc/haproxy/errors/500.http
    errorfile 502 /etc/haproxy/errors/502.http
    errorfile 503 /etc/haproxy/errors/503.http
    errorfile 504 /etc/haproxy/errors/504.http

frontend orders
    bind 127.0.0.1:{frontend_port}
    default_backend {BACKEND}

backend {BACKEND}
    option httpchk GET {check.path}
    timeout check {check.timeout_ms}
    default-server check inter {check.inter_ms} fall {check.fall} rise {check.rise}
{server_lines}

listen stats
    bind 127.0.0.1:{stats_port}
    stats enable
    stats uri /stats
"""


class HAProxy(StartedProcess):
    """`haproxy -f haproxy.cfg -db` in `workdir`; its output goes to haproxy.log there."""

    def __init__(
        self,
        workdir: Path,
        frontend_port: int,
        stats_port: int,
        servers: Mapping[str, int],
        check: HealthCheck = HealthCheck(),
    ) -> None:
        binary = haproxy_binary()
        if binary is None:
            raise RuntimeError("haproxy is not installed (Debian: apt-get install -y haproxy)")
        self.binary = binary
        self.workdir = workdir
        self.url = f"http://127.0.0.1:{frontend_port}"
        self.stats_url = f"http://127.0.0.1:{stats_port}/stats;csv"
        self.config_path = workdir / "haproxy.cfg"
        self.config_path.write_text(haproxy_config(frontend_port, stats_port, servers, check))
        self.log_path = workdir / "haproxy.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self, timeout: float = 20) -> HAProxy:
        check = subprocess.run(
            [self.binary, "-c", "-f", str(self.config_path)], capture_output=True, text=True, check=False
        )
        if check.returncode != 0:
            raise RuntimeError(f"haproxy refused its configuration:\n{check.stdout}{check.stderr}")
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [self.binary, "-f", str(self.config_path), "-db"], stdout=self._log, stderr=self._log
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"haproxy exited with {self.process.returncode}: {self.log()}")
            try:
                self.states()
                return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"haproxy's stats did not answer within {timeout} s: {self.log()}")

    def states(self) -> dict[str, str]:
        """Each backend server's state from the stats CSV: name -> UP, DOWN, "UP 1/2", ..."""
        text = httpx.get(self.stats_url, timeout=5).text.lstrip("# ")
        return {
            row[1]: row[STATUS_COLUMN]
            for row in csv.reader(io.StringIO(text))
            if len(row) > STATUS_COLUMN and row[0] == BACKEND and row[1] not in ("FRONTEND", "BACKEND")
        }

    def wait_until(self, server: str, state: str, timeout: float = 60) -> float:
        """Seconds until `server` reports `state` exactly; RuntimeError after `timeout`."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.states().get(server) == state:
                return time.monotonic() - started
            time.sleep(0.1)
        raise RuntimeError(f"{server} not {state} within {timeout} s: {self.states()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # SIGTERM: HAProxy's hard stop, which is what a test's end wants.
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log(self) -> str:
        return output_so_far(self.log_path)
