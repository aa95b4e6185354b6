"""The container image, built by podman and by docker, checked from the outside: HTTP on 127.0.0.1, the
engine's CLI, and commands run inside the container."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from swagger_ui_bundle import swagger_ui_path

from tests.container.conftest import (
    DATA_DIR,
    HARDENED,
    KEY_MOUNT,
    RUNTIME_UID,
    Image,
    Launcher,
    Running,
)
from tests.container.test_containerfile import NOT_IN_RUNTIME

pytestmark = [pytest.mark.container, pytest.mark.timeout(300)]

ORDER = {"order": [{"product": "latte", "size": "small", "quantity": 1}]}
# The same locked package as in the image: its files are what the container must serve, byte for byte.
SWAGGER_UI_FILES = Path(str(swagger_ui_path))
# The engines' default stop timeout; the image's SHUTDOWN_DRAIN_SECONDS + SHUTDOWN_TIMEOUT must stay below it.
ENGINE_STOP_TIMEOUT = 10


def test_order_survives_a_restart_on_the_default_sqlite(
    launcher: Launcher, token: Callable[[str], str]
) -> None:
    volume = launcher.volume()
    auth = token("alice")
    first = launcher.start(volume=volume)
    with first.client(auth) as client:
        created = client.post("/orders", json=ORDER)
        assert created.status_code == 201, created.text
        order = created.json()
        read = client.get(f"/orders/{order['id']}")
        assert read.status_code == 200, read.text
        assert read.json() == order

    launcher.engine.stop(first.name, ENGINE_STOP_TIMEOUT)
    launcher.engine.remove_container(first.name)  # a new container: only the volume carries the data over
    second = launcher.start(volume=volume)
    with second.client(auth) as client:
        again = client.get(f"/orders/{order['id']}")
        assert again.status_code == 200, again.text
        assert again.json() == order
        assert client.get("/orders").json()["orders"] == [order]


def test_requests_without_a_valid_token_are_refused(launcher: Launcher) -> None:
    running = launcher.start()
    with running.client() as client:
        assert client.get("/orders").status_code == 401
    with running.client("not-a-jwt") as client:
        assert client.get("/orders").status_code == 401


def test_runs_as_the_configured_non_root_user(image: Image, launcher: Launcher) -> None:
    config = image.engine.image_inspect(image.tag)["Config"]
    # Numeric, so that Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
    assert config["User"] == f"{RUNTIME_UID}:{RUNTIME_UID}"

    running = launcher.start()
    engine = launcher.engine
    assert engine.exec(running.name, "id", "-u").stdout.strip() == str(RUNTIME_UID)
    assert engine.exec(running.name, "id", "-g").stdout.strip() == str(RUNTIME_UID)
    status = engine.exec(running.name, "cat", "/proc/1/status").stdout
    assert f"Uid:\t{RUNTIME_UID}\t{RUNTIME_UID}\t{RUNTIME_UID}" in status


def test_app_files_are_not_writable_by_the_app_user(image: Image) -> None:
    # Without --read-only, so that only file ownership and modes are what stops the writes.
    probe = (
        "set -u; writable=$(find /opt/orders-app /usr/local -writable -print -quit 2>/dev/null); "
        '[ -z "$writable" ] || { echo "writable: $writable"; exit 1; }; '
        "touch /opt/orders-app/venv/bin/x 2>/dev/null && { echo 'created a file in the venv'; exit 1; }; "
        f"touch {DATA_DIR}/probe && echo data-dir-writable"
    )
    result = image.engine.run_once(image.tag, ["--entrypoint", "sh"], ["-c", probe])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "data-dir-writable" in result.stdout


def test_hardened_run_is_in_effect(launcher: Launcher, token: Callable[[str], str]) -> None:
    """--read-only, no capabilities, no-new-privileges, tmpfs /tmp: the app still serves and stores orders."""
    running = launcher.start()
    engine = launcher.engine
    status = engine.exec(running.name, "cat", "/proc/1/status").stdout
    assert "CapEff:\t0000000000000000" in status
    assert "NoNewPrivs:\t1" in status
    root_write = engine.exec(running.name, "touch", "/probe")
    assert root_write.returncode != 0
    assert "Read-only file system" in root_write.stderr
    assert engine.exec(running.name, "touch", "/tmp/probe").returncode == 0
    with running.client(token("bob")) as client:
        assert client.post("/orders", json=ORDER).status_code == 201


def _timestamp(text: str) -> datetime:
    """An engine's RFC 3339 time with nanoseconds (docker: ...Z, podman: ...+00:00) as an aware datetime."""
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", text)
    assert match, text
    fraction = (match[2] or ".0")[:7]
    zone = "+00:00" if match[3] == "Z" else match[3]
    return datetime.fromisoformat(f"{match[1]}{fraction}{zone}")


