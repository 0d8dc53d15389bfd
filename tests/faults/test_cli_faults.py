"""Bad options and bad data through the real `invoke` command line: each case is rejected before
any work with one line naming the option, file or key, no traceback and nothing left behind."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults.conftest import INVOKE, SECRET, CliResult, Loopback, assert_fault, lock_free, snapshot, tiny_tree
from tooling import REPO_ROOT

Cli = Callable[..., CliResult]


@pytest.fixture
def specs(tmp_path: Path, server: Loopback) -> Path:
    return tiny_tree(tmp_path, f"{server.base}/files/tiny-{{version}}.tar.gz")


# ---------------------------------------------------------------- options


@pytest.mark.parametrize("args,culprit", [
    (["build", "--jobs", "two"], "--jobs two: not a whole number"),
    (["build", "--jobs", "0"], "--jobs 0: must be at least 1"),
    (["build", "--jobs", "-3"], "--jobs -3: must be at least 1"),
    (["build", "--builder", "rpmbuild", "--mock-config-dir", "/etc"], "--mock-config-dir /etc applies to mock only"),
    (["build", "--builder", "mock-container", "--mock-config-dir", "/etc"], "not to --builder mock-container"),
    (["build", "--builder", "mock", "--mock-config-dir", "/nonexistent/mockcfg"],
     "--mock-config-dir /nonexistent/mockcfg: no such directory"),
    (["build", "--builder", "nope"], "unknown builder 'nope'"),
    (["build", "-t", "fedora-1"], "fedora-1"),
    (["build", "-p", "nosuchpkg"], "nosuchpkg"),
    (["srpm", "-p", "nosuchpkg"], "nosuchpkg"),
    (["render", "-t", "fedora-1"], "fedora-1"),
    (["ci-matrix", "--arch", "s390x"], "--arch s390x: no target"),
    (["sources", "--mirror", "lookaside:ftp://example.org/pkgs"], "lookaside mirror 'ftp://example.org/pkgs'"),
    (["sources", "--mirror", "url:file:///srv"], "url mirror 'file:///srv' is not an http(s) URL"),
])
def test_bad_option(cli: Cli, tmp_path: Path, specs: Path, server: Loopback, args: list[str], culprit: str) -> None:
    build = tmp_path / "build"
    if args[0] in ("build", "srpm"):
        args = [*args, "--build-dir", str(build), "--offline"]
    if args[0] == "sources":
        args = [*args, "--cache-dir", str(tmp_path / "cache")]
    res = cli(*args, extra_env={"FORKLIFT_SPECS": str(specs)})
    assert_fault(res, code=1, culprit=culprit)
    assert res.stdout.strip() == "" or args[0] == "build", "it printed results for a rejected option"
    assert not (build / "results").exists() and not (build / "repos").exists()
    assert lock_free(build)
    assert not server.log, "it went to the network for a rejected option"


def test_ci_matrix_known_arch_still_works(cli: Cli) -> None:
    res = cli("ci-matrix", "--arch", "x86_64")
    assert res.code == 0, str(res)
    entries = json.loads(res.stdout)["include"]
    assert entries and {e["arch"] for e in entries} == {"x86_64"}



def test_targets_table_in_a_log_keeps_every_name_whole(cli: Cli) -> None:
    """`invoke targets` into a pipe or CI log (not a terminal): rich used to cut the table to 80 columns
    ("fedo…"); every target, mock chroot, koji target and package name must be there whole."""
    from tooling import model

    res = cli("targets", extra_env={"COLUMNS": ""})
    assert res.code == 0, str(res)
    words = set(res.stdout.replace("│", " ").split())
    matrix = model.load()
    for t in matrix.targets.values():
        assert {t.name, t.mock_chroot(), t.koji_target} <= words, t.name
        assert {p.name for p in matrix.packages.values() if p.enabled_for(t)} <= words, t.name
    assert "…" not in res.stdout


# ---------------------------------------------------------------- data files


@pytest.mark.parametrize("mirrors_toml,culprit", [
    ("[[mirror]\n", "invalid TOML"),
    ('[[mirror]]\ntype = "ftp"\nurl = "x"\n', "mirror[0].type"),
    ('[[mirror]]\ntype = "dir"\n', "mirror[0].path"),
    ('[[mirror]]\ntype = "url"\nurl = "http://h"\nspeed = 3\n', "mirror[0].speed"),
    ('mirrors = []\n', "mirrors: unknown key"),
])
def test_bad_mirrors_toml(cli: Cli, tmp_path: Path, specs: Path, mirrors_toml: str, culprit: str) -> None:
    conf = tmp_path / "mirrors.toml"
    conf.write_text(mirrors_toml)
    res = cli("sources", "--cache-dir", str(tmp_path / "cache"),
              extra_env={"FORKLIFT_SPECS": str(specs), "FORKLIFT_MIRRORS": str(conf)})
    assert_fault(res, code=1, culprit=(str(conf), culprit))
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("edit,culprit", [
    (lambda p: p.write_text("colour = 'red'\n" + p.read_text()), ("package.toml", "colour")),
    (lambda p: p.with_name("sources").write_text("SHA512 (tiny-1.0.tar.gz) = 1234\n"), ("sources",)),
    (lambda p: p.with_name("sources").write_text(""), ("sources", "no hash for tiny-1.0.tar.gz")),
    (lambda p: p.write_text(p.read_text().replace('version = "1.0"', "version = 1.0")), ("package.toml", "version")),
    (lambda p: p.with_name("tiny.conf").unlink(), ("package.toml", "tiny.conf")),
])
def test_bad_package_data(cli: Cli, tmp_path: Path, specs: Path, edit: Callable[[Path], object],
                          culprit: tuple[str, ...]) -> None:
    edit(specs / "fksrc" / "package.toml")
    res = cli("render", "-t", "fedora-45", "--out", str(tmp_path / "out"), extra_env={"FORKLIFT_SPECS": str(specs)})
    assert_fault(res, code=1, culprit=culprit)
    assert not (tmp_path / "out" / "fedora-45").exists()


@pytest.mark.parametrize("expr,hint", [
    ("{{ build_flags }}", "write {{ vars.build_flags }} in the template"),
    ("{{ vars.build_flags }}", "the template reads it as vars.build_flags"),
])
def test_undefined_template_variable_hint_says_vars(cli: Cli, tmp_path: Path, specs: Path, expr: str,
                                                    hint: str) -> None:
    spec = specs / "fksrc" / "fksrc.spec.j2"
    spec.write_text(spec.read_text().replace("%build\n", f"%build\n{expr}\n"))
    res = cli("render", "-t", "fedora-45", "--out", str(tmp_path / "out"), extra_env={"FORKLIFT_SPECS": str(specs)})
    assert_fault(res, code=1, culprit=("fksrc.spec.j2", "undefined variable"))
    (hint_line,) = [ln for ln in res.stderr.splitlines() if "hint:" in ln]
    assert hint in hint_line and "[vars]" in hint_line


# ---------------------------------------------------------------- secrets in the build report


def test_build_json_and_logs_hold_no_mirror_credentials(cli: Cli, tmp_path: Path, specs: Path,
                                                        server: Loopback) -> None:
    specs = tiny_tree(tmp_path / "t2", f"{server.base}/missing/tiny-{{version}}.tar.gz")
    mirror = "url:" + server.base.replace("http://", f"http://builder:{SECRET}@") + "/missing"
    report = tmp_path / "r.json"
    res = cli("build", "-t", "fedora-45", "--builder", "rpmbuild", "--build-dir", str(tmp_path / "build"),
              "--cache-dir", str(tmp_path / "cache"), "--mirror", mirror, "--json", str(report),
              extra_env={"FORKLIFT_SPECS": str(specs)})
    assert_fault(res, code=3, culprit=("/missing/fksrc/tiny-1.0.tar.gz", "HTTP 404"), secrets=(SECRET,),
                 files=(report, tmp_path / "build", tmp_path / "cache"), error=False)
    data = json.loads(report.read_text())
    tried = data["missing_sources"][0]["tried"]
    assert any("http://***@127.0.0.1" in t for t in tried), tried
    assert server.hits("/missing/") >= 2


# ---------------------------------------------------------------- 6. smoke checks its arguments first


@pytest.mark.parametrize("args,culprit", [
    (["--engine", "/nonexistent"], "--engine /nonexistent: neither rpm nor standin nor debian nor a directory"),
    (["--engine", "EMPTYDIR"], "holds no dockerd"),
    (["--via", "lxc"], "--via lxc: unknown provisioner"),
    (["--target", "fedora-1"], "fedora-1"),
    (["--build-dir", "NOBUILD"], "no such directory"),
    (["--previous-repo", "EMPTYDIR"], "--previous-repo EMPTYDIR: no RPMs there"),
    (["--previous-repo", "EMPTYDIR", "--engine", "standin"], "only with --via vm --engine rpm"),
])
def test_smoke_checks_arguments_before_any_work(cli: Cli, tmp_path: Path, args: list[str], culprit: str) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    build = tmp_path / "build"
    build.mkdir()
    args = [a.replace("EMPTYDIR", str(empty)).replace("NOBUILD", str(tmp_path / "nobuild" / "b")) for a in args]
    culprit = culprit.replace("EMPTYDIR", str(empty))
    if "--build-dir" not in args:
        args += ["--build-dir", str(build)]
    before = snapshot(tmp_path)
    res = cli("smoke", *args, timeout=60)
    assert_fault(res, code=1, culprit=culprit)
    assert res.seconds < 15, "smoke did work before rejecting its arguments"
    assert snapshot(tmp_path) == before and not (tmp_path / "nobuild").exists()


# ---------------------------------------------------------------- set-up


def test_venv_commands_print_no_dependency_warning() -> None:
    """The venv's own requests/urllib3/charset-normalizer/idna come from the venv (ci/setup.sh), so
    `invoke --list` prints no RequestsDependencyWarning (or any warning) however the system is set up."""
    res = subprocess.run([str(INVOKE), "--list"], cwd=REPO_ROOT, capture_output=True, text=True, check=False,
                         env={"PATH": "/usr/bin:/bin", "PYTHONWARNINGS": "default"})
    assert res.returncode == 0, res.stderr
    assert res.stderr == "", res.stderr
    probe = subprocess.run([str(INVOKE.with_name("python")), "-c",
                            "import requests, urllib3, idna, charset_normalizer as c, sys\n"
                            "print('\\n'.join(m.__file__ for m in (requests, urllib3, idna, c)))"],
                           capture_output=True, text=True, check=True)
    venv = str(INVOKE.parent.parent)
    for path in probe.stdout.split():
        assert path.startswith(venv), f"{path} is not the venv's own copy"


@pytest.mark.parametrize("kind", ["a-file", "under-a-file"])
def test_srpm_build_dir_unwritable(cli: Cli, tmp_path: Path, specs: Path, kind: str) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x\n")
    where = blocker if kind == "a-file" else blocker / "sub" / "build"
    res = cli("srpm", "-t", "fedora-45", "--build-dir", str(where), "--cache-dir", str(tmp_path / "cache"),
              extra_env={"FORKLIFT_SPECS": str(specs)})
    assert_fault(res, code=1, culprit=(f"--build-dir {where}", "not a directory"))
    assert blocker.read_text() == "x\n" and not (tmp_path / "cache").exists()
