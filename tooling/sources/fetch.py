"""HTTP downloads: retries with backoff on transient failures, Range resume.

Transient: connection errors, timeouts, 5xx answers, bodies cut short. A 4xx
answer (404 ...) is final for that URL: the caller tries the next mirror.
Bytes already on disk are kept between attempts (and between runs, in the
cache's ``partial/``); the next attempt asks for the rest with ``Range``. A
server that ignores Range (answers 200) is read again from the start.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

from tooling import __version__
from tooling.errors import ForkliftError

USER_AGENT = f"forklift/{__version__} (+sources)"


@dataclass(frozen=True)
class FetchPolicy:
    attempts: int = 5  # tries per URL
    backoff: float = 1.0  # seconds before the 2nd try; doubles each time
    max_backoff: float = 30.0
    connect_timeout: float = 15.0
    read_timeout: float = 60.0  # seconds without a byte before the attempt is abandoned


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
) -> Path:
    """Download ``url`` into ``dest`` (appending to a partial file already there).

    Raises NotFoundError for a final 4xx and TransientFailure when every attempt failed.
    """
    host = urlsplit(url).netloc
    if host in _unreachable:
        raise TransientFailure(url, 0, f"skipped: {host} could not be reached earlier in this run ({_unreachable[host]})")
    own = session is None
    sess = session or requests.Session()
    sess.headers.setdefault("User-Agent", USER_AGENT)
    dest.parent.mkdir(parents=True, exist_ok=True)
    last = "no attempt made"
    connect_failures = 0
    try:
        for attempt in range(1, policy.attempts + 1):
            try:
                _attempt(sess, url, dest, policy)
                return dest
            except _Retry as exc:
                last = str(exc)
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
                urllib3.exceptions.HTTPError,
            ) as exc:
                last = f"{type(exc).__name__}: {exc}"
                if _is_connect_failure(exc):
                    connect_failures += 1
            if attempt < policy.attempts:
                sleep(min(policy.backoff * 2 ** (attempt - 1), policy.max_backoff))
        if connect_failures == policy.attempts:
            _unreachable[host] = last.split(":", 1)[0]
        raise TransientFailure(url, policy.attempts, last)
    finally:
        if own:
            sess.close()


def _attempt(sess: requests.Session, url: str, dest: Path, policy: FetchPolicy) -> None:
    have = dest.stat().st_size if dest.exists() else 0
    headers = {"Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    with sess.get(url, headers=headers, stream=True, timeout=(policy.connect_timeout, policy.read_timeout)) as resp:
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
        with open(dest, mode) as fh:
            for chunk in resp.raw.stream(1 << 16, decode_content=False):
                fh.write(chunk)
        size = dest.stat().st_size
        if expected_total is not None and size < expected_total:
            raise _Retry(f"body cut short: {size} of {expected_total} bytes")


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
