#!/bin/sh
. ../lib.sh
export FORKLIFT_PACKAGES="${FORKLIFT_PACKAGES:-moby-engine-dm docker-cli moby-dm-storage-setup}"
export FORKLIFT_EXPECT_VERSION="${FORKLIFT_EXPECT_VERSION:-24.0.9}"
FORKLIFT_CHECKS="versions rpm-verify" sh "$CHECKS"
