#!/bin/sh
# Forklift smoke checks: written once, run by every provisioner (mock,
# container, vm) and by the tmt plans. POSIX sh; needs root for the storage
# and engine checks. Each check prints exactly one verdict line:
#
#   FORKLIFT-CHECK <name> <PASS|FAIL|SKIP> <seconds> <detail>
#
# and the run ends with "FORKLIFT-END". Settings (environment):
#   FORKLIFT_CHECKS        checks to run, space separated (default: all, in order)
#   FORKLIFT_POOL_DEV      empty disk for the engine's thin pool (vm, tmt)
#   FORKLIFT_SPARE_DEV     second empty disk for the refusal/wipe/teardown checks
#   FORKLIFT_EXPECT_VERSION  version dockerd --version must report
#   FORKLIFT_PACKAGES      this repo's packages, for rpm -V (when installed by rpm)
#   FORKLIFT_ENGINE_MODE   direct (start dockerd here) or systemd
#   FORKLIFT_IMAGE_BUSYBOX static busybox for the offline test image
#   FORKLIFT_LOG           directory for logs (default /tmp/forklift-smoke)
#   FORKLIFT_NO_END        no FORKLIFT-END line (the caller prints it)
#   FORKLIFT_HEARTBEAT     print "FORKLIFT-ALIVE <uptime>" every N seconds (the vm provisioner's
#                          stall watchdog reads silence as a hung guest)
set -u
ALL="versions storage-config-error storage-refuses-signature storage-refuses-in-use storage-wipe-teardown \
storage-loop storage-ownership storage-kill-resume storage-setup storage-idempotent engine-start image-load container-run container-cp \
selinux-enforcing \
selinux-engine-domain selinux-labels engine-stop thin-check selinux-no-avc rpm-verify"
CHECKS=${FORKLIFT_CHECKS:-$ALL}
LOG=${FORKLIFT_LOG:-/tmp/forklift-smoke}
SETUP=${FORKLIFT_STORAGE_SETUP:-moby-dm-storage-setup}
MODE=${FORKLIFT_ENGINE_MODE:-direct}
VG=forklift
mkdir -p "$LOG"
FAILED=""
HEARTBEAT_PID=""
if [ -n "${FORKLIFT_HEARTBEAT:-}" ]; then
    ( while sleep "$FORKLIFT_HEARTBEAT"; do echo "FORKLIFT-ALIVE $(cut -d' ' -f1 /proc/uptime)"; done ) &
    HEARTBEAT_PID=$!
fi

now() { cut -d' ' -f1 /proc/uptime; }
verdict() { # name status start detail
    end=$(now)
    secs=$(awk -v a="$3" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
    detail=$(printf '%s' "$4" | tr '\n' ' ' | cut -c1-400)
    echo "FORKLIFT-CHECK $1 $2 $secs ${detail:--}"
    [ "$2" = FAIL ] && FAILED="$FAILED $1"
    return 0
}
have() { command -v "$1" >/dev/null 2>&1; }
logtail() { tail -n 5 "$1" 2>/dev/null | tr '\n' ' '; }
conf() { # file, then KEY=value lines
    _conf=$1; shift; : > "$_conf"; for kv in "$@"; do echo "$kv" >> "$_conf"; done
}
need_disks() {
    [ -n "${FORKLIFT_POOL_DEV:-}" ] && [ -b "$(readlink -f "$FORKLIFT_POOL_DEV")" ]
}
need_spare() {
    [ -n "${FORKLIFT_SPARE_DEV:-}" ] && [ -b "$(readlink -f "$FORKLIFT_SPARE_DEV")" ]
}
sigs() { wipefs --noheadings --output TYPE "$1" 2>/dev/null | tr '\n' ' '; }

check_versions() {
    out=""
    for b in dockerd docker containerd runc thin_check "$SETUP"; do
        if ! have "$b"; then
            case $b in docker|containerd|runc) continue ;; esac
            echo "$b: not installed"; return 1
        fi
        case $b in
            thin_check) v=$(thin_check -V 2>&1) ;;
            "$SETUP") "$SETUP" --help >/dev/null 2>&1 && v=ok ;;
            *) v=$("$b" --version 2>&1 | head -n1) ;;
        esac || { echo "$b failed: $v"; return 1; }
        out="$out $b=[$v]"
    done
    if [ -n "${FORKLIFT_EXPECT_VERSION:-}" ]; then
        dockerd --version | grep -q "version ${FORKLIFT_EXPECT_VERSION}" \
            || { echo "dockerd is not ${FORKLIFT_EXPECT_VERSION}: $(dockerd --version)"; return 1; }
    fi
    echo "$out"
}

