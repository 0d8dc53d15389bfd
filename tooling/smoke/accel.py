"""Choosing qemu's accelerator so that a smoke run cannot hang.

A /dev/kvm node, or a paused KVM guest that starts, proves nothing: under nested
virtualisation a running KVM guest can hang right after SeaBIOS. KVM counts as
usable only after a guest has actually *run* on it: the smoke kernel, booted
under KVM, prints its first console line within a deadline. Otherwise TCG.

``FORKLIFT_QEMU_ACCEL=kvm|tcg`` overrides the choice (a bad value is an error).

:func:`run_console` runs qemu with a stall watchdog: when the serial console
prints nothing for ``stall`` seconds the guest is stopped and the run reports
the stall, so a caller can retry under TCG.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tooling.errors import ForkliftError
from tooling.run import terminate

ENV = "FORKLIFT_QEMU_ACCEL"
ACCELS = ("kvm", "tcg")
PROBE_MARK = "Linux version"  # the kernel's first line on the console
PROBE_DEADLINE = 20.0


@dataclass(frozen=True)
class Choice:
    accel: str  # kvm or tcg
    reason: str


@dataclass(frozen=True)
class ConsoleRun:
    output: str
    returncode: int | None  # None when Forklift stopped qemu (stall or deadline)
    stalled: bool = False
    timed_out: bool = False
    seconds: float = 0.0


_cache: dict[Path, Choice] = {}


def override() -> str | None:
    """The accelerator forced by $FORKLIFT_QEMU_ACCEL, or None."""
    value = os.environ.get(ENV, "").strip().lower()
    if not value:
        return None
    if value not in ACCELS:
        raise ForkliftError(f"${ENV}={os.environ[ENV]!r}: not an accelerator", hint="set it to kvm or tcg, or unset it")
    return value


def probe_argv(kernel: Path, accel: str) -> list[str]:
    """A guest that only boots the kernel far enough to print its banner on the serial console."""
    return ["qemu-system-x86_64", "-accel", accel, "-cpu", "max", "-m", "256", "-smp", "1",
            "-nographic", "-no-reboot", "-nodefaults", "-serial", "stdio", "-monitor", "none", "-net", "none",
            "-kernel", str(kernel), "-append", "console=ttyS0 panic=-1 loglevel=7"]


def guest_runs(kernel: Path, accel: str, deadline: float = PROBE_DEADLINE) -> bool:
    """True when a guest booted under ``accel`` prints the kernel banner within ``deadline`` seconds."""
    res = run_console(probe_argv(kernel, accel), timeout=deadline, stall=deadline, until=PROBE_MARK)
    return PROBE_MARK in res.output


def choose(kernel: Path, *, kvm_node: str = "/dev/kvm") -> Choice:
    """KVM when forced, or when a guest really runs on it; TCG otherwise. Cached per kernel for the process."""
    forced = override()
    if forced:
        return Choice(forced, f"forced by ${ENV}")
    if kernel in _cache:
        return _cache[kernel]
    if not os.access(kvm_node, os.R_OK | os.W_OK):
        choice = Choice("tcg", f"{kvm_node} is missing or not accessible")
    elif guest_runs(kernel, "kvm"):
        choice = Choice("kvm", f"a KVM guest printed its kernel banner within {PROBE_DEADLINE:.0f} s")
    else:
        choice = Choice("tcg", f"{kvm_node} exists but a KVM guest printed nothing within {PROBE_DEADLINE:.0f} s "
                               "(nested virtualisation?)")
    _cache[kernel] = choice
    return choice


def run_console(argv: list[str], *, timeout: float, stall: float, until: str | None = None) -> ConsoleRun:
    """Run ``argv`` with stdout+stderr as one console stream. Stop it when it has printed nothing for
    ``stall`` seconds, when ``timeout`` seconds have passed, or (``until``) once that text appeared."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    chunks: list[bytes] = []
    last = start
    stalled = timed_out = False
    try:
        while True:
            now = time.monotonic()
            if now - start >= timeout:
                timed_out = True
                break
            if now - last >= stall:
                stalled = True
                break
            events = sel.select(min(1.0, timeout - (now - start), stall - (now - last)))
            if not events:
                if proc.poll() is not None:
                    break
                continue
            data = proc.stdout.read(65536)
            if not data:  # EOF: qemu exited
                proc.wait()
                break
            chunks.append(data)
            last = time.monotonic()
            if until is not None and until.encode() in b"".join(chunks[-2:]):
                break
    finally:
        sel.close()
        stopped = proc.poll() is None
        terminate(proc, grace=2.0)
        rest = proc.stdout.read() or b""
        chunks.append(rest)
        proc.stdout.close()
    output = b"".join(chunks).decode("utf-8", "replace")
    return ConsoleRun(output=output, returncode=None if stopped else proc.returncode, stalled=stalled,
                      timed_out=timed_out, seconds=time.monotonic() - start)
