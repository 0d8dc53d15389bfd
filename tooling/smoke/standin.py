"""The smoke repository built here from the real specs, for the RPM-native VM guest.

``moby-dm-storage-setup`` is built from its real spec and sources. The engine and the
CLI need Go and the upstream tarballs, so for them this module builds **stand-ins**:
the real rendered spec (Name, Version, Release, every relation, the scriptlets, the
unit files and sysusers file from specs/, ``%install`` and ``%files`` unchanged) with
``%prep``/``%build`` replaced by a tree that holds Debian's binaries (docker.io 20.10
and tini from the guest's suite) where upstream's build outputs would be, and no
``%check``. So dnf, rpm scriptlets, systemd units and socket activation run for real;
only the binaries are Debian's. Every stand-in says so: its description starts with
``FORKLIFT SMOKE STAND-IN`` and it provides ``forklift-smoke-standin``.

``release_offset=-1`` builds release N-1 of every package (the upgrade test);
``broken`` builds a deliberately broken variant (the tests show the smoke run catches it).
Built repositories are cached under ``.cache/smoke/repos/<key>`` keyed by every input.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tooling import REPO_ROOT, render
from tooling.errors import ForkliftError
from tooling.model import Matrix, Package, Target
from tooling.run import run

HOST_MACROS = REPO_ROOT / "specs" / "host-compat.macros"
STANDIN_PROVIDE = "forklift-smoke-standin"
STANDIN_MARK = "FORKLIFT SMOKE STAND-IN"
FORMAT = 2  # bump when the recipe below changes

# Where the real build puts each file %install picks up, and what the stand-in puts there:
# "deb:<package>:<path in the .deb>" or a placeholder text.
PAYLOAD: dict[str, dict[str, str]] = {
    "moby-engine-dm": {
        "bundles/dynbinary-daemon/dockerd": "deb:docker.io:usr/sbin/dockerd",
        "bundles/dynbinary-daemon/docker-proxy": "deb:docker.io:usr/sbin/docker-proxy",
        "tini-build/tini-static": "deb:tini:usr/bin/tini-static",
        "contrib/udev/80-docker.rules": "deb:docker.io:lib/udev/rules.d/80-docker.rules",
        "tini-{tini_version}/LICENSE": "text",
    },
    "docker-cli": {
        "build/docker": "deb:docker.io:usr/bin/docker",
        "contrib/completion/bash/docker": "deb:docker.io:usr/share/bash-completion/completions/docker",
        "contrib/completion/zsh/_docker": "deb:docker.io:usr/share/zsh/vendor-completions/_docker",
        "contrib/completion/fish/docker.fish": "deb:docker.io:usr/share/fish/vendor_completions.d/docker.fish",
        **{f"man/man{p.rsplit('.', 1)[1]}/{p}": "text" for p in (
            "docker.1", "docker-build.1", "docker-run.1", "docker-config-json.5", "Dockerfile.5", "dockerd.8")},
    },
}
REAL = ("moby-dm-storage-setup", "moby-engine-dm-selinux")  # built from the real spec and sources
# with_selinux: the SELinux guest's repo also holds the -selinux package (not installed by name: dnf pulls it
# in through the engine's "(moby-engine-dm-selinux if selinux-policy-targeted)")
SELINUX_PACKAGE = "moby-engine-dm-selinux"
PACKAGES = ("moby-engine-dm", "docker-cli", "moby-dm-storage-setup")
DEBS = ("docker.io", "tini")

# Deliberately broken variants: name -> (package, scriptlet section, line put first in its body)
BROKEN = {
    "post-exit-1": ("moby-engine-dm", "%post", "exit 1"),
    "preun-removes-pool": ("moby-dm-storage-setup", "%preun",
                           "if [ $1 -eq 0 ]; then lvremove -y -f forklift/thinpool || :; fi"),
}

# `go` in a stand-in build: `go build -o OUT ...` makes OUT a program that does nothing
GO_SHIM = ("#!/bin/sh", "# stand-in: no Go toolchain; the real build's Go helpers are no-ops",
           "while [ $# -gt 0 ]; do",
           "    if [ \"$1\" = -o ]; then printf '#!/bin/sh\\nexit 0\\n' > \"$2\"; chmod 0755 \"$2\"; fi",
           "    shift", "done")
GO_SHIM_LINE = 'export PATH="$PWD/.standin-bin:$PATH"  # stand-in: the go shim'

_SECTION = re.compile(r"^%(prep|build|install|check|clean|files|changelog|description|package|"
                      r"pre|post|preun|postun|pretrans|posttrans|verifyscript|trigger\w*|filetrigger\w*|"
                      r"transfiletrigger\w*)\b")
_UNEXPANDED = re.compile(r"%\{|%\(|%(selinux|systemd|sysusers|_)\w*")


@dataclass(frozen=True)
class SmokeRepo:
    directory: Path
    rpms: tuple[Path, ...]
    release_offset: int
    broken: str | None


def shifted(matrix: Matrix, offset: int) -> Matrix:
    """The matrix with every package's Release moved by ``offset`` (release N-1: -1)."""
    if offset == 0:
        return matrix
    pkgs: dict[str, Package] = {}
    for name, pkg in matrix.packages.items():
        release = pkg.release + offset
        if release < 0:
            raise ForkliftError(f"{name}: release {pkg.release} has no release {release}",
                                hint="the upgrade test needs a package.toml release of at least 1")
        pkgs[name] = dataclasses.replace(pkg, release=release)
    return dataclasses.replace(matrix, packages=pkgs)


