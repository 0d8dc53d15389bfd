"""The engine's %check runs the security patches' regression tests (security.toml `tests`) in one
`go test` whose -exec wrapper adds each package's -run selection. These run that part of the
rendered %check, as rpm expands it, with bash -e and the real Go toolchain, against a small source
tree made here with the same package directories: the selected tests run, the others do not, and
a selection that runs nothing fails the build."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import go_binary, require_tool
from tests.packages.conftest import MATRIX, Rendered
from tooling import security

RenderFn = Callable[[str, str], Rendered]
ENGINE = "moby-engine-dm"
TESTS = security.load(MATRIX.packages[ENGINE]).check_tests  # type: ignore[union-attr]


def _script(spec: Rendered) -> str:
    """The security-test part of the engine's %check, from writing the wrapper to the last check."""
    check = spec.section("check", expanded=True)
    start = check.index("cat > _gotest-exec")
    end = check.index("\n", check.index(f"-eq {len(TESTS)}"))
    return check[start:end] + "\n"


def _tree(root: Path, *, leave_out: str = "") -> None:
    """A module github.com/docker/docker with the tested package directories. In a package with a
    -run selection, one test matches it and one (which fails) does not; a whole package has two tests."""
    (root / "vendor.mod").write_text("module github.com/docker/docker\n\ngo 1.22\n")
    (root / "vendor").mkdir()
    (root / "vendor" / "modules.txt").write_text("")
    hack = root / "hack" / "with-go-mod.sh"
    hack.parent.mkdir()
    # as upstream's: a go.mod for the command's time (v24 has none; vendor.mod is its module file)
    hack.write_text('#!/bin/sh\nset -e\nprintf "module github.com/docker/docker\\n\\ngo 1.22\\n" > go.mod\n'
                    'trap "rm -f go.mod" EXIT\nGO111MODULE=on "$@"\n')
    hack.chmod(0o755)
    for t in TESTS:
        d = root / t.directory.lstrip("/")
        d.mkdir(parents=True, exist_ok=True)
        name = d.name.replace("-", "_")
        (d / "x.go").write_text(f"package {name}\n")
        if t.run:
            # a name each alternative of the regexp matches, made from its literal part
            picks = [re.sub(r"[^A-Za-z0-9_]", "", alt) for alt in t.run.split("|")]
            body = "".join(
                f'func {p if p.startswith("Test") else "Test" + p}(t *testing.T) {{ t.Log("selected") }}\n'
                for p in picks if p != leave_out)
            body += 'func TestNotSelectedZZ(t *testing.T) { t.Fatal("ran a test the selection leaves out") }\n'
        else:
            body = ('func TestWholeA(t *testing.T) { t.Log("whole") }\n'
                    'func TestWholeB(t *testing.T) { t.Log("whole") }\n')
        (d / "x_test.go").write_text(f'package {name}\n\nimport "testing"\n\n{body}')


def _run(root: Path, script: str, gocache: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PATH=f"{Path(go_binary()).parent}{os.pathsep}{os.environ['PATH']}",
               GOCACHE=str(gocache), GOFLAGS="", HOME=str(root.parent))
    return subprocess.run(["bash", "-e", "-c", script], cwd=root, env=env, capture_output=True, text=True,
                          timeout=600)


def test_every_security_test_package_and_selection_is_in_the_check(render_pkg: RenderFn) -> None:
    check = render_pkg(ENGINE, "fedora-45").section("check", expanded=True)
    command = check[check.index("go test "):check.index("| tee gotest.log")]
    assert [p for p in re.findall(r"^\s+(\./\S+) \\$", command, re.M)] == [t.package for t in TESTS]
    for t in TESTS:
        if t.run:
            assert f'"$top{t.directory}") set -- "$@" \'-test.run={t.run}\' ;;' in check, t


@pytest.fixture(scope="module")
def gocache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("engine-check-gocache")


@pytest.fixture
def script(render_pkg: RenderFn) -> str:
    require_tool("gcc")  # the check's environment builds with cgo on
    return _script(render_pkg(ENGINE, "fedora-45"))


def test_check_runs_each_package_with_its_own_selection(tmp_path: Path, script: str, gocache: Path) -> None:
    root = tmp_path / "moby"
    root.mkdir()
    _tree(root)
    res = _run(root, script, gocache)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    log = (root / "gotest.log").read_text()
    assert len(re.findall(r"^ok ", log, re.M)) == len(TESTS)
    assert "TestNotSelectedZZ" not in log
    selected = [t for t in TESTS if t.run]
    assert len(re.findall(r"^--- PASS: TestWhole[AB] ", log, re.M)) == 2 * (len(TESTS) - len(selected))
    assert log.count("selected") >= len(selected)


def test_a_selection_that_runs_nothing_fails_the_check(tmp_path: Path, script: str, gocache: Path) -> None:
    run = next(t for t in TESTS if t.run and "|" not in t.run)
    root = tmp_path / "moby"
    root.mkdir()
    _tree(root, leave_out=re.sub(r"[^A-Za-z0-9_]", "", run.run))
    res = _run(root, script, gocache)
    assert res.returncode != 0
    assert "no tests to run" in (root / "gotest.log").read_text()


def test_a_package_without_tests_fails_the_check(tmp_path: Path, script: str, gocache: Path) -> None:
    root = tmp_path / "moby"
    root.mkdir()
    _tree(root)
    whole = next(t for t in TESTS if not t.run)
    (root / whole.directory.lstrip("/") / "x_test.go").unlink()
    res = _run(root, script, gocache)
    assert res.returncode != 0
    assert "[no test files]" in (root / "gotest.log").read_text()


def test_joined_selections_and_a_subtest_pattern() -> None:
    rec = security.Record(package="x", line="", reviewed="", notes="", cves=(
        security.Cve(id="CVE-1", component="x", summary="", status="patched", patches=("a",),
                     tests=("./p:^TestA$", "./q")),
        security.Cve(id="CVE-2", component="x", summary="", status="patched", patches=("a",),
                     tests=("./p:^TestB$", "./q:^TestC$", "./p:^TestA$")),
    ))
    assert rec.check_tests == (security.GoTest("./p", "^TestA$|^TestB$"), security.GoTest("./q", ""))


def test_a_subtest_pattern_cannot_be_joined(tmp_path: Path) -> None:
    from tooling.errors import DataError

    cves = [security.Cve(id="CVE-1", component="x", summary="", status="patched", patches=("a",),
                         tests=("./p:^TestA$/sub",)),
            security.Cve(id="CVE-2", component="x", summary="", status="patched", patches=("a",),
                         tests=("./p:^TestB$",))]
    with pytest.raises(DataError, match=r"cve\[0\]\.tests.*subtest"):
        security._check_joinable(tmp_path / "security.toml", cves)
    security._check_joinable(tmp_path / "security.toml", cves[:1])  # alone it is fine
