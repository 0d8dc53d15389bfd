#!/bin/sh
. ../lib.sh
# the in-use refusal check is left out: it partitions the spare disk, and a loop device without
# partition scanning gets no partition devices (it runs in the VM: tests/smoke/test_storage_setup.py)
run_checks storage-config-error storage-refuses-signature storage-wipe-teardown storage-loop \
    storage-ownership storage-kill-resume storage-setup storage-idempotent
