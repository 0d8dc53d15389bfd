"""Verified where users are: real dnf, with gpgcheck=1 and repo_gpgcheck=1 from the published
.repo file, installs into a throw-away install root whose rpmdb holds the published public key.

A signed RPM installs; a tampered RPM is refused (in place, or with its metadata regenerated and
re-signed); an unsigned RPM is refused; metadata regenerated without the key is refused."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.release.conftest import TARGET, Keys, make_repo
from tests.release.test_publish import cfg
from tooling import model
from tooling.release import gpg, publish, sign
from tooling.release.sign import createrepo

DNF_CONF = """\
[main]
reposdir=
gpgcheck=1
repo_gpgcheck=1
keepcache=False
metadata_expire=0
skip_if_unavailable=False
"""


class Root:
    """A throw-away install root configured like a user's machine that added forklift.repo."""

    def __init__(self, base: Path, repo_file: Path, key: Path) -> None:
        self.root = base / "root"
        self.root.mkdir(parents=True)
        self.reposd = base / "repos.d"
        self.reposd.mkdir()
        shutil.copy(repo_file, self.reposd / repo_file.name)
        self.conf = base / "dnf.conf"
        self.conf.write_text(DNF_CONF)
        self.cache = base / "cache"
        subprocess.run(["rpm", "--root", str(self.root), "--import", str(key)], check=True)

    def install(self, *names: str) -> subprocess.CompletedProcess[str]:
        # --disableplugin=local: Debian's dnf-plugins-core `local` plugin would add every package dnf
        # ever installed on this host as a repository (tooling/installcheck/dnf.py)
        return subprocess.run(["dnf", "-y", "--config", str(self.conf), "--installroot", str(self.root),
                               "--releasever", "45", "--setopt", f"reposdir={self.reposd}",
                               "--setopt", f"cachedir={self.cache}", "--setopt", "tsflags=noscripts",
                               "--disableplugin=local", "install", *names],
                              capture_output=True, text=True, timeout=300)

    def installed(self) -> set[str]:
        out = subprocess.run(["rpm", "--root", str(self.root), "-qa", "--qf", "%{NAME}\\n"], capture_output=True,
                             text=True, check=True).stdout
        return set(out.split())


@pytest.fixture(scope="module")
def published_once(tmp_path_factory: pytest.TempPathFactory, rpms_dir: Path, keys: Keys) -> Path:
    require_tool("dnf", "rpm")
    base = tmp_path_factory.mktemp("published")
    b = base / "build"
    make_repo(b, [rpms_dir / "fkone-1.0-1.noarch.rpm", rpms_dir / "fktwo-2.0-1.noarch.rpm"])
    sign.sign_repo(b, TARGET, cfg(keys))
    dest = base / "dest"
    publish.publish(b, model.load().targets[TARGET], dest, "stable", cfg(keys))
    return dest


@pytest.fixture
def published(published_once: Path, tmp_path: Path) -> Path:
    """A private copy of one published tree (file:// URLs in the .repo file point at the copy)."""
    dest = tmp_path / "dest"
    shutil.copytree(published_once, dest, symlinks=True)
    repo = dest / "fedora" / "forklift.repo"
    repo.write_text(repo.read_text().replace(published_once.as_uri(), dest.as_uri()))
    return dest


def _root(tmp_path: Path, dest: Path) -> Root:
    return Root(tmp_path / "user", dest / "fedora" / "forklift.repo", dest / "fedora" / "gpg")


def _channel(dest: Path) -> Path:
    return (dest / "fedora" / "45" / "x86_64" / "stable").resolve()


def _flip_payload_byte(rpm: Path) -> None:
    data = bytearray(rpm.read_bytes())
    data[-64] ^= 0xFF
    os.chmod(rpm, 0o644)
    rpm.write_bytes(bytes(data))


def _resign_metadata(channel: Path, keys: Keys) -> None:
    """What someone holding the repository key (but not the packages') could do: new repodata, signed."""
    shutil.rmtree(channel / "repodata")
    createrepo(channel)
    with gpg.open_signer(cfg(keys)) as signer:
        signer.detach_sign(channel / "repodata" / "repomd.xml")


def test_signed_rpm_installs_with_every_check_on(published: Path, tmp_path: Path) -> None:
    root = _root(tmp_path, published)
    res = root.install("fkone")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "fkone" in root.installed()
    # dnf checked the repodata signature with the key of the .repo file's gpgkey=
    assert "Importing GPG key" in res.stdout + res.stderr


def test_tampered_rpm_in_the_published_tree_is_refused(published: Path, tmp_path: Path) -> None:
    _flip_payload_byte(_channel(published) / "fkone-1.0-1.noarch.rpm")
    root = _root(tmp_path, published)
    res = root.install("fkone")
    assert res.returncode != 0
    assert "incorrect checksum" in res.stdout + res.stderr
    assert "fkone" not in root.installed()


def test_tampered_rpm_with_resigned_metadata_is_refused_by_its_signature(published: Path, tmp_path: Path,
                                                                          keys: Keys) -> None:
    channel = _channel(published)
    _flip_payload_byte(channel / "fkone-1.0-1.noarch.rpm")
    _resign_metadata(channel, keys)
    root = _root(tmp_path, published)
    res = root.install("fkone")
    out = res.stdout + res.stderr
    assert res.returncode != 0, out
    assert "fkone" not in root.installed()
    # rpm's check of the package's own signature and digests fails: dnf cannot open it
    assert "Problem opening package fkone-1.0-1.noarch.rpm" in out and "GPG check FAILED" in out, out


def test_unsigned_rpm_is_refused(published: Path, tmp_path: Path, keys: Keys, rpms_dir: Path) -> None:
    channel = _channel(published)
    shutil.copy(rpms_dir / "fkone-1.1-1.noarch.rpm", channel)  # never signed
    _resign_metadata(channel, keys)
    root = _root(tmp_path, published)
    res = root.install("fkone-1.1")
    out = res.stdout + res.stderr
    assert res.returncode != 0, out
    assert "Package fkone-1.1-1.noarch.rpm is not signed" in out and "GPG check FAILED" in out, out
    assert "fkone" not in root.installed()


def test_metadata_changed_without_the_key_is_refused(published: Path, tmp_path: Path, rpms_dir: Path) -> None:
    channel = _channel(published)
    shutil.copy(rpms_dir / "fkone-1.1-1.noarch.rpm", channel)
    asc = (channel / "repodata" / "repomd.xml.asc").read_bytes()
    shutil.rmtree(channel / "repodata")
    createrepo(channel)
    (channel / "repodata" / "repomd.xml.asc").write_bytes(asc)  # the old signature, now over other bytes
    root = _root(tmp_path, published)
    res = root.install("fkone")
    out = res.stdout + res.stderr
    assert res.returncode != 0, out
    assert "GPG signature verification error" in out, out
    assert "fkone" not in root.installed()
