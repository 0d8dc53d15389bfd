"""One build at a time per build/ tree: an flock on build/.forklift.lock.

The holder writes who it is (pid, host, command, start time) into the lock
file; a second build fails at once and names the holder. The kernel releases
the lock when the holder exits, however it exits.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from types import TracebackType

from tooling.errors import ForkliftError


class BuildLock:
    def __init__(self, build_dir: Path) -> None:
        self.path = build_dir / ".forklift.lock"
        self.fd: int | None = None

    def __enter__(self) -> BuildLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace")
            os.close(fd)
            try:
                info = json.loads(holder)
                who = (f"pid {info['pid']} on {info['host']} ({info['command']}), "
                       f"since {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(info['since']))}")
            except (ValueError, KeyError):
                who = "another process"
            raise ForkliftError(
                f"{self.path.parent} is in use by {who}",
                hint="wait for that build to finish, or use another --build-dir",
            ) from None
        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv), "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
