#!/bin/sh
# Forklift smoke, RPM-native guest (systemd PID 1, rpmdb with the target base): install
# this repo's packages with dnf from the repo disk and check what users get from them:
# scriptlets, presets, socket activation through systemd, the storage service, the
# existing checks (checks.sh), then upgrade from release N-1 to N and removal, keeping
# the data on the thin pool. Same verdict protocol as checks.sh:
#
#   FORKLIFT-CHECK <name> <PASS|FAIL|SKIP> <seconds> <detail>   ...   FORKLIFT-END failed=[...]
#
# Settings (environment, from /forklift/env):
#   FORKLIFT_RPM_CHECKS    the steps to run, in order (default: all, see ALL)
#   FORKLIFT_REPO          the repo under test (release N); FORKLIFT_REPO_PREV: release N-1 (optional)
#   FORKLIFT_REPO_FILE     the published forklift.repo (signed tree: N-1 in forklift-stable, N in
#                          forklift-test, gpgcheck=1 repo_gpgcheck=1); without it the repos are used bare
#   FORKLIFT_REFUSED_REPO_FILE  a .repo file of unsigned RPMs under signed metadata: dnf must refuse them
#   FORKLIFT_SIGNING_KEY   the key id the published RPMs are signed with
#   FORKLIFT_PACKAGES      the packages to install (and remove)
#   FORKLIFT_SPARE_CHECKS  the checks.sh checks run before the pool exists (spare disk)
#   FORKLIFT_ENGINE_CHECKS the checks.sh checks run once the engine is up
#   FORKLIFT_POOL_DEV      the pool disk the storage service is configured with
#   FORKLIFT_DNF_DISTRO_REPOS  1: keep the image's own dnf repos enabled (cloud images)
set -u
ALL="gpg-refuses-unsigned rpm-install rpm-scriptlets rpm-presets spare-checks socket-activation storage-service engine-checks \
data-write rpm-verify-installed upgrade engine-restarted data-kept rpm-verify-upgraded engine-checks-final \
remove-keeps-data reinstall-data"
STEPS=${FORKLIFT_RPM_CHECKS:-$ALL}
LOG=${FORKLIFT_LOG:-/tmp/forklift-smoke}
REPO=${FORKLIFT_REPO:-/forklift/repo}
PREV=${FORKLIFT_REPO_PREV:-}
PKGS=${FORKLIFT_PACKAGES:-moby-engine-dm docker-cli moby-dm-storage-setup}
REPO_FILE=${FORKLIFT_REPO_FILE:-}
mkdir -p /etc/yum.repos.d  # dnf.conf's reposdir (Debian's dnf package does not make it)
[ -z "$REPO_FILE" ] || cp "$REPO_FILE" /etc/yum.repos.d/forklift.repo  # what users add
VG=forklift
HERE=$(dirname "$0")
mkdir -p "$LOG"
FAILED=""
export FORKLIFT_ENGINE_MODE=systemd
( while sleep "${FORKLIFT_HEARTBEAT:-20}"; do echo "FORKLIFT-ALIVE $(cut -d' ' -f1 /proc/uptime)"; done ) &
HEARTBEAT_PID=$!

