"""`orders-app keys init` and `orders-app token`: owner-only key files, no silent overwrite, valid tokens."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import jwt
import pytest

from orders_app.auth.keys import KeyPair, load_public_key
from orders_app.cli import main
from orders_app.settings import DEFAULT_AUDIENCE


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def no_auth_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("JWT_AUDIENCE", "JWT_ISSUER", "JWT_PUBLIC_KEY_FILE", "JWT_JWKS_URL", "DEV_KEYS_DIR"):
        monkeypatch.delenv(name, raising=False)


def test_keys_init_writes_an_owner_only_private_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "keys"
    assert main(["keys", "init", str(directory)]) == 0
    pair = KeyPair(directory)
    assert mode(directory) == 0o700
    assert mode(pair.private_key) == 0o600
    assert mode(pair.public_key) == 0o644
    assert mode(pair.certificate) == 0o644
    assert pair.private_key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    # The public key and the certificate hold the same key.
    assert (
        load_public_key(pair.public_key).public_numbers()
        == load_public_key(pair.certificate).public_numbers()
    )
    assert "never commit" in capsys.readouterr().out
    assert not [p.name for p in directory.iterdir() if p.name.startswith(".")], "temporary files left behind"


def test_keys_init_defaults_to_dev_keys_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["keys", "init"]) == 0
    assert KeyPair(tmp_path / ".keys").exists()
    monkeypatch.setenv("DEV_KEYS_DIR", str(tmp_path / "elsewhere"))
    assert main(["keys", "init"]) == 0
    assert KeyPair(tmp_path / "elsewhere").exists()


@pytest.mark.parametrize("present", ["private_key.pem", "public_key.pem", "certificate.pem"])
def test_keys_init_refuses_to_overwrite_any_key_file(
    present: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / present).write_bytes(b"precious")
    assert main(["keys", "init", str(tmp_path)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.splitlines() == [error]
    assert "ERROR    orders_app  orders-app: error: " in error
    assert present in error
    assert "--force" in error
    assert (tmp_path / present).read_bytes() == b"precious"


def test_keys_init_force_replaces_the_pair_and_keeps_the_mode(tmp_path: Path) -> None:
    pair = KeyPair(tmp_path)
    assert main(["keys", "init", str(tmp_path)]) == 0
    before = pair.private_key.read_bytes()
    # A laxer file in the way must not lend its mode to the new key.
    pair.private_key.chmod(0o644)
    assert main(["keys", "init", "--force", str(tmp_path)]) == 0
    assert pair.private_key.read_bytes() != before
    assert mode(pair.private_key) == 0o600


def test_keys_init_force_does_not_write_through_a_planted_symlink(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    directory.mkdir()
    target = tmp_path / "somebody-elses-file"
    target.write_bytes(b"untouched")
    (directory / "private_key.pem").symlink_to(target)
    assert main(["keys", "init", "--force", str(directory)]) == 0
    assert target.read_bytes() == b"untouched"
    assert not (directory / "private_key.pem").is_symlink()
    assert mode(directory / "private_key.pem") == 0o600


def test_keys_init_leaves_an_existing_directorys_mode_alone(tmp_path: Path) -> None:
    # `orders-app keys init .` in a checkout must not lock everyone else out of it.
    directory = tmp_path / "shared"
    directory.mkdir()
    directory.chmod(0o755)
    assert main(["keys", "init", str(directory)]) == 0
    assert mode(directory) == 0o755
    assert mode(directory / "private_key.pem") == 0o600


def test_keys_init_reports_an_unwritable_place_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    assert main(["keys", "init", str(blocker / "keys")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.splitlines() == [error]
    assert f"  orders-app: error: cannot write keys to {blocker / 'keys'}/" in error


# --- token ------------------------------------------------------------------------------------


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "keys"
    assert main(["keys", "init", str(directory)]) == 0
    return directory


def mint(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    assert main(["token", *args]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1, "exactly one line: the token, so $(orders-app token …) just works"
    return out.strip()


@pytest.mark.parametrize("verify_with", ["public_key", "certificate"])
def test_token_verifies_with_the_right_claims(
    verify_with: str, key_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = int(time.time())
    token = mint(capsys, "--sub", "alice", "--keys-dir", str(key_dir))
    key = load_public_key(getattr(KeyPair(key_dir), verify_with))
    claims = jwt.decode(token, key, algorithms=["RS256"], audience=DEFAULT_AUDIENCE)
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert claims["sub"] == "alice"
    assert claims["aud"] == DEFAULT_AUDIENCE
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] - claims["iat"] == 3600
    assert "iss" not in claims


def test_token_ttl_audience_and_issuer(
    key_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JWT_AUDIENCE", "https://orders.coffeemesh.test")
    monkeypatch.setenv("JWT_ISSUER", "https://id.coffeemesh.test/")
    token = mint(capsys, "--sub", "bob", "--ttl", "60", "--keys-dir", str(key_dir))
    claims = jwt.decode(
        token,
        load_public_key(KeyPair(key_dir).public_key),
        algorithms=["RS256"],
        audience="https://orders.coffeemesh.test",
        issuer="https://id.coffeemesh.test/",
    )
    assert claims["sub"] == "bob"
    assert claims["exp"] - claims["iat"] == 60


def test_token_reads_dev_keys_dir(
    key_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEV_KEYS_DIR", str(key_dir))
    token = mint(capsys, "--sub", "carol")
    jwt.decode(
        token, load_public_key(KeyPair(key_dir).public_key), algorithms=["RS256"], audience=DEFAULT_AUDIENCE
    )


def test_a_token_from_another_key_pair_does_not_verify(
    key_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "init", str(tmp_path / "other")]) == 0
    token = mint(capsys, "--sub", "alice", "--keys-dir", str(tmp_path / "other"))
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            token,
            load_public_key(KeyPair(key_dir).public_key),
            algorithms=["RS256"],
            audience=DEFAULT_AUDIENCE,
        )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sub", "", "--keys-dir", "{keys}"], "--sub must not be empty"),
        (
            ["--sub", "alice", "--ttl", "0", "--keys-dir", "{keys}"],
            "--ttl must be a positive number of seconds",
        ),
        (
            ["--sub", "alice", "--ttl", "-5", "--keys-dir", "{keys}"],
            "--ttl must be a positive number of seconds",
        ),
        (["--sub", "alice", "--keys-dir", "{missing}"], "create one with `orders-app keys init`"),
    ],
    ids=["empty-sub", "zero-ttl", "negative-ttl", "no-keys"],
)
def test_token_refuses_bad_input_in_one_line(
    args: list[str], message: str, key_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    filled = [a.format(keys=key_dir, missing=tmp_path / "missing") for a in args]
    assert main(["token", *filled]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    error = captured.err.strip()
    assert error.splitlines() == [error]
    assert "ERROR    orders_app  orders-app: error: " in error
    assert message in error


def test_token_refuses_a_public_key_as_signing_key(key_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pair = KeyPair(key_dir)
    pair.private_key.write_bytes(pair.public_key.read_bytes())
    assert main(["token", "--sub", "alice", "--keys-dir", str(key_dir)]) == 2
    assert "is not an unencrypted PEM private key" in capsys.readouterr().err
