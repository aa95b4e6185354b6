"""`--workers N`: uvicorn's own supervisor, passing the operator's second SIGTERM or SIGINT on to the workers.

uvicorn's Multiprocess forwards the first signal to each worker (terminate_all) and then blocks in join_all,
queueing any later signal unread; the workers drain (edge.drain) for SHUTDOWN_DRAIN_SECONDS. Here join_all
keeps reading that queue, so a second signal to the parent reaches the workers and skips the rest of the
drain, as it does with a single process.
"""

from __future__ import annotations

import contextlib
import os
import signal

from uvicorn.config import Config
from uvicorn.supervisors.multiprocess import Multiprocess

FORWARDED = (signal.SIGTERM, signal.SIGINT)
POLL_SECONDS = 0.1


class ForwardingMultiprocess(Multiprocess):
    def join_all(self) -> None:
        for process in self.processes:
            while process.process.is_alive():
                process.process.join(POLL_SECONDS)
                self._forward_signals()
            process.join()

    def _forward_signals(self) -> None:
        while self.signal_queue:
            sig = self.signal_queue.pop(0)
            if sig not in FORWARDED:
                continue
            for process in self.processes:
                if process.process.is_alive() and process.pid is not None:
                    os.kill(process.pid, sig)


def run_workers(config: Config) -> None:
    """uvicorn.run's `workers > 1` path, with ForwardingMultiprocess as the supervisor."""
    sock = config.bind_socket()
    with contextlib.suppress(KeyboardInterrupt):
        ForwardingMultiprocess(config, sockets=[sock]).run()
