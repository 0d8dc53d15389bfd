#!/bin/sh
# Forklift smoke, cloud image (tooling/smoke/cloud.py): started in its own systemd unit by the
# NoCloud seed's runcmd once the payload disk is mounted on /forklift. Checks the seed's
# cloud-config with the image's own cloud-init and cloud-init's status of this boot, runs rpm-native.sh with the settings in
# /forklift/env (dnf install from the payload disk's repo, the checks) and powers the guest off.
# Everything goes to the serial console.
exec > /dev/ttyS0 2>&1
now() { cut -d' ' -f1 /proc/uptime; }
echo "FORKLIFT-CLOUD-RUN $(now) pid1=$(cat /proc/1/comm)"
start=$(now)
if cloud-init schema --help 2>&1 | grep -q -- '--system'; then
    if out=$(cloud-init schema --system 2>&1); then st=PASS; else st=FAIL; fi
else
    st=SKIP; out="this cloud-init has no 'schema --system'"
fi
secs=$(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
echo "FORKLIFT-CHECK cloud-config-schema $st $secs $(printf '%s' "$out" | tr '\n' ' ' | cut -c1-300)"
# cloud-init's own verdict on this boot (its final stage ends right after the seed's runcmd)
start=$(now)
out=$(timeout 300 cloud-init status --wait --long 2>&1)
case $(printf '%s\n' "$out" | sed -n 's/^status: *//p' | head -n 1) in
    done) st=PASS ;;
    *) st=FAIL ;;
esac
secs=$(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
echo "FORKLIFT-CHECK cloud-init-status $st $secs $(printf '%s' "$out" | grep -vE '^ *$|^\.+$' | tr '\n' ' ' | tr -s ' ' | cut -c1-400)"
for m in dm_thin_pool xfs loop overlay; do modprobe "$m" 2>/dev/null; done
udevadm settle --timeout=30
set -a
[ -f /forklift/env ] && . /forklift/env
set +a
sh /forklift/rpm-native.sh
sync
echo "FORKLIFT-POWEROFF $(now)"
echo o > /proc/sysrq-trigger
sleep 5
systemctl poweroff --force --force
