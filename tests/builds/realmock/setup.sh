#!/usr/bin/env bash
# Set up upstream mock, for real, on a Debian 12 host (local verification of
# Forklift's mock builder). Idempotent: re-running only redoes what changed.
#
#   tests/builds/realmock/setup.sh [--mock-src DIR] [--td-src DIR] [--state DIR]
#                                 [--with-go] [--rebuild-buildroot]
#
# --mock-src / $MOCK_SRC  snapshot of rpm-software-management/mock: a bare git dir
#                         (e.g. /work/.mirror/rpm-software-management+mock/repo) or a
#                         checkout. Git: $MOCK_REF, default the newest mock-X.Y-Z tag.
# --td-src / $TD_SRC      snapshot of xsuchy/templated-dictionary (>= 1.5), same forms;
#                         $TD_REF, default the newest python-templated-dictionary-* tag.
# --state / $FORKLIFT_MOCK_STATE   default <repo>/.cache/mock (git-ignored). Everything
#                         goes there except: apt packages and the host group `mock`.
# --with-go / $WITH_GO=1  also build forklift-buildroot-go (Go toolchain from
#                         $GO_ROOT_SRC, default <repo>/.cache/tools/go-1.25/go; go-md2man,
#                         cmake, dm/seccomp/systemd/btrfs/udev headers, libclang, the SELinux
#                         policy tools) and, when $RUST_SYSROOT (default: `rustc --print
#                         sysroot` of the host) holds a toolchain, Rust and cargo from it.
#
# Result (STATE):
#   venv/bin/mock   the launcher (mock from the snapshot in a venv on /usr/bin/python3)
#   etc/mock/       the config dir (mock --configdir; also mock's built-in default):
#                   site-defaults.cfg, logging.ini, <chroot>.cfg stand-ins, templates/
#   repo/           forklift-buildroot*.rpm + repodata: the chroots' only repo
#   hostbin/dnf-3   Debian's dnf4 with the chroot's rpmdb pinned to /var/lib/rpm
#   lib/, cache/    mock's basedir and cache_topdir
# See README.md next to this script.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
STATE=${FORKLIFT_MOCK_STATE:-$REPO/.cache/mock}
MOCK_SRC=${MOCK_SRC:-/work/.mirror/rpm-software-management+mock/repo}
TD_SRC=${TD_SRC:-/work/.mirror/xsuchy+templated-dictionary/repo}
MOCK_REF=${MOCK_REF:-}
TD_REF=${TD_REF:-}
WITH_GO=${WITH_GO:-0}
GO_ROOT_SRC=${GO_ROOT_SRC:-$REPO/.cache/tools/go-1.25/go}
RUST_SYSROOT=${RUST_SYSROOT:-$(rustc --print sysroot 2>/dev/null || true)}
REBUILD_BUILDROOT=0
SUITE=bookworm
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEBIAN_SECURITY=${DEBIAN_SECURITY:-http://deb.debian.org/debian-security}
PAYLOAD=${BUILDROOT_PAYLOAD:-w10T2.zstdio}

while [ $# -gt 0 ]; do
    case $1 in
        --mock-src) MOCK_SRC=$2; shift 2 ;;
        --td-src) TD_SRC=$2; shift 2 ;;
        --state) STATE=$2; shift 2 ;;
        --with-go) WITH_GO=1; shift ;;
        --rebuild-buildroot) REBUILD_BUILDROOT=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "setup.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

