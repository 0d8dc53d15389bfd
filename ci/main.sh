#!/usr/bin/env bash
# The README's main job: set up (idempotent), then build the default target.
# Extra arguments go to `invoke build` (e.g. ci/main.sh --target centos-stream-9).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
bash ci/setup.sh
exec .venv/bin/invoke build "$@"
