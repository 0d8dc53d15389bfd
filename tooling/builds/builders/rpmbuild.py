"""The rpmbuild builder: build on the host, without isolation.

For hosts with neither mock nor a container engine (and for CI here). It
cannot install BuildRequires, so it resolves them itself before it builds
(logged to root.log the way mock logs its package manager):

- internal requirements (provided by RPMs in this run's local repo) are
  unpacked into a private sysroot, which the build sees through CPATH,
  LIBRARY_PATH, PKG_CONFIG_PATH, LD_LIBRARY_PATH and PATH;
- on an rpm-based host every other requirement must be installed
  (``rpm -q --whatprovides``);
- elsewhere (Debian) the table in tooling/builds/hosttools.toml says how to
  check it.

A requirement that is not met fails the build before rpmbuild runs, with
mock's wording: ``No matching package to install: 'x'``.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tooling.builds import gocache, linkcache
from tooling.builds.builders import BuildResult, Job, binary_rpms, hw_info, log_tail, state
from tooling.builds.plan import dep_name
from tooling.errors import ForkliftError
from tooling.run import CommandError, run

HOSTTOOLS = Path(__file__).resolve().parent.parent / "hosttools.toml"
_VERSIONED = re.compile(r"^(?P<name>\S+)\s*(?P<op>>=|<=|=|>|<)\s*(?P<ver>\S+)$")


@dataclass(frozen=True)
class Check:
    requirement: str
    ok: bool
    how: str  # what satisfied it, or what was looked for


@functools.cache
def _rpm_host() -> bool:
    """True on a host whose rpm database holds the distro (Fedora, RHEL, ...)."""
    if shutil.which("rpm") is None:
        return False
    res = run(["rpm", "-q", "rpm"], check=False)
    return res.returncode == 0


@functools.cache
def _load_table(path: Path = HOSTTOOLS) -> dict[str, dict[str, list[str]]]:
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    return data["requires"]


def _tool_version(name: str) -> str | None:
    argv = {"golang": ["go", "env", "GOVERSION"], "rust": ["rustc", "--version"], "cargo": ["cargo", "--version"]}
    if name not in argv or shutil.which(argv[name][0]) is None:
        return None
    res = run(argv[name], check=False)
    m = re.search(r"(\d+\.\d+(?:\.\d+)?)", res.stdout)
    return m.group(1) if m else None


def _vercmp(a: str, b: str) -> int:
    import rpm

    return int(rpm.labelCompare(("0", a, "1"), ("0", b, "1")))


_OPS = {">=": lambda c: c >= 0, ">": lambda c: c > 0, "=": lambda c: c == 0, "<=": lambda c: c <= 0, "<": lambda c: c < 0}


def check_host_requirement(req: str, table: Mapping[str, Mapping[str, list[str]]], host_macros: Path | None,
                           path: str) -> Check:
    """Check one external BuildRequires on a non-rpm host (see hosttools.toml)."""
    m = _VERSIONED.match(req)
    name = m["name"] if m else dep_name(req)
    if name.startswith("pkgconfig(") and name.endswith(")"):
        module = name[len("pkgconfig("):-1]
        ok = shutil.which("pkg-config") is not None and run(["pkg-config", "--exists", module], check=False).ok
        return Check(req, ok, f"pkg-config module {module}")
    entry = table.get(name)
    if entry is None:
        return Check(req, False, "not in tooling/builds/hosttools.toml")
    found: str | None = None
    for cmd in entry.get("command", []):
        where = shutil.which(cmd, path=path)
        if where:
            found = where
            break
    for mod in entry.get("pkgconfig", []):
        if found is None and shutil.which("pkg-config") and run(["pkg-config", "--exists", mod], check=False).ok:
            found = f"pkg-config {mod}"
    for f in entry.get("file", []):
        if found is None and f == "@host-compat" and host_macros is not None:
            found = str(host_macros)
        elif found is None and Path(f).exists():
            found = f
    if found is None:
        return Check(req, False, "looked for " + ", ".join(f"{k} {v}" for k, vs in entry.items() for v in vs))
    if m and (have := _tool_version(name)) is not None and not _OPS[m["op"]](_vercmp(have, m["ver"])):
        return Check(req, False, f"{found} is version {have}")
    return Check(req, True, found)


class RpmbuildBuilder:
    name = "rpmbuild"

    # Host builds are for development and CI: compress the payload with threaded zstd at a
    # low level (gzip -9, rpm's built-in default, takes 12 s for the engine's 100 MB
    # payload on 2 cores; this takes well under 1 s). mock and koji keep the distro's
    # default (w19.zstdio on Fedora and EL 9+).
    DEFAULT_PAYLOAD = "w3T.zstdio"

    def __init__(self, *, timeout: float | None = None, payload: str = DEFAULT_PAYLOAD) -> None:
        self.timeout = timeout
        self.payload = payload

    def available(self) -> tuple[bool, str]:
        if shutil.which("rpmbuild") is None:
            return False, "rpmbuild is not installed"
        return True, "rpmbuild is installed (builds on the host, without isolation)"

    def settings(self) -> Mapping[str, str]:
        return {"builder": self.name, "rpm_host": str(_rpm_host()), "payload": self.payload}

    # ------------------------------------------------------------------ build

    def build(self, job: Job) -> BuildResult:
        res = job.resultdir
        res.mkdir(parents=True, exist_ok=True)
        for stale in res.iterdir():
            if stale.is_file():
                stale.unlink()
        job.workdir.mkdir(parents=True, exist_ok=True)
        hw_info(res)
        state(res, "Start: rpmbuild " + job.srpm.path.name)
        env, installed, missing = self._prepare(job)
        (res / "installed_pkgs.log").write_text("".join(f"{line}\n" for line in installed), encoding="utf-8")
        if missing:
            state(res, "Finish: rpmbuild (missing BuildRequires)")
            names = ", ".join(repr(m) for m in missing)
            return BuildResult(
                ok=False, returncode=30,
                message=f"{job.srpm.nvr} for {job.target.name}: missing BuildRequires {names} "
                        f"(root.log):\n{log_tail(res / 'root.log', grep='No matching package')}",
            )
        state(res, "Start: build phase for " + job.srpm.nvr)
        argv = self.argv(job)
        try:
            # $TMPDIR stays the user's (/tmp): upstream tests make unix sockets under it with paths that
            # leave no room for a longer prefix (moby's plugin tests: 107 bytes, "short-ish path here")
            run(argv, cwd=job.workdir, env=env, log=res / "build.log", timeout=self.timeout)
        except CommandError as exc:
            state(res, "Finish: build phase (failed)")
            return BuildResult(
                ok=False, returncode=exc.returncode if exc.returncode > 0 else 11,
                message=f"{job.srpm.nvr} for {job.target.name}: rpmbuild failed (build.log):\n"
                        f"{log_tail(res / 'build.log', 25)}",
            )
        except BaseException:
            state(res, "Finish: build phase (interrupted)")
            raise
        rpms = []
        for rpm_path in sorted((job.workdir / "top" / "RPMS").rglob("*.rpm")):
            dest = res / rpm_path.name
            shutil.move(rpm_path, dest)
            rpms.append(dest)
        state(res, "Finish: build phase for " + job.srpm.nvr)
        state(res, "Finish: rpmbuild " + job.srpm.path.name)
        return BuildResult(ok=True, rpms=binary_rpms(res))

    def argv(self, job: Job) -> list[str]:
        top = job.workdir / "top"
        # --noclean: rpmbuild leaves its build tree; the pipeline removes the whole work directory
        # after publishing, in a cleaner thread off the builds' path (it cost ~3 s per large build here)
        argv = ["rpmbuild", "--rebuild", "--noclean", "--nodeps"]
        if job.host_macros is not None:
            argv += ["--load", str(job.host_macros)]
        for k, v in (("_topdir", str(top)), ("_buildhost", "forklift"), ("_binary_payload", self.payload)):
            argv += ["--define", f"{k} {v}"]
        return [*argv, *job.target.macro_args(), str(job.srpm.path)]

    def _prepare(self, job: Job) -> tuple[dict[str, str], list[str], list[str]]:
        """Resolve BuildRequires: (environment for rpmbuild, installed_pkgs lines, missing requirements)."""
        from tooling import repo

        root_log = job.resultdir / "root.log"
        lines: list[str] = [f"Resolving BuildRequires of {job.srpm.nvr} for {job.target.name} (host build)"]
        sysroot = job.workdir / "sysroot"
        env = dict(os.environ)
        # the venv's bin (a Go toolchain from PyPI lives there) comes first
        env["PATH"] = os.pathsep.join([str(Path(sys.prefix) / "bin"), env.get("PATH", "")])
        env.update({"LANG": "C.UTF-8", "TZ": "UTC"})
        # one Go build cache per toolchain, shared by every target and checkout, and GOGC
        # (tooling/builds/gocache.py)
        lines += gocache.build_env(env, env["PATH"])
        providers, requires = _providers(repo.packages(job.repo_dir))
        installed: list[str] = []
        internal: list[str] = []  # RPM files of the local repo unpacked into the sysroot
        missing: list[str] = []
        rpm_host = _rpm_host()
        table = {} if rpm_host else _load_table()
        for req in job.srpm.buildrequires:
            name = dep_name(req)
            if name in providers:
                # like dnf: the package and, through its Requires, the internal packages it needs
                for pkg in _internal_closure(providers[name], providers, requires):
                    if pkg.name not in installed:
                        _unpack(pkg, sysroot)
                        installed.append(pkg.name)
                        internal.append(pkg.name)
                        lines.append(f"  {req}: internal, {pkg.name} unpacked into the sysroot")
                continue
            if rpm_host:
                res = run(["rpm", "-q", "--whatprovides", req], check=False)
                check = Check(req, res.ok, res.stdout.strip() or "not installed")
            else:
                check = check_host_requirement(req, table, job.host_macros, env["PATH"])
            lines.append(f"  {req}: {'ok, ' if check.ok else ''}{check.how}")
            if check.ok:
                installed.append(f"{req} (host: {check.how})")
            else:
                missing.append(req)
                lines.append(f"No matching package to install: '{req}'")
        if installed and sysroot.exists():
            _sysroot_env(env, sysroot)
        if job.link_cache is not None:
            # Go links shared by the jobs of this run (tooling/builds/linkcache.py), apart per set of
            # internal build dependencies (their libraries are this target's)
            lines += linkcache.setup(env, job.link_cache, job.srpm.name, internal)
        root_log.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return env, installed, missing


def _internal_closure(first: Path, providers: Mapping[str, Path], requires: Mapping[Path, list[str]]) -> list[Path]:
    out: list[Path] = []
    stack = [first]
    while stack:
        pkg = stack.pop()
        if pkg in out:
            continue
        out.append(pkg)
        stack.extend(providers[r] for r in requires.get(pkg, []) if r in providers)
    return out


def _providers(rpms: list[Path]) -> tuple[dict[str, Path], dict[Path, list[str]]]:
    """Provided name -> RPM, and RPM -> its required names, for the binary RPMs of the local repo."""
    import rpm

    ts = rpm.TransactionSet()
    ts.setVSFlags(rpm._RPMVSF_NOSIGNATURES | rpm._RPMVSF_NODIGESTS)
    out: dict[str, Path] = {}
    reqs: dict[Path, list[str]] = {}
    for path in rpms:
        if path.name.endswith(".src.rpm"):
            continue
        with open(path, "rb") as fh:
            hdr = ts.hdrFromFdno(fh.fileno())
        for prov in hdr[rpm.RPMTAG_PROVIDENAME]:
            out.setdefault(str(prov), path)
        out.setdefault(str(hdr[rpm.RPMTAG_NAME]), path)
        reqs[path] = [str(r) for r in hdr[rpm.RPMTAG_REQUIRENAME]]
    return out, reqs


def _unpack(rpm_path: Path, sysroot: Path) -> None:
    """Unpack an RPM's files under ``sysroot`` (rpm2archive to a tar stream, then tarfile)."""
    import subprocess
    import tarfile
    import tempfile

    sysroot.mkdir(parents=True, exist_ok=True)
    if shutil.which("rpm2archive") is None:
        raise ForkliftError("rpm2archive is not installed (it comes with rpm)", hint="install rpm")
    with tempfile.TemporaryFile() as tar_fh, open(rpm_path, "rb") as rpm_fh:
        proc = subprocess.run(["rpm2archive", "-n"], stdin=rpm_fh, stdout=tar_fh, stderr=subprocess.PIPE, check=False)
        if proc.returncode != 0:
            raise ForkliftError(f"could not unpack {rpm_path}: {proc.stderr.decode(errors='replace').strip()}")
        tar_fh.seek(0)
        with tarfile.open(fileobj=tar_fh) as tf:
            for member in tf.getmembers():
                parts = Path(member.name).parts
                if member.name.startswith("/") or ".." in parts:
                    continue
                if member.issym() or member.isfile() or member.isdir():
                    tf.extract(member, sysroot)


def _sysroot_env(env: dict[str, str], sysroot: Path) -> None:
    def prepend(var: str, *paths: Path) -> None:
        existing = [p for p in env.get(var, "").split(os.pathsep) if p]
        env[var] = os.pathsep.join([*(str(p) for p in paths if p.exists()), *existing])

    usr = sysroot / "usr"
    # %_libdir is /usr/lib64 on Fedora and /usr/lib/<multiarch> with Debian's rpm
    libdirs = [usr / "lib64", *sorted(usr.glob("lib/*-linux-gnu*")), usr / "lib"]
    prepend("CPATH", usr / "include")
    prepend("LIBRARY_PATH", *libdirs)
    prepend("LD_LIBRARY_PATH", *libdirs)
    prepend("PKG_CONFIG_PATH", *(d / "pkgconfig" for d in libdirs), usr / "share" / "pkgconfig")
    prepend("PATH", usr / "bin")
    env["FORKLIFT_SYSROOT"] = str(sysroot)