now() { cut -d' ' -f1 /proc/uptime; }
verdict() { # name status start detail
    secs=$(awk -v a="$3" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
    detail=$(printf '%s' "$4" | tr '\n' ' ' | cut -c1-400)
    echo "FORKLIFT-CHECK $1 $2 $secs ${detail:--}"
    [ "$2" = FAIL ] && FAILED="$FAILED $1"
    return 0
}
logtail() { tail -n 4 "$1" 2>/dev/null | tr '\n' ' '; }
unit_prop() { systemctl show -p "$2" --value "$1" 2>/dev/null; }
# FORKLIFT_DNF_DISTRO_REPOS=1 (a cloud image, tooling/smoke/cloud.py): the image's own repos stay enabled
# beside the repo under test, for the dependencies; otherwise the repo under test is the only one
DISTRO_REPOS=${FORKLIFT_DNF_DISTRO_REPOS:-}
dnf_repos() { # the repos of one transaction: "n" (release N), "prev" (N-1)
    if [ -n "$REPO_FILE" ]; then  # the published channels, every signature check on
        case $1 in prev) ch=forklift-stable ;; *) ch=forklift-test ;; esac
        if [ -n "$DISTRO_REPOS" ]; then echo "--disablerepo=forklift-stable,forklift-test --enablerepo=$ch"
        else echo "--repo=$ch"; fi
        return 0
    fi
    case $1 in prev) id=forklift-prev; path=$PREV ;; *) id=forklift; path=$REPO ;; esac
    if [ -n "$DISTRO_REPOS" ]; then  # unsigned local repo beside the distro's signed ones
        echo "--repofrompath=$id,file://$path --setopt=$id.gpgcheck=0"
    else
        echo "--repofrompath=$id,file://$path --repo=$id"
    fi
}
# a scriptlet that failed, or rpm/dnf complaining about one, in a dnf transaction's output
scriptlet_errors() {
    grep -E "scriptlet failed|Error in [A-Z]+ scriptlet|error: %|warning: %(pre|post|preun|postun|trigger)|Error unpacking" "$1" \
        | sort -u | head -n 3 | tr '\n' ' '
}
# the literal macro text an undefined macro leaves in a built scriptlet
unexpanded() { rpm -q --scripts --filetriggers "$@" 2>&1 | grep -nE '%\{|%\(|%(selinux|systemd|sysusers|_)[a-z_]*' | head -n 2; }
installed_nvrs() { rpm -q --qf '%{NAME}-%{VERSION}-%{RELEASE} ' $PKGS 2>&1; }
engine_answers() { # within $1 seconds of uptime; gives up as soon as systemd gave up on docker.service
    until_t=$(awk -v a="$(now)" -v b="$1" 'BEGIN { printf "%d", a + b }')
    while [ "$(now | cut -d. -f1)" -lt "$until_t" ]; do
        timeout 60 docker info > "$LOG/info.out" 2>&1 && return 0
        systemctl -q is-failed docker.service && return 1
        sleep 2
    done
    return 1
}
engine_why() { # the engine's and the storage service's last complaints, for a failure's detail
    echo "docker.service $(unit_prop docker.service ActiveState)/$(unit_prop docker.service Result):"
    journalctl -b -u docker.service -o cat --no-pager 2>/dev/null \
        | grep -iE 'level=(error|fatal)|failed to|error' | grep -v 'Start request repeated' | tail -n 3
    echo "storage: $(unit_prop moby-dm-storage-setup.service ActiveState)/$(unit_prop moby-dm-storage-setup.service Result)"
    journalctl -b -u moby-dm-storage-setup.service -o cat --no-pager 2>/dev/null | grep -iE 'error|refus' | tail -n 2
}
checks_sh() { # run checks.sh for some of its checks; its verdict lines go to the console
    FORKLIFT_CHECKS="$1" FORKLIFT_NO_END=1 FORKLIFT_HEARTBEAT="" sh "$HERE/checks.sh" | tee "$LOG/checks.out"
    fails=$(awk '$1 == "FORKLIFT-CHECK" && $3 == "FAIL" { printf " %s", $2 }' "$LOG/checks.out")
    FAILED="$FAILED$fails"
}

# the key ids of the signatures of installed packages, one line per package
signed_by() { rpm -q --qf '%{NAME} %|DSAHEADER?{%{DSAHEADER:pgpsig}}:{%|RSAHEADER?{%{RSAHEADER:pgpsig}}:{(none)}|}|\n' "$@" 2>&1; }