check_storage_config_error() {
    need_spare || { echo "SKIP: no spare disk (FORKLIFT_SPARE_DEV)"; return 2; }
    before=$(dd if="$FORKLIFT_SPARE_DEV" bs=1M count=4 2>/dev/null | md5sum)
    conf "$LOG/bad.conf" "DEVS=$FORKLIFT_SPARE_DEV" "VG=$VG" "CHUNK_SIZE=100K"
    "$SETUP" --config "$LOG/bad.conf" setup > "$LOG/bad.out" 2>&1; rc=$?
    after=$(dd if="$FORKLIFT_SPARE_DEV" bs=1M count=4 2>/dev/null | md5sum)
    [ $rc -eq 2 ] || { echo "exit $rc, want 2: $(logtail "$LOG/bad.out")"; return 1; }
    grep -q CHUNK_SIZE "$LOG/bad.out" || { echo "error does not name CHUNK_SIZE"; return 1; }
    [ "$before" = "$after" ] || { echo "disk changed"; return 1; }
    vgs "$VG" >/dev/null 2>&1 && { echo "VG $VG was created"; return 1; }
    echo "exit 2, disk untouched: $(head -n1 "$LOG/bad.out")"
}

check_storage_refuses_signature() {
    need_spare || { echo "SKIP: no spare disk (FORKLIFT_SPARE_DEV)"; return 2; }
    mkfs.xfs -f -q "$FORKLIFT_SPARE_DEV" || { echo "mkfs.xfs failed"; return 1; }
    conf "$LOG/sig.conf" "DEVS=$FORKLIFT_SPARE_DEV" "VG=$VG" "MIN_DATA_SIZE=64M"
    "$SETUP" --config "$LOG/sig.conf" setup > "$LOG/sig.out" 2>&1; rc=$?
    [ $rc -ne 0 ] || { echo "setup accepted a disk with an xfs signature"; return 1; }
    grep -q "signature" "$LOG/sig.out" || { echo "unclear error: $(logtail "$LOG/sig.out")"; return 1; }
    case "$(sigs "$FORKLIFT_SPARE_DEV")" in *xfs*) ;; *) echo "xfs signature gone"; return 1 ;; esac
    vgs "$VG" >/dev/null 2>&1 && { echo "VG $VG was created"; return 1; }
    echo "refused (exit $rc), xfs kept: $(head -n1 "$LOG/sig.out")"
}

check_storage_wipe_teardown() {
    need_spare || { echo "SKIP: no spare disk (FORKLIFT_SPARE_DEV)"; return 2; }
    [ -n "$(sigs "$FORKLIFT_SPARE_DEV")" ] || mkfs.xfs -f -q "$FORKLIFT_SPARE_DEV"
    conf "$LOG/wipe.conf" "DEVS=$FORKLIFT_SPARE_DEV" "VG=$VG" "DATA_SIZE=60%FREE" "MIN_DATA_SIZE=64M" "CHUNK_SIZE=64K"
    "$SETUP" --config "$LOG/wipe.conf" setup --wipe > "$LOG/wipe.out" 2>&1 \
        || { echo "setup --wipe failed: $(logtail "$LOG/wipe.out")"; return 1; }
    lvs --noheadings -o segtype "$VG/thinpool" 2>/dev/null | grep -q thin-pool \
        || { echo "no thin pool after setup --wipe"; return 1; }
    "$SETUP" --config "$LOG/wipe.conf" teardown > "$LOG/teardown.out" 2>&1 \
        || { echo "teardown failed: $(logtail "$LOG/teardown.out")"; return 1; }
    vgs "$VG" >/dev/null 2>&1 && { echo "VG $VG still there after teardown"; return 1; }
    s=$(sigs "$FORKLIFT_SPARE_DEV")
    [ -z "$s" ] || { echo "signatures left after teardown: $s"; return 1; }
    if [ -f /etc/docker/daemon.json ] && grep -q "$VG-thinpool" /etc/docker/daemon.json; then
        echo "daemon.json still names the pool"; return 1
    fi
    echo "wiped, pool created, torn down: disk blank, VG gone"
}

