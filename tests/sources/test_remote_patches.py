"""Patches fetched by URL (as Fedora carries upstream commits): declared in package.toml,
hashed in `sources`, fetched and verified like tarballs, cached, never kept in specs/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.sources.conftest import POLICY, Loopback, make_tree, sha512
from tooling import model, render
from tooling.builds.prepare import srpm_inputs_key
from tooling.errors import DataError
from tooling.sources.cache import HashMismatchError, SourceCache
from tooling.sources.mirrors import Mirror
from tooling.sources.resolve import MissingSourcesError, resolve_sources

PATCH = b"From 0000 Mon Sep 17 00:00:00 2001\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-old\n+new\n"
NAME = "0123456789abcdef0123456789abcdef01234567.patch"


def tree(root: Path, server: Loopback, *, where: str = "files", data: bytes = PATCH, hashed: bool = True) -> Path:
    server.files[NAME] = PATCH
    specs = make_tree(root, f"{server.base}/files/tiny-{{version}}.tar.gz")
    pkg = specs / "tiny"
    with open(pkg / "package.toml", "a") as fh:
        fh.write(f'\n[[patches]]\nurl = "{server.base}/{where}/{NAME}"\n')
    if hashed:
        with open(pkg / "sources", "a") as fh:
            fh.write(f"SHA512 ({NAME}) = {sha512(data)}\n")
    return specs


def resolve(pkg: model.Package, cache: SourceCache, mirrors: list[Mirror] | None = None, *,
            offline: bool = False) -> dict[str, Path]:
    return resolve_sources(pkg, cache=cache, mirrors=mirrors or [], offline=offline, policy=POLICY)


def test_remote_patch_is_fetched_verified_cached_and_named_by_url(tmp_path: Path, server: Loopback,
                                                                   cache: SourceCache) -> None:
    m = model.load(tree(tmp_path, server))
    pkg = m.packages["tiny"]
    local, remote = pkg.patches
    assert local.source is None and local.file == "fix.patch"
    assert remote.file == NAME and remote.source is not None and remote.source.hash is not None
    assert remote.source in pkg.remote_sources  # `invoke sources` fetches it like a tarball
    got = resolve(pkg, cache)
    assert got[NAME].read_bytes() == PATCH and got["fix.patch"] == pkg.directory / "fix.patch"
    assert server.counts[f"/files/{NAME}"] == 1
    # cached: offline, with no mirror at all, it is still there
    assert resolve(pkg, cache, offline=True)[NAME].read_bytes() == PATCH
    # the spec names the URL, so rpm (and fedpkg) know where it comes from
    spec = render.render_spec(m, m.targets["fedora-45"], pkg)
    assert re.search(rf"^Patch1: +{re.escape(server.base)}/files/{NAME}$", spec, re.M), spec
    assert re.search(r"^Patch0: +fix\.patch$", spec, re.M)


def test_tampered_remote_patch_is_rejected(tmp_path: Path, server: Loopback, cache: SourceCache) -> None:
    pkg = model.load(tree(tmp_path, server, where="tampered")).packages["tiny"]
    server.files[NAME] = PATCH
    with pytest.raises(HashMismatchError) as exc:
        resolve(pkg, cache)
    assert NAME in str(exc.value)


def test_missing_remote_patch_is_listed_with_the_other_missing_files(tmp_path: Path, server: Loopback,
                                                                      cache: SourceCache) -> None:
    pkg = model.load(tree(tmp_path, server, where="missing")).packages["tiny"]
    with pytest.raises(MissingSourcesError) as exc:
        resolve(pkg, cache)
    assert [m.file for m in exc.value.missing] == [NAME]


def test_local_mirror_directory_supplies_a_remote_patch_offline(tmp_path: Path, server: Loopback,
                                                                 cache: SourceCache) -> None:
    pkg = model.load(tree(tmp_path, server, where="missing")).packages["tiny"]
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / NAME).write_bytes(PATCH)
    (mirror / "tiny-1.0.tar.gz").write_bytes(server.files["tiny-1.0.tar.gz"])
    got = resolve(pkg, cache, [Mirror("dir", str(mirror))], offline=True)
    assert got[NAME].read_bytes() == PATCH


def test_srpm_inputs_key_follows_the_remote_patch_hash(tmp_path: Path, server: Loopback) -> None:
    m1 = model.load(tree(tmp_path / "a", server))
    m2 = model.load(tree(tmp_path / "b", server, data=PATCH + b"+more\n"))
    t = m1.targets["fedora-45"]
    k1 = srpm_inputs_key(t, m1.packages["tiny"], "spec")
    k2 = srpm_inputs_key(t, m2.packages["tiny"], "spec")
    assert k1 != k2


def test_remote_patch_without_a_hash_is_an_error(tmp_path: Path, server: Loopback) -> None:
    with pytest.raises(DataError, match=rf"no hash for {re.escape(NAME)} \(patches\[1\]"):
        model.load(tree(tmp_path, server, hashed=False))


@pytest.mark.parametrize(("entry", "message"), [
    (f'url = "https://example.org/{NAME}"\nfile = "x.patch"', "takes its file name from its url"),
    ('url = "https://example.org/commit/{version}.patch"', "no {version}"),
    ('url = "https://example.org/commit/abc.patch#/x.patch"', "does not end in a file name"),
    ("", "a patch needs `file` or `url`"),
])
def test_bad_patch_entries_name_the_key(tmp_path: Path, server: Loopback, entry: str, message: str) -> None:
    specs = make_tree(tmp_path, f"{server.base}/files/tiny-{{version}}.tar.gz")
    with open(specs / "tiny" / "package.toml", "a") as fh:
        fh.write(f"\n[[patches]]\n{entry}\n")
    with pytest.raises(DataError, match=r"patches\[1\]") as exc:
        model.load(specs)
    assert message in str(exc.value)


def test_a_fetched_patch_must_not_be_kept_in_the_package_directory(tmp_path: Path, server: Loopback) -> None:
    specs = tree(tmp_path, server)
    (specs / "tiny" / NAME).write_bytes(PATCH)
    with pytest.raises(DataError, match="never in the repository"):
        model.load(specs)
