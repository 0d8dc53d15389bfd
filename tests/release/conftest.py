"""Fixtures for the release tests: throw-away GPG keys (generated here, per test session), small
RPMs built with rpmbuild, and a build tree whose build/repos/<target> holds them."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import require_tool

PASSPHRASE = "correct horse battery staple 42"
TARGET = "fedora-45"


@dataclass(frozen=True)
class Key:
    fingerprint: str
    secret_file: Path  # armored secret key, protected by PASSPHRASE
    passphrase_file: Path
    home: Path  # a GnuPG home that holds it (for the agent/key-id mode)


@dataclass(frozen=True)
class Keys:
    good: Key
    expired: Key
    other: Key  # a second valid key (an attacker's, or last year's)
    wrong_passphrase_file: Path


def _gpg(home: Path, *args: str) -> str:
    res = subprocess.run(["gpg", "--batch", "--no-tty", *args], env={**os.environ, "GNUPGHOME": str(home)},
                         capture_output=True, text=True, check=True)
    return res.stdout


def _make_key(base: Path, name: str, *, expired: bool = False) -> Key:
    home = base / name
    home.mkdir(mode=0o700)
    # a cheap S2K: gpg-agent otherwise calibrates it to 100 ms of a busy CPU (seconds per key here)
    (home / "gpg-agent.conf").write_text("s2k-count 65536\n")
    uid = f"Forklift {name} <{name}@example.org>"
    gen = ["--pinentry-mode", "loopback", "--passphrase", PASSPHRASE]
    if expired:
        gen += ["--faked-system-time", "20200101T000000!"]
    _gpg(home, *gen, "--quick-gen-key", uid, "ed25519", "sign", "1d" if expired else "1y")
    colons = _gpg(home, "--with-colons", "--list-secret-keys")
    fpr = next(line.split(":")[9] for line in colons.splitlines() if line.startswith("fpr:"))
    secret = base / f"{name}.sec.asc"
    secret.write_text(_gpg(home, "--pinentry-mode", "loopback", "--passphrase", PASSPHRASE, "--armor",
                           "--export-secret-keys", fpr))
    pp = base / f"{name}.pass"
    pp.write_text(PASSPHRASE + "\n")
    return Key(fpr, secret, pp, home)


@pytest.fixture(scope="session")
def keys() -> Iterator[Keys]:
    require_tool("gpg", "gpgconf", "rpmsign", "rpmkeys")
    base = Path(tempfile.mkdtemp(prefix="fk-keys-"))  # short: gpg-agent's socket path is limited
    try:
        good = _make_key(base, "good")
        expired = _make_key(base, "expired", expired=True)
        other = _make_key(base, "other")
        wrong = base / "wrong.pass"
        wrong.write_text("not the passphrase\n")
        yield Keys(good, expired, other, wrong)
    finally:
        for name in ("good", "expired", "other"):
            subprocess.run(["gpgconf", "--homedir", str(base / name), "--kill", "gpg-agent"], check=False)
        shutil.rmtree(base, ignore_errors=True)


def ci_env(key: Key, passphrase_file: Path | None = None) -> dict[str, str]:
    """The environment of CI-mode signing with this key."""
    return {"FORKLIFT_GPG_KEY_FILE": str(key.secret_file),
            "FORKLIFT_GPG_PASSPHRASE_FILE": str(passphrase_file or key.passphrase_file)}


STUB_SPEC = """\
Name:           {name}
Version:        {version}
Release:        {release}
Summary:        Release test package {name}
License:        MIT
URL:            {url}
BuildArch:      {arch}
{provides}

%description
A tiny package for Forklift's release tests.

%install
mkdir -p %{{buildroot}}/usr/share/{name}
echo '{name} {version}-{release} {content}' > %{{buildroot}}/usr/share/{name}/data.txt
echo 'MIT License' > %{{buildroot}}/usr/share/{name}/LICENSE

%files
%license /usr/share/{name}/LICENSE
/usr/share/{name}/data.txt

%changelog
* Mon Nov 30 2026 {packager} - {version}-{release}
- Release {version}-{release} of {name}
* Tue Nov 24 2026 Forklift Tests <tests@forklift.internal> - 0.9-1
- First release of {name}
"""


def build_rpm(out: Path, name: str, version: str = "1.0", release: str = "1", *, arch: str = "noarch",
              content: str = "", provides: tuple[str, ...] = (), url: str | None = None,
              packager: str = "Forklift Tests <tests@forklift.internal>") -> Path:
    """rpmbuild -bb a tiny package into ``out`` and return the RPM (``url`` default: https://forklift.internal/<name>;
    ``packager`` signs the newest changelog entry)."""
    require_tool("rpmbuild")
    top = Path(tempfile.mkdtemp(prefix="rpmbuild-", dir=out))
    spec = top / f"{name}.spec"
    spec.write_text(STUB_SPEC.format(name=name, version=version, release=release, arch=arch, content=content,
                                     url=url or f"https://forklift.internal/{name}", packager=packager,
                                     provides="\n".join(f"Provides:       {p}" for p in provides)))
    subprocess.run(["rpmbuild", "-bb", "--quiet", "--define", f"_topdir {top}", "--define", f"_rpmdir {top / 'RPMS'}",
                    "--define", "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm",
                    "--define", "source_date_epoch_from_changelog 1", "--define", "use_source_date_epoch_as_buildtime 1",
                    "--define", "clamp_mtime_to_source_date_epoch 1", "--define", "_buildhost forklift-tests",
                    str(spec)], check=True, capture_output=True, text=True)
    built = next((top / "RPMS").glob("*.rpm"))
    dest = out / built.name
    shutil.move(built, dest)
    shutil.rmtree(top)
    return dest


@pytest.fixture(scope="session")
def rpms_dir() -> Iterator[Path]:
    """Unsigned RPMs built once per session: fkone 1.0-1 and 1.1-1, fktwo 2.0-1 (pristine: copy before changing)."""
    require_tool("rpmbuild", "createrepo_c")
    out = Path(tempfile.mkdtemp(prefix="fk-rpms-"))
    try:
        build_rpm(out, "fkone", "1.0", "1")
        build_rpm(out, "fkone", "1.1", "1")
        build_rpm(out, "fktwo", "2.0", "1", provides=("bundled(golang(github.com/example/lib)) = 1.2.3",))
        yield out
    finally:
        shutil.rmtree(out, ignore_errors=True)


def make_repo(build_dir: Path, rpms: list[Path], target: str = TARGET) -> Path:
    """build/repos/<target> holding these RPMs, published the way invoke build does."""
    from tooling import repo

    link = build_dir / "repos" / target
    repo.publish(link, rpms)
    return link


def tree_state(root: Path) -> dict[str, tuple[str, bytes | str, int]]:
    """Every path under root: kind, content (bytes, or a link's target) and mtime in ns."""
    out: dict[str, tuple[str, bytes | str, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            st = p.lstat()
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p), st.st_mtime_ns)
            elif p.is_dir():
                out[rel] = ("dir", "", st.st_mtime_ns)
            else:
                out[rel] = ("file", p.read_bytes(), st.st_mtime_ns)
    return out


def dedent(text: str) -> str:
    return textwrap.dedent(text)
