"""The mock builder: mock as a subprocess (argv list, no shell).

Per target a generated config includes the mock-core-configs chroot and adds
the target's macros and this run's local repo. mock renders ``{{ }}`` in its
config values itself (Jinja2), so values we write are escaped.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

from tooling.builds import gocache
from tooling.builds.builders import BuildResult, Job, binary_rpms, log_tail
from tooling.fsutil import atomic_write_text
from tooling.model import Target
from tooling.run import CommandError, run

# mock's exit codes (mockbuild/exception.py) -> (log to quote, what it means, retryable)
EXIT_CODES: dict[int, tuple[str | None, str, bool]] = {
    1: ("root.log", "mock failed (generic error)", False),
    3: (None, "mock rejected its configuration: a bug in Forklift's generated config, please report it", False),
    4: ("build.log", "only part of the chain was built", False),
    5: (None, "mock rejected its command line: a bug in Forklift, please report it", False),
    10: ("build.log", "rpmbuild failed", False),
    11: ("build.log", "the build timed out", False),
    20: ("root.log", "the chroot could not be set up", False),
    30: ("root.log", "the package manager failed, usually a missing BuildRequires", False),
    31: ("root.log", "an external dependency is unknown (missing BuildRequires)", False),
    40: (None, "the SRPM is bad", False),
    50: ("root.log", "a command inside the chroot failed", False),
    60: (None, "the buildroot is locked by another mock process (retried)", True),
    70: (None, "the result directory could not be created", False),
    80: (None, "unshare failed: mock needs user namespaces or root", False),
    90: ("root.log", "the bootstrap chroot failed", False),
}


def mock_escape(value: str) -> str:
    """Escape a value for a mock config: Python string literal, with Jinja2 markers neutralised."""
    text = value.replace("{{", "{{ '{{' }}").replace("{%", "{{ '{%' }}")
    return repr(text)


# the rpm macros that run before these build stages (rpm >= 4.16: %{___build_pre} by default)
STAGE_PRE_MACROS = ("%__spec_build_pre", "%__spec_install_pre", "%__spec_check_pre")


def render_config(target: Target, repo_dir: Path, arch: str | None = None, *, isolation: str | None = None,
                  go_cache: Path | None = None) -> str:
    """A mock config for ``target``: include() the core chroot, add macros and the local repo.

    With ``go_cache`` (a host directory that holds one Go build cache per toolchain), mock's
    bind_mount plugin mounts it into the chroot and each build stage sets GOCACHE to the
    directory of the chroot's own toolchain (tooling/builds/gocache.py).
    """
    chroot = target.mock_chroot(arch)
    lines = [
        f"# Forklift mock config for {target.name}: generated from specs/targets.toml, do not edit",
        f"include({mock_escape(chroot + '.cfg')})",
        f"config_opts['root'] = {mock_escape('forklift-' + chroot)}",
    ]
    for name, value in target.rpm_macros.items():
        lines.append(f"config_opts['macros'][{mock_escape('%' + name)}] = {mock_escape(value)}")
    if isolation:
        lines.append(f"config_opts['isolation'] = {mock_escape(isolation)}")
    if go_cache is not None:
        lines += [
            "# the shared Go build cache, one directory per toolchain build (docs/build.md, Caches)",
            "config_opts['plugin_conf']['bind_mount_enable'] = True",
            f"config_opts['plugin_conf']['bind_mount_opts']['dirs'].append(({mock_escape(str(go_cache))}, "
            f"{mock_escape(gocache.CHROOT_MOUNT)}))",
        ]
        for name in STAGE_PRE_MACROS:
            value = "%{___build_pre}\\\n" + gocache.chroot_snippet()
            lines.append(f"config_opts['macros'][{mock_escape(name)}] = {mock_escape(value)}")
    repo = (
        "\n[forklift-local]\nname=Forklift local repo\n"
        f"baseurl=file://{repo_dir}\ngpgcheck=0\nskip_if_unavailable=True\nmetadata_expire=0\n"
    )
    lines.append(f"config_opts['dnf.conf'] += {mock_escape(repo)}")
    return "\n".join(lines) + "\n"


def interpret(returncode: int, resultdir: Path) -> tuple[str, bool]:
    """A message for a failed mock run quoting the relevant log, and whether to retry."""
    log, meaning, retry = EXIT_CODES.get(returncode, (None, "mock failed", False))
    if returncode == 1 and _failed_stage(resultdir / "build.log"):
        # mock 6 passes rpmbuild's own status up (1) for a failed %prep/%build/...; 10 is
        # left for the dynamic BuildRequires step
        log, meaning = "build.log", "rpmbuild failed"
    msg = f"mock exited with {returncode}: {meaning}"
    if log:
        grep = "No matching package" if returncode in (30, 31) and log == "root.log" else None
        msg += f" ({log}):\n" + log_tail(resultdir / log, 20, grep=grep)
    return msg, retry


def _failed_stage(build_log: Path) -> bool:
    """True when build.log ends in rpmbuild's "Bad exit status from ... (%stage)"."""
    try:
        tail = build_log.read_text(encoding="utf-8", errors="replace")[-4000:]
    except FileNotFoundError:
        return False
    return "Bad exit status from" in tail


