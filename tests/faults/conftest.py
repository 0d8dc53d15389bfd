"""Bad inputs and faults, through the real `invoke` command line in a subprocess.

`cli(...)` runs `.venv/bin/invoke TASK ...` from the checkout with a private home,
cache and mirror configuration (and FORKLIFT_SPECS pointing at a small spec tree
when given). `assert_fault(...)` checks what every case must hold:

- the exit code;
- one line that names the culprit (a file, key, URL, option or path);
- no Python traceback;
- no secret (the sentinels given) in stdout, stderr or any file under the
  directories given (logs, JSON reports, the cache).

`snapshot(dir)` / `unchanged(...)` compare the cache, build/repos and the lock
before and after. `tiny_tree(...)` is one noarch package, `fksrc`, whose remote
source tarball ends up inside the RPM (so a test can see which bytes were
packaged); `loopback` is an HTTP server on 127.0.0.1 that can also hang or trickle.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.builds.conftest import test_specs  # noqa: F401 (a fixture)
from tests.sources.conftest import (
    TARBALL,
    Loopback,
    make_tree,
    server,  # noqa: F401 (a fixture)
    sha512,
)
from tooling import REPO_ROOT

INVOKE = Path(sys.executable).parent / "invoke"
SECRET = "s3ntinel-Pa55w0rd"  # a credential that must never be printed or written
TOKEN = "t0ken-s3ntinel-77"

FKSRC_SPEC = """\
{% import "_templates/macros.j2" as m %}
{{ m.preamble(pkg) }}

BuildArch:      noarch

%description
A package that ships its upstream tarball, for Forklift's fault tests.

%prep

%build
{{ vars.build_cmd }}

%install
install -D -m 0644 %{SOURCE0} %{buildroot}%{_datadir}/fksrc/tiny-1.0.tar.gz
install -D -m 0644 %{SOURCE1} %{buildroot}%{_datadir}/fksrc/tiny.conf

%files
%{_datadir}/fksrc/

