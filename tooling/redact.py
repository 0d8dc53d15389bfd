"""One redaction for every output: console lines, error messages, logs and reports.

Secrets Forklift can meet in what it prints:
- credentials in URLs (``scheme://user:password@host``, or ``scheme://token@host``);
- secret-looking query parameters (``?token=…``, ``password=``, ``passphrase=``, ``key=``…);
- values registered at run time with :func:`register` (a GPG passphrase read from a file,
  a token from the environment), wherever they appear.

Everything that writes to a console, a log or a report calls :func:`redact` (or
:func:`redact_obj` for JSON-like data) on what it writes.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"

# userinfo in any URL-like string: scheme://USERINFO@host -> scheme://***@host
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/@\s'\"<>]+)@")
_SECRET_PARAMS = re.compile(
    r"(?P<key>[?&;](?:access_token|token|password|passwd|passphrase|secret|api_key|apikey|auth|key)=)"
    r"(?P<value>[^&#\s'\"<>]+)",
    re.IGNORECASE,
)
_registered: set[str] = set()


def register(secret: str | None) -> None:
    """Mask this exact value wherever it appears from now on (ignored when shorter than 4 characters:
    masking 'a' everywhere would garble output without protecting anything)."""
    if secret and len(secret.strip()) >= 4:
        _registered.add(secret.strip())


def redact(text: str) -> str:
    """The text with every known kind of secret replaced by ***."""
    if not text:
        return text
    out = _USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)
    out = _SECRET_PARAMS.sub(lambda m: f"{m.group('key')}{MASK}", out)
    for secret in sorted(_registered, key=len, reverse=True):
        out = out.replace(secret, MASK)
    return out


def redact_obj(value: Any) -> Any:
    """Redact every string inside JSON-like data (dicts, lists, tuples); keys too."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_obj(k): redact_obj(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_obj(v) for v in value)
    return value


class RedactingStream:
    """A text stream that redacts what is written to it and passes it on to ``target()``.

    ``target`` is called at each write (not once), so a stream that is swapped later
    (pytest's capture, a Live display) still receives the output. Everything else
    (isatty, fileno, encoding, flush) is the target's.
    """

    def __init__(self, target: Any) -> None:
        self._target = target

    @property
    def wrapped(self) -> Any:
        return self._target()

    def write(self, text: str) -> int:
        self.wrapped.write(redact(text))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)
