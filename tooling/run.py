"""The one subprocess layer: argv lists only (never a shell), optional log
files, timeouts, signal forwarding to children, and errors that quote the
command's output."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tooling.errors import ForkliftError

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
        )
    except FileNotFoundError as exc:
        raise ForkliftError(
            f"command not found: {args[0]} (running {shlex.join(args)})",
            hint=hint or "install it (see README.md set-up) or put it on PATH",
        ) from exc
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
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


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
    fh.write(f"$ {shlex.join(argv)}\n")
    if out:
        fh.write(out if out.endswith("\n") else out + "\n")
    if err:
        fh.write(err if err.endswith("\n") else err + "\n")