def sections(spec: str) -> list[tuple[str, list[str]]]:
    """The spec split into (header line or '' for the preamble, body lines)."""
    out: list[tuple[str, list[str]]] = [("", [])]
    for line in spec.splitlines():
        if _SECTION.match(line):
            out.append((line, []))
        else:
            out[-1][1].append(line)
    return out


def standin_spec(real: str, package: Package) -> str:
    """The stand-in spec of a rendered real spec (pure)."""
    out: list[str] = [
        f"# {STANDIN_MARK}: generated by tooling/smoke/standin.py from the real spec of {package.name};",
        "# payload: Debian's binaries where the upstream build's outputs would be (see PAYLOAD there)",
        "%global debug_package %{nil}",
        "%global __os_install_post %{nil}",
        "%global _build_id_links none",
        "%global _binary_payload w3.zstdio",
    ]
    for header, body in sections(real):
        kind = header.split()[0] if header else ""
        if kind == "":
            for line in body:
                if re.match(r"^(Source|Patch)\d+:\s*\S+://", line) or line.startswith("BuildRequires:"):
                    continue
                out.append(line)
            out += ["# stand-in: Debian binaries link Debian sonames, which the target base does not provide",
                    "AutoReq:        no", f"Provides:       {STANDIN_PROVIDE}",
                    "Source900:      forklift-standin-tree.tar", ""]
        elif kind == "%prep":
            out += ["%prep", "%setup -q -c -T -n forklift-standin-%{name}-%{version}", "tar -xf %{SOURCE900}",
                    "mkdir -p .standin-bin", "cat > .standin-bin/go <<'STANDIN_EOF'", *GO_SHIM, "STANDIN_EOF",
                    "chmod 0755 .standin-bin/go", ""]
        elif kind == "%build":
            out += ["%build", "# stand-in: nothing to build (the payload is Debian's)", ""]
        elif kind == "%install":
            # the real %install may run Go helpers (e.g. listing debug sources): no toolchain here
            out += [header, GO_SHIM_LINE, *body]
        elif kind == "%check":
            continue
        elif kind == "%description" and header.strip() == "%description":
            out += [header, f"{STANDIN_MARK}: Debian's binaries in the real package's layout and scriptlets.",
                    *body]
        else:
            out += [header, *body]
    return "\n".join(out) + "\n"


def break_spec(spec: str, section: str, line: str) -> str:
    """Put ``line`` first in the body of ``section`` (exactly that header, no subpackage)."""
    lines = spec.splitlines()
    for i, text in enumerate(lines):
        if text.strip() == section:
            return "\n".join([*lines[: i + 1], line, *lines[i + 1:]]) + "\n"
    raise ForkliftError(f"the spec has no {section} section to break")


