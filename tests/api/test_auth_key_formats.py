"""JWT_PUBLIC_KEY_FILE takes a bare public key or an X.509 certificate; unusable files are refused clearly."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from litestar.testing import AsyncTestClient

from orders_app.app import create_app, create_asgi_app
from orders_app.auth.dev_tokens import mint_token
from orders_app.auth.keys import KeyConfigError, KeyPair, create_key_pair, load_private_key, load_public_key
from orders_app.settings import DEFAULT_AUDIENCE
from tests.conftest import Backend, app_settings, skip_or_fail


async def status_with(backend: Backend, keys: KeyPair, key_file: Path, token: str) -> int:
    settings = app_settings(backend, keys, jwt_public_key_file=key_file)
    async with AsyncTestClient(create_asgi_app(settings)) as client:
        response = await client.get("/orders", headers={"Authorization": f"Bearer {token}"})
    return response.status_code


@pytest.mark.parametrize("kind", ["public_key", "certificate"])
async def test_public_key_and_certificate_both_verify(
    kind: str, backend: Backend, keys: KeyPair, token_for: Any
) -> None:
    key_file: Path = getattr(keys, kind)
    assert await status_with(backend, keys, key_file, token_for("alice")) == 200


@pytest.mark.parametrize("kind", ["public_key", "certificate"])
async def test_a_token_from_another_key_fails_against_either_format(
    kind: str, backend: Backend, keys: KeyPair, tmp_path: Path
) -> None:
    stranger = create_key_pair(tmp_path / "stranger")
    token = mint_token(load_private_key(stranger.private_key), subject="eve", audience=DEFAULT_AUDIENCE)
    assert await status_with(backend, keys, getattr(keys, kind), token) == 401


@pytest.fixture(scope="module")
def openssl_pair(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A private key and certificate made exactly as the chapter does it, plus the bare public key."""
    openssl = shutil.which("openssl")
    if openssl is None:
        skip_or_fail("openssl is not installed, so the openssl-made certificate cannot be checked")
        raise AssertionError("unreachable")
    directory = tmp_path_factory.mktemp("openssl")
    private_key, certificate, public_key = (
        directory / "private_key.pem",
        directory / "public_key.pem",
        directory / "certificate.pem",
    )
    subprocess.run(
        [
            *(
                openssl,
                "req",
                "-x509",
                "-nodes",
                "-newkey",
                "rsa:2048",
                "-days",
                "1",
                "-subj",
                "/CN=coffeemesh",
            ),
            *("-keyout", str(private_key), "-out", str(certificate)),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    subprocess.run(
        [openssl, "pkey", "-in", str(private_key), "-pubout", "-out", str(public_key)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return {"private_key": private_key, "certificate": certificate, "public_key": public_key}


@pytest.mark.parametrize("kind", ["certificate", "public_key"])
async def test_openssl_made_files_verify(
    kind: str, openssl_pair: dict[str, Path], backend: Backend, keys: KeyPair
) -> None:
    token = mint_token(
        load_private_key(openssl_pair["private_key"]), subject="alice", audience=DEFAULT_AUDIENCE
    )
    assert await status_with(backend, keys, openssl_pair[kind], token) == 200


async def test_an_ec_p256_public_key_verifies_es256(backend: Backend, keys: KeyPair, tmp_path: Path) -> None:
    private_key = ec.generate_private_key(ec.SECP256R1())
    key_file = tmp_path / "ec_public.pem"
    key_file.write_bytes(
        private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    good = mint_token(private_key, subject="alice", audience=DEFAULT_AUDIENCE, algorithm="ES256")
    # The same token relabelled ES384: a P-256 key only ever verifies ES256.
    _header, payload, signature = good.split(".")
    mismatched = ".".join(
        [base64.urlsafe_b64encode(b'{"alg":"ES384"}').rstrip(b"=").decode(), payload, signature]
    )
    assert await status_with(backend, keys, key_file, good) == 200
    assert await status_with(backend, keys, key_file, mismatched) == 401


# --- files that are not usable -----------------------------------------------------------------


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp, keys: tmp / "absent.pem", "no such file"),
        (lambda tmp, keys: tmp, "cannot be read"),
        (
            lambda tmp, keys: write(tmp / "empty.pem", b""),
            "neither a PEM public key nor a PEM X.509 certificate",
        ),
        (
            lambda tmp, keys: write(
                tmp / "junk.pem", b"-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n"
            ),
            "neither a PEM public key nor a PEM X.509 certificate",
        ),
        (lambda tmp, keys: keys.private_key, "holds a private key"),
        (
            lambda tmp, keys: write(
                tmp / "ed25519.pem",
                ed25519.Ed25519PrivateKey.generate()
                .public_key()
                .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
            ),
            "an RSA or EC key is needed",
        ),
    ],
    ids=["missing", "directory", "empty", "not-pem-content", "private-key", "ed25519-key"],
)
def test_unusable_key_files_raise_one_line(make: Any, message: str, tmp_path: Path, keys: KeyPair) -> None:
    path = make(tmp_path, keys)
    with pytest.raises(KeyConfigError) as raised:
        load_public_key(path)
    text = str(raised.value)
    assert message in text
    assert text.startswith(f"JWT_PUBLIC_KEY_FILE={path}")
    assert "\n" not in text


def test_create_app_refuses_a_private_key(backend: Backend, keys: KeyPair) -> None:
    with pytest.raises(KeyConfigError, match="holds a private key"):
        create_app(app_settings(backend, keys, jwt_public_key_file=keys.private_key))