[ "$(id -u)" = 0 ] || { echo "setup.sh: run as root (mock needs it; apt, mmdebstrap too)" >&2; exit 1; }
[ "$(uname -m)" = x86_64 ] || { echo "setup.sh: x86_64 only" >&2; exit 1; }
mkdir -p "$STATE"
STATE=$(cd "$STATE" && pwd)
VENV=$STATE/venv
CONFDIR=$STATE/etc/mock
BR=$STATE/buildroot
T0=$(date +%s)
log() { printf '[realmock %3ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }

# Buildroot package sets (Debian names). BASE: what rpmbuild inside the chroot
# needs; GO_EXTRA: the BuildRequires of moby-engine-dm, docker-cli, containerd and
# moby-engine-dm-selinux.
BASE_PKGS="bash coreutils sed grep gawk tar gzip xz-utils bzip2 zstd findutils diffutils
patch cpio file unzip make gcc g++ binutils libc6-dev libcrypt-dev linux-libc-dev pkgconf
passwd login util-linux hostname rpm debugedit elfutils perl python3"
GO_EXTRA="go-md2man cmake libdevmapper-dev libseccomp-dev libsystemd-dev libbtrfs-dev
libbtrfsutil-dev git selinux-policy-dev checkpolicy semodule-utils libclang-dev libudev-dev"
APT_PKGS="python3-venv python3-dnf dnf-plugins-core python3-rpm rpm
createrepo-c mmdebstrap zstd util-linux procps"

# ---------------------------------------------------------------- snapshots
is_git_dir() { [ -f "$1/HEAD" ] && [ -d "$1/objects" ]; }
newest_tag() { git --git-dir="$1" tag -l "$2" | sort -V | tail -n 1; }

# export_src SRC REF DEST: the snapshot's tree at REF (git) or a copy (directory)
export_src() {
    local src=$1 ref=$2 dest=$3
    rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
    if is_git_dir "$src"; then
        git --git-dir="$src" archive "$ref" | tar -x -C "$dest.tmp"
    else
        cp -a "$src/." "$dest.tmp/"
    fi
    rm -rf "$dest" && mv "$dest.tmp" "$dest"
}

is_git_dir "$MOCK_SRC" || [ -f "$MOCK_SRC/mock/py/mock.py" ] || {
    echo "setup.sh: no mock snapshot at $MOCK_SRC (set --mock-src / MOCK_SRC)" >&2; exit 1; }
is_git_dir "$TD_SRC" || [ -f "$TD_SRC/setup.py" ] || {
    echo "setup.sh: no templated-dictionary snapshot at $TD_SRC (set --td-src / TD_SRC)" >&2; exit 1; }
if is_git_dir "$MOCK_SRC"; then
    MOCK_REF=${MOCK_REF:-$(newest_tag "$MOCK_SRC" 'mock-[0-9]*')}
    MOCK_COMMIT=$(git --git-dir="$MOCK_SRC" rev-parse "$MOCK_REF^{commit}")
    MOCK_NVR=${MOCK_REF}                       # mock-6.7-1
else
    MOCK_COMMIT=unknown; MOCK_NVR=${MOCK_REF:-mock-$(sed -n 's/^Version: *//p' "$MOCK_SRC/mock/mock.spec")-1}
fi
MOCK_VERSION=$(echo "$MOCK_NVR" | sed -E 's/^mock-([0-9.]+)-.*/\1/')
if is_git_dir "$TD_SRC"; then
    TD_REF=${TD_REF:-$(newest_tag "$TD_SRC" 'python-templated-dictionary-[0-9]*')}
    TD_COMMIT=$(git --git-dir="$TD_SRC" rev-parse "$TD_REF^{commit}")
else
    TD_COMMIT=unknown; TD_REF=${TD_REF:-directory}
fi
log "mock $MOCK_NVR ($MOCK_COMMIT), templated-dictionary $TD_REF ($TD_COMMIT)"

# ---------------------------------------------------------------- host packages
missing=()
for p in $APT_PKGS; do
    dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q '^install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    timeout 900 apt-get update -qq
    DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
fi
# mock chowns its basedir to the group `mock` and runs as a member of it
getent group mock >/dev/null || { log "groupadd -r mock"; groupadd -r mock; }

# ---------------------------------------------------------------- venv + mock
PIP_PKGS="distro==1.8.0 jinja2==3.1.6 requests==2.34.2 backoff==2.2.1 pyroute2==0.9.7 rpmautospec-core==0.2.0"
stamp_venv="$MOCK_COMMIT $TD_COMMIT $STATE $PIP_PKGS"
if [ "$(cat "$VENV/.forklift-stamp" 2>/dev/null)" != "$stamp_venv" ] || [ ! -x "$VENV/bin/mock" ]; then
    log "venv: $VENV"
    rm -rf "$VENV"
    /usr/bin/python3 -m venv --system-site-packages "$VENV"   # rpm, dnf from Debian
    # shellcheck disable=SC2086
    timeout 600 "$VENV/bin/pip" install -q --disable-pip-version-check $PIP_PKGS
    export_src "$TD_SRC" "$TD_REF" "$STATE/src/templated-dictionary"
    timeout 600 "$VENV/bin/pip" install -q --disable-pip-version-check --no-build-isolation \
        "$STATE/src/templated-dictionary"
    export_src "$MOCK_SRC" "$MOCK_REF" "$STATE/src/mock-tree"
    SITE=$("$VENV/bin/python3" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    cp -a "$STATE/src/mock-tree/mock/py/mockbuild" "$SITE/"
    # what mock.spec's %build does: substitute the build-system constants
    sed -i -E \
        -e "s|^VERSION\s*=.*|VERSION = \"$MOCK_VERSION\"|" \
        -e "s|^SYSCONFDIR\s*=.*|SYSCONFDIR = \"$STATE/etc\"|" \
        -e "s|^PYTHONDIR\s*=.*|PYTHONDIR = \"$SITE\"|" \
        -e "s|^PKGPYTHONDIR\s*=.*|PKGPYTHONDIR = \"$SITE/mockbuild\"|" \
        "$SITE/mockbuild/constants.py"
    mkdir -p "$VENV/libexec/mock"
    sed -e "1s|.*|#!$VENV/bin/python3|" -e "s/^_MOCK_NVR = None$/_MOCK_NVR = \"$MOCK_NVR\"/" \
        "$STATE/src/mock-tree/mock/py/mock.py" > "$VENV/libexec/mock/mock"
    chmod 0755 "$VENV/libexec/mock/mock"
    cat > "$VENV/bin/mock" <<EOF
#!/bin/sh
# mock $MOCK_NVR ($MOCK_COMMIT) for Forklift's local verification (tests/builds/realmock).
# mock refuses a plain root login (it wants sudo/consolehelper): as root, act as
# "sudo from root", so the chroot user mockbuild gets uid 0.
if [ "\$(id -u)" = 0 ] && [ -z "\${SUDO_UID:-}" ] && [ -z "\${USERHELPER_UID:-}" ]; then
    SUDO_UID=0; SUDO_GID=0; SUDO_USER=root; export SUDO_UID SUDO_GID SUDO_USER
fi
exec "$VENV/bin/python3" "$VENV/libexec/mock/mock" "\$@"
EOF
    chmod 0755 "$VENV/bin/mock"
    "$VENV/bin/python3" -c 'import templated_dictionary, mockbuild.config'  # imports resolve
    echo "$stamp_venv" > "$VENV/.forklift-stamp"
fi
log "mock $("$VENV/bin/mock" --version 2>&1 | tail -n 1) at $VENV/bin/mock"

# ---------------------------------------------------------------- host wrappers
mkdir -p "$STATE/hostbin"
install -m 0755 "$HERE/files/dnf-3" "$STATE/hostbin/dnf-3"

# ---------------------------------------------------------------- buildroot RPMs
# prune_tree TREE: what the RPM must not carry (mock manages /dev, /proc, /sys,
# resolv.conf, hosts, machine-id, localtime; no Debian package state) plus the
# Fedora-isms: /bin/sh is bash, our rpm macros, /usr/lib64 in the loader path.
prune_tree() {
    local t=$1
    find "$t/dev" "$t/proc" "$t/sys" "$t/tmp" "$t/var/tmp" "$t/run" "$t/var/log" "$t/var/cache" \
        -mindepth 1 -maxdepth 1 ! -path "$t/run/lock" -exec rm -rf {} +
    rm -rf "$t/var/lib/dpkg" "$t/var/lib/apt" "$t/etc/apt" "$t/etc/resolv.conf" "$t/etc/hostname" \
        "$t/etc/hosts" "$t/etc/machine-id" "$t/etc/localtime" "$t/etc/fstab" "$t/usr/share/doc" \
        "$t/usr/share/man" "$t/usr/share/info" "$t/usr/share/locale" "$t/usr/share/lintian"
    find "$t" -name '__pycache__' -prune -exec rm -rf {} +
    ln -sfn bash "$t/usr/bin/sh"
    # the host's rpm --root, run by mock with HOME=/builddir, reads Debian's ~/.rpmdb
    mkdir -p "$t/builddir" && ln -sfn ../var/lib/rpm "$t/builddir/.rpmdb"
    mkdir -p "$t/usr/lib/rpm/debian" "$t/etc/ld.so.conf.d" "$t/etc/profile.d" "$t/usr/lib64/pkgconfig"
    install -m 0644 "$HERE/files/macros.buildroot" "$t/usr/lib/rpm/debian/macros"
    install -m 0644 "$HERE/files/rpmrc" "$t/usr/lib/rpm/debian/rpmrc"
    echo /usr/lib64 > "$t/etc/ld.so.conf.d/forklift-lib64.conf"
    printf '%s\n' '# Fedora puts .pc files in /usr/lib64/pkgconfig; Debian pkgconf does not look there' \
        'export PKG_CONFIG_PATH=/usr/lib64/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}' \
        > "$t/etc/profile.d/forklift-pkgconfig.sh"
    chroot "$t" /sbin/ldconfig
}

# debian_tree TREE PKGS...: mmdebstrap a bookworm root file system
debian_tree() {
    local t=$1; shift
    rm -rf "$t"
    timeout 1800 mmdebstrap --mode=root --variant=essential --include="$(echo "$@" | tr ' \n' ',,')" \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
        --dpkgopt='path-exclude=/usr/share/lintian/*' \
        "$SUITE" "$t" "deb $DEBIAN_MIRROR $SUITE main" "deb $DEBIAN_MIRROR $SUITE-updates main" \
        "deb $DEBIAN_SECURITY $SUITE-security main" > "$t.log" 2>&1 \
        || { tail -n 30 "$t.log" >&2; echo "setup.sh: mmdebstrap failed, log: $t.log" >&2; exit 1; }
    dpkg-query --admindir="$t/var/lib/dpkg" -W -f '${Package}\t${Version}\n' | sort > "$t.pkgs"
}

# rpm_from_tree KIND TREE VERSION RELEASE [mkspec args...]
rpm_from_tree() {
    local kind=$1 tree=$2 ver=$3 rel=$4; shift 4
    local out=$BR/spec-$kind
    rm -rf "$out" && mkdir -p "$out"
    /usr/bin/python3 "$HERE/files/mkspec.py" "$kind" "$tree" "$out" --version "$ver" --release "$rel" \
        --payload "$PAYLOAD" "$@"
    local name=forklift-buildroot; [ "$kind" = go ] && name=forklift-buildroot-go
    timeout 3600 rpmbuild -bb --noclean --nocheck --buildroot "$tree" \
        --define "_topdir $out/top" --define "_builddir $out" --define "_rpmdir $out/rpms" \
        --define '_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm' \
        "$out/$name.spec" > "$out/rpmbuild.log" 2>&1 \
        || { tail -n 30 "$out/rpmbuild.log" >&2; echo "setup.sh: rpmbuild failed: $out/rpmbuild.log" >&2; exit 1; }
    mkdir -p "$STATE/repo"
    rm -f "$STATE/repo/$name"-[0-9]*.rpm
    mv "$out/rpms/$name-$ver-$rel.x86_64.rpm" "$STATE/repo/"
}

# what the buildroot RPMs are made from (not the rest of this script)
inputs_hash() { cat "$HERE/files/mkspec.py" "$HERE/files/macros.buildroot" "$HERE/files/rpmrc" \
    <(declare -f prune_tree debian_tree rpm_from_tree; echo "$SUITE $DEBIAN_MIRROR $PAYLOAD $*") \
    | sha256sum | cut -c1-12; }

# build_base: (re)build forklift-buildroot; the go extras, built
# against one base, go with the old one
build_base() {
    log "buildroot: mmdebstrap $SUITE ($(echo $BASE_PKGS | wc -w) packages + Essential)"
    debian_tree "$BR/tree-base" $BASE_PKGS
    prune_tree "$BR/tree-base"
    local ver rel
    ver=$(cat "$BR/tree-base/etc/debian_version")
    rel=$(date -u +%Y%m%d%H%M)
    log "buildroot: rpmbuild forklift-buildroot-$ver-$rel ($(du -sh "$BR/tree-base" | cut -f1) tree)"
    rpm_from_tree base "$BR/tree-base" "$ver" "$rel" --pkgs "$BR/tree-base.pkgs"
    cp "$BR/spec-base/base.paths" "$BR/base.paths"
    cp "$BR/tree-base.pkgs" "$BR/base.pkgs"
    echo "$ver-$rel" > "$BR/base.evr"
    rm -rf "$BR/tree-base"
    rm -f "$BR/go.stamp" "$STATE/repo"/forklift-buildroot-go-[0-9]*.rpm
    echo "$base_hash" > "$BR/base.stamp"
    repo_dirty=1
}

mkdir -p "$BR" "$STATE/repo"
repo_dirty=0
base_hash=$(inputs_hash "$BASE_PKGS")
if [ "$REBUILD_BUILDROOT" = 1 ] || ! ls "$STATE/repo"/forklift-buildroot-[0-9]*.rpm >/dev/null 2>&1 \
    || [ ! -f "$BR/base.paths" ] || [ "$(cat "$BR/base.stamp" 2>/dev/null)" != "$base_hash" ]; then
    build_base
fi

if [ "$WITH_GO" = 1 ]; then
    [ -x "$GO_ROOT_SRC/bin/go" ] || { echo "setup.sh: no Go toolchain at $GO_ROOT_SRC (GO_ROOT_SRC)" >&2; exit 1; }
    go_ver=$("$GO_ROOT_SRC/bin/go" env GOVERSION | sed 's/^go//')
    rust_ver=
    if [ -n "$RUST_SYSROOT" ] && [ -x "$RUST_SYSROOT/bin/rustc" ]; then
        rust_ver=$("$RUST_SYSROOT/bin/rustc" --version | awk '{print $2}')
    fi
    go_ver="$go_ver${rust_ver:+ rust $rust_ver}"
    go_hash=$(inputs_hash "$BASE_PKGS $GO_EXTRA $(cat "$BR/base.evr") $go_ver")
    if [ "$(cat "$BR/go.stamp" 2>/dev/null)" != "$go_hash" ] \
        || ! ls "$STATE/repo"/forklift-buildroot-go-[0-9]*.rpm >/dev/null 2>&1; then
        log "buildroot-go: mmdebstrap $SUITE (base + $(echo $GO_EXTRA | wc -w) packages)"
        debian_tree "$BR/tree-go" $BASE_PKGS $GO_EXTRA
        # the base RPM must carry exactly the package versions this tree has
        if ! join -t "$(printf '\t')" "$BR/base.pkgs" "$BR/tree-go.pkgs" \
            | awk -F'\t' '$2 != $3 { bad = 1 } END { exit bad }'; then
            log "buildroot-go: the Debian archive moved since forklift-buildroot was built: rebuilding it"
            build_base
        fi
        prune_tree "$BR/tree-go"
        mkdir -p "$BR/tree-go/usr/lib/golang"
        (cd "$GO_ROOT_SRC" && tar -c --exclude=__pycache__ --exclude=__init__.py .) | tar -x -C "$BR/tree-go/usr/lib/golang"
        ln -sfn ../lib/golang/bin/go "$BR/tree-go/usr/bin/go"
        ln -sfn ../lib/golang/bin/gofmt "$BR/tree-go/usr/bin/gofmt"
        rust_args=()
        if [ -n "$rust_ver" ]; then
            # rustc, cargo and the target's std; not the docs (share/) or the extra tools
            mkdir -p "$BR/tree-go/usr/lib/rust/bin"
            cp -a "$RUST_SYSROOT/bin/rustc" "$RUST_SYSROOT/bin/cargo" "$BR/tree-go/usr/lib/rust/bin/"
            cp -a "$RUST_SYSROOT/lib" "$BR/tree-go/usr/lib/rust/"
            ln -sfn ../lib/rust/bin/rustc "$BR/tree-go/usr/bin/rustc"
            ln -sfn ../lib/rust/bin/cargo "$BR/tree-go/usr/bin/cargo"
            rust_args=(--rust-version "$rust_ver")
        fi
        base_evr=$(cat "$BR/base.evr")
        log "buildroot-go: rpmbuild forklift-buildroot-go-$base_evr (Go $go_ver)"
        rpm_from_tree go "$BR/tree-go" "${base_evr%-*}" "${base_evr#*-}" --pkgs "$BR/tree-go.pkgs" \
            --base-paths "$BR/base.paths" --goroot-version "${go_ver%% *}" "${rust_args[@]}"
        rm -rf "$BR/tree-go"
        inputs_hash "$BASE_PKGS $GO_EXTRA $base_evr $go_ver" > "$BR/go.stamp"
        repo_dirty=1
    fi
fi

if [ "$repo_dirty" = 1 ] || [ ! -f "$STATE/repo/repodata/repomd.xml" ]; then
    log "createrepo_c $STATE/repo (and drop mock's root caches: they hold the old buildroot)"
    createrepo_c -q --update "$STATE/repo"
    rm -rf "$STATE"/cache/*/root_cache "$STATE"/cache/*/dnf_cache
fi

# ---------------------------------------------------------------- config dir
# Files are rewritten only when their content changes: mock's root cache is
# invalidated by config files newer than the cache.
put() { local dest=$1 tmp; tmp=$(mktemp); cat > "$tmp"
    if cmp -s "$tmp" "$dest"; then rm -f "$tmp"; else mv "$tmp" "$dest"; chmod 0644 "$dest"; fi; }
mkdir -p "$CONFDIR/templates" "$STATE/lib" "$STATE/cache"
put "$CONFDIR/logging.ini" < "$STATE/src/mock-tree/mock/etc/mock/logging.ini"
cat "$STATE/src/mock-tree/mock-core-configs/etc/mock/site-defaults.cfg" \
    <(sed "s|@STATE@|$STATE|g" "$HERE/files/site-defaults.cfg.in") | put "$CONFDIR/site-defaults.cfg"
sed "s|@STATE@|$STATE|g" "$HERE/files/forklift-buildroot.tpl" | put "$CONFDIR/templates/forklift-buildroot.tpl"

# write_chroot NAME RELEASEVER DIST MACRO=VALUE...
write_chroot() {
    local name=$1 releasever=$2 dist=$3; shift 3
    {
        echo "# Stand-in for mock-core-configs' $name.cfg on a Debian host: same name and"
        echo "# macros; the chroot is the local Debian-userland buildroot (tests/builds/realmock)."
        echo "config_opts['root'] = '$name'"
        echo "config_opts['target_arch'] = 'x86_64'"
        echo "config_opts['legal_host_arches'] = ('x86_64',)"
        echo "config_opts['releasever'] = '$releasever'"
        echo "config_opts['dist'] = '${dist#.}'  # only useful for --resultdir variable subst"
        echo "config_opts['description'] = '$name (Forklift stand-in, Debian 12 userland)'"
        echo "# what the distro's release package (macros.dist) defines in a real chroot"
        echo "config_opts['macros']['%dist'] = '$dist'"
        for m in "$@"; do echo "config_opts['macros']['%${m%%=*}'] = '${m#*=}'"; done
        echo "include('templates/forklift-buildroot.tpl')"
    } | put "$CONFDIR/$name.cfg"
}
write_chroot fedora-44-x86_64 44 .fc44 fedora=44 fc44=1
write_chroot fedora-45-x86_64 45 .fc45 fedora=45 fc45=1
write_chroot fedora-rawhide-x86_64 46 .fc46 fedora=46 fc46=1
write_chroot centos-stream-9-x86_64 9 .el9 rhel=9 el9=1 centos=9
write_chroot centos-stream-10-x86_64 10 .el10 rhel=10 el10=1 centos=10
write_chroot centos-stream+epel-9-x86_64 9 .el9 rhel=9 el9=1 centos=9 epel=9
write_chroot centos-stream+epel-10-x86_64 10 .el10 rhel=10 el10=1 centos=10 epel=10

cat > "$STATE/env.sh" <<EOF
# source me: mock from tests/builds/realmock on PATH
export PATH="$VENV/bin:\$PATH"
export FORKLIFT_MOCK_CONFIG_DIR="$CONFDIR"
EOF
log "done: $VENV/bin/mock --configdir $CONFDIR -r fedora-45-x86_64 --rebuild X.src.rpm"
log "Forklift with this mock: . $STATE/env.sh; then invoke build --builder mock, or .venv/bin/pytest tests/builds/test_mock.py"
ls -l "$STATE/repo"/*.rpm | awk '{printf "  %s %d MB\n", $NF, $5/1048576}'
