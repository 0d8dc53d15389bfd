"""Detached signatures: a good one admits the file, a bad one keeps it out."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sources.conftest import POLICY, TARBALL, Loopback, Signer, make_tree
from tooling import model
from tooling.sources.cache import SourceCache
from tooling.sources.mirrors import Mirror
from tooling.sources.resolve import resolve_sources
from tooling.sources.signature import SignatureError


def _tree(tmp_path: Path, server: Loopback, signer: Signer) -> model.Package:
    specs = make_tree(
        tmp_path, f"{server.base}/files/tiny-{{version}}.tar.gz",
        extra_toml=f'signature = "{server.base}/files/tiny-{{version}}.tar.gz.asc"\nkeyring = "upstream.asc"\n',
    )
    (specs / "tiny" / "upstream.asc").write_bytes(signer.keyring_armored)
    return model.load(specs).packages["tiny"]


def test_good_signature(tmp_path: Path, server: Loopback, signer: Signer, cache: SourceCache) -> None:
    data = tmp_path / "t.tar.gz"
    data.write_bytes(TARBALL)
    signer.sign(data, tmp_path / "t.asc")
    server.files["tiny-1.0.tar.gz.asc"] = (tmp_path / "t.asc").read_bytes()
    pkg = _tree(tmp_path, server, signer)
    got = resolve_sources(pkg, cache=cache, mirrors=[], offline=False, policy=POLICY)
    assert got["tiny-1.0.tar.gz"].read_bytes() == TARBALL
    assert ("/files/tiny-1.0.tar.gz.asc", None, 200) in server.log


def test_bad_signature_keeps_the_file_out_of_the_cache(tmp_path: Path, server: Loopback, signer: Signer,
                                                       cache: SourceCache) -> None:
    other = tmp_path / "other"
    other.write_bytes(b"something else")
    signer.sign(other, tmp_path / "o.asc")
    server.files["tiny-1.0.tar.gz.asc"] = (tmp_path / "o.asc").read_bytes()
    pkg = _tree(tmp_path, server, signer)
    with pytest.raises(SignatureError, match="signature check FAILED") as exc:
        resolve_sources(pkg, cache=cache, mirrors=[], offline=False, policy=POLICY)
    assert "BAD signature" in str(exc.value)
    h = pkg.sources[0].hash
    assert h is not None and cache.get(h) is None
    assert list((cache.root / "rejected").iterdir())


def test_offline_local_dir_needs_the_signature_beside_the_file(tmp_path: Path, server: Loopback, signer: Signer,
                                                               cache: SourceCache) -> None:
    d = tmp_path / "mirror"
    d.mkdir()
    (d / "tiny-1.0.tar.gz").write_bytes(TARBALL)
    pkg = _tree(tmp_path, server, signer)
    with pytest.raises(SignatureError, match=r"could not be obtained") as exc:
        resolve_sources(pkg, cache=cache, mirrors=[Mirror("dir", str(d))], offline=True, policy=POLICY)
    assert str(d / "tiny-1.0.tar.gz.asc") in str(exc.value)
    assert not [p for p in (cache.root / "partial").iterdir() if p.suffix != ".lock"]  # nothing left behind
    signer.sign(d / "tiny-1.0.tar.gz", d / "tiny-1.0.tar.gz.asc")
    got = resolve_sources(pkg, cache=cache, mirrors=[Mirror("dir", str(d))], offline=True, policy=POLICY)
    assert got["tiny-1.0.tar.gz"].read_bytes() == TARBALL
    assert server.log == []