def _doc_files(spec: str) -> list[str]:
    """Relative %license/%doc names of a spec (they come from the build directory)."""
    names = []
    for line in spec.splitlines():
        m = re.match(r"^%(license|doc)\s+(.*)$", line)
        if m:
            names += [w for w in m.group(2).split() if not w.startswith(("%", "/"))]
    return names


def _licence_files(spec: str) -> list[str]:
    """What the Go templates' licence list (go.licenses) reads from the tree: the package's own
    licence files and vendor/modules.txt, here with one stand-in module and its licence."""
    m = re.search(r"^for f in (.+); do\n\s+install -D -p -m 0644 \"\$f\" \"\$lic/\$f\"", spec, re.M)
    if m is None:
        return []
    return [*m.group(1).split(), "vendor/modules.txt", "vendor/forklift.invalid/standin/LICENSE"]


def _standin_tree(pkg: Package, spec: str, debs: dict[str, Path], dest: Path, work: Path) -> None:
    """The tar of the tree the real %install expects, with Debian's files in it."""
    tree = work / "tree"
    extracted: dict[str, Path] = {}
    for rel, what in PAYLOAD[pkg.name].items():
        target = tree / rel.format(**pkg.vars)
        target.parent.mkdir(parents=True, exist_ok=True)
        if what.startswith("deb:"):
            _, deb, path = what.split(":", 2)
            if deb not in extracted:
                extracted[deb] = work / f"deb-{deb}"
                run(["dpkg-deb", "-x", str(debs[deb]), str(extracted[deb])], hint="dpkg-deb comes with dpkg")
            src = extracted[deb] / path
            if not src.exists():
                raise ForkliftError(f"{debs[deb].name} has no {path}: the stand-in of {pkg.name} needs it")
            shutil.copy2(src.resolve(), target)
        else:
            target.write_text(f"{STANDIN_MARK}: placeholder for {rel}\n")
    for name in [*_doc_files(spec), *_licence_files(spec)]:
        p = tree / name
        if not p.exists():
            p.parent.mkdir(parents=True, exist_ok=True)
            text = ("# forklift.invalid/standin v0.0.0\n## explicit\nforklift.invalid/standin\n"
                    if name == "vendor/modules.txt" else f"{STANDIN_MARK}: placeholder for {name}\n")
            p.write_text(text)
    with tarfile.open(dest, "w") as tar:
        tar.add(tree, arcname=".")


def rpmbuild(spec_text: str, sources: dict[str, Path], target: Target, out: Path, work: Path, *,
             host_macros: Path | None = HOST_MACROS) -> list[Path]:
    """rpmbuild -bb one spec with its sources on this host (target macros, host-compat macros)."""
    top = work / "top"
    src = top / "SOURCES"
    src.mkdir(parents=True)
    for name, path in sources.items():
        shutil.copy2(path, src / name)
    spec = top / "pkg.spec"
    spec.write_text(spec_text)
    argv = ["rpmbuild", "-bb", "--nodeps", "--nocheck", "--define", f"_topdir {top}",
            "--define", f"_sourcedir {src}", "--define", f"_rpmdir {top / 'RPMS'}",
            "--define", "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm"]
    if host_macros is not None:
        argv += ["--load", str(host_macros)]
    argv += [*target.macro_args(), str(spec)]
    run(argv, log=work / "build.log", timeout=600, hint=f"see {work / 'build.log'}")
    built = []
    for rpm in (top / "RPMS").glob("*.rpm"):
        if re.search(r"-debug(info|source)-", rpm.name):
            continue
        shutil.move(rpm, out / rpm.name)
        built.append(out / rpm.name)
    return built


def local_sources(pkg: Package) -> dict[str, Path]:
    return {s.file: (pkg.directory / s.file).resolve() for s in pkg.sources if s.kind == "local"} | {
        p.file: (pkg.directory / p.file).resolve() for p in pkg.patches if p.source is None}


