"""The signed, published tree the RPM-native guest installs from, as users get it.

Release N-1 and release N are signed (``invoke sign``) with a throw-away key and published
(``invoke publish``): N-1 in the ``stable`` channel, N in ``test``, with the ``forklift.repo`` file
users add (``gpgcheck=1``, ``repo_gpgcheck=1``, ``gpgkey=``). The guest installs from stable and
upgrades from test with every check on. Beside it, a repository dnf must refuse: release N's RPMs
unsigned, under metadata signed with the same key, so that a guest whose checks were off would be
caught (tests/release/test_dnf.py covers tampered RPMs and metadata on the host).

The key is generated once per smoke cache (no passphrase: it signs stand-ins in a cache, nothing
else) and replaced after ``KEY_MAX_AGE_DAYS``, well before its expiry.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tooling import repo as repo_mod
from tooling.errors import ForkliftError
from tooling.model import Target
from tooling.release import gpg, publish, sign
from tooling.smoke.packages import read_repo

GUEST_ROOT = "/forklift/published"  # where the payload disk shows the tree in the guest
GUEST_REFUSED = "/forklift/refused"
KEY_MAX_AGE_DAYS = 180
KEY_UID = "Forklift smoke throw-away key <smoke@forklift.invalid>"
REFUSED_REPO = "forklift-unsigned"


@dataclass(frozen=True)
class SignedTree:
    published: Path  # <dest> of invoke publish
    repo_file: Path  # <dest>/<distro>/forklift.repo (baseurl under GUEST_ROOT)
    refused: Path  # the unsigned repository and its .repo file
    refused_repo_file: Path
    key_id: str


def throwaway_key(cache_dir: Path) -> gpg.KeyConfig:
    """The smoke cache's signing key as ``invoke sign`` takes one from CI (an exported secret key)."""
    key_dir = cache_dir / "gpg"
    secret = key_dir / "smoke.sec.asc"
    if secret.is_file() and time.time() - secret.stat().st_mtime < KEY_MAX_AGE_DAYS * 86400:
        return gpg.KeyConfig("the smoke test's throw-away key", key_file=secret)
    if shutil.which("gpg") is None:
        raise ForkliftError("gpg not found on PATH: install gnupg (bash ci/setup.sh --test)")
    key_dir.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="fk-smoke-gpg-"))  # short: gpg-agent's socket path is limited
    env = {**os.environ, "GNUPGHOME": str(home)}
    base = ["gpg", "--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", ""]
    try:
        os.chmod(home, 0o700)
        res = subprocess.run([*base, "--quick-gen-key", KEY_UID, "ed25519", "sign", "1y"], env=env,
                             capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise ForkliftError(f"gpg --quick-gen-key (the smoke test's key) failed: {res.stderr.strip()[-300:]}")
        res = subprocess.run([*base, "--armor", "--export-secret-keys", KEY_UID], env=env, capture_output=True,
                             text=True, check=False)
        if res.returncode != 0 or "PRIVATE KEY" not in res.stdout:
            raise ForkliftError(f"gpg --export-secret-keys (the smoke test's key) failed: {res.stderr.strip()[-300:]}")
        tmp = secret.with_name(f".{secret.name}.{os.getpid()}")
        tmp.write_text(res.stdout)
        os.chmod(tmp, 0o600)
        os.replace(tmp, secret)
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], capture_output=True, check=False)
        shutil.rmtree(home, ignore_errors=True)
    return gpg.KeyConfig("the smoke test's throw-away key", key_file=secret)


def signed_tree(target: Target, prev: Path, current: Path, work: Path, cfg: gpg.KeyConfig) -> SignedTree:
    """Sign and publish N-1 (stable) and N (test) into ``work/published``; the refused repository
    into ``work/refused``. URLs in both .repo files are the guest's (GUEST_ROOT)."""
    dest = work / "published"
    base_url = f"file://{GUEST_ROOT}"
    for channel, source in (("stable", prev), ("test", current)):
        build_dir = work / f"build-{channel}"
        repo_mod.publish(build_dir / "repos" / target.name, [r.path for r in read_repo(source).rpms])
        sign.sign_repo(build_dir, target.name, cfg)
        # local builds into a throw-away tree only the guest reads: not a release, placeholders are fine
        publish.publish(build_dir, target, dest, channel, cfg, keep=2, base_url=base_url, allow_placeholders=True)
    refused = work / "refused"
    unsigned = refused / "unsigned"
    unsigned.mkdir(parents=True)
    for rpm in [r.path for r in read_repo(current).rpms]:
        shutil.copy2(rpm, unsigned / rpm.name)
    sign.createrepo(unsigned)
    with gpg.open_signer(cfg) as signer:
        signer.detach_sign(unsigned / "repodata" / "repomd.xml")  # the metadata is fine: only the RPMs are not
        key_id = signer.key.short_id
    refused_repo_file = refused / "forklift-refused.repo"
    refused_repo_file.write_text(
        f"[{REFUSED_REPO}]\nname=Forklift: unsigned RPMs under signed metadata (dnf must refuse them)\n"
        f"baseurl=file://{GUEST_REFUSED}/unsigned\nenabled=0\ngpgcheck=1\nrepo_gpgcheck=1\n"
        f"gpgkey={base_url}/{target.distro}/{publish.PUBLIC_KEY}\n")
    return SignedTree(dest, dest / target.distro / publish.REPO_FILE, refused, refused_repo_file, key_id)
