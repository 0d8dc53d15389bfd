"""Run the fake koji hub by hand, to try `invoke koji-build` against it.

    .venv/bin/python -m tests.koji.serve_fakehub DIR
writes DIR/home/.koji/config (profile forklift-test) and serves until interrupted;
then in another shell: HOME=DIR/home invoke koji-build --target fedora-45 --profile forklift-test
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tests.koji.conftest import PROFILE, _pki, write_profile
from tests.koji.fakehub import FakeHub, serve


def main(directory: Path) -> None:
    pki = _pki(directory / "pki")
    running = serve(FakeHub(directory / "hub", tick=0.2), certfile=pki.server_cert, keyfile=pki.server_key,
                    cafile=pki.ca)
    write_profile(directory / "home", running.url, pki.client["alice"], pki.ca)
    text = (directory / "home" / ".koji" / "config").read_text().replace("poll_interval = 6", "poll_interval = 1")
    (directory / "home" / ".koji" / "config").write_text(text)
    print(f"hub at {running.url}; profile {PROFILE} in {directory / 'home'}/.koji/config", flush=True)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        running.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve())