{{ m.changelog(pkg) }}
"""


@dataclass(frozen=True)
class CliResult:
    argv: tuple[str, ...]
    code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __str__(self) -> str:
        return (f"$ {' '.join(self.argv)}\nexit {self.code} after {self.seconds:.1f} s\n--- stdout\n{self.stdout}"
                f"--- stderr\n{self.stderr}")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment of one CLI run: private home, cache and (empty) mirror configuration."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "mirrors.toml").write_text("")
    base = {k: v for k, v in os.environ.items() if not k.startswith("FORKLIFT_")}
    base.update({
        "HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"), "XDG_CACHE_HOME": str(home / "xdgcache"),
        "FORKLIFT_MIRRORS": str(home / "mirrors.toml"), "FORKLIFT_CACHE": str(tmp_path / "cache"),
        "COLUMNS": "250", "TERM": "dumb", "PYTHONDONTWRITEBYTECODE": "1",
        # fast and bounded downloads: each case states its own deadline
        "FORKLIFT_FETCH_ATTEMPTS": "2", "FORKLIFT_FETCH_BACKOFF": "0.05", "FORKLIFT_FETCH_STALL": "2",
        "FORKLIFT_FETCH_DEADLINE": "20",
    })
    return base


@pytest.fixture
def cli(env: dict[str, str]) -> Callable[..., CliResult]:
    def run(*args: str, extra_env: dict[str, str] | None = None, timeout: float = 120,
            cwd: Path = REPO_ROOT) -> CliResult:
        argv = (str(INVOKE), *args)
        start = time.monotonic()
        proc = subprocess.run(argv, cwd=cwd, env={**env, **(extra_env or {})}, capture_output=True, text=True,
                              timeout=timeout, check=False)
        return CliResult(argv, proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)

    return run


def files_under(*dirs: Path) -> Iterator[Path]:
    for d in dirs:
        if d.is_file():
            yield d
        elif d.is_dir():
            for p in d.rglob("*"):
                if p.is_file() and not p.is_symlink():
                    yield p


def assert_fault(res: CliResult, *, code: int, culprit: str | tuple[str, ...], secrets: tuple[str, ...] = (),
                 files: tuple[Path, ...] = (), error: bool = True) -> str:
    """The checks every fault case makes; returns the line that names the culprit."""
    assert res.code == code, str(res)
    assert "Traceback" not in res.output, str(res)
    wanted = (culprit,) if isinstance(culprit, str) else culprit
    lines = [ln for ln in res.output.splitlines() if all(w in ln for w in wanted)]
    if error:
        lines = [ln for ln in lines if ln.startswith(("error:", "warning:"))] or lines
        assert any(ln.startswith(("error:", "warning:")) for ln in lines), f"no error line naming {wanted}\n{res}"
    assert lines, f"no line names {wanted}\n{res}"
    for secret in secrets:
        assert secret not in res.output, f"secret {secret!r} printed\n{res}"
        for f in files_under(*files):
            assert secret.encode() not in f.read_bytes(), f"secret {secret!r} written to {f}"
    return lines[0]


def snapshot(*dirs: Path) -> dict[str, str]:
    """Every file under ``dirs`` (and where symlinks point): what 'unchanged' compares."""
    out: dict[str, str] = {}
    for d in dirs:
        if not d.exists() and not d.is_symlink():
            continue
        for p in sorted([d, *d.rglob("*")]) if d.is_dir() else [d]:
            if p.is_symlink():
                out[str(p)] = "-> " + os.readlink(p)
            elif p.is_file():
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def lock_free(build_dir: Path) -> bool:
    """No process holds the build lock (a fault must not leave it taken)."""
    import fcntl

    path = build_dir / ".forklift.lock"
    if not path.exists():
        return True
    with open(path) as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(fh, fcntl.LOCK_UN)
    return True


def tiny_tree(root: Path, url: str, *, build_cmd: str = "true") -> Path:
    """A spec tree with one package, fksrc: its remote source (TARBALL at ``url``) and a local file
    are installed into the RPM, so what was packaged can be compared with what was served."""
    specs = make_tree(root, url)
    shutil.copy(REPO_ROOT / "specs" / "host-compat.macros", specs / "host-compat.macros")
    old, new = specs / "tiny", specs / "fksrc"
    old.rename(new)
    toml = (new / "package.toml").read_text().replace('name = "tiny"', 'name = "fksrc"')
    (new / "package.toml").write_text(toml.replace("[[patches]]\nfile = \"fix.patch\"\n", "")
                                      + f'\n[vars]\nbuild_cmd = "{build_cmd}"\n')
    (new / "tiny.spec.j2").unlink()
    (new / "fksrc.spec.j2").write_text(FKSRC_SPEC)
    (new / "changelog").write_text("* Tue Nov 14 2023 Test <test@example.org> - 1.0-3\n- First\n")
    return specs


@contextlib.contextmanager
def mounted_tmpfs(path: Path, options: str) -> Iterator[Path]:
    """A real small or read-only file system at ``path`` (root only; the case is skipped elsewhere)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True,
                         check=False)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


class SilentServer:
    """A TCP server on 127.0.0.1 that accepts connections and then either says nothing (hang) or
    answers 200 with a body trickled ``chunk`` bytes (default 1) every ``every`` seconds (trickle)."""

    def __init__(self, mode: str, every: float = 2.0, body: bytes = TARBALL, chunk: int = 1) -> None:
        self.mode = mode
        self.every = every
        self.chunk = chunk
        self.body = body
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stopped = threading.Event()
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def url(self, path: str, userinfo: str = "") -> str:
        return f"http://{userinfo + '@' if userinfo else ''}127.0.0.1:{self.port}{path}"

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            if self.mode == "trickle":
                threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(self.body))
            for i in range(0, len(self.body), self.chunk):
                if self.stopped.wait(self.every):
                    return
                conn.sendall(self.body[i:i + self.chunk])

    def close(self) -> None:
        # shutdown() wakes the accept() blocked in the serving thread; close() alone does not, and
        # that thread would go on accepting on whatever socket later reuses the descriptor (it
        # once swallowed the fake koji hub's connections in a later test)
        self.stopped.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.thread.join(timeout=10)
        assert not self.thread.is_alive(), "the silent server's accept thread did not stop"
        with contextlib.suppress(OSError):
            self.sock.close()
        for c in self.conns:
            with contextlib.suppress(OSError):
                c.close()


__all__ = ["SECRET", "TARBALL", "TOKEN", "CliResult", "Loopback", "SilentServer", "assert_fault", "lock_free",
           "mounted_tmpfs", "sha512", "snapshot", "tiny_tree"]
