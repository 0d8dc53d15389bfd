"""Placeholders must not ship: a release step refuses a package whose upstream URL or newest
changelog identity is on a reserved domain (RFC 2606 / RFC 6761: example.org, *.example,
*.invalid, *.test, *.localhost), such as the project's `home` before it has a public one.

Local builds, scratch builds and CI keep working with placeholders; the steps that hand
packages to others (koji-build without --scratch, dist-git --push, publish --channel stable)
call ``refuse_placeholders`` first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from tooling.errors import ForkliftError
from tooling.model import TARGETS_FILE, Package
from tooling.release.rpminfo import RpmInfo

_RESERVED_DOMAINS = ("example.com", "example.net", "example.org")
_RESERVED_TLDS = ("example", "invalid", "test", "localhost")
_EMAIL = re.compile(r"<[^<>@\s]+@([^<>@\s]+)>")


@dataclass(frozen=True)
class Placeholder:
    where: str  # a file: specs/<pkg>/package.toml, an SRPM, an RPM
    field: str  # "url" / "URL" / "changelog"
    value: str
    domain: str

    def __str__(self) -> str:
        return f"{self.where}: {self.field} {self.value!r} is a placeholder ({self.domain} is a reserved domain)"


def reserved_domain(host: str) -> str | None:
    """The reserved domain ``host`` lies in, or None for a real one."""
    host = host.lower().rstrip(".")
    for domain in _RESERVED_DOMAINS:
        if host == domain or host.endswith("." + domain):
            return domain
    tld = host.rsplit(".", 1)[-1]
    return tld if tld in _RESERVED_TLDS else None


def url_placeholder(where: str, field: str, url: str) -> Placeholder | None:
    host = urlsplit(url).hostname or ""
    domain = reserved_domain(host)
    return Placeholder(where, field, url, domain) if domain else None


def identity_placeholder(where: str, author: str) -> Placeholder | None:
    """``author`` as rpm keeps a changelog entry's name: "Full Name <mail> - EVR"."""
    m = _EMAIL.search(author)
    domain = reserved_domain(m.group(1)) if m else None
    who = author.rsplit(" - ", 1)[0].strip()
    return Placeholder(where, "changelog", who, domain) if domain else None


def package_placeholders(packages: Iterable[Package]) -> list[Placeholder]:
    """What the rendered specs of ``packages`` would ship: their URL and newest changelog identity."""
    out: list[Placeholder] = []
    for pkg in packages:
        if found := url_placeholder(str(pkg.directory / "package.toml"), "url", pkg.url):
            out.append(found)
        # the entry's "Name <mail>"; a header that does not parse is searched whole for a mail address
        author = pkg.changelog_author
        who = f"{author[0]} <{author[1]}>" if author else pkg.changelog.strip().splitlines()[0]
        if found := identity_placeholder(str(pkg.directory / "changelog"), who):
            out.append(found)
    return out


def rpm_placeholders(infos: Iterable[RpmInfo]) -> list[Placeholder]:
    """What built (S)RPMs carry: the URL tag and the newest %changelog entry's name."""
    out: list[Placeholder] = []
    for info in infos:
        if info.url and (found := url_placeholder(info.path.name, "URL", info.url)):
            out.append(found)
        if info.changelog and (found := identity_placeholder(info.path.name, info.changelog[0].author)):
            out.append(found)
    return out


def refuse_placeholders(found: Sequence[Placeholder], step: str) -> None:
    """Raise one error naming the first placeholder (and how many more) for the release ``step``; the
    hint says what to do about each kind found."""
    if not found:
        return
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    kinds = {p.field == "changelog" for p in found}
    fixes = []
    if False in kinds:
        fixes.append(f"set `home` in specs/{TARGETS_FILE} to the project's public page (package.toml url = "
                     "\"{home}/...\"), or the package's own upstream URL")
    if True in kinds:
        fixes.append("sign the release's changelog entry with your identity (RPM_PACKAGER or %packager, as "
                     "`invoke new-version` does)")
    hint = "; ".join(fixes) + "; placeholders are fine for local and scratch builds"
    raise ForkliftError(f"{step}: {found[0]}{more}", hint=hint)
