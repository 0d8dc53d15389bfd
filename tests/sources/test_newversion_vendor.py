"""new-version (package data edits, hashes, changelog) and vendoring."""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import socket
import tarfile
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.sources.conftest import TARBALL, Loopback, make_tree, sha512
from tooling import model
from tooling.errors import ForkliftError
from tooling.newversion import FALLBACK_PACKAGER, bump_package_toml, new_version, packager
from tooling.sources.cache import SourceCache
from tooling.vendor import pack_vendor, vendor, vendor_kind

NEW = TARBALL.replace(b"tiny-1.0", b"tiny-2.0")
DAY = dt.date(2026, 11, 28)


def test_new_version_updates_sources_toml_and_changelog(tmp_path: Path, server: Loopback,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RPM_PACKAGER", "Jane Doe <jane@example.org>")
    server.files["tiny-2.0.tar.gz"] = NEW
    specs = make_tree(tmp_path, f"{server.base}/files/tiny-{{version}}.tar.gz")
    toml_before = (specs / "tiny/package.toml").read_text()
    new_version(model.load(specs), "tiny", "2.0", offline=False, cache_dir=tmp_path / "cache", mirrors=[],
                today=DAY, report=lambda s: None)
    toml_after = (specs / "tiny/package.toml").read_text()
    assert toml_after == toml_before.replace('version = "1.0"', 'version = "2.0"').replace("release = 3", "release = 1")
    assert "# bumped for rebuilds" in toml_after
    assert (specs / "tiny/sources").read_text() == f"SHA512 (tiny-2.0.tar.gz) = {sha512(NEW)}\n"
    log = (specs / "tiny/changelog").read_text()
    assert log.startswith("* Sat Nov 28 2026 Jane Doe <jane@example.org> - 2.0-1\n- Update to 2.0\n\n* Tue Nov 14 2023")
    pkg = model.load(specs).packages["tiny"]
    assert (pkg.version, pkg.release) == ("2.0", 1)
    # the new tarball is in the cache, verified: an offline resolve finds it
    assert pkg.sources[0].hash is not None
    assert SourceCache(tmp_path / "cache").get(pkg.sources[0].hash) is not None


def test_new_version_changes_nothing_when_a_source_is_missing(tmp_path: Path, server: Loopback) -> None:
    specs = make_tree(tmp_path, f"{server.base}/files/tiny-{{version}}.tar.gz")
    before = {p.name: p.read_bytes() for p in (specs / "tiny").iterdir()}
    with pytest.raises(ForkliftError, match=r"could not obtain every source; nothing was changed") as exc:
        new_version(model.load(specs), "tiny", "3.0", offline=False, cache_dir=tmp_path / "c", mirrors=[],
                    today=DAY, report=lambda s: None)
    assert "/files/tiny-3.0.tar.gz: HTTP 404" in str(exc.value)
    assert {p.name: p.read_bytes() for p in (specs / "tiny").iterdir()} == before


def test_new_version_offline_uses_a_mirror_dir_only(tmp_path: Path, server: Loopback) -> None:
    specs = make_tree(tmp_path, f"{server.base}/files/tiny-{{version}}.tar.gz")
    d = tmp_path / "mirror"
    d.mkdir()
    (d / "tiny-2.0.tar.gz").write_bytes(NEW)
    new_version(model.load(specs), "tiny", "2.0", offline=True, cache_dir=tmp_path / "c", mirrors=[f"dir:{d}"],
                today=DAY, report=lambda s: None)
    assert server.log == []
    assert sha512(NEW) in (specs / "tiny/sources").read_text()


def test_bump_keeps_other_keys_alone() -> None:
    text = 'name = "x"\nversion = "1.0" # v\nrelease = 12\n[vars]\nversion = "not me"\nrelease = 99\n'
    assert bump_package_toml(text, "1.1", Path("p")) == (
        'name = "x"\nversion = "1.1" # v\nrelease = 1\n[vars]\nversion = "not me"\nrelease = 99\n'
    )


def test_packager_comes_from_configuration_or_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """rpmdev-packager's order: RPM_PACKAGER, rpm's %packager, git; nothing set is an error, not a placeholder."""
    monkeypatch.delenv("RPM_PACKAGER", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.rpmmacros
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "none"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ForkliftError, match="no packager identity") as exc:
        packager()
    assert "RPM_PACKAGER" in str(exc.value)
    (tmp_path / "none").write_text("[user]\n\tname = Git User\n\temail = git@example.org\n")
    assert packager() == "Git User <git@example.org>"
    if shutil.which("rpm"):
        (tmp_path / ".rpmmacros").write_text("%packager Rpm User <rpm@example.org>\n")
        assert packager() == "Rpm User <rpm@example.org>"
    monkeypatch.setenv("RPM_PACKAGER", "Env User <env@example.org>")
    assert packager() == "Env User <env@example.org>"
    for bad in ("just a name", FALLBACK_PACKAGER):
        monkeypatch.setenv("RPM_PACKAGER", bad)
        with pytest.raises(ForkliftError, match="RPM_PACKAGER"):
            packager()


def test_pack_vendor_is_reproducible_and_clamped(tmp_path: Path) -> None:
    tree = tmp_path / "t"
    (tree / "vendor" / "crate-1.0" / "src").mkdir(parents=True)
    (tree / "vendor" / "crate-1.0" / "src" / "lib.rs").write_text("pub fn f() {}\n")
    (tree / "vendor" / "crate-1.0" / "Cargo.toml").write_text("[package]\n")
    a, b = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    pack_vendor(tree, a, 1700000000)
    os.utime(tree / "vendor" / "crate-1.0" / "Cargo.toml", (1, 1))
    os.utime(tree / "vendor" / "crate-1.0" / "src" / "lib.rs", (1800000000, 1800000000))
    pack_vendor(tree, b, 1700000000)
    c = tmp_path / "c.tar.gz"
    os.utime(tree / "vendor" / "crate-1.0" / "Cargo.toml", (1700000000, 1700000000))
    pack_vendor(tree, c, 1700000000)
    assert a.read_bytes() != b.read_bytes()  # an older mtime is kept (clamping only lowers)
    assert a.read_bytes() == c.read_bytes()
    with tarfile.open(a) as tf:
        names = tf.getnames()
        assert names == sorted(names) and names[0] == "vendor"
        assert {m.uid for m in tf.getmembers()} == {0}
        assert max(m.mtime for m in tf.getmembers()) <= 1700000000


def _tarball(files: dict[str, str], prefix: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{prefix}/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


CARGO = '[package]\nname = "tiny"\nversion = "1.0.0"\nedition = "2021"\n'
LOCK_NO_DEPS = 'version = 3\n\n[[package]]\nname = "tiny"\nversion = "1.0.0"\n'
CARGO_DEP = CARGO + '\n[dependencies]\nlibc = "0.2"\n'
LOCK_DEP = (
    'version = 3\n\n[[package]]\nname = "libc"\nversion = "0.2.150"\n'
    'source = "registry+https://github.com/rust-lang/crates.io-index"\n'
    'checksum = "89d92a4743f9a61002fae18374ed11e7973f530cb3a3255fb354818118b2203c"\n\n'
    '[[package]]\nname = "tiny"\nversion = "1.0.0"\ndependencies = [\n "libc",\n]\n'
)


def _vendor_tree(tmp_path: Path, server: Loopback, files: dict[str, str]) -> Path:
    data = _tarball(files, "tiny-1.0")
    server.files["tiny-1.0.tar.gz"] = data
    specs = make_tree(tmp_path, f"{server.base}/files/tiny-{{version}}.tar.gz", data=data,
                      extra_toml='\n[[sources]]\nfile = "tiny-{version}-vendor.tar.gz"\n')
    with open(specs / "tiny/sources", "a") as fh:
        fh.write(f"SHA512 (tiny-1.0-vendor.tar.gz) = {sha512(b'placeholder')}\n")
    return specs


def test_vendor_cargo_records_the_tarball_in_sources(tmp_path: Path, server: Loopback) -> None:
    require_tool("cargo")
    specs = _vendor_tree(tmp_path, server, {"Cargo.toml": CARGO, "Cargo.lock": LOCK_NO_DEPS, "src/main.rs": "fn main() {}\n"})
    vendor(model.load(specs), "tiny", cache_dir=tmp_path / "cache", mirrors=[], report=lambda s: None)
    pkg = model.load(specs).packages["tiny"]
    h = pkg.sources[1].hash
    assert h is not None and h.hexdigest != sha512(b"placeholder")
    path = SourceCache(tmp_path / "cache").get(h)
    assert path is not None
    with tarfile.open(path) as tf:
        assert tf.getnames() == ["vendor"]
    # same input, same tarball
    vendor(model.load(specs), "tiny", cache_dir=tmp_path / "cache2", mirrors=[], report=lambda s: None)
    assert model.load(specs).packages["tiny"].sources[1].hash == h


def test_vendor_go_upstream_vendored_is_a_no_op(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module x\n")
    assert vendor_kind(tmp_path) == "go"
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "modules.txt").write_text("")
    assert vendor_kind(tmp_path) == "go-upstream-vendored"


def _online() -> bool:
    try:
        socket.create_connection(("index.crates.io", 443), timeout=2).close()
        return True
    except OSError:
        return False


def test_vendor_without_network_names_what_it_could_not_reach(tmp_path: Path, server: Loopback) -> None:
    require_tool("cargo")
    if _online():
        pytest.skip("this machine reaches index.crates.io: the offline failure cannot be shown here")
    specs = _vendor_tree(tmp_path, server, {"Cargo.toml": CARGO_DEP, "Cargo.lock": LOCK_DEP, "src/main.rs": "fn main() {}\n"})
    before = (specs / "tiny/sources").read_text()
    with pytest.raises(ForkliftError, match=r"cargo could not reach: .*crates\.io") as exc:
        vendor(model.load(specs), "tiny", cache_dir=tmp_path / "cache", mirrors=[], report=lambda s: None)
    assert "machine with network" in str(exc.value)
    assert (specs / "tiny/sources").read_text() == before
