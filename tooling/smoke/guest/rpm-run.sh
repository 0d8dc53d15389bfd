#!/bin/sh
# Forklift smoke, RPM-native guest: run by forklift-smoke.service under systemd (PID 1).
# Mounts the payload disk (serial "payload": the repos, rpm-native.sh, checks.sh, env),
# runs rpm-native.sh with the settings in /forklift/env and powers the guest off.
# Everything goes to the serial console (the unit's TTYPath).
echo "FORKLIFT-BOOTED $(cut -d' ' -f1 /proc/uptime) pid1=$(cat /proc/1/comm)"
for m in dm_thin_pool xfs loop overlay; do modprobe "$m"; done
udevadm settle --timeout=30
i=0
while [ ! -e /dev/disk/by-id/virtio-payload ] && [ $i -lt 100 ]; do sleep 0.2; i=$((i + 1)); done
if mount -o ro /dev/disk/by-id/virtio-payload /forklift; then
    set -a
    [ -f /forklift/env ] && . /forklift/env
    set +a
    sh /forklift/rpm-native.sh
else
    echo "FORKLIFT-END failed=[mount-payload]"
fi
sync
echo "FORKLIFT-POWEROFF $(cut -d' ' -f1 /proc/uptime)"
echo o > /proc/sysrq-trigger
sleep 5
systemctl poweroff --force --force
