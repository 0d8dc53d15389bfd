#!/bin/sh
# Shared by the tmt tests: find the one checks script (tooling/smoke/guest/
# checks.sh in this repository), give the checks two loop-backed block devices
# as "disks", run the named checks, and clean up.
set -u
dir=$(pwd)
CHECKS=""
while [ "$dir" != / ]; do
    if [ -f "$dir/tooling/smoke/guest/checks.sh" ]; then CHECKS="$dir/tooling/smoke/guest/checks.sh"; break; fi
    dir=$(dirname "$dir")
done
[ -n "$CHECKS" ] || { echo "cannot find tooling/smoke/guest/checks.sh above $(pwd)"; exit 2; }

run_checks() { # check names...
    work=$(mktemp -d /var/tmp/forklift-tmt.XXXXXX)
    truncate -s 3G "$work/pool.img"
    truncate -s 1G "$work/spare.img"
    FORKLIFT_POOL_DEV=$(losetup --find --show "$work/pool.img")
    FORKLIFT_SPARE_DEV=$(losetup --find --show "$work/spare.img")
    export FORKLIFT_POOL_DEV FORKLIFT_SPARE_DEV
    export FORKLIFT_CHECKS="$*" FORKLIFT_LOG="${TMT_TEST_DATA:-$work}/logs"
    sh "$CHECKS"; rc=$?
    moby-dm-storage-setup --config "$FORKLIFT_LOG/pool.conf" teardown >/dev/null 2>&1 || true
    losetup --detach "$FORKLIFT_POOL_DEV" "$FORKLIFT_SPARE_DEV" 2>/dev/null
    rm -rf "$work"
    return $rc
}
