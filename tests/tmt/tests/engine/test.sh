#!/bin/sh
. ../lib.sh
FORKLIFT_ENGINE_MODE=${FORKLIFT_ENGINE_MODE:-systemd}
export FORKLIFT_ENGINE_MODE
run_checks storage-setup engine-start image-load container-run container-cp selinux-enforcing selinux-engine-domain selinux-labels \
    engine-stop thin-check selinux-no-avc
