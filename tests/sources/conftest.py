"""Fixtures for the sources tests: a real HTTP server on 127.0.0.1 and a tiny spec tree."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import SPECS
from tooling.sources import fetch
from tooling.sources.cache import SourceCache
from tooling.sources.fetch import FetchPolicy

TARBALL = b"".join(b"tiny-1.0 source line %05d\n" % i for i in range(4000))  # ~100 KiB
# fast retries for tests
POLICY = FetchPolicy(attempts=3, backoff=0.05, max_backoff=0.1, connect_timeout=2, read_timeout=0.5)


@dataclass
class Loopback:
    """Behaviours by path prefix:
    /files/NAME       serve NAME (honours Range)
    /missing/NAME     404
    /flaky/NAME       500 for the first `fail_times` requests, then serve
    /truncated/NAME   the first response promises everything but sends half, later ones honour Range
    /tampered/NAME    serve other bytes
    /slow/NAME        the first response stalls longer than the read timeout, then serve
    /norange/NAME     ignore Range (always 200 with the whole body)
    /dead/NAME        always 503
    """

    files: dict[str, bytes] = field(default_factory=dict)
    fail_times: int = 2
    stall: float = 1.5
    counts: dict[str, int] = field(default_factory=dict)
    log: list[tuple[str, str | None, int]] = field(default_factory=list)  # (path, Range header, status)
    base: str = ""
    stop: Callable[[], None] = lambda: None

    def hits(self, prefix: str) -> int:
        return sum(1 for p, _, _ in self.log if p.startswith(prefix))


def _handler(state: Loopback) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None, *,
                  send_bytes: int | None = None) -> None:
            state.log.append((self.path, self.headers.get("Range"), status))
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body if send_bytes is None else body[:send_bytes])
            self.wfile.flush()
            self.close_connection = True

        def _serve(self, data: bytes, *, ranges: bool = True) -> None:
            rng = self.headers.get("Range")
            if ranges and rng and rng.startswith("bytes="):
                start = int(rng[6:].split("-")[0])
                if start >= len(data):
                    self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                    return
                self._send(206, data[start:], {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}",
                                               "Accept-Ranges": "bytes"})
                return
            self._send(200, data, {"Accept-Ranges": "bytes" if ranges else "none"})

        def do_GET(self) -> None:
            parts = self.path.strip("/").split("/")
            kind, name = parts[0], parts[-1]
            n = state.counts[self.path] = state.counts.get(self.path, 0) + 1
            data = state.files.get(name)
            if kind == "missing" or data is None:
                self._send(404, b"not found\n")
            elif kind == "dead":
                self._send(503, b"down\n")
            elif kind == "flaky" and n <= state.fail_times:
                self._send(500, b"oops\n")
            elif kind == "truncated" and n == 1:
                self._send(200, data, send_bytes=len(data) // 2)
            elif kind == "tampered":
                self._serve(data[:-10] + b"TAMPERED!\n")
            elif kind == "slow" and n == 1:
                time.sleep(state.stall)
                self._serve(data)
            elif kind == "norange":
                self._serve(data, ranges=False)
            else:
                self._serve(data)

    return Handler


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read the user's mirrors.toml or write to the user's cache."""
    home = tmp_path_factory.mktemp("home")
    (home / "mirrors.toml").write_text("")
    monkeypatch.setenv("FORKLIFT_MIRRORS", str(home / "mirrors.toml"))
    monkeypatch.setenv("FORKLIFT_CACHE", str(home / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))


@pytest.fixture(autouse=True)
def _fresh_hosts() -> Iterator[None]:
    fetch.forget_unreachable_hosts()
    yield
    fetch.forget_unreachable_hosts()


@pytest.fixture
def server() -> Iterator[Loopback]:
    state = Loopback(files={"tiny-1.0.tar.gz": TARBALL})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"

    def stop() -> None:
        if thread.is_alive():
            httpd.shutdown()
            httpd.server_close()
            thread.join(5)

    state.stop = stop
    yield state
    stop()


def sha512(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest()


SPEC_J2 = """\
{% import "_templates/macros.j2" as m %}
{{ m.preamble(pkg) }}

BuildArch:      noarch

%description
A tiny package for the sources tests.

%prep

%build

%install

%files

{{ m.changelog(pkg) }}
"""


def make_tree(root: Path, source_url: str, *, data: bytes = TARBALL, extra_toml: str = "",
              sources_text: str | None = None) -> Path:
    """specs/ under ``root`` with targets.toml, the shared templates and one package `tiny`."""
    specs = root / "specs"
    specs.mkdir(parents=True, exist_ok=True)
    shutil.copy(SPECS / "targets.toml", specs / "targets.toml")
    shutil.copytree(SPECS / "_templates", specs / "_templates", dirs_exist_ok=True)
    pkg = specs / "tiny"
    pkg.mkdir(exist_ok=True)
    (pkg / "package.toml").write_text(
        'name = "tiny"\n'
        '# the version line is rewritten by new-version; this comment stays\n'
        'version = "1.0"\n'
        "release = 3  # bumped for rebuilds\n"
        'summary = "A tiny test package"\n'
        'license = "MIT"\n'
        'url = "https://example.org/tiny"\n'
        "source_date_epoch = 1700000000\n\n"
        f'[[sources]]\nurl = "{source_url}"\n{extra_toml}\n'
        '[[sources]]\nfile = "tiny.conf"\nlocal = true\n\n'
        '[[patches]]\nfile = "fix.patch"\n'
    )
    (pkg / "tiny.conf").write_text("setting = 1\n")
    (pkg / "fix.patch").write_text("--- a/x\n+++ b/x\n@@ -0,0 +1 @@\n+fixed\n")
    (pkg / "tiny.spec.j2").write_text(SPEC_J2)
    (pkg / "changelog").write_text("* Tue Nov 14 2023 Test <test@example.org> - 1.0-3\n- First\n")
    if sources_text is None:
        sources_text = f"SHA512 (tiny-1.0.tar.gz) = {sha512(data)}\n"
    (pkg / "sources").write_text(sources_text)
    return specs


@pytest.fixture
def cache(tmp_path: Path) -> SourceCache:
    return SourceCache(tmp_path / "cache")


@dataclass(frozen=True)
class Signer:
    home: Path
    keyring_armored: bytes

    def sign(self, data: Path, out: Path) -> None:
        subprocess.run(["gpg", "--homedir", str(self.home), "--batch", "--yes", "--pinentry-mode", "loopback",
                        "--passphrase", "", "--detach-sign", "--armor", "--output", str(out), str(data)],
                       check=True, capture_output=True)


@pytest.fixture(scope="session")
def signer() -> Iterator[Signer]:
    if shutil.which("gpg") is None or shutil.which("gpgv") is None:
        pytest.skip("needs gpg and gpgv on PATH (apt-get install gnupg gpgv)")
    home = Path(tempfile.mkdtemp(prefix="fkgpg"))  # short: gpg-agent's socket path has a length limit
    home.chmod(0o700)
    try:
        subprocess.run(["gpg", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback", "--passphrase", "",
                        "--quick-gen-key", "Tiny Upstream <release@example.org>", "ed25519", "sign", "never"],
                       check=True, capture_output=True)
        key = subprocess.run(["gpg", "--homedir", str(home), "--export", "--armor"], check=True,
                             capture_output=True).stdout
        yield Signer(home, key)
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)
