"""A koji hub session from the user's koji profile: login, bounded retries, error translation.

- The profile comes from ``koji.read_config`` (``/etc/koji.conf(.d)``, ``~/.koji/config(.d)``);
  the login method is the profile's ``authtype`` (``ssl`` or ``gssapi``/``kerberos``).
- Transient failures (connection reset, HTTP 5xx, timeouts, the ServerOffline fault)
  are retried by re-sending the *same* request (same Koji-Session-Callnum, so the hub
  can refuse a replay of a call that already ran) with exponential backoff, up to a
  bound (:class:`RetryPolicy`). koji's own constant-interval retry is switched off.
- AuthExpired: koji renews the session once by itself; AuthError on a call: we log in
  again once. Whatever fails after that becomes a ForkliftError.
- Session ids, keys and credentials never reach the console or the logs.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import koji
import requests

from tooling.errors import ForkliftError

log = logging.getLogger("forklift.koji")
T = TypeVar("T")

PROFILE_FILES = "/etc/koji.conf, /etc/koji.conf.d/*.conf, ~/.koji/config, ~/.koji/config.d/*.conf"


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff for transient failures: first_delay, doubling, capped at max_delay."""

    attempts: int = 6
    first_delay: float = 1.0
    max_delay: float = 30.0

    def delays(self) -> Iterator[float]:
        delay = self.first_delay
        for _ in range(self.attempts - 1):
            yield delay
            delay = min(delay * 2, self.max_delay)


@dataclass(frozen=True)
class Profile:
    name: str
    server: str
    weburl: str
    topurl: str | None
    authtype: str
    poll_interval: float
    options: dict[str, Any] = field(repr=False)

    def task_url(self, task_id: int) -> str:
        return f"{self.weburl.rstrip('/')}/taskinfo?taskID={task_id}"


def load_profile(name: str) -> Profile:
    """Read koji profile ``name`` with koji.read_config; ForkliftError if it is missing or unusable."""
    try:
        opts = koji.read_config(name)
    except koji.ConfigurationError as exc:
        raise ForkliftError(
            f"koji profile {name!r}: {exc}",
            hint=f"add a section named {name} (server =, weburl =, authtype =) to one of {PROFILE_FILES}, or pass --profile",
        ) from None
    authtype = (opts.get("authtype") or ("ssl" if opts.get("cert") else "gssapi")).lower()
    if authtype == "kerberos":
        authtype = "gssapi"
    if authtype not in ("ssl", "gssapi"):
        raise ForkliftError(
            f"koji profile {name!r}: authtype {authtype!r} is not supported",
            hint="use authtype = ssl (with cert = and serverca =) or authtype = gssapi (kinit first)",
        )
    if authtype == "ssl" and not opts.get("cert"):
        raise ForkliftError(f"koji profile {name!r}: authtype ssl needs cert = (a PEM with certificate and key)",
                            hint=f"set cert = in section {name} or place it at ~/.koji/client.crt")
    return Profile(
        name=name,
        server=str(opts["server"]),
        weburl=str(opts.get("weburl") or ""),
        topurl=opts.get("topurl"),
        authtype=authtype,
        poll_interval=float(opts.get("poll_interval") or 6),
        options=opts,
    )


def is_transient(exc: BaseException) -> bool:
    """Connection trouble, timeouts, HTTP 5xx and the ServerOffline fault are worth retrying."""
    if isinstance(exc, koji.Fault):
        return exc.faultCode == koji.ServerOffline.faultCode
    if isinstance(exc, koji.ServerOffline):
        return True
    if isinstance(exc, requests.HTTPError):
        return exc.response is not None and exc.response.status_code >= 500
    if isinstance(exc, requests.exceptions.SSLError):
        return False
    return isinstance(exc, (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                            ConnectionError))


def describe(exc: BaseException) -> str:
    """A one-line description of an error, with anything that looks like a session key masked."""
    text = f"{type(exc).__name__}: {exc}" if not isinstance(exc, koji.GenericError) else str(exc)
    text = re.sub(r"(session-key=)[^&\s'\"]+", r"\1XXXXX", text)
    text = re.sub(r"(session-id=)\d+", r"\1XXXXX", text)
    return text.splitlines()[0] if text else type(exc).__name__


class RetryingSession(koji.ClientSession):
    """koji.ClientSession whose transport re-sends a request on transient failures, with backoff."""

    retry_policy: RetryPolicy = RetryPolicy()
    sleep: Callable[[float], None] = staticmethod(time.sleep)

    def _sendCall(self, handler: str, headers: list[tuple[str, str]], request: bytes) -> Any:
        delays = self.retry_policy.delays()
        attempt = 1
        while True:
            try:
                return super()._sendCall(handler, headers, request)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                delay = next(delays, None)
                if delay is None:
                    raise
                log.warning("koji hub: transient error (%s); retry %d/%d in %.2f s",
                            describe(exc), attempt, self.retry_policy.attempts - 1, delay)
                attempt += 1
                self.sleep(delay)
                self.new_session()


