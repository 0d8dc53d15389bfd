"""HTTP downloads: retries with backoff on transient failures, Range resume,
a stall timeout, a deadline, and progress.

Transient: connection errors, timeouts, 5xx answers, bodies cut short, a
server that stops sending (no byte for ``read_timeout`` seconds: "stalled").
A 4xx answer (404 ...) is final for that URL: the caller tries the next mirror.
Bytes already on disk are kept between attempts (and between runs, in the
cache's ``partial/``); the next attempt asks for the rest with ``Range``. A
server that ignores Range (answers 200) is read again from the start.

Every file has a deadline (``deadline`` seconds for all its attempts and
mirrors together): a server that trickles a byte now and then cannot hold a
run forever. Downloads that take longer than ``progress_every`` seconds show
progress: a bar (size, rate, ETA) when stdout is a terminal, else one line
every ``progress_every`` seconds.

The policy's numbers come from the environment (FetchPolicy.from_env):
FORKLIFT_FETCH_STALL, FORKLIFT_FETCH_DEADLINE, FORKLIFT_FETCH_ATTEMPTS,
FORKLIFT_FETCH_BACKOFF, FORKLIFT_FETCH_PROGRESS.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

from tooling import __version__
from tooling.errors import ForkliftError, os_error
from tooling.redact import redact

USER_AGENT = f"forklift/{__version__} (+sources)"
CHUNK = 1 << 16

_ENV = {
    "read_timeout": "FORKLIFT_FETCH_STALL",
    "deadline": "FORKLIFT_FETCH_DEADLINE",
    "attempts": "FORKLIFT_FETCH_ATTEMPTS",
    "backoff": "FORKLIFT_FETCH_BACKOFF",
    "progress_every": "FORKLIFT_FETCH_PROGRESS",
}


@dataclass(frozen=True)
class FetchPolicy:
    attempts: int = 5  # tries per URL
    backoff: float = 1.0  # seconds before the 2nd try; doubles each time
    max_backoff: float = 30.0
    connect_timeout: float = 15.0
    read_timeout: float = 30.0  # stall timeout: seconds without a byte before the attempt is abandoned
    deadline: float = 1800.0  # seconds for one file: every attempt at every mirror together
    progress_every: float = 10.0  # progress shown for downloads longer than this; a line this often (no terminal)

    @classmethod
    def from_env(cls, environ: Any = None) -> FetchPolicy:
        """The defaults, overridden by FORKLIFT_FETCH_* variables (see the module docstring)."""
        env = os.environ if environ is None else environ
        policy = cls()
        for field_name, var in _ENV.items():
            raw = env.get(var)
            if raw is None or raw == "":
                continue
            try:
                value: float = int(raw) if field_name == "attempts" else float(raw)
            except ValueError:
                value = -1
            if value <= 0 and not (field_name == "backoff" and value == 0):
                raise ForkliftError(f"${var}={raw!r}: not a positive number",
                                    hint=f"unset it, or set a number of {'tries' if field_name == 'attempts' else 'seconds'}")
            policy = replace(policy, **{field_name: value})  # type: ignore[arg-type]
        return policy


DEFAULT_POLICY = FetchPolicy()


class NotFoundError(ForkliftError):
    """The server answered with a final 4xx: this URL does not have the file."""

    def __init__(self, url: str, status: int) -> None:
        self.url = url
        self.status = status
        super().__init__(f"{url}: HTTP {status}")


class TransientFailure(ForkliftError):
    """Every attempt failed with a transient error."""

    def __init__(self, url: str, attempts: int, last: str) -> None:
        self.url = url
        self.attempts = attempts
        self.last = last
        super().__init__(f"{url}: gave up after {attempts} attempts; last error: {last}")


class _Retry(Exception):
    pass


class _DeadlinePassed(Exception):
    pass


def _stalled(policy: FetchPolicy) -> str:
    return f"stalled: no data for {policy.read_timeout:g} s"


# hosts that refused every connection attempt (DNS failure, refused, connect timeout): later
# downloads from them in the same process fail at once instead of waiting through the backoff again
_unreachable: dict[str, str] = {}


def forget_unreachable_hosts() -> None:
    _unreachable.clear()


def _is_connect_failure(exc: BaseException) -> bool:
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    text = repr(exc)
    return isinstance(exc, requests.ConnectionError) and any(
        k in text for k in ("NewConnectionError", "NameResolutionError", "Failed to resolve", "Connection refused")
    )


def download(
    url: str,
    dest: Path,
    *,
    policy: FetchPolicy = DEFAULT_POLICY,
    session: requests.Session | None = None,
    sleep: Callable[[float], None] = time.sleep,
    deadline: float | None = None,
) -> Path:
    """Download ``url`` into ``dest`` (appending to a partial file already there).

    ``deadline`` (time.monotonic()) bounds all attempts; default: ``policy.deadline`` from now.
    Raises NotFoundError for a final 4xx and TransientFailure when every attempt failed or the
    deadline passed.
    """
    host = urlsplit(url).netloc
    if host in _unreachable:
        raise TransientFailure(url, 0, f"skipped: {host} could not be reached earlier in this run ({_unreachable[host]})")
    if deadline is None:
        deadline = time.monotonic() + policy.deadline
    own = session is None
    sess = session or requests.Session()
    sess.headers.setdefault("User-Agent", USER_AGENT)
    dest.parent.mkdir(parents=True, exist_ok=True)
    last = "no attempt made"
    connect_failures = 0
    attempt = 0
    try:
        for attempt in range(1, policy.attempts + 1):
            if time.monotonic() >= deadline:
                last = f"deadline passed ({policy.deadline:g} s for this file)"
                break
            try:
                _attempt(sess, url, dest, policy, deadline)
                return dest
            except _DeadlinePassed as exc:
                last = str(exc)
                break
            except _Retry as exc:
                last = str(exc)
            except (requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError):
                last = _stalled(policy)
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
                urllib3.exceptions.HTTPError,
            ) as exc:
                last = _stalled(policy) if "Read timed out" in str(exc) else f"{type(exc).__name__}: {exc}"
                if _is_connect_failure(exc):
                    connect_failures += 1
            if attempt < policy.attempts:
                pause = min(policy.backoff * 2 ** (attempt - 1), policy.max_backoff, max(0.0, deadline - time.monotonic()))
                sleep(pause)
        if connect_failures == policy.attempts:
            _unreachable[host] = last.split(":", 1)[0]
        raise TransientFailure(url, attempt, last)
    finally:
        if own:
            sess.close()


def _attempt(sess: requests.Session, url: str, dest: Path, policy: FetchPolicy, deadline: float) -> None:
    have = dest.stat().st_size if dest.exists() else 0
    headers = {"Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    remaining = max(0.1, deadline - time.monotonic())
    timeout = (min(policy.connect_timeout, remaining), min(policy.read_timeout, remaining))
    with sess.get(url, headers=headers, stream=True, timeout=timeout) as resp:
        status = resp.status_code
        if status == 416 and have:
            # asked for bytes past the end: the partial file is complete (or wrong);
            # the hash check decides. Start over if it is wrong.
            total = _total_from_content_range(resp.headers.get("Content-Range", ""))
            if total == have:
                return
            dest.unlink()
            raise _Retry(f"HTTP 416 with {have} bytes on disk; restarting from zero")
        if status >= 500 or status == 429 or status == 408:
            raise _Retry(f"HTTP {status}")
        if status >= 400:
            raise NotFoundError(url, status)
        if status == 206 and have:
            start = _start_from_content_range(resp.headers.get("Content-Range", ""))
            if start != have:
                dest.unlink()
                raise _Retry(f"server resumed at byte {start}, not {have}; restarting from zero")
            mode = "ab"
            expected_total = have + int(resp.headers["Content-Length"]) if "Content-Length" in resp.headers else None
        else:
            mode = "wb"  # 200: the server sends everything again
            have = 0
            expected_total = int(resp.headers["Content-Length"]) if "Content-Length" in resp.headers else None
        raw = resp.raw
        read = (lambda: raw.read1(CHUNK, decode_content=False)) if hasattr(raw, "read1") else (
            lambda: raw.read(8192, decode_content=False))
        try:
            fh = open(dest, mode, buffering=0)  # noqa: SIM115 (closed below); unbuffered: ENOSPC shows at write()
        except OSError as exc:
            raise os_error(exc, "source download:") from None
        with fh, DownloadProgress(url, have, expected_total, policy) as progress:
            while True:
                now = time.monotonic()
                if now >= deadline:
                    got = dest.stat().st_size
                    raise _DeadlinePassed(f"deadline passed ({policy.deadline:g} s for this file) with {got} bytes"
                                          + (f" of {expected_total}" if expected_total is not None else ""))
                # the stall timeout applies to each read; the deadline shortens the last one
                _set_read_timeout(raw, min(policy.read_timeout, max(0.05, deadline - now)))
                chunk = read()
                if not chunk:
                    break
                try:
                    view = memoryview(chunk)
                    while view:
                        view = view[fh.write(view) or 0:]
                except OSError as exc:  # a full disk: drop the partial file, it frees the space
                    fh.close()
                    with contextlib.suppress(OSError):
                        dest.unlink()
                    exc.filename = str(dest)
                    raise os_error(exc, f"downloading {url} into the source cache:") from None
                progress.advance(len(chunk))
        size = dest.stat().st_size
        if expected_total is not None and size < expected_total:
            raise _Retry(f"body cut short: {size} of {expected_total} bytes")


def _set_read_timeout(raw: Any, seconds: float) -> None:
    """Shorten the socket timeout of a streaming response (best effort: urllib3's private parts)."""
    sock = getattr(getattr(raw, "_connection", None), "sock", None)
    if sock is None:
        fp = getattr(raw, "_fp", None)
        sock = getattr(getattr(getattr(fp, "fp", None), "raw", None), "_sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.settimeout(seconds)


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


class DownloadProgress:
    """Progress of one download, shown once it has run ``policy.progress_every`` seconds:
    a rich bar (size, rate, ETA) on a terminal, else one line every ``progress_every`` seconds."""

    def __init__(self, url: str, have: int, total: int | None, policy: FetchPolicy) -> None:
        self.url = redact(url)
        self.name = url.rsplit("/", 1)[-1] or url
        self.start_bytes = have
        self.done = have
        self.total = total
        self.every = policy.progress_every
        self.started = time.monotonic()
        self.next_line = self.started + self.every
        self.bar: Any = None
        self.task: Any = None
        self.terminal = sys.stdout.isatty()

    def __enter__(self) -> DownloadProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def advance(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now < self.next_line:
            if self.bar is not None:
                self.bar.update(self.task, completed=self.done)
            return
        if self.terminal:
            if self.bar is None:
                self._start_bar()
            self.bar.update(self.task, completed=self.done)
            self.next_line = now  # every chunk updates the bar from now on
        else:
            print(self.line(now), flush=True)
            self.next_line = now + self.every

    def line(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-6)
        rate = (self.done - self.start_bytes) / elapsed
        size = f"{_human(self.done)} of {_human(self.total)}" if self.total else _human(self.done)
        eta = ""
        if self.total and rate > 0:
            eta = f", ETA {max(0.0, (self.total - self.done) / rate):.0f} s"
        return f"downloading {self.url}: {size}, {_human(rate)}/s{eta}"

    def _start_bar(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                            TimeRemainingColumn(), console=Console(file=sys.stdout, emoji=False), transient=True)
        self.bar.start()
        self.task = self.bar.add_task(self.name, total=self.total, completed=self.done)


def _start_from_content_range(value: str) -> int | None:
    # "bytes 100-199/200"
    try:
        return int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def _total_from_content_range(value: str) -> int | None:
    try:
        return int(value.rsplit("/", 1)[1])
    except (IndexError, ValueError):
        return None
