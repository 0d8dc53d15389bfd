"""The one subprocess layer: argv lists only (never a shell), optional log
files (redacted), timeouts, signal forwarding to children, and errors that
quote the command's output.

Children die with Forklift, however Forklift ends:
- each child runs in its own session (process group), so that terminate()
  and Ctrl-C stop the whole group (rpmbuild, the shell of %build, gcc ...);
- each child gets PR_SET_PDEATHSIG(SIGKILL) (prctl through ctypes, set in the
  child between fork and exec): if Forklift is killed, the kernel kills it;
- a reaper process (one per Forklift process, started with the first child)
  holds the process-group ids of the running children and reads a pipe only
  Forklift writes to; when the pipe closes because Forklift died (even by
  SIGKILL), it sends SIGTERM, then SIGKILL, to those groups, so the
  grandchildren that PR_SET_PDEATHSIG does not reach die too.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tooling.errors import ForkliftError
from tooling.redact import redact

TAIL_LINES = 30

# Every child started through run() while it runs: terminate_all() stops them
# (Ctrl-C / SIGTERM in a parent that runs children from worker threads).
_live: set[subprocess.Popen[str]] = set()
_live_lock = threading.Lock()


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class CommandError(ForkliftError):
    """A command exited non-zero (or could not be started)."""

    def __init__(self, argv: Sequence[str], returncode: int, output: str, *, hint: str | None = None) -> None:
        self.argv = tuple(argv)
        self.returncode = returncode
        self.output = output
        tail = "\n".join(output.rstrip().splitlines()[-TAIL_LINES:])
        msg = f"command failed with exit code {returncode}: {shlex.join(argv)}"
        if tail:
            msg += "\n" + "\n".join("  | " + line for line in tail.splitlines())
        super().__init__(msg, hint=hint)


PR_SET_PDEATHSIG = 1
_REAPER_CODE = """
import os, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
groups = set()
for line in sys.stdin:
    line = line.strip()
    if line[:1] == "+":
        groups.add(int(line[1:]))
    elif line[:1] == "-":
        groups.discard(int(line[1:]))
for sig in (signal.SIGTERM, signal.SIGKILL):
    for g in sorted(groups):
        try:
            os.killpg(g, sig)
        except (ProcessLookupError, PermissionError):
            groups.discard(g)
    if not groups:
        break
    time.sleep(2)
"""
_reaper: subprocess.Popen[bytes] | None = None
_reaper_pid_owner = 0  # the pid that started the reaper (a forked child must start its own)
_reaper_lock = threading.Lock()


def _reaper_send(line: str) -> None:
    """Tell the reaper about a process group (+pgid) or that it is gone (-pgid); best effort."""
    global _reaper, _reaper_pid_owner
    with _reaper_lock:
        try:
            if _reaper is None or _reaper_pid_owner != os.getpid() or _reaper.poll() is not None:
                if line.startswith("-"):
                    return
                _reaper = subprocess.Popen([sys.executable, "-I", "-c", _REAPER_CODE], stdin=subprocess.PIPE,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                           start_new_session=True)
                _reaper_pid_owner = os.getpid()
            assert _reaper.stdin is not None
            _reaper.stdin.write(f"{line}\n".encode())
            _reaper.stdin.flush()
        except OSError:
            pass  # no reaper: PR_SET_PDEATHSIG and terminate() still stop the direct children


def _prctl() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.prctl
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    fn.restype = ctypes.c_int
    return fn


_PRCTL = _prctl()


def _die_with_parent(parent: int) -> Callable[[], None] | None:
    """A preexec_fn for Popen (runs in the child after fork and after setsid, before exec): ask the
    kernel for SIGKILL when the parent dies; exit at once if it already has. It calls only a ctypes
    function resolved in the parent and os functions: nothing that takes a lock another thread may hold."""
    prctl = _PRCTL
    if prctl is None:
        return None
    sig = int(signal.SIGKILL)

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(137)

    return preexec


def tail(text: str, lines: int = TAIL_LINES) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    extra_env: Mapping[str, str] | None = None,
    log: Path | None = None,
    timeout: float | None = None,
    check: bool = True,
    input: str | None = None,
    hint: str | None = None,
) -> Result:
    """Run argv and wait for it.

    stdout and stderr are captured (and also written to ``log`` when given).
    On SIGINT/SIGTERM in the parent the child's process group is terminated.
    With check=True a non-zero exit raises CommandError quoting the output tail.
    """
    args = [os.fspath(a) for a in argv]
    full_env = dict(os.environ if env is None else env)
    if extra_env:
        full_env.update(extra_env)
    try:
        proc = subprocess.Popen(
            args,
            cwd=cwd,
            env=full_env,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            preexec_fn=_die_with_parent(os.getpid()),
        )
    except FileNotFoundError as exc:
        raise ForkliftError(
            f"command not found: {args[0]} (running {shlex.join(args)})",
            hint=hint or "install it (see README.md set-up) or put it on PATH",
        ) from exc
    _reaper_send(f"+{proc.pid}")
    with _live_lock:
        _live.add(proc)
    try:
        out, err = proc.communicate(input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        terminate(proc)
        out, err = proc.communicate()
        _write_log(log, args, out, err)
        raise CommandError(args, -1, (out or "") + (err or ""), hint=f"timed out after {timeout} s") from None
    except BaseException:
        terminate(proc)
        raise
    finally:
        with _live_lock:
            _live.discard(proc)
        _reaper_send(f"-{proc.pid}")
    _write_log(log, args, out, err)
    result = Result(tuple(args), proc.returncode, out, err)
    if check and proc.returncode != 0:
        raise CommandError(args, proc.returncode, out + err, hint=hint)
    return result


def terminate(proc: subprocess.Popen[str] | subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """Stop a child and its process group: SIGTERM, then SIGKILL after ``grace`` seconds."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    killed = False
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        killed = True
        proc.wait()
    # the leader is gone; the rest of its group (a build's shell and what it runs) dies on the same
    # signal a moment later: wait for that (SIGKILL after the grace), so nothing of it outlives this call
    deadline = time.monotonic() + grace
    while _group_running(proc.pid):
        if time.monotonic() > deadline:
            if killed:
                break  # unkillable (uninterruptible sleep): the reaper process goes on trying
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            killed, deadline = True, time.monotonic() + grace
        time.sleep(0.05)


def proc_stat(pid: int | str) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name: [0] is the state (field 3 of proc(5)),
    [2] the process group, [19] the start time. None when the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _group_running(pgid: int) -> bool:
    """Whether a process of group ``pgid`` still runs (zombies, which wait for their parent, do not count)."""
    for proc in Path("/proc").glob("[0-9]*"):
        fields = proc_stat(proc.name)  # None: gone meanwhile
        if fields and len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


def terminate_all() -> None:
    """Stop every child that run() has started and that still runs."""
    with _live_lock:
        procs = list(_live)
    for proc in procs:
        terminate(proc)


def _write_log(log: Path | None, argv: Sequence[str], out: str | None, err: str | None) -> None:
    if log is None:
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as fh:
        _emit(fh, argv, out or "", err or "")


def _emit(fh: IO[str], argv: Sequence[str], out: str, err: str) -> None:
    """Write the command and its output to a log, redacted (tooling.redact)."""
    fh.write(redact(f"$ {shlex.join(argv)}\n"))
    if out:
        fh.write(redact(out if out.endswith("\n") else out + "\n"))
    if err:
        fh.write(redact(err if err.endswith("\n") else err + "\n"))
