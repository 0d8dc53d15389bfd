"""Fixtures for the dist-git flow: a private spec tree with two tiny noarch packages whose
tarballs are remote sources (hashes in `sources`, bytes pre-loaded into a source cache), bare git
repositories as dist-git (branch f45), and a lookaside cache on 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tarfile
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.distgit.lookaside import Lookaside, serve
from tooling import REPO_ROOT, model
from tooling.model import Matrix
from tooling.sources.cache import SourceCache
from tooling.sourcesfile import SourceHash

TARGET = "fedora-45"
BRANCH = "f45"
PACKAGES = ("dg-base", "dg-app")

TARBALLS = {
    "dg-base": {"dg-base-1.0/README": "dg-base data\n", "dg-base-1.0/dg.h": "#define DG 1\n"},
    "dg-app": {"dg-app-1.0/README": "dg-app says hello\n"},
}

SPECS = {
    "dg-base": """\
        {% import "_templates/macros.j2" as m %}
        {{ m.preamble(pkg) }}
        BuildArch:      noarch

        %description
        Base package of the dist-git tests.

        %package devel
        Summary:        Header of dg-base

        %description devel
        Header of dg-base.

        %prep
        %autosetup

        %build

        %install
        install -D -m 0644 README %{buildroot}%{_datadir}/dg-base/README
        install -D -m 0644 dg.h %{buildroot}%{_includedir}/dg.h

        %files
        %{_datadir}/dg-base/README

        %files devel
        %{_includedir}/dg.h

        {{ m.changelog(pkg) }}
        """,
    "dg-app": """\
        {% import "_templates/macros.j2" as m %}
        {{ m.preamble(pkg) }}
        BuildArch:      noarch
        BuildRequires:  dg-base-devel

        %description
        Application of the dist-git tests.

        %prep
        %autosetup -p1

        %build
        grep -q patched README

        %install
        install -D -m 0644 README %{buildroot}%{_datadir}/dg-app/README

        %files
        %{_datadir}/dg-app/README

        {{ m.changelog(pkg) }}
        """,
}

PATCH = """\
--- a/README
+++ b/README
@@ -1 +1 @@
-dg-app says hello
+dg-app says hello, patched
"""


def tarball(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, text in sorted(files.items()):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 1700000000, 0o644
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@dataclass
class DistGit:
    specs: Path  # the private spec tree
    matrix: Matrix
    cache_dir: Path
    base: Path  # holds <package>.git bare repositories
    build_dir: Path

    def bare(self, package: str) -> Path:
        return self.base / f"{package}.git"

    def head(self, package: str, branch: str = BRANCH) -> str:
        return git("rev-parse", f"refs/heads/{branch}", cwd=self.bare(package))

    def show(self, package: str, path: str, branch: str = BRANCH) -> str:
        return git("show", f"{branch}:{path}", cwd=self.bare(package))

    def reload(self) -> None:
        self.matrix = model.load(self.specs)


@pytest.fixture
def distgit_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DistGit:
    require_tool("git", "rpmbuild")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no user mirrors or git identity leak in
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in ("FORKLIFT_MIRRORS", "FORKLIFT_CACHE", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME",
                "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(var, raising=False)
    specs = tmp_path / "specs"
    specs.mkdir()
    shutil.copy(REPO_ROOT / "specs" / "targets.toml", specs / "targets.toml")
    shutil.copytree(REPO_ROOT / "specs" / "_templates", specs / "_templates")
    cache = SourceCache(tmp_path / "cache")
    for name in PACKAGES:
        d = specs / name
        d.mkdir()
        data = tarball(TARBALLS[name])
        fname = f"{name}-1.0.tar.gz"
        digest = hashlib.sha512(data).hexdigest()
        staged = tmp_path / fname
        staged.write_bytes(data)
        cache.admit(staged, SourceHash(fname, "sha512", digest), origin="test", move=True)
        (d / "sources").write_text(f"SHA512 ({fname}) = {digest}\n")
        patches = ""
        if name == "dg-app":
            (d / "readme.patch").write_text(PATCH)
            patches = '\n[[patches]]\nfile = "readme.patch"\n'
        (d / "package.toml").write_text(textwrap.dedent(f"""\
            name = "{name}"
            version = "1.0"
            release = 1
            summary = "dist-git test package {name}"
            license = "MIT"
            url = "https://forklift.internal/{name}"
            source_date_epoch = 1700000000

            [[sources]]
            url = "https://example.org/dl/{name}-{{version}}.tar.gz"
            """) + patches)
        (d / f"{name}.spec.j2").write_text(textwrap.dedent(SPECS[name]))
        (d / "changelog").write_text(
            f"* Tue Nov 24 2026 Dist Git Tester <dg@forklift.internal> - 1.0-1\n"
            f"- First dist-git build of {name}, from Forklift's rendered spec\n  with its tarball in the lookaside\n")
    base = tmp_path / "dist-git"
    for name in PACKAGES:
        bare = base / f"{name}.git"
        git("init", "-q", "--bare", "-b", "rawhide", str(bare))
        seed = tmp_path / f"seed-{name}"
        git("clone", "-q", str(bare), str(seed))
        (seed / "README.md").write_text(f"# {name}\n")
        git("add", "README.md", cwd=seed)
        git("-c", "user.name=Seeder", "-c", "user.email=seed@example.org", "commit", "-q", "-m", "init", cwd=seed)
        git("push", "-q", "origin", "HEAD:rawhide", "HEAD:f45", cwd=seed)
        shutil.rmtree(seed)
    return DistGit(specs, model.load(specs), tmp_path / "cache", base, tmp_path / "build")


@pytest.fixture
def lookaside(tmp_path: Path) -> Iterator[Lookaside]:
    cache = serve(tmp_path / "lookaside")
    yield cache
    cache.close()
