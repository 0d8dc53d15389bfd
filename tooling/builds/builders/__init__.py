"""Builders: one small interface, one module each.

A builder turns one SRPM into binary RPMs for one target and leaves the same
result layout whatever it is (mock's)::

    <resultdir>/*.rpm  build.log  root.log  state.log  hw_info.log  installed_pkgs.log

``build(job) -> BuildResult`` raises nothing for a failed build: the result
says what failed and quotes the log lines that tell why.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from tooling.builds.plan import SrpmInfo
from tooling.model import Target

LOGS = ("build.log", "root.log", "state.log", "hw_info.log", "installed_pkgs.log")


@dataclass(frozen=True)
class Job:
    target: Target
    srpm: SrpmInfo
    resultdir: Path
    repo_dir: Path  # this run's local repo of already-built packages (may not exist yet)
    workdir: Path  # private scratch space of this job
    uniqueext: str | None = None  # set when builds of one chroot run side by side
    host_macros: Path | None = None  # macros for builds on a non-Fedora host (rpmbuild only)
    link_cache: Path | None = None  # this run's Go link cache (rpmbuild only; tooling/builds/linkcache.py)


@dataclass
class BuildResult:
    ok: bool
    rpms: list[Path] = field(default_factory=list)
    message: str = ""  # for a person: what failed and why, quoting logs
    returncode: int = 0
    retryable: bool = False  # e.g. mock's buildroot lock (exit 60)
    interrupted: bool = False


class Builder(Protocol):
    name: str

    def available(self) -> tuple[bool, str]:
        """Whether this builder works here, and why (or why not)."""
        ...

    def settings(self) -> Mapping[str, str]:
        """What about this builder changes its results (part of the cache key)."""
        ...

    def build(self, job: Job) -> BuildResult: ...


def state(resultdir: Path, line: str) -> None:
    """Append a mock-style line to state.log ("Start: build phase" / "Finish: ...")."""
    resultdir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    with open(resultdir / "state.log", "a", encoding="utf-8") as fh:
        fh.write(f"{stamp},000 - INFO: {line}\n")


def last_state(resultdir: Path) -> str:
    """The last Start:/Finish: line of state.log, without its time stamp ("" if none)."""
    try:
        lines = (resultdir / "state.log").read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return ""
    for line in reversed(lines):
        if "Start:" in line or "Finish:" in line:
            return line.split(" - ", 1)[-1].replace("INFO: ", "").strip()
    return ""


def log_tail(path: Path, lines: int = 20, *, grep: str | None = None) -> str:
    """The last ``lines`` lines of a log (those containing ``grep`` when given)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return f"({path.name} missing)"
    if grep:
        text = [t for t in text if grep in t] or text
    return "\n".join(f"  | {t}" for t in text[-lines:])


def hw_info(resultdir: Path) -> None:
    cpus = os.cpu_count() or 1
    try:
        mem = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    except (OSError, StopIteration):
        mem = "MemTotal: unknown"
    disk = shutil.disk_usage(resultdir)
    (resultdir / "hw_info.log").write_text(
        f"CPU info:\n  CPUs: {cpus}\n\nMemory:\n  {mem}\n\nStorage:\n  free {disk.free // 2**20} MiB\n",
        encoding="utf-8",
    )


def binary_rpms(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.rpm") if not p.name.endswith(".src.rpm"))