class MockBuilder:
    name = "mock"

    def __init__(self, *, config_dir: Path, isolation: str | None = None, executable: str = "mock",
                 retries: int = 2, mock_config_dir: Path | None = None, go_cache: Path | None = None) -> None:
        self.go_cache = go_cache  # host dir bind-mounted as the chroots' Go build caches (None: none)
        self.config_dir = config_dir
        self.mock_config_dir = mock_config_dir  # mock --configdir: where include()d chroot configs are found
        self.isolation = isolation
        self.executable = executable
        self.retries = retries

    def available(self) -> tuple[bool, str]:
        path = shutil.which(self.executable)
        if path is None:
            return False, "mock is not installed"
        if self.mock_config_dir is not None:
            if not (self.mock_config_dir / "site-defaults.cfg").is_file():
                return False, (f"mock config dir {self.mock_config_dir} has no site-defaults.cfg "
                               "(point --mock-config-dir at a copy of /etc/mock)")
            return True, f"mock found at {path}, chroot configs from {self.mock_config_dir}"
        return True, f"mock found at {path}"

    def settings(self) -> Mapping[str, str]:
        return {"builder": self.name, "isolation": self.isolation or "default",
                "configdir": str(self.mock_config_dir or "/etc/mock")}

    def config_path(self, job: Job) -> Path:
        path = self.config_dir / f"{job.target.name}.cfg"
        if self.go_cache is not None:
            self.go_cache.mkdir(parents=True, exist_ok=True)
        text = render_config(job.target, job.repo_dir, isolation=self.isolation, go_cache=self.go_cache)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            atomic_write_text(path, text)
        return path

    def argv(self, job: Job) -> list[str]:
        argv = [self.executable]
        if self.mock_config_dir is not None:
            argv += ["--configdir", str(self.mock_config_dir)]
        argv += ["-r", str(self.config_path(job)), "--rebuild", str(job.srpm.path), "--resultdir", str(job.resultdir)]
        if job.uniqueext:
            argv += ["--uniqueext", job.uniqueext]
        return argv

    def build(self, job: Job) -> BuildResult:
        job.resultdir.mkdir(parents=True, exist_ok=True)
        for stale in job.resultdir.iterdir():
            if stale.is_file():
                stale.unlink()
        attempts = 0
        while True:
            attempts += 1
            try:
                run(self.argv(job), log=job.workdir / "mock.log")
                return BuildResult(ok=True, rpms=binary_rpms(job.resultdir))
            except CommandError as exc:
                msg, retry = interpret(exc.returncode, job.resultdir)
                if retry and attempts <= self.retries:
                    continue
                return BuildResult(ok=False, returncode=exc.returncode, retryable=retry,
                                   message=f"{job.srpm.nvr} for {job.target.name}: {msg}")
