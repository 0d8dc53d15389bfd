"""Reproducible SRPMs: same inputs, same bytes; any input change, other bytes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.sources.conftest import TARBALL, Loopback, make_tree, sha512
from tooling import model
from tooling.render import render_spec
from tooling.sources.resolve import MissingSourcesError
from tooling.srpm import build_srpm, build_srpms


@pytest.fixture(autouse=True)
def _rpmbuild() -> None:
    require_tool("rpmbuild")


def _setup(tmp_path: Path) -> tuple[model.Matrix, dict[str, Path]]:
    matrix = model.load(make_tree(tmp_path, "https://example.org/tiny-{version}.tar.gz"))
    pkg = matrix.packages["tiny"]
    tarball = tmp_path / "dl" / "tiny-1.0.tar.gz"
    tarball.parent.mkdir()
    tarball.write_bytes(TARBALL)
    return matrix, {"tiny-1.0.tar.gz": tarball, "tiny.conf": pkg.directory / "tiny.conf",
                    "fix.patch": pkg.directory / "fix.patch"}


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_two_builds_are_byte_identical(tmp_path: Path) -> None:
    matrix, sources = _setup(tmp_path)
    target, pkg = matrix.targets["fedora-45"], matrix.packages["tiny"]
    a = build_srpm(matrix, target, pkg, out_dir=tmp_path / "a", sources=sources)
    # disturb what must not matter: source file times and modes, umask, cwd
    for p in sources.values():
        os.utime(p, (1, 1))
    sources["tiny-1.0.tar.gz"].chmod(0o600)
    old = os.umask(0o077)
    try:
        b = build_srpm(matrix, target, pkg, out_dir=tmp_path / "b", sources=sources)
    finally:
        os.umask(old)
    assert a.name == b.name == "tiny-1.0-3.fc45.src.rpm"
    assert a.read_bytes() == b.read_bytes()
    assert not list((tmp_path / "a").glob(".*.tmp"))


def test_a_spec_change_changes_the_bytes(tmp_path: Path) -> None:
    matrix, sources = _setup(tmp_path)
    target, pkg = matrix.targets["fedora-45"], matrix.packages["tiny"]
    a = _digest(build_srpm(matrix, target, pkg, out_dir=tmp_path / "a", sources=sources))
    text = render_spec(matrix, target, pkg).replace("A tiny package", "A changed package")
    b = _digest(build_srpm(matrix, target, pkg, out_dir=tmp_path / "b", sources=sources, spec_text=text))
    assert a != b
    sources["tiny-1.0.tar.gz"].write_bytes(TARBALL + b"x")
    c = _digest(build_srpm(matrix, target, pkg, out_dir=tmp_path / "c", sources=sources))
    assert c not in (a, b)


def test_header_carries_source_date_epoch_and_fixed_buildhost(tmp_path: Path) -> None:
    rpm = pytest.importorskip("rpm", reason="needs python3-rpm")
    matrix, sources = _setup(tmp_path)
    out = build_srpm(matrix, matrix.targets["centos-stream-9"], matrix.packages["tiny"], out_dir=tmp_path, sources=sources)
    ts = rpm.TransactionSet()
    ts.setVSFlags(rpm._RPMVSF_NOSIGNATURES)
    with open(out, "rb") as fh:
        hdr = ts.hdrFromFdno(fh.fileno())
    assert hdr[rpm.RPMTAG_BUILDTIME] == 1700000000
    assert hdr[rpm.RPMTAG_BUILDHOST] == "forklift"
    assert set(hdr[rpm.RPMTAG_FILEMTIMES]) == {1700000000}
    assert sorted(hdr[rpm.RPMTAG_FILENAMES]) == ["fix.patch", "tiny-1.0.tar.gz", "tiny.conf", "tiny.spec"]
    assert "/tmp" not in hdr[rpm.RPMTAG_SPEC]  # the expanded spec does not leak the temp dir
    assert out.name == "tiny-1.0-3.el9.src.rpm"


def test_build_srpms_resolves_then_builds_into_build_srpms_target(tmp_path: Path, server: Loopback) -> None:
    matrix = model.load(make_tree(tmp_path, f"{server.base}/files/tiny-{{version}}.tar.gz"))
    out = build_srpms(matrix, ["fedora-45", "centos-stream-9"], ["tiny"], build_dir=tmp_path / "build",
                      offline=False, cache_dir=tmp_path / "cache", mirrors=["upstream"])
    assert out == [tmp_path / "build/srpms/fedora-45/tiny-1.0-3.fc45.src.rpm",
                   tmp_path / "build/srpms/centos-stream-9/tiny-1.0-3.el9.src.rpm"]
    assert all(p.is_file() for p in out)
    assert server.hits("/files/") == 1  # once per package, not per target


def test_build_srpms_offline_lists_all_missing_before_building(tmp_path: Path) -> None:
    specs = make_tree(tmp_path, "https://example.org/tiny-{version}.tar.gz")
    # a second package with its own missing source
    twin = specs / "twin"
    twin.mkdir()
    for f in ("tiny.conf", "fix.patch", "changelog"):
        (twin / f).write_bytes((specs / "tiny" / f).read_bytes())
    (twin / "package.toml").write_text((specs / "tiny" / "package.toml").read_text()
                                       .replace('name = "tiny"', 'name = "twin"').replace("tiny-{version}", "twin-{version}"))
    (twin / "twin.spec.j2").write_text((specs / "tiny" / "tiny.spec.j2").read_text())
    (twin / "sources").write_text(f"SHA512 (twin-1.0.tar.gz) = {sha512(b'twin')}\n")
    matrix = model.load(specs)
    with pytest.raises(MissingSourcesError) as exc:
        build_srpms(matrix, ["fedora-45"], [], build_dir=tmp_path / "build", offline=True,
                    cache_dir=tmp_path / "cache", mirrors=[f"dir:{tmp_path}"])
    assert [(m.package, m.file) for m in exc.value.missing] == [("tiny", "tiny-1.0.tar.gz"), ("twin", "twin-1.0.tar.gz")]
    assert not (tmp_path / "build").exists()