check_storage_loop() {
    have losetup || { echo "SKIP: no losetup"; return 2; }
    [ -e /dev/loop-control ] || modprobe loop 2>/dev/null
    loopfile=/var/tmp/forklift-loop.img
    conf "$LOG/loop.conf" "LOOPBACK_FILE=$loopfile" "LOOPBACK_SIZE=1G" "VG=${VG}loop" "MIN_DATA_SIZE=64M" "DATA_SIZE=50%FREE"
    "$SETUP" --config "$LOG/loop.conf" setup > "$LOG/loop.out" 2>&1 \
        || { echo "setup failed: $(logtail "$LOG/loop.out")"; return 1; }
    lvs --noheadings -o segtype "${VG}loop/thinpool" 2>/dev/null | grep -q thin-pool \
        || { echo "no loop-backed thin pool"; return 1; }
    "$SETUP" --config "$LOG/loop.conf" setup > "$LOG/loop2.out" 2>&1 \
        || { echo "second setup failed: $(logtail "$LOG/loop2.out")"; return 1; }
    grep -q lvcreate "$LOG/loop2.out" && { echo "second setup ran lvcreate again"; return 1; }
    "$SETUP" --config "$LOG/loop.conf" teardown > "$LOG/loop3.out" 2>&1 \
        || { echo "teardown failed: $(logtail "$LOG/loop3.out")"; return 1; }
    [ -e "$loopfile" ] && { echo "backing file left: $(logtail "$LOG/loop3.out")"; return 1; }
    losetup -a | grep -q forklift-loop && { echo "loop device still attached"; return 1; }
    echo "loop-backed pool created, idempotent, torn down"
}

check_storage_refuses_in_use() {
    need_spare || { echo "SKIP: no spare disk (FORKLIFT_SPARE_DEV)"; return 2; }
    dev=$(readlink -f "$FORKLIFT_SPARE_DEV")
    wipefs -a -q "$dev" 2>/dev/null; mkfs.xfs -f -q "$dev" || { echo "mkfs.xfs failed"; return 1; }
    mkdir -p /mnt/forklift-busy && mount "$dev" /mnt/forklift-busy || { echo "cannot mount $dev"; return 1; }
    conf "$LOG/busy.conf" "DEVS=$FORKLIFT_SPARE_DEV" "VG=$VG" "MIN_DATA_SIZE=64M"
    "$SETUP" --config "$LOG/busy.conf" setup --wipe > "$LOG/busy.out" 2>&1; rc=$?
    umount /mnt/forklift-busy
    [ $rc -eq 1 ] || { echo "mounted disk: exit $rc, want 1: $(logtail "$LOG/busy.out")"; return 1; }
    grep -F "$dev" "$LOG/busy.out" | grep -q "is mounted (/mnt/forklift-busy)" \
        || { echo "unclear error: $(logtail "$LOG/busy.out")"; return 1; }
    case "$(sigs "$dev")" in *xfs*) ;; *) echo "xfs signature gone after the refusal"; return 1 ;; esac
    wipefs -a -q "$dev" 2>/dev/null
    # one partition (MBR written by python3: no fdisk in the image), given where a whole disk is expected
    python3 -c 'import struct,sys
f=open(sys.argv[1],"r+b"); m=bytearray(512); m[446:462]=bytes([0,0,2,0,0x83,0,0,0])+struct.pack("<II",2048,1048576)
m[510:512]=b"\x55\xaa"; f.write(m); f.close()' "$dev"
    partx -a "$dev" 2>/dev/null; udevadm settle 2>/dev/null
    part=$(lsblk -nrpo NAME "$dev" | sed -n 2p)
    [ -b "$part" ] || { echo "no partition device for $dev: $(lsblk -nrpo NAME "$dev" | tr '\n' ' ')"; return 1; }
    conf "$LOG/part.conf" "DEVS=$part" "VG=$VG" "MIN_DATA_SIZE=64M"
    "$SETUP" --config "$LOG/part.conf" setup --wipe > "$LOG/part.out" 2>&1; rc=$?
    partx -d "$dev" 2>/dev/null; wipefs -a -q "$dev" 2>/dev/null
    [ $rc -eq 1 ] || { echo "partition: exit $rc, want 1: $(logtail "$LOG/part.out")"; return 1; }
    grep -qF "$part is a partition of $dev" "$LOG/part.out" || { echo "unclear error: $(logtail "$LOG/part.out")"; return 1; }
    vgs "$VG" >/dev/null 2>&1 && { echo "VG $VG was created"; return 1; }
    echo "refused mounted $dev and partition $part"
}

lvsum() { dd if="/dev/$1" bs=1M 2>/dev/null | md5sum | cut -d' ' -f1; }

