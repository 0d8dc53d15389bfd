"""The thin layer that runs the tools for the installability check: rpmbuild for stub
packages, createrepo_c for their repositories, dnf (install into a throw-away install
root, and repoclosure). No decisions here: see tooling/installcheck/__init__.py."""

from __future__ import annotations

import hashlib
import re
import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tooling.errors import ForkliftError
from tooling.run import run

DNF_CONF = """\
[main]
reposdir=
gpgcheck=0
install_weak_deps=True
keepcache=False
metadata_expire=0
installonly_limit=0
skip_if_unavailable=False
"""


@dataclass(frozen=True)
class DnfResult:
    ok: bool
    output: str
    installed: frozenset[str]  # package names in the install root afterwards


_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def build_stub(spec_text: str, cache: Path, work: Path) -> list[Path]:
    """rpmbuild -bb a stub spec once per spec text: its RPMs are kept in ``cache/<content key>/``
    (two targets that share a dist may still differ in a stub's relations, never in its key)."""
    key = hashlib.sha256(spec_text.encode()).hexdigest()[:16]
    with _locks_guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:
        out_dir = cache / key
        if out_dir.is_dir():
            return sorted(out_dir.glob("*.rpm"))
        top = work / f"rpmbuild-{key}"
        if top.exists():
            shutil.rmtree(top)
        spec = top / "stub.spec"
        spec.parent.mkdir(parents=True)
        spec.write_text(spec_text)
        run(["rpmbuild", "-bb", "--quiet", "--define", f"_topdir {top}", "--define", f"_rpmdir {top / 'RPMS'}",
             "--define", "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm", str(spec)],
            hint="install rpm-build (bash ci/setup.sh)")
        staged = top / "out"
        staged.mkdir()
        for r in (top / "RPMS").glob("*.rpm"):
            shutil.move(r, staged / r.name)
        cache.mkdir(parents=True, exist_ok=True)
        staged.rename(out_dir)  # complete or absent, never half
        shutil.rmtree(top)
        return sorted(out_dir.glob("*.rpm"))


def createrepo(directory: Path) -> None:
    run(["createrepo_c", "--quiet", "--no-database", str(directory)], hint="install createrepo-c (bash ci/setup.sh)")


class InstallRoot:
    """A throw-away install root and the repositories dnf may use for it."""

    def __init__(self, root: Path, releasever: str, repos: dict[str, Path]) -> None:
        self.root = root
        self.releasever = releasever
        self.repos = repos
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        self.cache = root.parent / f"{root.name}.cache"
        if self.cache.exists():  # metadata of an earlier run would describe other RPMs
            shutil.rmtree(self.cache)
        self.conf = root.parent / f"{root.name}.dnf.conf"
        self.conf.write_text(DNF_CONF)

    def _base(self) -> list[str]:
        argv = ["dnf", "-y", "--config", str(self.conf), "--installroot", str(self.root),
                "--releasever", self.releasever, "--setopt", f"cachedir={self.cache}",
                "--setopt", "tsflags=noscripts", "--nogpgcheck",
                # dnf-plugins-core's `local` plugin keeps every package dnf ever installed on this host in a
                # repository of its own and adds it to every run: stubs of other runs would leak in
                "--disableplugin=local"]
        for name, path in self.repos.items():
            argv += [f"--repofrompath={name},{path.resolve().as_uri()}"]
        return argv

    def install(self, packages: Sequence[str], repos: Sequence[str] | None = None) -> DnfResult:
        argv = self._base()
        if repos is not None:
            argv += ["--disablerepo=*", *[f"--enablerepo={r}" for r in repos]]
        res = run([*argv, "install", *packages], check=False, hint="install dnf (bash ci/setup.sh)")
        return DnfResult(res.ok, res.stdout + res.stderr, self.installed())

    def installed(self) -> frozenset[str]:
        res = run(["rpm", "--root", str(self.root), "-qa", "--qf", "%{NAME}\\n"], check=False)
        return frozenset(line for line in res.stdout.split() if line)

    def repoclosure(self, check: str) -> DnfResult:
        """Every dependency of the packages in repository ``check`` resolvable from all the repositories."""
        argv = [a for a in self._base() if a != "-y"]
        res = run([*argv, "repoclosure", "--check", check], check=False,
                  hint="install dnf-plugins-core (bash ci/setup.sh)")
        out = res.stdout + res.stderr
        if res.returncode != 0 and re.search(r"No such command: repoclosure", out):
            raise ForkliftError("dnf repoclosure is not available", hint="install dnf-plugins-core (bash ci/setup.sh)")
        return DnfResult(res.ok, out, frozenset())