def test_sigterm_reaches_the_server_and_in_flight_requests_finish(
    launcher: Launcher, token: Callable[[str], str]
) -> None:
    running = launcher.start()
    engine = launcher.engine
    # PID 1 is the server itself: no shell, no `uv run`, between the engine's SIGTERM and uvicorn.
    cmdline = engine.exec(running.name, "cat", "/proc/1/cmdline").stdout.split("\0")
    assert cmdline[1:4] == ["/opt/orders-app/venv/bin/orders-app", "serve", "--host"], cmdline
    drain, timeout = (
        float(engine.exec(running.name, "printenv", name).stdout.strip())
        for name in ("SHUTDOWN_DRAIN_SECONDS", "SHUTDOWN_TIMEOUT")
    )
    assert drain > 0
    assert 0 < drain + timeout < ENGINE_STOP_TIMEOUT

    # A slow client: headers and half the body now, the rest only after SIGTERM has been sent.
    body = json.dumps(ORDER).encode()
    head = (
        f"POST /orders HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token('carol')}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", running.port), timeout=20) as sock:
        sock.sendall(head + body[:10])
        time.sleep(0.5)  # the server has parsed the headers: the request is in flight
        stop_errors: list[BaseException] = []

        def stop() -> None:
            try:
                engine.stop(running.name, ENGINE_STOP_TIMEOUT)
            except BaseException as error:  # re-raised in the test thread
                stop_errors.append(error)

        stopping = threading.Thread(target=stop)
        sigterm_sent = datetime.now(UTC)
        stopping.start()
        time.sleep(1.5)  # SIGTERM delivered; the server is draining
        # (podman reports "stopping" here, docker "running"; either way not gone yet.)
        status = engine.state(running.name)["Status"]
        assert status != "exited", "the server quit with a request in flight"
        sock.sendall(body[10:])
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
        stopping.join(timeout=ENGINE_STOP_TIMEOUT + 30)
    assert not stop_errors, stop_errors
    assert response.startswith(b"HTTP/1.1 201"), response[:300]
    state = engine.state(running.name)
    # 0, not 137: the process exited by itself; SIGKILL after the stop timeout would show as 137.
    assert state["ExitCode"] == 0, engine.logs(running.name)[-2000:]
    # Measured to the process's exit as the engine recorded it, not to the end of the `stop` command, whose
    # own clean-up is slow on a loaded machine.
    took = (_timestamp(state["FinishedAt"]) - sigterm_sent).total_seconds()
    assert took < ENGINE_STOP_TIMEOUT - 2, f"the server exited {took:.1f}s after SIGTERM"
    logs = engine.logs(running.name)
    assert "Shutting down" in logs
    assert "Finished server process [1]" in logs


# Prints every file holding a PEM private key: the header followed by base64 (or PEM headers), so code that
# merely names the header (cryptography's ssh.py) does not count.
SCAN_FOR_PRIVATE_KEYS = r"""
import os, re, sys
pem = re.compile(rb"-----BEGIN ([A-Z0-9]+ )?PRIVATE KEY-----\r?\n([A-Za-z0-9+/=]{40,}\r?\n|[A-Za-z-]+: )")
found = []
for top, dirs, files in os.walk("/"):
    if top == "/":
        dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev")]
    for name in files:
        path = os.path.join(top, name)
        try:
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            with open(path, "rb") as handle:
                if pem.search(handle.read()):
                    found.append(path)
        except OSError:
            pass
print("\n".join(found))
"""


