"""The Go link cache of host builds (tooling/builds/linkcache.py, issue 17): within one run, a
job's `go build -o FILE` keeps the FILE an earlier job of the same package linked from the same
inputs, and links again whenever Go's build ID says the inputs differ. Real Go, real rpmbuild."""

from __future__ import annotations

import io
import os
import subprocess
import textwrap
from pathlib import Path

import pytest
from rich.console import Console

from tests.builds.conftest import HEADER, PACKAGE_TOML, make_tarball
from tests.conftest import go_binary, require_tool
from tooling import model
from tooling.builds import linkcache, pipeline

MAIN = 'package main\n\nimport "fmt"\n\nvar flavour = "plain"\n\nfunc main() {{ fmt.Println("{text}", flavour) }}\n'


def _tree(top: Path, text: str) -> Path:
    src = top / "fkgo-1.0"
    src.mkdir(parents=True)
    (src / "go.mod").write_text("module example.org/fkgo\n\ngo 1.22\n")
    (src / "main.go").write_text(MAIN.format(text=text))
    return src


def _env(top: Path, cache: Path, gocache: Path) -> dict[str, str]:
    """A job's environment as the rpmbuild builder sets it up, rpm's RPM_BUILD_DIR included."""
    return dict(os.environ, PATH=f"{linkcache.WRAPPER_DIR}{os.pathsep}{os.environ['PATH']}",
                FORKLIFT_REAL_GO=go_binary(), FORKLIFT_LINK_CACHE_DIR=str(cache), RPM_BUILD_DIR=str(top),
                GOCACHE=str(gocache), GOFLAGS="-trimpath", GOTOOLCHAIN="local", GOPROXY="off", CGO_ENABLED="0")


def _build(src: Path, top: Path, cache: Path, gocache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["go", "build", *args, "-o", "bin/fkgo", "."], cwd=src, env=_env(top, cache, gocache),
                          capture_output=True, text=True, check=True, timeout=300)


def _run(binary: Path) -> str:
    return subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout.strip()


def test_a_matching_link_is_kept_and_a_stale_one_replaced(tmp_path: Path) -> None:
    cache, gocache = tmp_path / "linkcache", tmp_path / "gocache"
    first = _tree(tmp_path / "job1" / "BUILD", "hello")
    res = _build(first, tmp_path / "job1" / "BUILD", cache, gocache)
    assert "link cache" not in res.stderr  # nothing to reuse yet; the result is kept
    assert len(list(cache.iterdir())) == 1
    # another job (another tree, as another target's build) with the same source and command
    second = _tree(tmp_path / "job2" / "BUILD", "hello")
    res = _build(second, tmp_path / "job2" / "BUILD", cache, gocache)
    assert "link cache: fkgo-1.0/bin/fkgo: kept" in res.stderr
    assert (second / "bin" / "fkgo").read_bytes() == (first / "bin" / "fkgo").read_bytes()
    assert _run(second / "bin" / "fkgo") == "hello plain"
    # same command, other source: the earlier binary is put in place, and Go links again
    third = _tree(tmp_path / "job3" / "BUILD", "changed")
    res = _build(third, tmp_path / "job3" / "BUILD", cache, gocache)
    assert "link cache: fkgo-1.0/bin/fkgo: linked again" in res.stderr
    assert _run(third / "bin" / "fkgo") == "changed plain"
    # the same as a build without the cache: byte for byte
    plain = _tree(tmp_path / "plain" / "BUILD", "changed")
    subprocess.run([go_binary(), "build", "-o", "bin/fkgo", "."], cwd=plain, check=True, timeout=300,
                   env=dict(os.environ, GOCACHE=str(gocache), GOFLAGS="-trimpath", GOTOOLCHAIN="local",
                            GOPROXY="off", CGO_ENABLED="0"))
    assert (plain / "bin" / "fkgo").read_bytes() == (third / "bin" / "fkgo").read_bytes()
    # other link flags are another entry: nothing is put in place
    fourth = _tree(tmp_path / "job4" / "BUILD", "changed")
    res = _build(fourth, tmp_path / "job4" / "BUILD", cache, gocache, "-ldflags=-X main.flavour=spicy")
    assert "link cache" not in res.stderr
    assert _run(fourth / "bin" / "fkgo") == "changed spicy"


def test_a_failed_build_leaves_no_earlier_output_behind(tmp_path: Path) -> None:
    """A build that fails after the earlier job's binary was put in place (here: it does not compile)
    exits with Go's status and leaves no binary, as without the cache."""
    cache, gocache = tmp_path / "linkcache", tmp_path / "gocache"
    _build(_tree(tmp_path / "job1" / "BUILD", "hello"), tmp_path / "job1" / "BUILD", cache, gocache)
    broken = _tree(tmp_path / "job2" / "BUILD", "hello")
    (broken / "main.go").write_text((broken / "main.go").read_text() + "func broken( {\n")
    with pytest.raises(subprocess.CalledProcessError) as err:
        _build(broken, tmp_path / "job2" / "BUILD", cache, gocache)
    assert "syntax error" in err.value.stderr
    assert not (broken / "bin" / "fkgo").exists()


