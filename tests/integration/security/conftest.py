"""Helpers of the security tests: every form a secret value can take in output and files (plain, base64 at each
alignment, base64url), a scanner over run outputs and directory trees (archives opened), and kubeconfigs whose CA
is not the server's."""
from __future__ import annotations

import base64
import gzip
import io
import os
import stat
import tarfile
from pathlib import Path

import yaml


def secret_forms(value: str) -> set[str]:
    """The value, and the part of its base64 encoding that is the same wherever it sits in a larger encoded
    blob (a Secret's data, a kubeconfig inside a Secret, an ini file inside a Secret): for each of the three
    alignments, the encoded groups that hold only bytes of the value."""
    raw = value.encode()
    forms = {value}
    for offset in range(3):
        data = b"\0" * offset + raw
        groups = len(data) // 3
        encoded = base64.b64encode(data[:groups * 3]).decode()[4 if offset else 0:]
        if len(encoded) >= 8:  # shorter fragments would match by chance
            forms.add(encoded)
    forms |= {f.replace("+", "-").replace("/", "_") for f in forms}
    return forms


class Secrets:
    """Known secret values by label; find() names the secrets (and the form) found in a text."""

    def __init__(self):
        self.values: dict[str, str] = {}

    def add(self, label: str, value: str | None):
        if value:
            assert len(value) >= 8, f"{label}: too short to search for without false positives"
            self.values[label] = value

    def find(self, text: str | bytes) -> list[str]:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        hits = []
        for label, value in self.values.items():
            for form in secret_forms(value):
                if form in text:
                    hits.append(f"{label} ({'plain' if form == value else 'base64 ' + form})")
                    break
        return hits


def file_texts(root: Path, skip=()) -> dict[str, bytes]:
    """Every file under root (relative path -> content); gzip files are decompressed and tar members read, so
    an archive is searched as what it holds."""
    out = {}
    skip = {Path(s).resolve() for s in skip}
    for path in sorted(Path(root).rglob("*")):
        if not path.is_file() or path.resolve() in skip or any(p in skip for p in path.resolve().parents):
            continue
        rel = str(path.relative_to(root))
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":
            try:
                with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
                    for m in tar.getmembers():
                        if m.isfile():
                            out[f"{rel}!{m.name}"] = tar.extractfile(m).read()
                continue
            except tarfile.TarError:
                data = gzip.decompress(data)
        out[rel] = data
    return out


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def kubeconfig_with_ca(kubeconfig: str, dest: Path, ca_pem: bytes | None = None) -> Path:
    """A copy of a kubeconfig whose clusters trust another CA (a fresh one, or ca_pem)."""
    if ca_pem is None:
        ca_pem = new_ca_pem()
    doc = yaml.safe_load(Path(kubeconfig).read_text())
    for c in doc["clusters"]:
        c["cluster"]["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    dest.write_text(yaml.safe_dump(doc))
    dest.chmod(0o600)
    return dest


def new_ca_pem() -> bytes:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not-the-cluster-ca")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)
