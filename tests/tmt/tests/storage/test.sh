#!/bin/sh
. ../lib.sh
run_checks storage-config-error storage-refuses-signature storage-wipe-teardown storage-loop \
    storage-setup storage-idempotent
