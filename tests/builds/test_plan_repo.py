"""Pure planning from SRPM headers, and atomic repository publishing."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from tooling import repo
from tooling.builds import plan
from tooling.builds.plan import SrpmInfo, plan_layers, read_srpm
from tooling.errors import ForkliftError
from tooling.run import run


def info(name: str, provides: tuple[str, ...] = (), brs: tuple[str, ...] = ()) -> SrpmInfo:
    return SrpmInfo(name=name, epoch=None, version="1", release="1", arch="x86_64", nvr=f"{name}-1-1",
                    provides=(name, *provides), buildrequires=brs, path=Path(f"/x/{name}.src.rpm"))


def test_layers_follow_buildrequires() -> None:
    layers = plan_layers([info("app", brs=("gcc", "lib-devel >= 1")), info("lib", provides=("lib-devel",)),
                          info("doc")])
    assert [[i.name for i in layer] for layer in layers] == [["doc", "lib"], ["app"]]


def test_cycle_is_named() -> None:
    with pytest.raises(ForkliftError, match=r"build dependency cycle: (a -> b -> a|b -> a -> b)"):
        plan_layers([info("a", provides=("a-devel",), brs=("b-devel",)), info("b", provides=("b-devel",),
                                                                                brs=("a-devel",))])


def test_internal_dependency_nobody_provides() -> None:
    with pytest.raises(ForkliftError, match=r"app-1-1 BuildRequires 'lib-devel', an internal package"):
        plan_layers([info("app", brs=("lib-devel",))], internal_names=["lib", "app"])


def test_bad_srpm(tmp_path: Path) -> None:
    bad = tmp_path / "broken-1-1.src.rpm"
    bad.write_bytes(b"this is not an rpm")
    with pytest.raises(ForkliftError, match=r"broken-1-1\.src\.rpm: not a readable RPM"):
        read_srpm(bad)


def _noarch_rpm(tmp_path: Path, name: str, release: int) -> Path:
    top = tmp_path / f"top-{name}-{release}"
    spec = tmp_path / f"{name}.spec"
    spec.write_text(f"Name: {name}\nVersion: 1\nRelease: {release}\nSummary: t\nLicense: MIT\nBuildArch: noarch\n"
                    "%description\nt\n%files\n")
    run(["rpmbuild", "-bb", "--define", f"_topdir {top}", str(spec)])
    return next((top / "RPMS" / "noarch").glob("*.rpm"))


def test_publish_is_atomic_and_replaces_older_builds(tmp_path: Path) -> None:
    repo_dir = tmp_path / "repos" / "t"
    repo.publish(repo_dir, [_noarch_rpm(tmp_path, "a", 1), _noarch_rpm(tmp_path, "b", 1)])
    first = os.readlink(repo_dir)
    seen: list[set[str]] = []
    stop = threading.Event()

    def reader() -> None:  # a reader only ever sees a complete repo
        while not stop.is_set():
            cur = repo.current(repo_dir)
            if cur is not None:
                names = {p.name for p in cur.glob("*.rpm")}
                if (cur / "repodata" / "repomd.xml").exists():
                    seen.append(names)

    t = threading.Thread(target=reader)
    t.start()
    repo.publish(repo_dir, [_noarch_rpm(tmp_path, "a", 2)])
    stop.set()
    t.join()
    assert os.readlink(repo_dir) != first
    assert sorted(p.name for p in repo.packages(repo_dir)) == ["a-1-2.noarch.rpm", "b-1-1.noarch.rpm"]
    assert all(s in ({"a-1-1.noarch.rpm", "b-1-1.noarch.rpm"}, {"a-1-2.noarch.rpm", "b-1-1.noarch.rpm"})
               for s in seen)
    primary = (repo.current(repo_dir) / "repodata").glob("*primary.xml*")  # type: ignore[operator]
    assert list(primary)


def test_publish_failure_leaves_repo_unchanged(tmp_path: Path) -> None:
    repo_dir = tmp_path / "repos" / "t"
    repo.publish(repo_dir, [_noarch_rpm(tmp_path, "a", 1)])
    before = os.readlink(repo_dir)
    junk = tmp_path / "junk.rpm"
    junk.write_bytes(b"not an rpm")
    with pytest.raises(ForkliftError, match="not a readable RPM"):
        repo.publish(repo_dir, [junk])
    assert os.readlink(repo_dir) == before
    assert not [p for p in (tmp_path / "repos" / ".t.d").iterdir() if p.name.startswith("staging-")]


def test_critical_path_puts_the_head_of_the_longest_chain_first() -> None:
    a, b, c, d = ("t", "lib"), ("t", "app"), ("t", "doc"), ("u", "lib")
    deps = {a: [], b: [a], c: [], d: []}
    prio = plan.critical_path(deps, {a: 10.0, b: 30.0, c: 35.0, d: 1.0})
    # lib is worth its own 10 s plus the 30 s of app that waits for it
    assert prio == {a: 40.0, b: 30.0, c: 35.0, d: 1.0}
    assert sorted(deps, key=lambda j: -prio[j])[0] == a
    # unknown costs count 1 each: the chain still wins over a lone job
    assert plan.critical_path(deps, {})[a] == 2.0


def test_estimated_costs_fall_back_to_the_package_then_the_median() -> None:
    history = {("fedora-45", "engine"): 100.0, ("fedora-44", "engine"): 80.0, ("fedora-45", "cli"): 30.0,
               ("fedora-45", "doc"): 2.0}
    jobs = [("fedora-45", "engine"), ("rhel-9", "engine"), ("rhel-9", "selinux")]
    assert plan.estimated_costs(jobs, history) == {
        ("fedora-45", "engine"): 100.0,  # its own last time
        ("rhel-9", "engine"): 90.0,  # the package's mean elsewhere
        ("rhel-9", "selinux"): 80.0,  # never built: the median of what was (2, 30, 80, 100)
    }
    assert plan.estimated_costs(jobs, {}) == dict.fromkeys(jobs, 1.0)
    # a first run: the SRPM sizes rank the jobs; any history wins over them
    sizes = {("fedora-45", "engine"): 15_000_000, ("rhel-9", "engine"): 14_999_000, ("rhel-9", "selinux"): 20_000}
    first = plan.estimated_costs(jobs, {}, sizes)
    assert first[("rhel-9", "engine")] > first[("rhel-9", "selinux")] > 0
    assert first[("rhel-9", "engine")] == first[("fedora-45", "engine")]  # one package's targets tie
    assert plan.estimated_costs(jobs, history, sizes)[("rhel-9", "selinux")] == 80.0
