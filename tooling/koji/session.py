"""A koji hub session from the user's koji profile: login, bounded retries, timeouts, error translation.

- The profile comes from ``koji.read_config`` (``/etc/koji.conf(.d)``, ``~/.koji/config(.d)``);
  the login method is the profile's ``authtype`` (``ssl`` or ``gssapi``/``kerberos``).
- Every request has a timeout (no answer for ``RetryPolicy.timeout`` seconds, default 60 or the
  profile's ``timeout =``) and every call a deadline (``RetryPolicy.deadline``, default 3 x timeout):
  a hub that accepts connections and never answers ends in a clear error, never a hang.
- Transient failures (connection reset, HTTP 5xx, timeouts, the ServerOffline fault) are retried
  with exponential backoff within those bounds (:class:`RetryPolicy`). koji's own retries
  (constant interval, and its immediate re-send after a reset) are off.
- No hub version refuses a replayed call (a 1.36 client sends ``Koji-Session-Callnum``, a 1.35 hub
  reads ``Koji-Callnum``), so a call that creates something is never re-sent blindly:
  :meth:`Hub.call_once` makes one attempt and the caller checks what the hub did
  (``api._submit`` looks for the task before re-sending ``build``).
- AuthExpired: koji renews the session once by itself; AuthError on a call: we log in
  again once. Whatever fails after that becomes a ForkliftError.
- Session ids, keys and credentials never reach the console or the logs: every message goes
  through :func:`tooling.redact.redact` (a ``user:password@`` in ``server =`` included).
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import koji
import requests

from tooling.errors import ForkliftError
from tooling.redact import redact

log = logging.getLogger("forklift.koji")
T = TypeVar("T")

PROFILE_FILES = "/etc/koji.conf, /etc/koji.conf.d/*.conf, ~/.koji/config, ~/.koji/config.d/*.conf"


class _RedactFilter(logging.Filter):
    """Masks secrets (URL credentials, session keys) in every record of the koji loggers."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a broken format string: leave the record alone
            return True
        record.msg, record.args = mask_session(redact(text)), ()
        return True