class Hub:
    """A logged-in koji session plus the error policy every call goes through."""

    def __init__(self, profile: Profile, *, retry: RetryPolicy | None = None) -> None:
        self.profile = profile
        opts = dict(profile.options)
        # our transport retries; koji's would re-send with a constant interval and, offline, forever
        opts.update(max_retries=0, offline_retry=False, anon_retry=False)
        session = RetryingSession(profile.server, opts)
        session.retry_policy = retry or RetryPolicy()
        self.session = session
        self.user: str | None = None

    # -- login
    def login(self) -> None:
        p = self.profile
        try:
            if p.authtype == "ssl":
                self.session.ssl_login(p.options.get("cert"), None, p.options.get("serverca") or None)
            else:
                # gssapi_login makes max_retries attempts of its own (0 would mean none at all)
                self.session.opts.update(max_retries=1, retry_interval=self.session.retry_policy.first_delay)
                try:
                    self.session.gssapi_login(principal=p.options.get("principal"), keytab=p.options.get("keytab"))
                finally:
                    self.session.opts.update(max_retries=0)
            me = self.session.getLoggedInUser()
        except koji.AuthError as exc:
            raise ForkliftError(
                f"koji login to {p.server} failed (profile {p.name!r}, authtype {p.authtype}): {describe(exc)}",
                hint=("check the certificate in cert= and that your account may log in"
                      if p.authtype == "ssl" else "run kinit (or set principal= and keytab= in the profile)"),
            ) from None
        except Exception as exc:
            if is_transient(exc):
                raise ForkliftError(f"koji hub {p.server} unreachable (profile {p.name!r}): {describe(exc)}",
                                    hint="check server= in the profile and your network; try again later") from None
            raise
        self.user = me["name"] if me else None
        log.info("logged in to %s as %s", p.server, self.user)

    def logout(self) -> None:
        try:
            self.session.logout()
        except Exception as exc:  # logging out is best effort
            log.debug("logout failed: %s", describe(exc))

    # -- calls
    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """session.<method>(*args, **kwargs) with Forklift's error policy."""
        return self.guard(lambda: getattr(self.session, method)(*args, **kwargs), _call_text(method, args, kwargs))

    def guard(self, func: Callable[[], T], what: str) -> T:
        """Run ``func`` (which talks to the hub); turn koji errors into ForkliftError.

        A plain AuthError (session unknown to the hub) leads to one fresh login and one
        more try; AuthExpired was already renewed once by koji itself.
        """
        relogged = False
        while True:
            try:
                return func()
            except (koji.RetryError, koji.SequenceError) as exc:
                # our transport re-sent a request whose first copy the hub had already run
                raise ForkliftError(
                    f"koji may have run {what} already, but the reply was lost and the hub refused a replay: "
                    f"{describe(exc)}",
                    hint="check `koji list-tasks --mine` (or `invoke koji-status`) before submitting again",
                ) from None
            except koji.AuthExpired as exc:
                raise self._auth_error(what, exc) from None
            except koji.AuthError as exc:
                if relogged or isinstance(exc, koji.GSSAPIAuthError):
                    raise self._auth_error(what, exc) from None
                log.warning("koji: %s was refused (%s); logging in again", what, describe(exc))
                relogged = True
                self.session.setSession(None)
                self.login()
            except koji.ActionNotAllowed as exc:
                raise ForkliftError(
                    f"koji refused {what}: {describe(exc)}",
                    hint=f"your koji account ({self.user or 'unknown user'}) needs the "
                         f"{missing_permission(str(exc))!r} permission; ask the hub's admins",
                ) from None
            except koji.GenericError as exc:
                raise ForkliftError(f"koji call {what} failed: {describe(exc)}") from None
            except ForkliftError:
                raise
            except Exception as exc:
                if is_transient(exc):
                    raise ForkliftError(
                        f"koji hub {self.profile.server} kept failing for {what} after "
                        f"{self.session.retry_policy.attempts} attempts: {describe(exc)}",
                        hint="the hub may be down or overloaded; try again later",
                    ) from None
                raise

    def _auth_error(self, what: str, exc: BaseException) -> ForkliftError:
        return ForkliftError(
            f"koji rejected the session for {what} even after logging in again "
            f"(profile {self.profile.name!r}): {describe(exc)}",
            hint="log in again by hand (kinit, or renew the certificate in cert=) and retry",
        )


def missing_permission(message: str) -> str:
    """The permission an ActionNotAllowed message names ('admin permission required', 'policy violation (tag)')."""
    for pattern in (r"(\w[\w-]*) permission required", r"policy violation \(([\w-]+)\)", r"permission (\w[\w-]*)"):
        m = re.search(pattern, message)
        if m:
            return m.group(1)
    return message


def _call_text(method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"{method}({', '.join(parts)})"