def test_image_ships_no_tests_git_caches_or_tools(image: Image) -> None:
    # As root inside the container, so that no file is hidden from the search by its permissions.
    script = r"""
        set -u
        found=$(find / -xdev \( -name .git -o -name conftest.py -o -name .pytest_cache -o -name '.venv' \
                -o -path '*/site-packages/pytest' -o -path '*/site-packages/_pytest' -o -path '/src' \
                -o -path '/opt/uv' -o -path '*/site-packages/uv' -o \( -type f -name uv \) \
                -o \( -type d -name tests \) \) -print 2>/dev/null)
        [ -z "$found" ] || { echo "unexpected: $found"; exit 1; }
        command -v uv && { echo "uv on PATH"; exit 1; }
        [ ! -e /opt/orders-app/venv/bin/pip ] || { echo "pip in the venv"; exit 1; }
        python -c 'import pytest' 2>/dev/null && { echo "pytest importable"; exit 1; }
        echo clean
    """
    options = ["--user", "0", "--entrypoint", "sh"]
    result = image.engine.run_once(image.tag, options, ["-c", script], timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("clean")


def test_image_ships_none_of_the_excluded_packages(image: Image) -> None:
    # The lock leaves them out (test_containerfile.py); this checks what the build actually installed.
    names = " ".join(sorted(NOT_IN_RUNTIME))
    script = (
        "import importlib.metadata as m\n"
        f"found = [n for n in {names!r}.split() if any(True for _ in m.distributions(name=n))]\n"
        "print(' '.join(found) or 'none')"
    )
    result = image.engine.run_once(image.tag, ["--entrypoint", "python"], ["-c", script], timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "none"


def _private_key_files(image: Image, reference: str) -> set[str]:
    options = ["--user", "0", "--entrypoint", "python3"]
    result = image.engine.run_once(reference, options, ["-c", SCAN_FOR_PRIVATE_KEYS], timeout=300)
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


def test_image_adds_no_private_key(image: Image) -> None:
    # Debian's libgnutls carries the public self-test keys of its FIPS checks, in the base image already;
    # what counts is that nothing built on top of the base holds a private key.
    added = _private_key_files(image, image.tag) - _private_key_files(image, image.base)
    assert not added, f"private keys in the image: {sorted(added)}"


def test_migrate_runs_from_the_image(launcher: Launcher, token: Callable[[str], str]) -> None:
    image, engine = launcher.image, launcher.engine
    volume = launcher.volume()
    options = [*HARDENED, "-v", f"{volume}:{DATA_DIR}"]
    for attempt in ("first", "again (idempotent)"):
        result = engine.run_once(image.tag, options, ["migrate"])
        assert result.returncode == 0, f"{attempt}: {result.stdout}{result.stderr}"
    # The schema it created is what the server then uses, without migrating on its own.
    running = launcher.start(volume=volume, env={"MIGRATE_ON_START": "false"})
    with running.client(token("dave")) as client:
        assert client.post("/orders", json=ORDER).status_code == 201


def test_refuses_to_start_without_the_public_key(image: Image) -> None:
    # Nothing secret is baked in: without the mounted key the app must stop, saying what is missing.
    result = image.engine.run_once(image.tag, list(HARDENED), timeout=60)
    assert result.returncode != 0
    assert KEY_MOUNT in result.stdout + result.stderr


def test_healthcheck_reports_healthy(launcher: Launcher) -> None:
    data = launcher.engine.image_inspect(launcher.image.tag)
    # docker keeps it under Config, podman at the top level.
    check = data["Config"].get("Healthcheck") or data.get("Healthcheck")
    assert check, "the image has no HEALTHCHECK (podman drops it unless built with --format docker)"
    assert check["Test"][0] == "CMD", check
    assert "/health/live" in " ".join(check["Test"])
    if launcher.engine.name == "docker":
        # The image's own check, run by the daemon; only its interval is shortened to keep the suite quick.
        running = launcher.start(extra=["--health-interval=1s", "--health-start-period=1s"])
        deadline = time.monotonic() + 30
        status = ""
        while time.monotonic() < deadline:
            status = launcher.engine.state(running.name)["Health"]["Status"]
            if status == "healthy":
                break
            time.sleep(0.25)
        assert status == "healthy", launcher.engine.state(running.name)["Health"]
    else:
        # Podman 4.3 runs healthchecks through systemd timers, absent here; run the image's check by hand.
        running = launcher.start()
        result = launcher.engine.cli("healthcheck", "run", running.name, check=False)
        assert result.returncode == 0, result.stdout + result.stderr


def test_image_metadata(image: Image) -> None:
    config = image.engine.image_inspect(image.tag)["Config"]
    labels = config["Labels"]
    assert labels["org.opencontainers.image.title"] == "orders-app"
    assert labels["org.opencontainers.image.version"] == image.build_args["VERSION"]
    assert labels["org.opencontainers.image.revision"] == image.build_args["REVISION"]
    assert labels["org.opencontainers.image.created"] == image.build_args["CREATED"]
    assert labels["org.opencontainers.image.source"]
    assert "8080/tcp" in config["ExposedPorts"]
    assert config["Entrypoint"] == ["orders-app"]
    assert config["Cmd"] == ["serve", "--host", "0.0.0.0", "--port", "8080"]
    assert DATA_DIR in config["Volumes"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["DB_URL"] == f"sqlite:///{DATA_DIR}/orders.db"
    assert env["JWT_PUBLIC_KEY_FILE"] == KEY_MOUNT


def test_openapi_contract_is_served(launcher: Launcher) -> None:
    running: Running = launcher.start()
    with running.client() as client:
        response = client.get("/openapi.json")
        assert response.status_code == 200
        assert response.json()["info"]["title"]


def test_docs_page_and_its_assets_are_served_from_the_read_only_image(launcher: Launcher) -> None:
    """/docs and every file it loads come from the installed package, public, on a --read-only root."""
    running: Running = launcher.start()
    with running.client() as client:
        page = client.get("/docs")
        assert page.status_code == 200, page.text
        assert "'self'" in page.headers["content-security-policy"]
        assets = re.findall(r'(?:src|href)="(/docs/assets/[^"]+)"', page.text)
        assert {asset.rsplit("/", 1)[1] for asset in assets} >= {
            "swagger-ui-bundle.js",
            "swagger-ui-standalone-preset.js",
            "swagger-ui.css",
        }
        for asset in assets:
            response = client.get(asset)
            assert response.status_code == 200, asset
            assert response.content == (SWAGGER_UI_FILES / asset.rsplit("/", 1)[1]).read_bytes(), asset
            assert "immutable" in response.headers["cache-control"]
