"""Detached OpenPGP signatures, checked with gpgv against the package's keyring file.

The keyring (specs/<package>/<keyring>) may be armored (``gpg --export --armor``,
as upstream publishes it) or binary; an armored one is de-armored first. gpgv
runs with a private, empty home directory: the user's keys never count.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from tooling.errors import ForkliftError
from tooling.run import run


class SignatureError(ForkliftError):
    pass


def verify_detached(data: Path, signature: Path, keyring: Path, *, what: str) -> None:
    """Raise SignatureError unless ``signature`` is a good signature of ``data`` by a key in ``keyring``."""
    with tempfile.TemporaryDirectory(prefix="forklift-gpg-") as home:
        ring = Path(home) / "keyring.gpg"
        raw = keyring.read_bytes()
        if raw.lstrip().startswith(b"-----BEGIN PGP"):
            run(
                ["gpg", "--homedir", home, "--batch", "--quiet", "--yes", "--dearmor", "--output", ring, keyring],
                hint=f"{keyring} must hold OpenPGP public keys (gpg --export --armor KEYID)",
            )
        else:
            ring.write_bytes(raw)
        res = run(
            ["gpgv", "--homedir", home, "--keyring", ring, signature, data],
            check=False,
            hint="install gnupg (gpgv)",
        )
    if res.returncode != 0:
        tail = "\n".join("  | " + line for line in (res.stdout + res.stderr).strip().splitlines()[-6:])
        raise SignatureError(
            f"{what}: signature check FAILED (gpgv exit {res.returncode}) for {data.name} "
            f"with signature {signature.name} and keyring {keyring}\n{tail}",
            hint="the file was not admitted to the cache; check that the keyring holds upstream's release key "
            "and that the mirror serves the genuine tarball",
        )