check_storage_ownership() {
    need_spare || { echo "SKIP: no spare disk (FORKLIFT_SPARE_DEV)"; return 2; }
    dev=$(readlink -f "$FORKLIFT_SPARE_DEV"); st="$LOG/state-ownership"; pre=forkliftpre
    wipefs -a -q "$dev"
    # an admin's VG holding an LV with data: setup may add only its pool, teardown remove only that
    { pvcreate -qq "$dev" && vgcreate -qq "$pre" "$dev" && lvcreate -qq -y -L 64M -n keep "$pre"; } > "$LOG/own.out" 2>&1 \
        || { echo "cannot make the admin's VG: $(logtail "$LOG/own.out")"; return 1; }
    head -c 64M /dev/urandom > "/dev/$pre/keep"; sync
    before=$(lvsum "$pre/keep")
    conf "$LOG/own.conf" "VG=$pre" "DATA_SIZE=256M" "MIN_DATA_SIZE=64M" "CHUNK_SIZE=64K"
    S="$SETUP --state-dir $st --config $LOG/own.conf"
    $S setup > "$LOG/own-setup.out" 2>&1 || { echo "setup in $pre failed: $(logtail "$LOG/own-setup.out")"; return 1; }
    grep -Eq '(pvcreate|vgcreate|vgremove)' "$LOG/own-setup.out" && { echo "setup touched the VG: $(logtail "$LOG/own-setup.out")"; return 1; }
    lvs --noheadings -o lv_tags "$pre/thinpool" | grep -q moby-dm-storage-setup || { echo "pool not tagged"; return 1; }
    $S teardown > "$LOG/own-down.out" 2>&1 || { echo "teardown failed: $(logtail "$LOG/own-down.out")"; return 1; }
    grep -Eq '(vgremove|pvremove|wipefs)' "$LOG/own-down.out" && { echo "teardown planned: $(logtail "$LOG/own-down.out")"; return 1; }
    lvs "$pre/thinpool" >/dev/null 2>&1 && { echo "pool left after teardown"; return 1; }
    vgs "$pre" >/dev/null 2>&1 || { echo "the admin's VG $pre was removed"; return 1; }
    [ "$(lvsum "$pre/keep")" = "$before" ] || { echo "$pre/keep changed"; return 1; }
    $S teardown > "$LOG/own-down2.out" 2>&1 || { echo "second teardown failed: $(logtail "$LOG/own-down2.out")"; return 1; }
    grep -q "nothing to tear down" "$LOG/own-down2.out" || { echo "second teardown did something: $(logtail "$LOG/own-down2.out")"; return 1; }
    [ -e "$st/default.json" ] && { echo "state file left: $(cat "$st/default.json")"; return 1; }
    # a pool the tool did not create is refused, and kept
    lvcreate -qq -y --type thin-pool -L 64M -n foreignpool "$pre" > "$LOG/own.out" 2>&1 || { echo "cannot make a foreign pool"; return 1; }
    conf "$LOG/own2.conf" "VG=$pre" "CONTAINER_THINPOOL=foreignpool" "MIN_DATA_SIZE=64M"
    $SETUP --state-dir "$st" --config "$LOG/own2.conf" teardown > "$LOG/own-foreign.out" 2>&1; rc=$?
    [ $rc -eq 1 ] || { echo "foreign pool: teardown exit $rc, want 1"; return 1; }
    grep -q "was not created by moby-dm-storage-setup" "$LOG/own-foreign.out" || { echo "unclear: $(logtail "$LOG/own-foreign.out")"; return 1; }
    lvs "$pre/foreignpool" >/dev/null 2>&1 || { echo "foreign pool removed"; return 1; }
    [ "$(lvsum "$pre/keep")" = "$before" ] || { echo "$pre/keep changed"; return 1; }
    vgremove -qq -y "$pre" >/dev/null 2>&1; pvremove -qq -y "$dev" >/dev/null 2>&1; wipefs -a -q "$dev"
    # the tool's own VG, to which the admin added an LV: kept, with that LV
    conf "$LOG/own3.conf" "DEVS=$FORKLIFT_SPARE_DEV" "VG=$VG" "DATA_SIZE=256M" "MIN_DATA_SIZE=64M"
    S="$SETUP --state-dir $st --config $LOG/own3.conf"
    $S setup > "$LOG/own3.out" 2>&1 || { echo "setup on $dev failed: $(logtail "$LOG/own3.out")"; return 1; }
    lvcreate -qq -y -L 32M -n adminlv "$VG" >/dev/null 2>&1 && head -c 32M /dev/urandom > "/dev/$VG/adminlv"; sync
    b2=$(lvsum "$VG/adminlv")
    $S teardown > "$LOG/own3-down.out" 2>&1 || { echo "teardown failed: $(logtail "$LOG/own3-down.out")"; return 1; }
    vgs "$VG" >/dev/null 2>&1 || { echo "VG $VG removed although it held adminlv"; return 1; }
    [ "$(lvsum "$VG/adminlv")" = "$b2" ] || { echo "$VG/adminlv changed"; return 1; }
    vgremove -qq -y "$VG" >/dev/null 2>&1; pvremove -qq -y "$dev" >/dev/null 2>&1; wipefs -a -q "$dev"; rm -rf "$st"
    echo "pre-existing VG $pre: only the pool added and removed, keep LV checksum $before unchanged; second teardown no-op; foreign pool refused; own VG with another LV kept"
}