def test_other_go_commands_and_outputs_outside_the_tree_pass_through(tmp_path: Path) -> None:
    cache, gocache = tmp_path / "linkcache", tmp_path / "gocache"
    src = _tree(tmp_path / "BUILD", "hello")
    env = _env(tmp_path / "BUILD", cache, gocache)
    version = subprocess.run(["go", "env", "GOVERSION"], env=env, capture_output=True, text=True, check=True)
    assert version.stdout.startswith("go1.")
    subprocess.run(["go", "build", "-o", str(tmp_path / "outside"), "."], cwd=src, env=env, check=True, timeout=300)
    subprocess.run(["go", "build", "."], cwd=src, env=env, check=True, timeout=300)  # no -o
    failed = subprocess.run(["go", "build", "-o", "bin/x", "./nothing-here"], cwd=src, env=env, capture_output=True,
                            text=True, timeout=300)
    assert failed.returncode != 0 and "nothing-here" in failed.stderr  # Go's own error and status
    assert not cache.exists() or not any(cache.iterdir())
    assert (tmp_path / "outside").exists()


# --------------------------------------------------------------------------- through the pipeline

FKGO_SPEC = HEADER + textwrap.dedent("""\
    BuildRequires:  golang

    %description
    A tiny Go program for Forklift's link cache tests.

    %prep
    %autosetup

    %build
    export GOFLAGS="-trimpath -buildmode=pie" GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=0
    go build -ldflags "-B gobuildid" -o bin/fkgo .

    %install
    install -D -m 0755 bin/fkgo %{buildroot}%{_bindir}/fkgo

    %files
    %license LICENSE
    %{_bindir}/fkgo

    {{ m.changelog(pkg) }}
    """)


def _go_package(root: Path) -> None:
    d = root / "fkgo"
    d.mkdir()
    make_tarball(d / "fkgo-1.0.tar.gz", {"fkgo-1.0/go.mod": "module example.org/fkgo\n\ngo 1.22\n",
                                          "fkgo-1.0/main.go": MAIN.format(text="hello"),
                                          "fkgo-1.0/LICENSE": "MIT License\n"})
    (d / "package.toml").write_text(PACKAGE_TOML.format(name="fkgo", vars=""))
    (d / "fkgo.spec.j2").write_text(FKGO_SPEC)
    (d / "changelog").write_text("* Tue Nov 24 2026 Forklift Tests <tests@example.org> - 1.0-1\n- Test package fkgo\n")


def _payload_binary(rpm: Path, dest: Path) -> bytes:
    dest.mkdir(parents=True)
    subprocess.run(f"rpm2cpio '{rpm}' | cpio -idm --quiet ./usr/bin/fkgo", shell=True, cwd=dest, check=True)
    return (dest / "usr" / "bin" / "fkgo").read_bytes()


def _build_run(specs: Path, build_dir: Path) -> pipeline.BuildReport:
    report = pipeline.run_build(model.load(specs), ["fedora-44", "fedora-45"], ["fkgo"], builder="rpmbuild", jobs=1,
                                force=True, json_path=None, build_dir=build_dir, offline=True,
                                console=Console(file=io.StringIO(), width=200))
    assert [r.status for r in report.records] == ["built", "built"], [r.message for r in report.records]
    return report


def test_a_run_links_once_per_set_of_inputs_and_the_rpms_do_not_change(
        test_specs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_tool("cpio", "rpm2cpio")
    monkeypatch.setenv("PATH", f"{Path(go_binary()).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FORKLIFT_BUILD_TMPFS", "off")
    _go_package(test_specs)
    build = tmp_path / "build"
    _build_run(test_specs, build)
    logs = {t: (build / "results" / t / "fkgo" / "build.log").read_text() for t in ("fedora-44", "fedora-45")}
    assert "link cache" not in logs["fedora-44"]
    assert "link cache: fkgo-1.0/bin/fkgo: kept" in logs["fedora-45"]
    assert "FORKLIFT_LINK_CACHE_DIR" in (build / "results" / "fedora-45" / "fkgo" / "root.log").read_text()
    assert not linkcache.root(build).exists()  # valid for the run only
    # the same RPM payload as a run without the cache
    monkeypatch.setenv(linkcache.ENV, "off")
    plain = tmp_path / "plain"
    _build_run(test_specs, plain)
    assert "link cache" not in (plain / "results" / "fedora-45" / "fkgo" / "build.log").read_text()
    rpm = "fkgo-1.0-1.fc45.x86_64.rpm"
    assert (_payload_binary(build / "results" / "fedora-45" / "fkgo" / rpm, tmp_path / "a")
            == _payload_binary(plain / "results" / "fedora-45" / "fkgo" / rpm, tmp_path / "b"))
