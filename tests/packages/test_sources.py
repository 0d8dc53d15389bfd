"""The package data agrees with the upstream tarballs it names (when they are in the cache):
hashes, the commit each tag points at, and the vendored modules declared as bundled()."""

from __future__ import annotations

import hashlib
import re
import tarfile
from pathlib import Path

import pytest

from tests.packages.conftest import GO_PACKAGES, MATRIX, PACKAGES, UPSTREAM_CACHE
from tooling import model

REMOTE = [(p, s) for p in PACKAGES for s in MATRIX.packages[p].remote_sources]


def cached(file: str) -> Path:
    path = UPSTREAM_CACHE / file
    if not path.is_file():
        pytest.skip(f"needs {path} in the source cache (fetch it with `invoke sources`)")
    return path


def vendored_go_modules(modules_txt: str) -> list[str]:
    """'module version' of every module in vendor/modules.txt that has vendored packages."""
    out: list[str] = []
    current: str | None = None
    has_packages = False
    for line in modules_txt.splitlines():
        if line.startswith("# "):
            if current and has_packages:
                out.append(current)
            parts = line[2:].split()
            if "=>" in parts:  # replaced module: the replacement's version is what is vendored
                rep = parts[parts.index("=>") + 1:]
                current = f"{parts[0]} {rep[1] if len(rep) > 1 else parts[1]}"
            else:
                current = f"{parts[0]} {parts[1]}"
            has_packages = False
        elif line.strip() and not line.startswith("##"):
            has_packages = True
    if current and has_packages:
        out.append(current)
    return sorted(out)


def test_vendored_go_modules_parser() -> None:
    text = "# a.io/x v1.0.0\n## explicit\na.io/x\n# b.io/y v0.1.0\n## explicit\n# c.io/z v2 => d.io/z v2.1.0\nc.io/z\n"
    assert vendored_go_modules(text) == ["a.io/x v1.0.0", "c.io/z v2.1.0"]


@pytest.mark.parametrize(("package", "source"), REMOTE, ids=[f"{p}/{s.file}" for p, s in REMOTE])
def test_sources_hash_matches_the_cached_tarball(package: str, source: model.Source) -> None:
    path = cached(source.file)
    assert source.hash is not None
    digest = hashlib.new(source.hash.hashtype, path.read_bytes()).hexdigest()
    assert digest == source.hash.hexdigest, f"{path} does not match specs/{package}/sources"


@pytest.mark.parametrize("package", GO_PACKAGES)
def test_tarball_is_the_tagged_commit(package: str) -> None:
    pkg = MATRIX.packages[package]
    with tarfile.open(cached(pkg.sources[0].file)) as tf:
        # git archive records the commit in the pax global header
        assert tf.pax_headers.get("comment") == pkg.vars["commit"]


def test_tini_tarball_is_the_tagged_commit() -> None:
    pkg = MATRIX.packages["moby-engine-dm"]
    with tarfile.open(cached(f"tini-{pkg.vars['tini_version']}.tar.gz")) as tf:
        assert tf.pax_headers.get("comment") == pkg.vars["tini_commit"]


@pytest.mark.parametrize("package", GO_PACKAGES)
def test_bundled_list_is_every_vendored_module(package: str) -> None:
    pkg = MATRIX.packages[package]
    with tarfile.open(cached(pkg.sources[0].file)) as tf:
        member = next(m for m in tf.getmembers() if re.fullmatch(r"[^/]+/vendor/modules\.txt", m.name))
        fh = tf.extractfile(member)
        assert fh is not None
        expected = vendored_go_modules(fh.read().decode())
    assert sorted(pkg.vars["bundled"]) == expected


def test_cli_man_page_sources_exist() -> None:
    pkg = MATRIX.packages["docker-cli"]
    with tarfile.open(cached(pkg.sources[0].file)) as tf:
        names = set(tf.getnames())
    for page in pkg.vars["manpages"]:
        assert f"cli-{pkg.version}/man/{page}.md" in names, page
