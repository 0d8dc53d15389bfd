#!/usr/bin/env bash
# Verify the realmock set-up (setup.sh) with real mock builds of a tiny C package:
#   1. fedora-45-x86_64 --rebuild hello          -> exit 0, binary RPM + the five logs
#   2. BuildRequires nobody provides             -> exit 30, root.log "No matching package to install"
#   3. a %build that fails                       -> exit 1 (!), build.log ends with "Bad exit status"
#      (mock 6.x passes rpmbuild's own status up; 10 = BuildError comes only from
#      the dynamic BuildRequires loop, checked in 3b: a failing %generate_buildrequires)
#   4. a config written by Forklift's render_config (include('fedora-45-x86_64.cfg')) -> exit 0
#   5. two builds of one config side by side with --uniqueext -> both exit 0
# Then checks that no mount or mock process is left and scrubs (KEEP_CACHE=1 keeps
# the root caches). Work dir: $WORK (default /tmp/realmock-verify).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
STATE=${FORKLIFT_MOCK_STATE:-$REPO/.cache/mock}
MOCK=$STATE/venv/bin/mock
CONF=$STATE/etc/mock
W=${WORK:-/tmp/realmock-verify}
[ -x "$MOCK" ] || { echo "verify.sh: no $MOCK; run setup.sh first" >&2; exit 1; }

rm -rf "$W" && mkdir -p "$W/src/hello-1.0" "$W/repo"
cat > "$W/src/hello-1.0/hello.c" <<'EOF'
#include <stdio.h>
int main(void) { puts("hello from mock"); return 0; }
EOF
printf 'hello: hello.c\n\t$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $<\n' > "$W/src/hello-1.0/Makefile"
tar -C "$W/src" -czf "$W/src/hello-1.0.tar.gz" hello-1.0

# spec NAME EXTRA_BUILDREQUIRES BUILD_BODY
spec() {
    cat > "$W/src/$1.spec" <<EOF
Name:           $1
Version:        1.0
Release:        1%{?dist}
Summary:        Tiny C package for the realmock verification
License:        MIT
Source0:        hello-1.0.tar.gz
BuildRequires:  gcc
BuildRequires:  make
$2

%description
Prints a greeting.

%prep
%autosetup -n hello-1.0

%build
%set_build_flags
$3

%install
install -D -m 0755 hello %{buildroot}%{_bindir}/$1

%check
./hello | grep -q 'hello from mock'

%files
%{_bindir}/$1

%changelog
* Sat Nov 28 2026 Forklift <forklift@example.org> - 1.0-1
- realmock verification
EOF
    rpmbuild -bs --define "_topdir $W/top" --define "_sourcedir $W/src" "$W/src/$1.spec" >/dev/null
}
spec hello "" "%make_build"
spec hello-missing "BuildRequires:  forklift-nobody-provides-this" "%make_build"
spec hello-fail "" "echo 'failing on purpose' >&2; exit 1"
spec hello-genbr "" "%make_build"
sed -i 's/^%build$/%generate_buildrequires\necho "generator failing on purpose" >\&2; exit 1\n\n%build/' "$W/src/hello-genbr.spec"
rpmbuild -bs --define "_topdir $W/top" --define "_sourcedir $W/src" "$W/src/hello-genbr.spec" >/dev/null
SRPMS=$W/top/SRPMS

fails=0
ok() { echo "  ok: $*"; }
bad() { echo "  FAIL: $*"; fails=$((fails + 1)); }

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# build LABEL EXPECTED_RC MOCK_ARGS... : run mock, report rc and wall time (rc in $W/LABEL.rc)
build() {
    local label=$1 want=$2; shift 2
    local t0 rc=0
    t0=$(date +%s.%N)
    timeout 1200 "$MOCK" "$@" > "$W/$label.out" 2>&1 || rc=$?
    echo "$rc" > "$W/$label.rc"
    printf '%-12s exit %-3s (want %s) %5ss  %s\n' "$label" "$rc" "$want" "$(elapsed "$t0")" "mock $*"
    [ "$rc" = "$want" ] || { bad "$label exited $rc"; tail -n 15 "$W/$label.out"; }
}

logs_present() {
    local r=$1 f
    for f in build.log root.log state.log hw_info.log installed_pkgs.log; do
        [ -s "$r/$f" ] || bad "$r/$f missing or empty"
    done
}

echo "== mock $("$MOCK" --version | tail -n 1), config dir $CONF"

build hello 0 --configdir "$CONF" -r fedora-45-x86_64 --rebuild "$SRPMS/hello-1.0-1.src.rpm" --resultdir "$W/r-hello"
logs_present "$W/r-hello"
if ls "$W/r-hello"/hello-1.0-1.fc45.x86_64.rpm >/dev/null 2>&1; then
    ok "binary RPM: $(cd "$W/r-hello" && ls ./*.rpm | tr '\n' ' ')"
    (cd "$W" && rpm2cpio r-hello/hello-1.0-1.fc45.x86_64.rpm | cpio -idm --quiet ./usr/bin/hello) \
        && [ "$("$W/usr/bin/hello")" = "hello from mock" ] && ok "the built binary runs on the host" \
        || bad "the built binary does not run"