check_storage_kill_resume() {
    need_spare || { echo "SKIP: no spare disk (FORKLIFT_SPARE_DEV)"; return 2; }
    dev=$(readlink -f "$FORKLIFT_SPARE_DEV"); st="$LOG/state-kill"
    wipefs -a -q "$dev"
    conf "$LOG/kill.conf" "DEVS=$FORKLIFT_SPARE_DEV" "VG=${VG}kill" "DATA_SIZE=50%FREE" "MIN_DATA_SIZE=64M" "CHUNK_SIZE=64K"
    S="$SETUP --state-dir $st --config $LOG/kill.conf"
    $S setup --dry-run > "$LOG/kill-plan.out" 2>&1 || { echo "dry run failed: $(logtail "$LOG/kill-plan.out")"; return 1; }
    steps=$(grep -c '^would run:' "$LOG/kill-plan.out")
    [ "$steps" -ge 4 ] || { echo "only $steps steps planned"; return 1; }
    n=1
    while [ $n -le "$steps" ]; do
        MOBY_DM_STORAGE_SETUP_TEST_KILL_AFTER=$n $S setup > "$LOG/kill-$n.out" 2>&1; rc=$?
        [ $rc -eq 137 ] || { echo "step $n: killed run exit $rc, want 137: $(logtail "$LOG/kill-$n.out")"; return 1; }
        $S status > "$LOG/kill-$n.status" 2>&1; rc=$?
        [ $rc -eq 3 ] || { echo "step $n: status exit $rc after a kill, want 3"; return 1; }
        killed_at=$(grep '^+ ' "$LOG/kill-$n.out" | tail -n1 | sed 's/^+ //')  # dash adds "Killed" after it
        grep -qF "HALF-MADE: a run stopped during: $killed_at" "$LOG/kill-$n.status" \
            || { echo "step $n: status does not name the step: $(logtail "$LOG/kill-$n.status")"; return 1; }
        $S setup > "$LOG/kill-$n.rerun" 2>&1 || { echo "step $n: re-run failed: $(logtail "$LOG/kill-$n.rerun")"; return 1; }
        lvs --noheadings -o lv_tags "${VG}kill/thinpool" 2>/dev/null | grep -q moby-dm-storage-setup \
            || { echo "step $n: no tagged pool after the re-run: $(logtail "$LOG/kill-$n.rerun")"; return 1; }
        $S teardown > "$LOG/kill-$n.down" 2>&1 || { echo "step $n: teardown failed: $(logtail "$LOG/kill-$n.down")"; return 1; }
        vgs "${VG}kill" >/dev/null 2>&1 && { echo "step $n: VG left after teardown"; return 1; }
        s=$(sigs "$dev"); [ -z "$s" ] || { echo "step $n: signatures left: $s"; return 1; }
        [ -e "$st/default.json" ] && { echo "step $n: state file left"; return 1; }
        n=$((n + 1))
    done
    # killed in the middle, then torn down (not finished): nothing is left either
    MOBY_DM_STORAGE_SETUP_TEST_KILL_AFTER=2 $S setup > "$LOG/kill-td.out" 2>&1
    $S teardown > "$LOG/kill-td.down" 2>&1 || { echo "teardown of a half-made setup failed: $(logtail "$LOG/kill-td.down")"; return 1; }
    vgs "${VG}kill" >/dev/null 2>&1 && { echo "VG left after tearing down a half-made setup"; return 1; }
    s=$(sigs "$dev"); [ -z "$s" ] || { echo "signatures left after tearing down a half-made setup: $s"; return 1; }
    echo "killed after each of $steps steps: status named the step, the re-run completed, teardown left the disk blank"
}

