"""Shipping what Forklift builds (docs/release.md).

- ``gpg``: the signing key from configuration and the thin layer that runs gpg, rpmsign and rpmkeys;
- ``rpminfo``: what the RPM headers say (rpm bindings);
- ``atomic``: versioned directories behind a symbolic link swapped with one rename;
- ``sign``: ``invoke sign``, sign the RPMs and the repodata of ``build/repos/<target>``;
- ``publish``: ``invoke publish``, the layout users point dnf at, with ``.repo`` files;
- ``sbom``: SPDX 2.3 JSON per built RPM;
- ``report``: ``invoke release-report``, Markdown and HTML.

Each job plans in pure functions first, then runs the tools.
"""
