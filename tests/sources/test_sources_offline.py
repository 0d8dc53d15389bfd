"""Offline resolution, local mirror directories, the mirror configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sources.conftest import POLICY, TARBALL, Loopback, make_tree, sha512
from tooling import model
from tooling.errors import DataError
from tooling.sources import api
from tooling.sources.cache import HashMismatchError, SourceCache
from tooling.sources.mirrors import Mirror, configured_mirrors, load_config, parse_mirror_option
from tooling.sources.resolve import MissingSourcesError, resolve_sources


def test_offline_names_the_missing_file_and_every_place_it_looked(tmp_path: Path, server: Loopback,
                                                                  cache: SourceCache) -> None:
    pkg = model.load(make_tree(tmp_path, f"{server.base}/files/tiny-{{version}}.tar.gz")).packages["tiny"]
    d = tmp_path / "mirror"
    d.mkdir()
    with pytest.raises(MissingSourcesError) as exc:
        resolve_sources(pkg, cache=cache, mirrors=[Mirror("dir", str(d)), Mirror("url", server.base)], offline=True)
    assert server.log == []  # offline: no network at all
    (miss,) = exc.value.missing
    h = sha512(TARBALL)
    assert miss.tried[0].startswith(f"cache {cache.root}/sha512/{h[:2]}/{h}/tiny-1.0.tar.gz")
    assert miss.tried[1:] == (f"{d}/tiny/tiny-1.0.tar.gz: no such file", f"{d}/tiny-1.0.tar.gz: no such file")
    text = str(exc.value)
    assert "tiny: tiny-1.0.tar.gz is missing" in text
    assert "run `invoke sources` on a machine with network" in text and "dir:PATH" in text


def test_offline_uses_a_local_directory_and_verifies_it(tmp_path: Path, cache: SourceCache) -> None:
    pkg = model.load(make_tree(tmp_path, "http://127.0.0.1:9/tiny-{version}.tar.gz")).packages["tiny"]
    d = tmp_path / "mirror" / "tiny"
    d.mkdir(parents=True)
    (d / "tiny-1.0.tar.gz").write_bytes(TARBALL)
    got = resolve_sources(pkg, cache=cache, mirrors=[Mirror("dir", str(d.parent))], offline=True)
    assert got["tiny-1.0.tar.gz"].is_relative_to(cache.root)
    assert (d / "tiny-1.0.tar.gz").exists()  # copied, the mirror is left alone
    (d / "tiny-1.0.tar.gz").write_bytes(b"corrupt")
    cache2 = SourceCache(tmp_path / "cache2")
    with pytest.raises(HashMismatchError) as exc:
        resolve_sources(pkg, cache=cache2, mirrors=[Mirror("dir", str(d.parent))], offline=True, policy=POLICY)
    assert str(d / "tiny-1.0.tar.gz") in str(exc.value)


def test_missing_sources_are_listed_across_packages(tmp_path: Path) -> None:
    specs = make_tree(tmp_path, "http://127.0.0.1:9/tiny-{version}.tar.gz")
    matrix = model.load(specs)
    with pytest.raises(MissingSourcesError) as exc:
        api.fetch_sources(matrix, [], offline=True, cache_dir=tmp_path / "c", mirrors=[], report=lambda s: None)
    assert [m.file for m in exc.value.missing] == ["tiny-1.0.tar.gz"]


def test_mirror_config_file_and_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "mirrors.toml"
    cfg.write_text(
        '[[mirror]]\ntype = "dir"\npath = "tarballs"\n\n'
        '[[mirror]]\ntype = "lookaside"\nurl = "https://src.fedoraproject.org/repo/pkgs/rpms"\n\n'
        '[[mirror]]\ntype = "upstream"\n'
    )
    assert load_config(cfg) == [
        Mirror("dir", str(tmp_path / "tarballs")),
        Mirror("lookaside", "https://src.fedoraproject.org/repo/pkgs/rpms"),
        Mirror("upstream"),
    ]
    monkeypatch.setenv("FORKLIFT_MIRRORS", str(cfg))
    assert configured_mirrors()[1].kind == "lookaside"
    assert configured_mirrors(["dir:/srv/t"]) == [Mirror("dir", "/srv/t")]
    assert parse_mirror_option("https://m.example/t") == Mirror("url", "https://m.example/t")
    assert parse_mirror_option("lookaside:https://l.example/rpms") == Mirror("lookaside", "https://l.example/rpms")
    cfg.write_text('[[mirror]]\ntype = "ftp"\nurl = "x"\n')
    with pytest.raises(DataError, match=r"mirror\[0\]\.type: 'ftp' is not one of"):
        load_config(cfg)
    with pytest.raises(DataError, match="not an http"):
        parse_mirror_option("lookaside:/local/path")


def test_cache_dir_default_and_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORKLIFT_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert api.default_cache_dir() == tmp_path / "xdg" / "forklift" / "sources"
    monkeypatch.setenv("FORKLIFT_CACHE", str(tmp_path / "env"))
    assert api.default_sources_config()[0].root == tmp_path / "env"
    assert api.sources_config(tmp_path / "opt", [])[0].root == tmp_path / "opt"


def test_mixed_hash_types_are_rejected(tmp_path: Path) -> None:
    md5 = "0" * 32
    text = f"SHA512 (tiny-1.0.tar.gz) = {sha512(TARBALL)}\n{md5}  other.tar.gz\n"
    with pytest.raises(DataError, match="mixed hash types"):
        model.load(make_tree(tmp_path, "http://127.0.0.1:9/tiny-{version}.tar.gz", sources_text=text))