else
    bad "no hello-1.0-1.fc45.x86_64.rpm in $W/r-hello"
fi
grep -q '^forklift-buildroot-' "$W/r-hello/installed_pkgs.log" && ok "installed_pkgs.log lists the buildroot" \
    || bad "installed_pkgs.log does not list forklift-buildroot"

build missing-br 30 --configdir "$CONF" -r fedora-45-x86_64 --rebuild "$SRPMS/hello-missing-1.0-1.src.rpm" --resultdir "$W/r-missing"
grep -q "No matching package to install: 'forklift-nobody-provides-this'" "$W/r-missing/root.log" \
    && ok "root.log: $(grep -m1 -o "No matching package to install: '[^']*'" "$W/r-missing/root.log")" \
    || bad "root.log lacks 'No matching package to install'"

build build-fail 1 --configdir "$CONF" -r fedora-45-x86_64 --rebuild "$SRPMS/hello-fail-1.0-1.src.rpm" --resultdir "$W/r-fail"
# rpmbuild's last words, then mock's "Child return code was: 1"
last=$(grep -v '^\s*$' "$W/r-fail/build.log" | tail -n 3 | grep -m1 'Bad exit status from' || true)
case $last in *"Bad exit status from"*"(%build)"*) ok "build.log ends: $last" ;; *) bad "build.log ends: $(tail -n 3 "$W/r-fail/build.log")" ;; esac

build genbr-fail 10 --configdir "$CONF" -r fedora-45-x86_64 --rebuild "$SRPMS/hello-genbr-1.0-1.src.rpm" --resultdir "$W/r-genbr"
grep -q 'Bad exit status from .*(%generate_buildrequires)' "$W/r-genbr/build.log" \
    && ok "build.log: $(grep -m1 -o 'Bad exit status from .*(%generate_buildrequires)' "$W/r-genbr/build.log")" \
    || bad "build.log lacks the %generate_buildrequires failure"

# a config the way Forklift writes it (tooling/builds/builders/mock.py)
createrepo_c -q "$W/repo"
(cd "$REPO" && .venv/bin/python -c "from tooling import model; from tooling.builds.builders.mock import render_config; from pathlib import Path; print(render_config(model.load().targets['fedora-45'], Path('$W/repo'), isolation='simple'), end='')") > "$W/forklift-fedora-45.cfg"
sed 's/^/    | /' "$W/forklift-fedora-45.cfg"
build forklift-cfg 0 --configdir "$CONF" -r "$W/forklift-fedora-45.cfg" --rebuild "$SRPMS/hello-1.0-1.src.rpm" --resultdir "$W/r-forklift"
logs_present "$W/r-forklift"
ls "$W/r-forklift"/hello-1.0-1.fc45.x86_64.rpm >/dev/null 2>&1 && ok "forklift config: hello-1.0-1.fc45.x86_64.rpm" \
    || bad "forklift config: no binary RPM"

# two builds of one config side by side
t0=$(date +%s.%N)
build uniq-a 0 --configdir "$CONF" -r fedora-45-x86_64 --uniqueext a --rebuild "$SRPMS/hello-1.0-1.src.rpm" --resultdir "$W/r-a" &
pa=$!
build uniq-b 0 --configdir "$CONF" -r fedora-45-x86_64 --uniqueext b --rebuild "$SRPMS/hello-1.0-1.src.rpm" --resultdir "$W/r-b" &
pb=$!
wait $pa $pb
echo "uniqueext a+b side by side: $(elapsed "$t0")s wall"
for x in a b; do
    [ "$(cat "$W/uniq-$x.rc")" = 0 ] && ls "$W/r-$x"/hello-1.0-1.fc45.x86_64.rpm >/dev/null 2>&1 \
        && ok "uniqueext $x: hello-1.0-1.fc45.x86_64.rpm" || bad "uniqueext $x failed"
done

# nothing left behind
if findmnt -rn -o TARGET | grep -qF "$STATE/lib/"; then bad "mounts left: $(findmnt -rn -o TARGET | grep -F "$STATE/lib/" | tr '\n' ' ')"; else ok "no mounts left under $STATE/lib"; fi
if pgrep -f "$STATE/venv/libexec/mock/mock" >/dev/null; then bad "mock processes left: $(pgrep -f "$STATE/venv/libexec/mock/mock" | tr '\n' ' ')"; else ok "no mock process left"; fi
if [ "${KEEP_CACHE:-0}" != 1 ]; then
    "$MOCK" --configdir "$CONF" -r fedora-45-x86_64 --scrub=all >/dev/null 2>&1
    "$MOCK" --configdir "$CONF" -r "$W/forklift-fedora-45.cfg" --scrub=all >/dev/null 2>&1
    ok "scrubbed (mock --scrub=all)"
fi
[ "$fails" = 0 ] && echo "== all checks passed" || { echo "== $fails check(s) failed"; exit 1; }