step_gpg_refuses_unsigned() {
    rf=${FORKLIFT_REFUSED_REPO_FILE:-}
    [ -n "$rf" ] || { echo "SKIP: no signed tree in this run (FORKLIFT_REFUSED_REPO_FILE)"; return 2; }
    cp "$rf" /etc/yum.repos.d/forklift-refused.repo
    repos="--repo=forklift-unsigned"  # a cloud image: its own repos stay on for the dependencies
    [ -z "$DISTRO_REPOS" ] || repos="--disablerepo=forklift-stable,forklift-test --enablerepo=forklift-unsigned"
    # shellcheck disable=SC2086
    dnf -y $repos install $PKGS > "$LOG/dnf-unsigned.out" 2>&1; rc=$?
    rm -f /etc/yum.repos.d/forklift-refused.repo
    got=$(rpm -q $PKGS 2>/dev/null | grep -v 'not installed')
    [ -z "$got" ] || { echo "installed unsigned RPMs: $got"; return 1; }
    [ $rc -ne 0 ] || { echo "dnf exit 0 on unsigned RPMs"; return 1; }
    why=$(grep -m1 -E "is not signed" "$LOG/dnf-unsigned.out")
    [ -n "$why" ] || { echo "dnf refused, but not for the signature: $(logtail "$LOG/dnf-unsigned.out")"; return 1; }
    echo "dnf exit $rc: $why"
}

step_rpm_install() {
    if [ -n "$PREV" ]; then which=prev; repo=$PREV; else which=n; repo=$REPO; fi
    # shellcheck disable=SC2046
    dnf -y $(dnf_repos $which) install $PKGS > "$LOG/dnf-install.out" 2>&1; rc=$?
    [ $rc -eq 0 ] || { echo "dnf install exit $rc: $(logtail "$LOG/dnf-install.out")"; return 1; }
    rpm -q $PKGS > "$LOG/rpmq.out" 2>&1 || { echo "not installed: $(grep 'not installed' "$LOG/rpmq.out")"; return 1; }
    how=""
    if [ -n "$REPO_FILE" ]; then
        key=$(echo "${FORKLIFT_SIGNING_KEY:-}" | tr 'A-F' 'a-f')
        unsigned=$(signed_by $PKGS | grep -v "Key ID $key" | tr '\n' ' ')
        [ -z "$unsigned" ] || { echo "installed, but not signed by $key: $unsigned"; return 1; }
        how=" (forklift.repo: gpgcheck=1 repo_gpgcheck=1; every package signed by $key)"
    fi
    echo "dnf install from $(basename "$repo")$how: $(installed_nvrs)"
}

step_rpm_scriptlets() {
    rpm -q moby-engine-dm >/dev/null 2>&1 || { echo "SKIP: nothing installed"; return 2; }
    errs=$(scriptlet_errors "$LOG/dnf-install.out")
    [ -z "$errs" ] || { echo "scriptlet failed during dnf install: $errs"; return 1; }
    lit=$(unexpanded $PKGS)
    [ -z "$lit" ] || { echo "unexpanded macro text in an installed scriptlet: $lit"; return 1; }
    g=$(getent group docker) || { echo "no docker group: sysusers.d/docker.conf was not applied"; return 1; }
    gid=$(echo "$g" | cut -d: -f3)
    [ "$gid" -lt 1000 ] || { echo "docker group is not a system group: $g"; return 1; }
    [ "$(stat -c %G /run/docker.sock 2>/dev/null || echo docker)" = docker ] || { echo "socket group wrong"; return 1; }
    echo "no scriptlet error; group $g (sysusers); no unexpanded macros"
}

