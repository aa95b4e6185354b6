"""Key material: loading the verification key, and the development key pair the CLI creates."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.x509.oid import NameOID

PRIVATE_KEY_NAME = "private_key.pem"
PUBLIC_KEY_NAME = "public_key.pem"
CERTIFICATE_NAME = "certificate.pem"


# The key types behind the accepted token algorithms (RS*, PS* and ES*).
VerificationKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


class KeyConfigError(ValueError):
    """The configured key cannot be used; the message is one line an operator can act on."""


@dataclass(frozen=True, slots=True)
class KeyPair:
    directory: Path

    @property
    def private_key(self) -> Path:
        return self.directory / PRIVATE_KEY_NAME

    @property
    def public_key(self) -> Path:
        return self.directory / PUBLIC_KEY_NAME

    @property
    def certificate(self) -> Path:
        return self.directory / CERTIFICATE_NAME

    def exists(self) -> bool:
        return self.private_key.is_file() and self.public_key.is_file()

    def existing_files(self) -> list[Path]:
        return [path for path in (self.private_key, self.public_key, self.certificate) if path.exists()]


def create_key_pair(directory: Path, *, common_name: str = "orders-app development") -> KeyPair:
    """Write a 2048-bit RSA private key (owner-only), its public key and a self-signed certificate."""
    pair = KeyPair(directory)
    if not directory.exists():
        directory.mkdir(parents=True)
        # Only a directory we made is tightened: `keys init .` must not lock the caller out of a checkout.
        directory.chmod(0o700)
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write(
        pair.private_key,
        private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        mode=0o600,
    )
    public_key = private_key.public_key()
    _write(
        pair.public_key,
        public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        mode=0o644,
    )
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(private_key, hashes.SHA256())
    )
    _write(pair.certificate, certificate.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return pair


def _write(path: Path, data: bytes, *, mode: int) -> None:
    """Write via a fresh temporary file and rename it into place.

    The temporary file is created exclusively with the final mode, so a private key is never readable
    by others, not even briefly and not when it replaces an older, laxer file; O_EXCL also refuses to
    follow a planted symlink. The rename means a reader sees the old file or the new one, never half.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)  # the umask may have taken bits the public files need
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def load_public_key(path: Path, *, variable: str = "JWT_PUBLIC_KEY_FILE") -> VerificationKey:
    """Load a PEM public key (SubjectPublicKeyInfo) or take the key of a PEM X.509 certificate."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeyConfigError(f"{variable}={path}: no such file") from None
    except OSError as error:
        raise KeyConfigError(f"{variable}={path}: cannot be read ({error.strerror})") from None
    if b"PRIVATE KEY-----" in data:
        raise KeyConfigError(
            f"{variable}={path} holds a private key; give the public key or certificate instead"
        )
    key: PublicKeyTypes
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        try:
            key = x509.load_pem_x509_certificate(data).public_key()
        except ValueError:
            raise KeyConfigError(
                f"{variable}={path} is neither a PEM public key nor a PEM X.509 certificate"
            ) from None
    if not isinstance(key, VerificationKey):
        raise KeyConfigError(f"{variable}={path} holds a {type(key).__name__}; an RSA or EC key is needed")
    return key


def load_private_key(path: Path) -> PrivateKeyTypes:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise KeyConfigError(
            f"private key {path}: {error.strerror}; create one with `orders-app keys init`"
        ) from None
    try:
        return serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise KeyConfigError(f"{path} is not an unencrypted PEM private key") from None
