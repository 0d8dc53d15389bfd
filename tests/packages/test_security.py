"""The CVE record (specs/<package>/security.toml) against the specs and the upstream sources:
every CVE marked patched has its patches in the rendered spec, they apply to the upstream
tarball in order and without fuzz, %check runs their regression tests; every CVE marked
fixed is fixed in the shipped version; docs/security.md is the record's rendering."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.packages.conftest import MATRIX, UPSTREAM_CACHE, Rendered
from tooling import REPO_ROOT, security
from tooling.model import Package

RenderFn = Callable[[str, str], Rendered]
RECORDS = {r.package: r for r in security.load_all(MATRIX)}
DOC = REPO_ROOT / "docs" / "security.md"


def test_every_shipped_package_has_a_cve_record() -> None:
    assert {"moby-engine-dm", "docker-cli", "containerd"} <= set(RECORDS)
    engine = RECORDS["moby-engine-dm"]
    assert [c.status for c in engine.cves if c.id == "CVE-2024-41110"] == ["patched"]


def test_docs_security_md_is_the_rendering_of_the_records() -> None:
    want = security.render_markdown(RECORDS.values())
    assert DOC.read_text() == want, "docs/security.md is stale: .venv/bin/python -m tooling.security > docs/security.md"


@pytest.mark.parametrize("target", ["fedora-45", "centos-stream-9"])
@pytest.mark.parametrize("package", sorted(RECORDS))
def test_patched_cves_have_their_patches_and_tests_in_the_spec(render_pkg: RenderFn, package: str,
                                                                target: str) -> None:
    record = RECORDS[package]
    pkg = MATRIX.packages[package]
    if not pkg.enabled_for(MATRIX.targets[target]):
        pytest.skip(f"{package} is not built for {target}")
    spec = render_pkg(package, target)
    by_file = {p.file: p for p in pkg.patches}
    for cve in record.by_status("patched"):
        for f in cve.patches:
            patch = by_file[f]
            assert re.search(rf"^Patch{patch.index}: +{re.escape(patch.spec_value)}$", spec.text, re.M), (cve.id, f)
    # %autosetup -p1 applies every declared patch (rpm's own view of the spec)
    assert re.search(r"^%autosetup -p1\b", spec.section("prep"), re.M)
    check = spec.section("check", expanded=True)
    # one go test over every package (tests/packages/test_engine_check.py runs it); the -exec
    # wrapper adds a package's -run selection in its directory
    for test in record.check_tests:
        assert re.search(rf"^ +{re.escape(test.package)} \\$", check, re.M), (test, check)
        if test.run:
            assert f'"$top{test.directory}") set -- "$@" \'-test.run={test.run}\' ;;' in check, (test, check)


@pytest.mark.parametrize("package", sorted(RECORDS))
def test_fixed_cves_are_fixed_in_the_shipped_version(package: str) -> None:
    version = _ver(MATRIX.packages[package].version)
    for cve in RECORDS[package].by_status("fixed"):
        assert _ver(cve.fixed_in) <= version, f"{cve.id}: fixed in {cve.fixed_in}, {package} ships {version}"


def _ver(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v))


# --------------------------------------------------------------------------- the patches apply


def _patched_paths(patch: bytes) -> set[str]:
    return {m.decode() for m in re.findall(rb"^\+\+\+ b/(\S+)", patch, re.M)} | {
        m.decode() for m in re.findall(rb"^--- a/(\S+)", patch, re.M)
    }


def _patch_bytes(pkg: Package, name: str) -> bytes | None:
    patch = next(p for p in pkg.patches if p.file == name)
    path = UPSTREAM_CACHE / name if patch.source is not None else pkg.directory / name
    return path.read_bytes() if path.is_file() else None


@pytest.mark.parametrize("package", [p for p in sorted(RECORDS) if MATRIX.packages[p].patches])
def test_patches_apply_to_the_upstream_tarball_in_order(tmp_path: Path, package: str) -> None:
    """What %autosetup -p1 does, with rpm's default fuzz 0: each patch applies on top of the
    previous ones. Only the files the patches touch are unpacked."""
    require_tool("patch")
    pkg = MATRIX.packages[package]
    tarball = UPSTREAM_CACHE / pkg.sources[0].file
    if not tarball.is_file():
        pytest.skip(f"upstream tarball {tarball.name} not in {UPSTREAM_CACHE} (docs/packages.md: Sources and hashes)")
    patches: list[tuple[str, bytes]] = []
    for p in pkg.patches:
        data = _patch_bytes(pkg, p.file)
        if data is None:
            pytest.skip(f"patch {p.file} not in {UPSTREAM_CACHE} (docs/security.md: how the patches are made)")
        patches.append((p.file, data))
    wanted = set().union(*(_patched_paths(d) for _, d in patches))
    with tarfile.open(tarball) as tf:
        top = tf.getmembers()[0].name.split("/")[0]
        members = [m for m in tf.getmembers() if m.name.partition("/")[2] in wanted]
        tf.extractall(tmp_path, members=members)  # our verified tarball, named members only
    tree = tmp_path / top
    tree.mkdir(exist_ok=True)
    for name, data in patches:
        res = subprocess.run(["patch", "-p1", "-s", "--fuzz=0", "--no-backup-if-mismatch", "-d", str(tree)],
                             input=data, capture_output=True, check=False)
        assert res.returncode == 0, f"{name} does not apply:\n{res.stdout.decode()}{res.stderr.decode()}"
    # the CVE-2024-41110 fix is really in the tree (not just a patch that applied somewhere)
    if package == "moby-engine-dm":
        authz = (tree / "pkg/authorization/authz.go").read_text()
        assert 'regexp.MatchString(`^[^\\/]*\\/(v\\d[\\d\\.]*\\/)?auth.*`' in authz
        assert "request body too large for authorization plugin" in authz


def test_a_patch_that_does_not_apply_is_caught(tmp_path: Path) -> None:
    """The apply check is real: a patch against text the tree does not have fails."""
    require_tool("patch")
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "f").write_text("one\n")
    bad = b"--- a/f\n+++ b/f\n@@ -1 +1 @@\n-two\n+three\n"
    res = subprocess.run(["patch", "-p1", "-s", "--fuzz=0", "--dry-run", "-d", str(tmp_path / "t")],
                         input=bad, capture_output=True, check=False)
    assert res.returncode != 0
    shutil.rmtree(tmp_path / "t")


# --------------------------------------------------------------------------- upstream's own branch

MOBY_GIT = os.environ.get("FORKLIFT_MOBY_GIT", "")
SECURITY_WORDS = re.compile(r"(?i)\b(security|CVE-\d{4}-\d+|GHSA-[a-z0-9-]+|authz)\b")


def test_security_commits_after_the_release_on_its_branch_are_carried() -> None:
    """Every commit on moby's release branch after the shipped tag that says it is a security fix
    is carried as a patch (this is how CVE-2024-41110's fix, f91551869e on 24.0, went unnoticed).
    Needs a clone of moby (a bare mirror will do): FORKLIFT_MOBY_GIT=/path/to/moby.git."""
    if not MOBY_GIT or not Path(MOBY_GIT).is_dir():
        pytest.skip("set FORKLIFT_MOBY_GIT to a clone of github.com/moby/moby to check its release branch")
    require_tool("git")
    pkg = MATRIX.packages["moby-engine-dm"]
    branch = ".".join(pkg.version.split(".")[:2])
    out = subprocess.run(["git", "-C", MOBY_GIT, "log", "--no-merges", "--format=%H%x00%s%x00%b%x01",
                          f"v{pkg.version}..{branch}"], capture_output=True, text=True, check=True).stdout
    carried = {p.file.removesuffix(".patch") for p in pkg.patches if p.source is not None}
    record = RECORDS["moby-engine-dm"]
    mentioned = " ".join([u for c in record.cves for u in c.upstream] + [c for c, _ in record.not_carried])
    missing = []
    for entry in filter(None, (e.strip() for e in out.split("\x01"))):
        sha, subject, body = entry.split("\x00", 2)
        if SECURITY_WORDS.search(subject + " " + body) and sha not in carried and sha[:10] not in mentioned:
            missing.append(f"{sha[:10]} {subject}")
    assert not missing, f"security commits on moby {branch} after v{pkg.version} not carried: {missing}"