check_storage_setup() {
    need_disks || { echo "SKIP: no pool disk (FORKLIFT_POOL_DEV)"; return 2; }
    mkdir -p /etc/docker
    grep -q '"log-level"' /etc/docker/daemon.json 2>/dev/null \
        || echo '{"log-level": "warn", "storage-opts": ["dm.basesize=10G"]}' > /etc/docker/daemon.json
    cp /etc/docker/daemon.json "$LOG/daemon.json.before"
    conf "$LOG/pool.conf" "DEVS=$FORKLIFT_POOL_DEV" "VG=$VG" "DATA_SIZE=90%FREE" "MIN_DATA_SIZE=256M"
    "$SETUP" --config "$LOG/pool.conf" setup > "$LOG/setup.out" 2>&1 \
        || { echo "setup failed: $(logtail "$LOG/setup.out")"; return 1; }
    # captured by the shell, not redirected to a file: under SELinux lvm_t may not write the log directory
    pool=$(lvs --noheadings -o segtype,lv_profile,lv_size "$VG/thinpool" 2>&1)
    printf '%s\n' "$pool" | grep -q "thin-pool.*docker-thinpool" || { echo "pool/profile missing: $pool"; return 1; }
    grep -q '"devicemapper"' /etc/docker/daemon.json || { echo "daemon.json lacks storage-driver"; return 1; }
    grep -q "dm.thinpooldev=/dev/mapper/$VG-thinpool" /etc/docker/daemon.json || { echo "daemon.json lacks dm.thinpooldev"; return 1; }
    for k in $(grep -o '"[a-z-]*":' "$LOG/daemon.json.before"); do
        grep -q "$k" /etc/docker/daemon.json || { echo "daemon.json lost key $k"; return 1; }
    done
    if grep -q dm.basesize "$LOG/daemon.json.before"; then
        grep -q dm.basesize=10G /etc/docker/daemon.json || { echo "daemon.json lost the admin's dm.basesize"; return 1; }
    fi
    [ -e /etc/sysconfig/docker-storage ] && { echo "/etc/sysconfig/docker-storage written (the engine reads daemon.json)"; return 1; }
    lvs --noheadings -o lv_tags "$VG/thinpool" | grep -q moby-dm-storage-setup || { echo "pool lacks the ownership tag"; return 1; }
    grep -q thin_pool_autoextend_threshold /etc/lvm/profile/docker-thinpool.profile || { echo "no LVM profile"; return 1; }
    echo "pool $(printf '%s' "$pool" | tr -s ' ') on $FORKLIFT_POOL_DEV -> $(readlink -f "$FORKLIFT_POOL_DEV")"
}

check_storage_idempotent() {
    need_disks || { echo "SKIP: no pool disk (FORKLIFT_POOL_DEV)"; return 2; }
    before=$(lvs --noheadings -o lv_uuid "$VG/thinpool" 2>&1)
    "$SETUP" --config "$LOG/pool.conf" setup > "$LOG/setup2.out" 2>&1 \
        || { echo "second setup failed: $(logtail "$LOG/setup2.out")"; return 1; }
    grep -Eq '(pvcreate|vgcreate|lvcreate)' "$LOG/setup2.out" && { echo "second setup re-created: $(logtail "$LOG/setup2.out")"; return 1; }
    after=$(lvs --noheadings -o lv_uuid "$VG/thinpool" 2>&1)
    [ "$before" = "$after" ] || { echo "pool changed: $before -> $after"; return 1; }
    "$SETUP" --config "$LOG/pool.conf" status > "$LOG/status.out" 2>&1 || { echo "status says not set up: $(logtail "$LOG/status.out")"; return 1; }
    echo "second run changed nothing; status exit 0"
}

engine_up() {
    for _ in $(seq 1 90); do docker info > "$LOG/info.out" 2>&1 && return 0; sleep 1; done
    return 1
}

check_engine_start() {
    need_disks || { echo "SKIP: no pool (needs storage-setup)"; return 2; }
    have dockerd || { echo "dockerd not installed"; return 1; }
    if [ "$MODE" = systemd ]; then
        systemctl start docker || { echo "systemctl start docker failed"; return 1; }
    else
        dockerd --iptables=false --bridge=none > "$LOG/dockerd.log" 2>&1 &
        echo $! > "$LOG/dockerd.pid"
    fi
    engine_up || { echo "engine did not answer: $(logtail "$LOG/dockerd.log")"; return 1; }
    grep -q "Storage Driver: devicemapper" "$LOG/info.out" || { echo "not devicemapper: $(grep 'Storage Driver' "$LOG/info.out")"; return 1; }
    grep -q "Pool Name: $VG-thinpool" "$LOG/info.out" || { echo "pool not used: $(grep 'Pool Name' "$LOG/info.out")"; return 1; }
    echo "$(docker version --format '{{.Server.Version}}' 2>/dev/null) devicemapper on $VG-thinpool"
}

check_image_load() {
    docker info >/dev/null 2>&1 || { echo "SKIP: engine not running"; return 2; }
    bb=${FORKLIFT_IMAGE_BUSYBOX:-$(command -v busybox)}
    [ -n "$bb" ] && file_is_static "$bb" || { echo "SKIP: no static busybox for the test image"; return 2; }
    d=$(mktemp -d); mkdir -p "$d/bin" "$d/tmp" "$d/run" "$d/var"; cp "$bb" "$d/bin/busybox"
    ln -s /run "$d/var/run"  # absolute, as in most images: container-cp goes through it
    for a in sh echo cat ls; do ln -s busybox "$d/bin/$a"; done
    tar -C "$d" -cf "$LOG/busybox.tar" . && rm -rf "$d"
    docker import "$LOG/busybox.tar" forklift/busybox:smoke > "$LOG/import.out" 2>&1 \
        || { echo "docker import failed: $(logtail "$LOG/import.out")"; return 1; }
    echo "imported $(wc -c < "$LOG/busybox.tar") byte tar as forklift/busybox:smoke"
}
file_is_static() { ! ldd "$1" >/dev/null 2>&1; }

