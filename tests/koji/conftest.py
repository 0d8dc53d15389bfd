"""Fixtures for the koji tests: TLS material, the fake hub on 127.0.0.1, a koji profile, tiny SRPMs."""

from __future__ import annotations

import datetime
import io
import ipaddress
import shutil
import subprocess
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console

from tests.conftest import require_tool
from tests.koji.fakehub import FakeHub, RunningHub, serve
from tooling import model
from tooling.model import Matrix

TARGET = "fedora-45"  # koji_target f45 in specs/targets.toml
PROFILE = "forklift-test"


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client: dict[str, Path]  # user -> PEM holding certificate and key


def _pki(directory: Path) -> Pki:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("fake koji CA")).issuer_name(name("fake koji CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))

    def leaf(cn: str, server: bool) -> tuple[bytes, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        b = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(ca.subject).public_key(key.public_key())
             .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
             .not_valid_after(now + datetime.timedelta(days=2))
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False))
        if server:
            b = b.add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        cert = b.sign(ca_key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), key_pem(key)

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert, key = leaf("127.0.0.1", server=True)
    (directory / "server.crt").write_bytes(cert)
    (directory / "server.key").write_bytes(key)
    clients = {}
    for user in ("alice", "mallory"):
        cert, key = leaf(user, server=False)
        path = directory / f"{user}.pem"
        path.write_bytes(cert + key)
        path.chmod(0o600)
        clients[user] = path
    return Pki(directory / "ca.crt", directory / "server.crt", directory / "server.key", clients)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return _pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def running_hub(tmp_path: Path, pki: Pki) -> Iterator[RunningHub]:
    require_tool("rpmbuild")
    hub = FakeHub(tmp_path / "hub", tick=0.03, users=("alice", "mallory"))
    running = serve(hub, certfile=pki.server_cert, keyfile=pki.server_key, cafile=pki.ca)
    yield running
    running.close()


@pytest.fixture
def hub(running_hub: RunningHub) -> FakeHub:
    return running_hub.hub


def write_profile(home: Path, server: str, cert: Path, ca: Path, name: str = PROFILE) -> None:
    (home / ".koji").mkdir(parents=True, exist_ok=True)
    (home / ".koji" / "config").write_text(textwrap.dedent(f"""\
        [{name}]
        server = {server}
        weburl = https://koji.example.org/koji
        topurl = https://koji.example.org/kojifiles
        authtype = ssl
        cert = {cert}
        serverca = {ca}
        poll_interval = 6
        """))


@pytest.fixture
def profile(tmp_path: Path, running_hub: RunningHub, pki: Pki, monkeypatch: pytest.MonkeyPatch) -> str:
    """A koji profile in a private HOME (~/.koji/config) pointing at the fake hub as alice."""
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    write_profile(home, running_hub.url, pki.client["alice"], pki.ca)
    return PROFILE


@pytest.fixture(scope="session")
def matrix() -> Matrix:
    return model.load()


@pytest.fixture
def console() -> Console:
    return Console(file=io.StringIO(), width=200, highlight=False, force_terminal=False)


def console_text(console: Console) -> str:
    file = console.file
    assert isinstance(file, io.StringIO)
    return file.getvalue()


SPECS = {
    "kt-base": """\
        Name: kt-base
        Version: 1.0
        Release: 1
        Summary: koji test base library
        License: MIT
        BuildArch: noarch
        %description
        base
        %package devel
        Summary: headers of kt-base
        %description devel
        headers
        %prep
        %build
        echo building kt-base
        %install
        mkdir -p %{buildroot}/usr/share/kt-base %{buildroot}/usr/include
        echo base > %{buildroot}/usr/share/kt-base/data
        echo '#define KT 1' > %{buildroot}/usr/include/kt.h
        %files
        /usr/share/kt-base/data
        %files devel
        /usr/include/kt.h
        """,
    "kt-app": """\
        Name: kt-app
        Version: 2.0
        Release: 1
        Summary: koji test application
        License: MIT
        BuildArch: noarch
        BuildRequires: kt-base-devel
        %description
        app
        %prep
        %build
        echo building kt-app against kt-base-devel
        %install
        mkdir -p %{buildroot}/usr/share/kt-app
        echo app > %{buildroot}/usr/share/kt-app/data
        %files
        /usr/share/kt-app/data
        """,
    "kt-home": """\
        Name: kt-home
        Version: 1.0
        Release: 1
        Summary: koji test package whose URL is still a placeholder
        License: MIT
        URL: https://forklift.example.org/kt-home
        BuildArch: noarch
        %description
        home
        %prep
        %build
        %install
        mkdir -p %{buildroot}/usr/share/kt-home
        echo home > %{buildroot}/usr/share/kt-home/data
        %files
        /usr/share/kt-home/data
        """,
    "kt-broken": """\
        Name: kt-broken
        Version: 0.1
        Release: 1
        Summary: koji test package that does not compile
        License: MIT
        BuildArch: noarch
        %description
        broken
        %prep
        %build
        echo "frobnicate.c:3:1: error: expected ';' before '}' token"
        exit 1
        %install
        %files
        """,
}


@pytest.fixture
def make_srpms(tmp_path: Path) -> Callable[..., Path]:
    """make_srpms(build_dir, *names) -> build_dir/srpms/<TARGET>/ holding real SRPMs built with rpmbuild -bs."""
    require_tool("rpmbuild")

    def make(build_dir: Path, *names: str) -> Path:
        out = build_dir / "srpms" / TARGET
        out.mkdir(parents=True, exist_ok=True)
        top = tmp_path / "rpmbuild-srpm"
        for n in names:
            spec = tmp_path / f"{n}.spec"
            spec.write_text(textwrap.dedent(SPECS[n]))
            subprocess.run(["rpmbuild", "-bs", "--define", f"_topdir {top}", str(spec)], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for srpm in (top / "SRPMS").glob("*.src.rpm"):
            shutil.copy2(srpm, out / srpm.name)
        return out

    return make
