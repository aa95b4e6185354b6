"""Every uvicorn, h11 and httptools name that the guarded protocols (edge.guard, edge.h11_guard,
edge.httptools_guard), the shutdown drain (edge.drain) and the worker supervisor (edge.supervisor) read,
replace or override.

uvicorn documents `http=` (a protocol class) as its extension point, but not its protocols' internals;
pyproject.toml bounds uvicorn to the minor series these were read from (0.54), and
tests/unit/test_uvicorn_surface.py checks each entry against the installed packages, naming any that
is gone. A name used by the guard that is not listed here is a review finding.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

Kind = Literal["method", "attribute", "parameter"]

H11_PROTOCOL = "uvicorn.protocols.http.h11_impl.H11Protocol"
H11_CYCLE = "uvicorn.protocols.http.h11_impl.RequestResponseCycle"
HTTPTOOLS_PROTOCOL = "uvicorn.protocols.http.httptools_impl.HttpToolsProtocol"
HTTPTOOLS_CYCLE = "uvicorn.protocols.http.httptools_impl.RequestResponseCycle"
SERVER = "uvicorn.server.Server"
MULTIPROCESS = "uvicorn.supervisors.multiprocess.Multiprocess"
WORKER_PROCESS = "uvicorn.supervisors.multiprocess.Process"


class Reliance(NamedTuple):
    """`owner` (a dotted path) has `name`: a method or callback ("method"), an attribute set on the
    class or its instances ("attribute"), or a parameter of the owner's constructor ("parameter")."""

    owner: str
    name: str
    kind: Kind
    use: str


# Members of both protocols: callbacks ProtocolGuard extends, and state it reads.
_BOTH_PROTOCOLS: tuple[tuple[str, Kind, str], ...] = (
    ("config", "parameter", "passed through by the guarded __init__"),
    ("server_state", "parameter", "passed through by the guarded __init__"),
    ("app_state", "parameter", "passed through by the guarded __init__"),
    ("_loop", "parameter", "passed through by the guarded __init__"),
    ("connection_made", "method", "extended: starts the header clock"),
    ("connection_lost", "method", "extended: stops the clocks"),
    ("data_received", "method", "extended: counts header bytes, answers 431"),
    ("send_400_response", "method", "replaced: JSON 400/431, connection closed"),
    ("on_response_complete", "method", "extended: the next request's clock starts"),
    ("limit_concurrency", "attribute", "turned into a property: unset for the health probes"),
    ("transport", "attribute", "read: is_closing, write, close"),
    ("loop", "attribute", "read: call_later for the deadlines"),
    ("logger", "attribute", "read: the warning of a refused request"),
    ("cycle", "attribute", "read: the request being served"),
    ("scope", "attribute", "read by limit_concurrency: the path of the new request"),
)

UVICORN_SURFACE: tuple[Reliance, ...] = (
    # uvicorn builds the protocol per connection: Server.startup calls
    # config.http_protocol_class(config=, server_state=, app_state=, _loop=).
    Reliance("uvicorn.config.Config", "http_protocol_class", "attribute", "our factory, from `http=`"),
    *(
        Reliance(owner, name, kind, use)
        for owner in (H11_PROTOCOL, HTTPTOOLS_PROTOCOL)
        for name, kind, use in _BOTH_PROTOCOLS
    ),
    # The request cycle of either parser, read and changed when a body deadline expires.
    *(
        Reliance(owner, name, "attribute", use)
        for owner in (H11_CYCLE, HTTPTOOLS_CYCLE)
        for name, use in (
            ("response_started", "read: whether a 408 can still be written"),
            ("response_complete", "read: whether the next request's clock may start"),
            ("disconnected", "set: the application sees a disconnect, its output is dropped"),
            ("message_event", "set: wakes the application's receive()"),
            ("scope", "written: the server's status for the access log and metrics"),
        )
    ),
    # h11: the protocol's connection is replaced by a stricter subclass.
    Reliance(H11_PROTOCOL, "conn", "attribute", "replaced by _GuardedH11Connection"),
    Reliance(H11_PROTOCOL, "handle_events", "method", "extended: follows their_state"),
    Reliance("h11.Connection", "max_incomplete_event_size", "parameter", "the header byte backstop"),
    Reliance("h11.Connection", "next_event", "method", "overridden: refuses CL+TE and large blocks"),
    Reliance("h11.Connection", "their_state", "attribute", "read: how far the request was read"),
    Reliance("h11.RemoteProtocolError", "error_status_hint", "attribute", "read: 431 or 400"),
    Reliance("h11.Request", "method", "attribute", "read: the header block's size"),
    Reliance("h11.Request", "target", "attribute", "read: the header block's size"),
    Reliance("h11.Request", "headers", "attribute", "read: names and raw_items() for size and CL+TE"),
    *(
        Reliance("h11", state, "attribute", "read: states of their_state")
        for state in ("SERVER", "IDLE", "SEND_BODY", "DONE", "MUST_CLOSE")
    ),
    # httptools: the parser's callbacks on uvicorn's protocol, and uvicorn's queue of pipelined requests.
    *(
        Reliance(HTTPTOOLS_PROTOCOL, callback, "method", "extended: " + use)
        for callback, use in (
            ("on_message_begin", "the header block's size starts"),
            ("on_url", "counts the target"),
            ("on_header", "counts each field"),
            ("on_headers_complete", "the body clock starts, 431 past the bound"),
            ("on_body", "dropped once the connection is closing"),
            ("on_message_complete", "the body clock stops"),
        )
    ),
    Reliance(HTTPTOOLS_PROTOCOL, "pipeline", "attribute", "read: requests still queued"),
    # The drain: uvicorn's signal handler, installed with signal.signal before the lifespan starts.
    Reliance(SERVER, "capture_signals", "method", "installs handle_exit before the lifespan starts"),
    Reliance(SERVER, "handle_exit", "method", "the handler ShutdownDrain stands in front of"),
    # `--workers N`: uvicorn's supervisor, its join extended to pass later signals on.
    Reliance("uvicorn.config.Config", "bind_socket", "method", "called as uvicorn.run does for workers"),
    Reliance(MULTIPROCESS, "join_all", "method", "overridden: forwards later SIGTERM/SIGINT"),
    Reliance(MULTIPROCESS, "signal_queue", "attribute", "read: signals the parent received"),
    Reliance(MULTIPROCESS, "processes", "attribute", "read: the workers"),
    Reliance(WORKER_PROCESS, "process", "attribute", "read: is_alive, join"),
    Reliance(WORKER_PROCESS, "pid", "attribute", "read: where to forward a signal"),
    Reliance(WORKER_PROCESS, "join", "method", "called: uvicorn's own join and its log line"),
)