check_container_run() {
    docker image inspect forklift/busybox:smoke >/dev/null 2>&1 || { echo "SKIP: no test image"; return 2; }
    out=$(docker run --rm --network none forklift/busybox:smoke /bin/sh -c \
        'echo forklift > /written && cat /written' 2>&1); rc=$?
    [ $rc -eq 0 ] || { echo "exit $rc: $out"; return 1; }
    [ "$out" = forklift ] || { echo "unexpected output: $out"; return 1; }
    echo "container wrote and read its filesystem, exit 0"
}

check_container_cp() {
    docker image inspect forklift/busybox:smoke >/dev/null 2>&1 || { echo "SKIP: no test image"; return 2; }
    c=forklift-cp-$$  # this run's own names: nothing to clean up first
    # a volume whose destination passes through the image's absolute /var/run -> /run symlink: docker cp
    # mounts it through os.Root (the CVE-2026-41568/CVE-2026-42306 patch) and must still follow that link
    docker create --name "$c" --network none -v "$c:/var/run/data" forklift/busybox:smoke \
        /bin/cat /run/data/in > "$LOG/cp.out" 2>&1 || { echo "docker create failed: $(logtail "$LOG/cp.out")"; return 1; }
    echo "copied in by docker cp $$" > "$LOG/cp-in"
    docker cp "$LOG/cp-in" "$c:/var/run/data/in" >> "$LOG/cp.out" 2>&1 \
        || { echo "docker cp into the volume failed: $(logtail "$LOG/cp.out")"; return 1; }
    out=$(docker start -a "$c" 2>&1)
    [ "$out" = "copied in by docker cp $$" ] || { echo "the container read '$out'"; return 1; }
    back=$(docker cp "$c:/var/run/data/in" - 2>>"$LOG/cp.out" | tar -xO) \
        || { echo "docker cp out of the volume failed: $(logtail "$LOG/cp.out")"; return 1; }
    [ "$back" = "$out" ] || { echo "docker cp gave back '$back'"; return 1; }
    # the file is in the volume, not in the container's own layer: read it where the engine keeps the volume
    mnt=$(docker volume inspect -f '{{.Mountpoint}}' "$c" 2>>"$LOG/cp.out")
    vol=$(cat "$mnt/in" 2>&1)
    [ "$vol" = "$out" ] || { echo "the volume ($mnt) holds '$vol', not the copied file"; return 1; }
    docker rm -v "$c" >/dev/null 2>&1; docker volume rm "$c" >/dev/null 2>&1
    echo "docker cp into and out of a volume under /var/run -> /run: the volume ($mnt) holds the file"
}

check_engine_stop() {
    docker info >/dev/null 2>&1 || { echo "SKIP: engine not running"; return 2; }
    if [ "$MODE" = systemd ]; then
        systemctl stop docker docker.socket containerd 2>/dev/null
    else
        kill "$(cat "$LOG/dockerd.pid")"
        for _ in $(seq 1 60); do kill -0 "$(cat "$LOG/dockerd.pid")" 2>/dev/null || break; sleep 1; done
    fi
    pkill -x containerd 2>/dev/null; sleep 1
    dmsetup info -c --noheadings -o name,open 2>/dev/null | grep -v thinpool | grep -q docker \
        && { echo "engine devices still active: $(dmsetup ls)"; return 1; }
    docker info >/dev/null 2>&1 && { echo "engine still answers"; return 1; }
    echo "engine stopped"
}

check_thin_check() {
    lvs "$VG/thinpool" >/dev/null 2>&1 || { echo "SKIP: no pool"; return 2; }
    docker info >/dev/null 2>&1 && { echo "engine still running"; return 1; }
    lvchange -an "$VG/thinpool" > "$LOG/tc.out" 2>&1 || { echo "cannot deactivate pool: $(logtail "$LOG/tc.out")"; return 1; }
    lvchange -ay -y "$VG/thinpool_tmeta" >> "$LOG/tc.out" 2>&1 || { echo "cannot activate metadata: $(logtail "$LOG/tc.out")"; return 1; }
    thin_check "/dev/mapper/$VG-thinpool_tmeta" >> "$LOG/tc.out" 2>&1; rc=$?
    lvchange -an "$VG/thinpool_tmeta" >/dev/null 2>&1
    [ $rc -eq 0 ] || { echo "thin_check exit $rc: $(logtail "$LOG/tc.out")"; return 1; }
    echo "thin_check clean on $VG/thinpool_tmeta"
}

