"""Fetching, verifying and caching against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sources.conftest import POLICY, TARBALL, Loopback, make_tree, sha512
from tooling import model
from tooling.model import Package
from tooling.sources import fetch
from tooling.sources.cache import HashMismatchError, SourceCache
from tooling.sources.mirrors import Mirror
from tooling.sources.resolve import MissingSourcesError, resolve_sources


def tiny(root: Path, url: str, **kw: str) -> Package:
    return model.load(make_tree(root, url, **kw)).packages["tiny"]


def resolve(pkg: Package, cache: SourceCache, mirrors: list[Mirror] | None = None, *, offline: bool = False) -> dict[str, Path]:
    return resolve_sources(pkg, cache=cache, mirrors=mirrors or [], offline=offline, policy=POLICY)


def test_success_caches_verified_file_and_returns_every_source_and_patch(tmp_path: Path, server: Loopback,
                                                                         cache: SourceCache) -> None:
    pkg = tiny(tmp_path, f"{server.base}/files/tiny-{{version}}.tar.gz")
    got = resolve(pkg, cache)
    assert sorted(got) == ["fix.patch", "tiny-1.0.tar.gz", "tiny.conf"]
    assert got["tiny-1.0.tar.gz"].read_bytes() == TARBALL
    # content-addressed: the path is keyed by the hash
    assert sha512(TARBALL) in str(got["tiny-1.0.tar.gz"])
    assert got["tiny-1.0.tar.gz"].is_relative_to(cache.root)
    assert got["tiny.conf"] == pkg.directory / "tiny.conf"
    assert not list((cache.root / "partial").glob("*.part"))


def test_cache_hit_needs_no_server(tmp_path: Path, server: Loopback, cache: SourceCache) -> None:
    pkg = tiny(tmp_path, f"{server.base}/files/tiny-{{version}}.tar.gz")
    resolve(pkg, cache)
    n = len(server.log)
    server.stop()
    assert resolve(pkg, cache)["tiny-1.0.tar.gz"].read_bytes() == TARBALL
    assert resolve(pkg, cache, offline=True)["tiny-1.0.tar.gz"].read_bytes() == TARBALL
    assert len(server.log) == n
    # and without the cache the stopped server is a missing source, not a hang
    with pytest.raises(MissingSourcesError):
        resolve(pkg, SourceCache(tmp_path / "empty"))


def test_404_reports_missing_with_where_it_looked(tmp_path: Path, server: Loopback, cache: SourceCache) -> None:
    pkg = tiny(tmp_path, f"{server.base}/missing/tiny-{{version}}.tar.gz")
    with pytest.raises(MissingSourcesError) as exc:
        resolve(pkg, cache)
    (miss,) = exc.value.missing
    assert miss.file == "tiny-1.0.tar.gz"
    assert any("/missing/tiny-1.0.tar.gz: HTTP 404" in t for t in miss.tried)
    assert server.hits("/missing/") == 1  # a 404 is not retried
    assert "invoke sources" in str(exc.value)


def test_500_then_success_retries(tmp_path: Path, server: Loopback, cache: SourceCache) -> None:
    pkg = tiny(tmp_path, f"{server.base}/flaky/tiny-{{version}}.tar.gz")
    got = resolve(pkg, cache)
    assert got["tiny-1.0.tar.gz"].read_bytes() == TARBALL
    assert [s for _, _, s in server.log] == [500, 500, 200]


def test_persistent_5xx_gives_up_after_the_policy_attempts(tmp_path: Path, server: Loopback, cache: SourceCache) -> None:
    pkg = tiny(tmp_path, f"{server.base}/dead/tiny-{{version}}.tar.gz")
    with pytest.raises(MissingSourcesError) as exc:
        resolve(pkg, cache)
    assert server.hits("/dead/") == POLICY.attempts
    assert "HTTP 503" in exc.value.missing[0].tried[-1]


def test_truncated_body_resumes_with_range(tmp_path: Path, server: Loopback, cache: SourceCache) -> None:
    pkg = tiny(tmp_path, f"{server.base}/truncated/tiny-{{version}}.tar.gz")
    got = resolve(pkg, cache)
    assert got["tiny-1.0.tar.gz"].read_bytes() == TARBALL
    (first, second) = server.log
    assert first[1] is None and first[2] == 200
    assert second[1] == f"bytes={len(TARBALL) // 2}-" and second[2] == 206


def test_server_ignoring_range_restarts_from_zero(tmp_path: Path, server: Loopback, cache: SourceCache) -> None:
    pkg = tiny(tmp_path, f"{server.base}/norange/tiny-{{version}}.tar.gz")
    h = pkg.sources[0].hash
    assert h is not None
    part = cache.partial_path(h)
    part.parent.mkdir(parents=True)
    part.write_bytes(b"garbage from an earlier run")
    assert resolve(pkg, cache)["tiny-1.0.tar.gz"].read_bytes() == TARBALL


def test_tampered_content_fails_and_keeps_the_bad_file_aside(tmp_path: Path, server: Loopback,
                                                              cache: SourceCache) -> None:
    url = f"{server.base}/tampered/tiny-1.0.tar.gz"
    pkg = tiny(tmp_path, url.replace("1.0", "{version}"))
    with pytest.raises(HashMismatchError) as exc:
        resolve(pkg, cache)
    msg = str(exc.value)
    bad = TARBALL[:-10] + b"TAMPERED!\n"
    assert "tiny-1.0.tar.gz" in msg and url in msg
    assert sha512(TARBALL) in msg and sha512(bad) in msg
    assert exc.value.kept.read_bytes() == bad
    h = pkg.sources[0].hash
    assert h is not None and cache.get(h) is None  # nothing unverified in the store


def test_slow_response_times_out_and_retries(tmp_path: Path, server: Loopback, cache: SourceCache) -> None:
    pkg = tiny(tmp_path, f"{server.base}/slow/tiny-{{version}}.tar.gz")
    assert resolve(pkg, cache)["tiny-1.0.tar.gz"].read_bytes() == TARBALL
    assert server.counts["/slow/tiny-1.0.tar.gz"] == 2  # the stalled first request was abandoned


def test_download_backs_off_exponentially(tmp_path: Path, server: Loopback) -> None:
    waits: list[float] = []
    policy = fetch.FetchPolicy(attempts=4, backoff=1.0, max_backoff=3.0, read_timeout=2)
    with pytest.raises(fetch.TransientFailure):
        fetch.download(f"{server.base}/dead/tiny-1.0.tar.gz", tmp_path / "x", policy=policy, sleep=waits.append)
    assert waits == [1.0, 2.0, 3.0]


def test_mirror_order_falls_through_to_the_next(tmp_path: Path, server: Loopback, cache: SourceCache) -> None:
    pkg = tiny(tmp_path, f"{server.base}/missing/tiny-{{version}}.tar.gz")
    mirrors = [Mirror("url", f"{server.base}/missing"), Mirror("url", f"{server.base}/files")]
    got = resolve(pkg, cache, mirrors)
    assert got["tiny-1.0.tar.gz"].read_bytes() == TARBALL
    paths = [p for p, _, _ in server.log]
    assert paths == [
        "/missing/tiny-1.0.tar.gz",  # upstream, implicitly first
        "/missing/tiny/tiny-1.0.tar.gz",
        "/missing/tiny-1.0.tar.gz",
        "/files/tiny/tiny-1.0.tar.gz",
    ]


def test_lookaside_layout(tmp_path: Path, server: Loopback, cache: SourceCache) -> None:
    h = sha512(TARBALL)
    lookaside_path = f"tiny/tiny-1.0.tar.gz/sha512/{h}/tiny-1.0.tar.gz"
    pkg = tiny(tmp_path, "http://127.0.0.1:9/tiny-{version}.tar.gz")
    mirrors = [Mirror("upstream"), Mirror("lookaside", f"{server.base}/files/repo/pkgs/rpms")]
    # the server routes on the first and last path element: it serves the file at the lookaside path
    got = resolve(pkg, cache, mirrors)
    assert got["tiny-1.0.tar.gz"].read_bytes() == TARBALL
    assert [p for p, _, _ in server.log] == [f"/files/repo/pkgs/rpms/{lookaside_path}"]


def test_old_md5_sources_file_is_used_with_the_old_lookaside_layout(tmp_path: Path, server: Loopback,
                                                                    cache: SourceCache) -> None:
    import hashlib

    md5 = hashlib.md5(TARBALL).hexdigest()
    pkg = tiny(tmp_path, "http://127.0.0.1:9/tiny-{version}.tar.gz", sources_text=f"{md5}  tiny-1.0.tar.gz\n")
    got = resolve(pkg, cache, [Mirror("lookaside", f"{server.base}/files")])
    assert got["tiny-1.0.tar.gz"].read_bytes() == TARBALL
    assert server.log[-1][0] == f"/files/tiny/tiny-1.0.tar.gz/{md5}/tiny-1.0.tar.gz"
    assert "/md5/" in str(got["tiny-1.0.tar.gz"])


def test_an_unreachable_host_is_tried_once_per_run(tmp_path: Path) -> None:
    waits: list[float] = []
    with pytest.raises(fetch.TransientFailure) as first:
        fetch.download("http://127.0.0.1:9/a.tar.gz", tmp_path / "a", policy=POLICY, sleep=waits.append)
    assert first.value.attempts == POLICY.attempts and len(waits) == POLICY.attempts - 1
    with pytest.raises(fetch.TransientFailure, match="could not be reached earlier in this run") as second:
        fetch.download("http://127.0.0.1:9/b.tar.gz", tmp_path / "b", policy=POLICY, sleep=waits.append)
    assert second.value.attempts == 0 and len(waits) == POLICY.attempts - 1