preset_of() { # the first preset line that matches unit $1: enabled or disabled (systemd.preset(5) order)
    files=$(for d in /etc/systemd/system-preset /run/systemd/system-preset /usr/lib/systemd/system-preset; do
                [ -d $d ] && ls $d/*.preset 2>/dev/null; done | awk -F/ '!seen[$NF]++ { print $NF "\t" $0 }' \
                | sort | cut -f2)
    for f in $files; do
        while read -r action pattern _rest; do
            case $action in enable|disable) ;; *) continue ;; esac
            # shellcheck disable=SC2254
            case $1 in $pattern) echo "${action}d"; return 0 ;; esac
        done < "$f"
    done
    echo enabled  # no preset: systemd's default is enable
}

step_rpm_presets() {
    rpm -q moby-engine-dm >/dev/null 2>&1 || { echo "SKIP: nothing installed"; return 2; }
    out=""; bad=""; n_enabled=0
    for u in docker.socket docker.service moby-dm-storage-setup.service; do
        want=$(preset_of "$u"); got=$(systemctl is-enabled "$u" 2>&1)
        out="$out $u=$got"
        [ "$want" = "$got" ] || bad="$bad $u: is-enabled says $got, the presets say $want;"
        [ "$want" = enabled ] && n_enabled=$((n_enabled + 1))
    done
    [ -z "$bad" ] || { echo "presets not applied by %systemd_post:$bad"; return 1; }
    [ $n_enabled -gt 0 ] || { echo "no unit is enabled by a preset: the check proves nothing"; return 1; }
    echo "is-enabled matches the presets:$out"
}

step_spare_checks() { checks_sh "${FORKLIFT_SPARE_CHECKS:-versions}"; }

configure_storage() { # what an admin does: point the shipped config at the pool disk
    f=/etc/sysconfig/moby-dm-storage-setup
    [ -f $f ] || return 1
    for kv in "VG=$VG" "DEVS=$FORKLIFT_POOL_DEV" "DATA_SIZE=90%FREE" "MIN_DATA_SIZE=256M"; do
        k=${kv%%=*}
        if grep -q "^$k=" $f; then sed -i "s|^$k=.*|$kv|" $f; else echo "$kv" >> $f; fi
    done
}

step_socket_activation() {
    rpm -q moby-engine-dm >/dev/null 2>&1 || { echo "SKIP: nothing installed"; return 2; }
    configure_storage || { echo "no /etc/sysconfig/moby-dm-storage-setup from the package"; return 1; }
    st=$(unit_prop docker.service ActiveState)
    [ "$st" = inactive ] || { echo "docker.service is $st before any client connected (started by the install?)"; return 1; }
    systemctl start docker.socket || { echo "systemctl start docker.socket failed"; return 1; }
    # the first client connects to /run/docker.sock: systemd starts docker.service (and what it wants)
    engine_answers 300 || { echo "no answer on /run/docker.sock: $(engine_why)"; return 1; }
    pid=$(unit_prop docker.service MainPID)
    [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = dockerd ] || { echo "docker.service MainPID $pid is not dockerd"; return 1; }
    grep -q docker.service /proc/"$pid"/cgroup || { echo "dockerd is not in docker.service's cgroup"; return 1; }
    [ "$(awk '{print $4}' /proc/"$pid"/stat)" = 1 ] || { echo "dockerd's parent is not systemd"; return 1; }
    echo "docker.socket -> docker.service (dockerd pid $pid, started by systemd on the first connection)"
}

step_storage_service() {
    st=$(unit_prop moby-dm-storage-setup.service ActiveState); res=$(unit_prop moby-dm-storage-setup.service Result)
    [ "$st" = active ] && [ "$res" = success ] || {
        echo "moby-dm-storage-setup.service $st/$res: $(journalctl -b -u moby-dm-storage-setup -n 4 --no-pager 2>&1 | tr '\n' ' ')"
        return 1; }
    lvs --noheadings -o segtype "$VG/thinpool" 2>/dev/null | grep -q thin-pool || { echo "no thin pool $VG/thinpool"; return 1; }
    done_at=$(unit_prop moby-dm-storage-setup.service ExecMainExitTimestampMonotonic)
    eng_at=$(unit_prop docker.service ExecMainStartTimestampMonotonic)
    [ "$done_at" -le "$eng_at" ] || { echo "the engine started before the storage service finished"; return 1; }
    grep -q "Pool Name: $VG-thinpool" "$LOG/info.out" || { echo "engine not on the pool: $(grep -E 'Storage Driver|Pool Name' "$LOG/info.out")"; return 1; }
    echo "service made $VG/thinpool before the engine started; engine on devicemapper $VG-thinpool"
}

step_engine_checks() { checks_sh "${FORKLIFT_ENGINE_CHECKS:-image-load container-run container-cp}"; }

step_data_write() {
    docker image inspect forklift/busybox:smoke >/dev/null 2>&1 || { echo "SKIP: no test image (image-load)"; return 2; }
    # the container keeps its first boot's uptime in a file on its thin device; restarting it prints the file
    out=$(docker run --name keeper --network none forklift/busybox:smoke /bin/sh -c \
        '[ -f /keep ] || cat /proc/uptime > /keep; cat /keep' 2>&1) || { echo "docker run: $out"; return 1; }
    echo "$out" > "$LOG/keeper.token"
    docker info 2>/dev/null | grep -E '^ *Data Space Used' > "$LOG/data-used.before"
    echo "container keeper wrote /keep = $out"
}

step_rpm_verify_installed() { verify_rpms; }
step_rpm_verify_upgraded() { verify_rpms; }
verify_rpms() {
    rpm -q moby-engine-dm >/dev/null 2>&1 || { echo "SKIP: nothing installed"; return 2; }
    out=$(rpm -V $PKGS 2>&1 | grep -v ' c /')
    [ -z "$out" ] || { echo "rpm -V: $out"; return 1; }
    echo "rpm -V clean (config files aside): $(installed_nvrs)"
}

step_upgrade() {
    [ -n "$PREV" ] || { echo "SKIP: no release N-1 repo (FORKLIFT_REPO_PREV)"; return 2; }
    unit_prop docker.service InvocationID > "$LOG/invocation.before"
    unit_prop docker.service MainPID > "$LOG/pid.before"
    before=$(installed_nvrs)
    # shellcheck disable=SC2046
    dnf -y $(dnf_repos n) upgrade $PKGS > "$LOG/dnf-upgrade.out" 2>&1; rc=$?
    [ $rc -eq 0 ] || { echo "dnf upgrade exit $rc: $(logtail "$LOG/dnf-upgrade.out")"; return 1; }
    errs=$(scriptlet_errors "$LOG/dnf-upgrade.out")
    [ -z "$errs" ] || { echo "scriptlet failed during dnf upgrade: $errs"; return 1; }
    after=$(installed_nvrs)
    [ "$before" != "$after" ] || { echo "nothing upgraded: $after"; return 1; }
    for p in $PKGS; do
        want=$(rpm -qp --qf '%{VERSION}-%{RELEASE}' "$REPO/$p"-[0-9]*.rpm 2>/dev/null)
        got=$(rpm -q --qf '%{VERSION}-%{RELEASE}' "$p")
        [ "$want" = "$got" ] || { echo "$p is $got after the upgrade, the repo has $want"; return 1; }
    done
    echo "$before -> $after"
}

step_engine_restarted() {
    [ -f "$LOG/invocation.before" ] || { echo "SKIP: no upgrade"; return 2; }
    engine_answers 300 || { echo "the engine does not answer after the upgrade: $(engine_why)"; return 1; }
    inv=$(unit_prop docker.service InvocationID); pid=$(unit_prop docker.service MainPID)
    [ "$inv" != "$(cat "$LOG/invocation.before")" ] || { echo "docker.service was not restarted by the upgrade (%postun)"; return 1; }
    echo "docker.service restarted: pid $(cat "$LOG/pid.before") -> $pid"
}

step_data_kept() {
    [ -f "$LOG/keeper.token" ] || { echo "SKIP: no data written (data-write)"; return 2; }
    engine_answers 120 || { echo "the engine does not answer: $(engine_why)"; return 1; }
    docker ps -a --format '{{.Names}}' | grep -qx keeper || { echo "container keeper is gone: $(docker ps -a --format '{{.Names}}')"; return 1; }
    out=$(docker start -a keeper 2>&1) || { echo "docker start keeper: $out"; return 1; }
    [ "$out" = "$(cat "$LOG/keeper.token")" ] || { echo "/keep is '$out', was '$(cat "$LOG/keeper.token")'"; return 1; }
    echo "container keeper and its /keep ($out) survived"
}

step_engine_checks_final() { checks_sh "${FORKLIFT_FINAL_CHECKS:-engine-stop thin-check}"; }

step_remove_keeps_data() {
    rpm -q moby-engine-dm >/dev/null 2>&1 || { echo "SKIP: nothing installed"; return 2; }
    lvs "$VG/thinpool" >/dev/null 2>&1 || { echo "SKIP: no pool"; return 2; }
    lvchange -ay "$VG/thinpool" >/dev/null 2>&1  # thin-check leaves it inactive
    lvs --noheadings -o lv_uuid,data_percent "$VG/thinpool" > "$LOG/pool.before" 2>&1
    ls /var/lib/docker/devicemapper/metadata > "$LOG/devs.before" 2>/dev/null
    # shellcheck disable=SC2086
    dnf -y remove $PKGS > "$LOG/dnf-remove.out" 2>&1; rc=$?
    [ $rc -eq 0 ] || { echo "dnf remove exit $rc: $(logtail "$LOG/dnf-remove.out")"; return 1; }
    errs=$(scriptlet_errors "$LOG/dnf-remove.out")
    [ -z "$errs" ] || { echo "scriptlet failed during dnf remove: $errs"; return 1; }
    left=$(rpm -q $PKGS 2>/dev/null | grep -v 'not installed')
    [ -z "$left" ] || { echo "still installed: $left"; return 1; }
    lvs --noheadings -o lv_uuid,data_percent "$VG/thinpool" > "$LOG/pool.after" 2>&1 \
        || { echo "dnf remove took the pool: $(cat "$LOG/pool.after")"; return 1; }
    cmp -s "$LOG/pool.before" "$LOG/pool.after" || { echo "pool changed: $(cat "$LOG/pool.before") -> $(cat "$LOG/pool.after")"; return 1; }
    ls /var/lib/docker/devicemapper/metadata > "$LOG/devs.after" 2>/dev/null
    cmp -s "$LOG/devs.before" "$LOG/devs.after" || { echo "engine metadata under /var/lib/docker changed"; return 1; }
    systemctl is-active -q docker.service docker.socket && { echo "engine still active after removal"; return 1; }
    echo "packages removed; $VG/thinpool ($(tr -s ' ' < "$LOG/pool.after")) and $(wc -l < "$LOG/devs.after") thin devices' metadata untouched"
}

step_reinstall_data() {
    [ -f "$LOG/keeper.token" ] || { echo "SKIP: no data written (data-write)"; return 2; }
    rpm -q moby-engine-dm >/dev/null 2>&1 && { echo "SKIP: not removed"; return 2; }
    # shellcheck disable=SC2046
    dnf -y $(dnf_repos n) install $PKGS > "$LOG/dnf-reinstall.out" 2>&1 || { echo "dnf install: $(logtail "$LOG/dnf-reinstall.out")"; return 1; }
    systemctl start docker.socket && engine_answers 300 || { echo "the engine does not answer after reinstall: $(engine_why)"; return 1; }
    out=$(docker start -a keeper 2>&1) || { echo "docker start keeper after reinstall: $out"; return 1; }
    [ "$out" = "$(cat "$LOG/keeper.token")" ] || { echo "/keep is '$out', was '$(cat "$LOG/keeper.token")'"; return 1; }
    echo "reinstalled: container keeper and its /keep ($out) still on the pool"
}

for s in $STEPS; do
    start=$(now)
    fn=step_$(echo "$s" | tr - _)
    if ! type "$fn" >/dev/null 2>&1; then verdict "$s" FAIL "$start" "unknown step"; continue; fi
    case $s in
        spare-checks|engine-checks|engine-checks-final) "$fn"; continue ;;  # checks.sh prints its own verdicts
    esac
    detail=$("$fn" 2>&1); rc=$?
    case $rc in
        0) verdict "$s" PASS "$start" "$detail" ;;
        2) verdict "$s" SKIP "$start" "${detail#SKIP: }" ;;
        *) verdict "$s" FAIL "$start" "$detail" ;;
    esac
done
kill "$HEARTBEAT_PID" 2>/dev/null
echo "FORKLIFT-END failed=[${FAILED# }]"
[ -z "$FAILED" ]