selinux_on() { [ -f /sys/fs/selinux/enforce ]; }
check_selinux_enforcing() {
    selinux_on || { echo "SKIP: no SELinux in this system"; return 2; }
    [ "$(cat /sys/fs/selinux/enforce)" = 1 ] || { echo "SELinux is permissive"; return 1; }
    echo enforcing
}
check_selinux_engine_domain() {
    selinux_on || { echo "SKIP: no SELinux in this system"; return 2; }
    pid=$(pidof dockerd) || { echo "SKIP: dockerd not running (start it via systemd for this check)"; return 2; }
    # the engine's domain comes from container-selinux (Fedora/RHEL); a policy without it (Debian's
    # reference policy) runs dockerd in the init script domain: nothing of Forklift's to check there
    if have semodule && ! semodule -l 2>/dev/null | grep -q '^container\b'; then
        echo "SKIP: the policy has no container module (container-selinux)"; return 2
    fi
    ctx=$(cat /proc/"$pid"/attr/current | tr -d '\0')
    case $ctx in *:container_runtime_t:*) echo "$ctx" ;; *) echo "dockerd in $ctx"; return 1 ;; esac
}
check_selinux_labels() {
    selinux_on || { echo "SKIP: no SELinux in this system"; return 2; }
    have matchpathcon || { echo "SKIP: no matchpathcon (libselinux-utils)"; return 2; }
    semodule -l 2>/dev/null | grep -q '^moby_dm\b' \
        || { echo "module moby_dm is not installed (the -selinux package's %post did not install it)"; return 1; }
    out=""; n=0
    for p in /usr/bin/moby-dm-storage-setup /etc/sysconfig/moby-dm-storage-setup /var/lib/moby-dm-storage-setup \
             /etc/lvm/profile/docker-thinpool.profile /usr/lib/systemd/system/moby-dm-storage-setup.service; do
        [ -e "$p" ] || continue
        want=$(matchpathcon -n "$p" 2>/dev/null | cut -d: -f3); got=$(stat -c %C "$p" | cut -d: -f3)
        case $want in moby_dm_*) ;; *) echo "$p: the policy labels it $want, not a moby_dm type"; return 1 ;; esac
        [ "$want" = "$got" ] || { echo "$p is $got, the policy says $want (restorecon?)"; return 1; }
        out="$out $p=$got"; n=$((n + 1))
    done
    [ $n -gt 0 ] || { echo "SKIP: no storage path of moby-dm-storage-setup here"; return 2; }
    echo "labels as the module says:$out"
}
check_selinux_no_avc() {
    selinux_on || { echo "SKIP: no SELinux in this system"; return 2; }
    have ausearch || { echo "SKIP: no ausearch (audit)"; return 2; }
    # the AVC records themselves (not the SYSCALL/EXECVE records of their events: the %post that installs
    # moby_dm names it on its command line) whose source or target is Forklift's module or the engine
    avcs=$(ausearch -m AVC,USER_AVC -ts boot --raw 2>/dev/null | grep -E '^type=(USER_)?AVC' \
        | grep -E 'moby_dm_|container_runtime_t|comm="dockerd"')
    n=$(printf '%s' "$avcs" | grep -c .)
    [ "$n" -eq 0 ] || { echo "$n AVC denials: $(printf '%s\n' "$avcs" | tail -n 2)"; return 1; }
    echo "no AVC denial from moby_dm's domains or the engine ($(ausearch -m AVC,USER_AVC -ts boot --raw 2>/dev/null \
        | grep -cE '^type=(USER_)?AVC') of other domains since boot)"
}

check_rpm_verify() {
    [ -n "${FORKLIFT_PACKAGES:-}" ] || { echo "SKIP: packages not installed by rpm here"; return 2; }
    out=$(rpm -V $FORKLIFT_PACKAGES 2>&1 | grep -v ' c /')
    [ -z "$out" ] || { echo "rpm -V: $out"; return 1; }
    echo "rpm -V clean: $FORKLIFT_PACKAGES"
}

for c in $CHECKS; do
    start=$(now)
    fn=check_$(echo "$c" | tr - _)
    if ! type "$fn" >/dev/null 2>&1; then verdict "$c" FAIL "$start" "unknown check"; continue; fi
    detail=$("$fn" 2>&1); rc=$?
    case $rc in
        0) verdict "$c" PASS "$start" "$detail" ;;
        2) verdict "$c" SKIP "$start" "${detail#SKIP: }" ;;
        *) verdict "$c" FAIL "$start" "$detail" ;;
    esac
done
[ -n "$HEARTBEAT_PID" ] && kill "$HEARTBEAT_PID" 2>/dev/null
# FORKLIFT_NO_END: a caller (guest/rpm-native.sh) runs some checks and ends the run itself
[ -n "${FORKLIFT_NO_END:-}" ] || echo "FORKLIFT-END failed=[${FAILED# }]"
[ -z "$FAILED" ]