def build_repo(matrix: Matrix, target: Target, debs: dict[str, Path], cache_dir: Path, *,
               release_offset: int = 0, broken: str | None = None, log: Path | None = None,
               with_selinux: bool = False) -> SmokeRepo:
    """The smoke repo (PACKAGES) for ``target``: from the cache, or built now and published atomically.
    ``broken``: comma-separated names of BROKEN variants built in. A built RPM whose scriptlets hold
    unexpanded macro text is an error (:func:`scriptlet_problems`)."""
    variants = [b for b in (broken or "").split(",") if b]
    for b in variants:
        if b not in BROKEN:
            raise ForkliftError(f"unknown broken variant {b!r}", hint=f"one of: {', '.join(BROKEN)}")
    for tool in ("rpmbuild", "createrepo_c", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise ForkliftError(f"the smoke repo needs {tool}", hint="bash ci/setup.sh --test installs it")
    m = shifted(matrix, release_offset)
    specs: dict[str, str] = {}
    for name in (*PACKAGES, *((SELINUX_PACKAGE,) if with_selinux else ())):
        pkg = m.packages[name]
        text = render.render_spec(m, target, pkg)
        if name not in REAL:
            text = standin_spec(text, pkg)
        for b in variants:
            if BROKEN[b][0] == name:
                text = break_spec(text, BROKEN[b][1], BROKEN[b][2])
        specs[name] = text
    h = hashlib.sha256(f"{FORMAT}:{target.name}:{target.macro_args()}".encode())
    for name, text in sorted(specs.items()):
        h.update(text.encode())
        for fname, path in sorted(local_sources(m.packages[name]).items()):
            h.update(fname.encode() + path.read_bytes())
    for deb in sorted(debs.values()):
        h.update(deb.name.encode())
    h.update(HOST_MACROS.read_bytes())
    tag = "".join(f"-{b}" for b in variants) + ("-selinux" if with_selinux else "")
    final = cache_dir / f"{target.name}-r{release_offset}{tag}-{h.hexdigest()[:12]}"
    if (final / "repodata" / "repomd.xml").exists():
        return SmokeRepo(final, tuple(sorted(final.glob("*.rpm"))), release_offset, broken)
    cache_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=cache_dir))
    try:
        repo = work / "repo"
        repo.mkdir()
        for name, text in specs.items():
            pkg = m.packages[name]
            sources = local_sources(pkg)
            pwork = work / name
            pwork.mkdir()
            if name not in REAL:
                tar = pwork / "forklift-standin-tree.tar"
                _standin_tree(pkg, text, debs, tar, pwork)
                sources["forklift-standin-tree.tar"] = tar
            try:
                rpmbuild(text, sources, target, repo, pwork)
            except Exception:
                if log is not None and (pwork / "build.log").exists():
                    shutil.copy(pwork / "build.log", log)
                raise
        problems = [p for rpm in sorted(repo.glob("*.rpm")) for p in scriptlet_problems(rpm)]
        if problems:
            raise ForkliftError("built RPMs would ship literal macro text in their scriptlets:\n  "
                                + "\n  ".join(problems), hint="define the macros for this build (host-compat.macros)")
        run(["createrepo_c", "--quiet", "--no-database", str(repo)])
        if final.exists():
            shutil.rmtree(final)
        os.replace(repo, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return SmokeRepo(final, tuple(sorted(final.glob("*.rpm"))), release_offset, broken)


def scriptlet_problems(rpm: Path) -> list[str]:
    """Unexpanded macro text in the scriptlets of a built RPM (``rpm -qp --scripts``): a macro
    that was undefined at build time (e.g. %selinux_modules_install without selinux-policy-devel's
    macros) ships as literal text that the shell then runs. One line per finding."""
    res = subprocess.run(["rpm", "-qp", "--scripts", "--triggers", "--filetriggers", str(rpm)],
                         capture_output=True, text=True, check=False)
    if res.returncode != 0:
        return [f"{rpm.name}: rpm -qp --scripts failed: {res.stderr.strip()[:200]}"]
    found = []
    section = "?"
    for line in res.stdout.splitlines():
        m = re.match(r"^(\w+) scriptlet", line)
        if m:
            section = m.group(1)
            continue
        # comments too, as the guest's check does: rpm expands macros there, so macro text left in a
        # comment was escaped or undefined, and it ships in the installed scriptlet either way
        hit = _UNEXPANDED.search(line)
        if hit:
            found.append(f"{rpm.name}: {section} scriptlet has unexpanded macro text: {line.strip()[:160]}")
    return found