for _name in ("forklift.koji", "koji"):
    logging.getLogger(_name).addFilter(_RedactFilter())


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff for transient failures (first_delay, doubling, capped at max_delay), at most
    ``attempts`` tries; each request gets no answer for at most ``timeout`` s, each call gives up
    once ``deadline`` s have passed since its first try."""

    attempts: int = 6
    first_delay: float = 1.0
    max_delay: float = 30.0
    timeout: float = 60.0
    deadline: float = 180.0

    def delays(self) -> Iterator[float]:
        delay = self.first_delay
        for _ in range(self.attempts - 1):
            yield delay
            delay = min(delay * 2, self.max_delay)

    def with_timeout(self, timeout: float) -> RetryPolicy:
        """This policy with another request timeout and a deadline of 3 x timeout."""
        return replace(self, timeout=timeout, deadline=3 * timeout)


@dataclass(frozen=True)
class Profile:
    name: str
    server: str
    weburl: str
    topurl: str | None
    authtype: str
    poll_interval: float
    options: dict[str, Any] = field(repr=False)
    timeout: float | None = None  # the profile's `timeout =`, when it sets one

    def task_url(self, task_id: int) -> str:
        return f"{self.weburl.rstrip('/')}/taskinfo?taskID={task_id}"

    @property
    def hub(self) -> str:
        """The hub URL as it may be printed (credentials masked)."""
        return redact(self.server)

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy().with_timeout(self.timeout) if self.timeout else RetryPolicy()


def _readable_file(profile: str, key: str, value: str, what: str) -> None:
    path = os.path.expanduser(value)
    if not os.path.isfile(path):
        problem = "is a directory" if os.path.isdir(path) else "does not exist"
        raise ForkliftError(f"koji profile {profile!r}: {key} = {value} {problem}; point {key} = at {what}")
    if not os.access(path, os.R_OK):
        raise ForkliftError(f"koji profile {profile!r}: {key} = {value} is not readable by you; fix its permissions")


def load_profile(name: str) -> Profile:
    """Read koji profile ``name`` with koji.read_config; ForkliftError if it is missing or unusable."""
    try:
        opts = koji.read_config(name)
    except koji.ConfigurationError as exc:
        if "config option" in str(exc):  # a value koji could not read
            raise ForkliftError(redact(f"koji profile {name!r}: {exc}"),
                                hint=f"fix that value in section {name} of your koji configuration "
                                     f"({PROFILE_FILES})") from None
        raise ForkliftError(
            redact(f"koji profile {name!r}: {exc}"),
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
    # requests sends the certificate with every call and fails with a traceback-worthy OSError
    # on a missing file: check the paths here, once, naming the key
    if authtype == "ssl":
        _readable_file(name, "cert", str(opts["cert"]), "the PEM holding your koji certificate and key")
    if opts.get("serverca"):
        _readable_file(name, "serverca", str(opts["serverca"]), "the CA certificate of the hub")
    raw_timeout = opts.get("timeout")
    timeout: float | None = None
    if raw_timeout not in (None, "", koji.DEFAULT_REQUEST_TIMEOUT):
        try:
            timeout = float(raw_timeout)
        except (TypeError, ValueError):
            timeout = -1
        if not timeout or timeout <= 0:
            raise ForkliftError(f"koji profile {name!r}: timeout = {raw_timeout} is not a positive number of seconds")
    return Profile(
        name=name,
        server=str(opts["server"]),
        weburl=str(opts.get("weburl") or ""),
        topurl=opts.get("topurl"),
        authtype=authtype,
        poll_interval=float(opts.get("poll_interval") or 6),
        options=opts,
        timeout=timeout,
    )


def is_offline(exc: BaseException | None) -> bool:
    """The hub answered that it (or its database) is out of service: the ServerOffline fault (1014)."""
    if isinstance(exc, koji.ServerOffline):
        return True
    return isinstance(exc, koji.Fault) and exc.faultCode == koji.ServerOffline.faultCode


def is_timeout(exc: BaseException | None) -> bool:
    if isinstance(exc, requests.Timeout):
        return True
    return isinstance(exc, requests.exceptions.SSLError) and "timed out" in str(exc)


def is_transient(exc: BaseException | None) -> bool:
    """Connection trouble, timeouts, HTTP 5xx and the ServerOffline fault are worth retrying."""
    if exc is None:
        return False
    if is_offline(exc) or is_timeout(exc):
        return True
    if isinstance(exc, koji.Fault):
        return False
    if isinstance(exc, requests.HTTPError):
        return exc.response is not None and exc.response.status_code >= 500
    if isinstance(exc, requests.exceptions.SSLError):
        return False
    return isinstance(exc, (requests.ConnectionError, requests.exceptions.ChunkedEncodingError, ConnectionError))


def mask_session(text: str) -> str:
    text = re.sub(r"(session-key=)[^&\s'\"]+", r"\1XXXXX", text)
    return re.sub(r"(session-id=)\d+", r"\1XXXXX", text)


def describe(exc: BaseException) -> str:
    """A one-line description of an error, with secrets (session keys, URL credentials) masked."""
    if isinstance(exc, koji.Fault):
        text = exc.faultString
    elif isinstance(exc, koji.GenericError):
        text = str(exc)
    elif is_timeout(exc):
        text = f"no answer within the timeout ({type(exc).__name__})"
    else:
        text = f"{type(exc).__name__}: {exc}"
    text = mask_session(redact(text))
    return text.splitlines()[0] if text.strip() else type(exc).__name__


class RetryingSession(koji.ClientSession):
    """koji.ClientSession whose transport re-sends a request on transient failures, with backoff,
    within a per-request timeout and a per-call deadline."""

    retry_policy: RetryPolicy = RetryPolicy()
    sleep: Callable[[float], None] = staticmethod(time.sleep)
    single_attempt: bool = False  # set by Hub.call_once: never re-send
    last_error: BaseException | None = None  # what the last failed request raised (kept for ssl_login)
    last_attempts: int = 0  # how many tries the last request took

    def _sendCall(self, handler: str, headers: list[tuple[str, str]], request: bytes) -> Any:
        policy = self.retry_policy
        start = time.monotonic()
        delays = policy.delays()
        attempt = 1
        while True:
            remaining = policy.deadline - (time.monotonic() - start)
            # requests applies the timeout to connecting (TLS handshake included) and again to reading:
            # half the time left each, so the call never outlives its deadline
            self.opts["timeout"] = max(0.2, min(policy.timeout, remaining / 2))
            self.last_attempts = attempt
            try:
                # _sendOneCall, not koji's _sendCall: that one re-sends at once after a reset
                return self._sendOneCall(handler, headers, request)
            except Exception as exc:
                exc = self._sanitize_connection_error(exc)
                self.last_error = exc
                if not is_transient(exc) or self.single_attempt:
                    raise exc from None
                delay = next(delays, None)
                if delay is None or time.monotonic() - start + delay >= policy.deadline:
                    raise exc from None
                log.warning("koji hub %s: transient error (%s); retry %d/%d in %.2f s", redact(self.baseurl),
                            describe(exc), attempt, policy.attempts - 1, delay)
                attempt += 1
                self.sleep(delay)
                self.new_session()


class Hub:
    """A logged-in koji session plus the error policy every call goes through."""

    def __init__(self, profile: Profile, *, retry: RetryPolicy | None = None) -> None:
        self.profile = profile
        policy = retry or profile.retry_policy()
        opts = dict(profile.options)
        # our transport retries; koji's would re-send with a constant interval and, offline, forever
        opts.update(max_retries=0, offline_retry=False, anon_retry=False, timeout=policy.timeout,
                    auth_timeout=policy.timeout)
        session = RetryingSession(profile.server, opts)
        session.retry_policy = policy
        self.session = session
        self.user: str | None = None
        self.user_id: int | None = None

    # -- login
    def login(self) -> None:
        p = self.profile
        self.session.last_error = None
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
            # koji turns every failure of the login request into an AuthError: what the request
            # itself ran into (kept by our transport) tells an outage from a refused certificate
            raise self._login_error(exc, self.session.last_error) from None
        except Exception as exc:
            if is_transient(exc):
                raise self._login_error(exc, exc) from None
            raise
        self.user = me["name"] if me else None
        self.user_id = int(me["id"]) if me and me.get("id") is not None else None
        log.info("logged in to %s as %s", p.hub, self.user)

    def _login_error(self, exc: BaseException, cause: BaseException | None) -> ForkliftError:
        p = self.profile
        where = f"koji hub {p.hub} (profile {p.name!r})"
        policy = self.session.retry_policy
        if is_offline(cause):
            assert cause is not None
            return ForkliftError(
                f"{where} is out of service: {describe(cause)}",
                hint="the hub or its database is down (fault ServerOffline); nothing was submitted; try again later")
        if is_timeout(cause):
            return ForkliftError(
                f"{where} gave no answer to the login in {self.session.last_attempts} tries (timeout "
                f"{policy.timeout:g} s, deadline {policy.deadline:g} s)",
                hint="the hub is overloaded or hanging; try again later, or raise timeout = in the profile")
        if is_transient(cause):
            assert cause is not None
            return ForkliftError(f"{where} is unreachable: {describe(cause)}",
                                 hint="check server = in the profile and your network; try again later")
        if isinstance(cause, requests.exceptions.SSLError):
            if "certificate verify failed" in str(cause):
                return ForkliftError(
                    f"{where}: the hub's TLS certificate is not trusted: {describe(cause)}",
                    hint="set serverca = in the profile to the CA that signed the hub's certificate")
            return ForkliftError(
                f"{where} refused the client certificate in cert = {p.options.get('cert')}: {describe(cause)}",
                hint="the certificate is expired or from another CA; renew it (e.g. fedora-cert) and retry")
        return ForkliftError(
            f"koji login to {p.hub} failed (profile {p.name!r}, authtype {p.authtype}): "
            f"{describe(cause if isinstance(cause, koji.Fault) else exc)}",
            hint=("check the certificate in cert= and that your account may log in"
                  if p.authtype == "ssl" else "run kinit (or set principal= and keytab= in the profile)"),
        )

    def logout(self) -> None:
        try:
            self.session.logout()
        except Exception as exc:  # logging out is best effort
            log.debug("logout failed: %s", describe(exc))

    # -- calls
    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """session.<method>(*args, **kwargs) with Forklift's error policy."""
        return self.guard(lambda: getattr(self.session, method)(*args, **kwargs), _call_text(method, args, kwargs))

    @contextmanager
    def single_attempt(self) -> Iterator[None]:
        """Within: the transport makes one attempt per request and never re-sends."""
        before = self.session.single_attempt
        self.session.single_attempt = True
        try:
            yield
        finally:
            self.session.single_attempt = before

    def call_once(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """One attempt, for calls that create something: a transient error is raised as it is
        (the caller finds out whether the hub ran the call); other errors as in :meth:`call`."""

        def once() -> Any:
            with self.single_attempt():
                return getattr(self.session, method)(*args, **kwargs)

        return self.guard(once, _call_text(method, args, kwargs), transient_passes=True)

    def guard(self, func: Callable[[], T], what: str, *, transient_passes: bool = False) -> T:
        """Run ``func`` (which talks to the hub); turn koji errors into ForkliftError.

        A plain AuthError (session unknown to the hub) leads to one fresh login and one
        more try; AuthExpired was already renewed once by koji itself.
        """
        relogged = False
        while True:
            try:
                return func()
            except koji.AuthExpired as exc:
                raise self._auth_error(what, exc) from None
            except koji.AuthError as exc:
                if relogged or isinstance(exc, koji.GSSAPIAuthError):
                    raise self._auth_error(what, exc) from None
                log.warning("koji: %s was refused (%s); logging in again", redact(what), describe(exc))
                relogged = True
                self.session.setSession(None)
                self.login()
            except koji.ActionNotAllowed as exc:
                raise ForkliftError(f"koji refused {redact(what)}: {describe(exc)}",
                                    hint=permission_hint(exc_text(exc), self.user)) from None
            except koji.ServerOffline as exc:
                raise self._offline_error(what, exc) from None
            except koji.GenericError as exc:
                raise ForkliftError(f"koji call {redact(what)} failed: {describe(exc)}") from None
            except ForkliftError:
                raise
            except Exception as exc:
                if transient_passes and is_transient(exc):
                    raise
                if is_offline(exc):
                    raise self._offline_error(what, exc) from None
                if is_timeout(exc):
                    policy = self.session.retry_policy
                    raise ForkliftError(
                        f"koji hub {self.profile.hub} gave no answer to {redact(what)} in "
                        f"{self.session.last_attempts} tries (timeout {policy.timeout:g} s, deadline "
                        f"{policy.deadline:g} s)",
                        hint="the hub is overloaded or hanging; try again later, or raise timeout = in the profile",
                    ) from None
                if is_transient(exc):
                    raise ForkliftError(
                        f"koji hub {self.profile.hub} kept failing for {redact(what)} after "
                        f"{self.session.last_attempts} attempts: {describe(exc)}",
                        hint="the hub may be down or overloaded; try again later",
                    ) from None
                if isinstance(exc, requests.RequestException):
                    raise ForkliftError(f"koji hub {self.profile.hub}: {redact(what)} failed: {describe(exc)}",
                                        hint="check server = and serverca = in the profile") from None
                raise

    def _offline_error(self, what: str, exc: BaseException) -> ForkliftError:
        return ForkliftError(
            f"koji hub {self.profile.hub} is out of service ({describe(exc)}) for {redact(what)}",
            hint="the hub or its database is down; try again later")

    def _auth_error(self, what: str, exc: BaseException) -> ForkliftError:
        return ForkliftError(
            f"koji rejected the session for {redact(what)} even after logging in again "
            f"(profile {self.profile.name!r}): {describe(exc)}",
            hint="log in again by hand (kinit, or renew the certificate in cert=) and retry",
        )


def exc_text(exc: BaseException) -> str:
    return exc.faultString if isinstance(exc, koji.Fault) else str(exc)


def missing_permission(message: str) -> str | None:
    """The permission an ActionNotAllowed message names ('admin permission required',
    'tag requires admin permission'), or None when it names none."""
    for pattern in (r"(?:^|[\s:(])([\w-]+) permission required", r"\brequires (?:the )?'?([\w-]+)'? permission\b",
                    r"\bneeds? (?:the )?'?([\w-]+)'? permission\b"):
        m = re.search(pattern, message)
        if m:
            return m.group(1)
    return None


def violated_policy(message: str) -> str | None:
    """The hub policy an ActionNotAllowed message names ('policy violation (tag)' -> 'tag')."""
    m = re.search(r"policy violation \(([\w-]+)\)", message)
    return m.group(1) if m else None


BUILD_FROM_SRPM_HINT = (
    "this hub lets only admins make non-scratch builds from an SRPM (koji's default build_from_srpm "
    "policy; Fedora's koji builds real builds only from dist-git). Either build with --scratch, or "
    "commit to dist-git and build from it: `invoke dist-git -t TARGET --repo URL --push`, then "
    "`invoke koji-build -t TARGET --scm --repo URL`")


def permission_hint(message: str, user: str | None) -> str:
    """What to tell the user about an ActionNotAllowed fault: the permission or policy it names,
    else the hub's own words."""
    who = f"your koji account ({user or 'unknown user'})"
    policy = violated_policy(message)
    if policy == "build_from_srpm":
        return BUILD_FROM_SRPM_HINT
    if policy:
        return f"the hub's {policy!r} policy refused it for {who}; ask the hub's admins"
    perm = missing_permission(message)
    if perm:
        return f"{who} needs the {perm!r} permission; ask the hub's admins"
    return f"the hub said: {message.strip()!r}; ask the hub's admins"


def _call_text(method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"{method}({', '.join(parts)})"
