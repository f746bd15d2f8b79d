#!/usr/bin/env bash
# Package test, run after scripts/package.sh (CI: .ci/run). Checks that
#   1. the packaged binary needs no Swift library: `ldd` lists no libswift*, and nothing is missing;
#   2. it runs init, push and restore with the toolchain folder (/opt/swift) hidden under an empty
#      tmpfs in a private mount namespace, as on a machine that never had Swift;
#   3. the .deb installs (binary, man pages, example config, systemd units that
#      `systemd-analyze verify` accepts), removes and purges with dpkg.
# Needs root (or an unprivileged user namespace for step 2; dpkg needs root for step 3).
# Usage: Tests/package/run.sh [DIST_DIR]   (default: dist)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
dist=${1:-dist}

fail() { echo "package test: FAILED: $*" >&2; exit 1; }
pass() { echo "package test: ok: $*"; }

shopt -s nullglob
tarballs=("$dist"/planvault-*-linux-x86_64.tar.gz)
debs=("$dist"/planvault_*_amd64.deb)
shopt -u nullglob
((${#tarballs[@]} == 1)) || fail "expected one $dist/planvault-VERSION-linux-x86_64.tar.gz, found ${#tarballs[@]}: run scripts/package.sh first"
((${#debs[@]} == 1)) || fail "expected one $dist/planvault_VERSION_amd64.deb, found ${#debs[@]}: run scripts/package.sh first"

work=$(mktemp -d)
installed=0
cleanup() {
  if ((installed)); then dpkg --purge planvault >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

tar -C "$work" -xzf "${tarballs[0]}"
bin=$(echo "$work"/planvault-*-linux-x86_64/planvault)
[[ -x $bin ]] || fail "the tarball holds no planvault-VERSION-linux-x86_64/planvault"
for f in man/man1/planvault.1.gz planvault.toml.example Keys.example README.md \
         systemd/planvault-push.service systemd/planvault-push.timer systemd/planvault-verify.service systemd/planvault-verify.timer; do
  [[ -f $(dirname "$bin")/$f ]] || fail "the tarball lacks $f"
done
pass "tarball layout"

# 1. Libraries.
libs=$(ldd "$bin")
if grep -q 'libswift' <<<"$libs"; then fail "ldd lists Swift libraries: $(grep libswift <<<"$libs" | tr -s ' \t' ' ')"; fi
if grep -q 'not found' <<<"$libs"; then fail "ldd lists missing libraries: $(grep 'not found' <<<"$libs")"; fi
if grep -q 'libcrypto' <<<"$libs"; then fail "libcrypto is linked dynamically (the package links it statically)"; fi
pass "ldd lists no libswift* and no libcrypto, and nothing missing"

# 2. init, push, restore without the toolchain. util-linux's unshare makes the new namespace's
# mounts private, so the tmpfs never shows outside it.
mkdir -p "$work/plans/finance" "$work/bare-home"
printf 'Call tree: ring the duty officer first.\n' >"$work/plans/call-tree.txt"
head -c 300000 /dev/urandom >"$work/plans/finance/ledger.bin"
ln -s call-tree.txt "$work/plans/latest"
unshare_flags=(-m)
[[ $(id -u) -eq 0 ]] || unshare_flags=(-r -m)
# shellcheck disable=SC2016  # expanded by the inner shell
unshare "${unshare_flags[@]}" env -i PATH=/usr/bin:/bin HOME="$work/bare-home" PLANVAULT_PASSPHRASE="package test passphrase" \
  BIN="$bin" WORK="$work" bash -euo pipefail -c '
    mount -t tmpfs -o size=1m none /opt/swift
    [[ -z $(ls -A /opt/swift) ]] || { echo "the toolchain folder is still visible" >&2; exit 1; }
    ! command -v swift >/dev/null || { echo "swift is still on PATH" >&2; exit 1; }
    "$BIN" --version
    "$BIN" init --repo "$WORK/repo"
    "$BIN" push --repo "$WORK/repo" "$WORK/plans"
    "$BIN" restore latest --repo "$WORK/repo" --to "$WORK/restored"
    diff -r --no-dereference "$WORK/plans" "$WORK/restored/plans"
  ' >"$work/hidden.log" 2>&1 || { cat "$work/hidden.log" >&2; fail "init, push or restore without the toolchain"; }
[[ -n $(ls -A /opt/swift 2>/dev/null) ]] || fail "/opt/swift looks empty outside the namespace: the test hid the wrong thing"
pass "init, push and restore with /opt/swift hidden; the restore is identical"

# 3. The Debian package.
if dpkg-query -W -f='${Status}' planvault 2>/dev/null | grep -q "install ok installed"; then
  fail "a planvault package is already installed on this machine; remove it first (dpkg --purge planvault)"
fi
if ! command -v systemd-analyze >/dev/null; then
  echo "package test: installing systemd for systemd-analyze" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null \
    || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null; }
fi
installed=1
dpkg -i "${debs[0]}" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -i"; }
for f in /usr/bin/planvault /etc/planvault/planvault.toml.example /usr/share/man/man1/planvault.1.gz \
         /usr/share/man/man1/planvault.restore.1.gz /usr/share/doc/planvault/README.md \
         /lib/systemd/system/planvault-push.service /lib/systemd/system/planvault-push.timer \
         /lib/systemd/system/planvault-verify.service /lib/systemd/system/planvault-verify.timer; do
  [[ -f $f ]] || fail "the package did not install $f"
done
[[ $(/usr/bin/planvault --version) == $("$bin" --version) ]] || fail "/usr/bin/planvault is not the packaged binary"
zcat /usr/share/man/man1/planvault.1.gz | grep -q '^\.Dt PLANVAULT 1' || fail "planvault.1 is not a section 1 manual page"
zcat /usr/share/man/man1/planvault.restore.1.gz | grep -q -- '^\.It Fl -to Ar DIR' || fail "planvault.restore.1 does not describe restore's --to"
pass "dpkg -i installs binary, man pages, example config and units"
# `systemd-analyze verify` checks syntax, directives and that ExecStart's binary exists.
systemd-analyze verify /lib/systemd/system/planvault-push.service /lib/systemd/system/planvault-push.timer \
  /lib/systemd/system/planvault-verify.service /lib/systemd/system/planvault-verify.timer >"$work/analyze.log" 2>&1 \
  || { cat "$work/analyze.log" >&2; fail "systemd-analyze verify refused the units"; }
if grep -i "planvault" "$work/analyze.log"; then fail "systemd-analyze verify warned about the units"; fi
grep -q '^OnCalendar=\*-\*-\* ' /lib/systemd/system/planvault-push.timer || fail "the push timer is not daily"
grep -q '^OnCalendar=Mon ' /lib/systemd/system/planvault-verify.timer || fail "the verify timer is not weekly"
pass "systemd-analyze verify accepts the units"

dpkg -r planvault >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -r"; }
[[ ! -e /usr/bin/planvault && ! -e /lib/systemd/system/planvault-push.service ]] || fail "dpkg -r left the binary or units"
[[ -f /etc/planvault/planvault.toml.example ]] || fail "dpkg -r removed the configuration (it must stay until purge)"
dpkg -P planvault >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -P"; }
installed=0
[[ ! -e /etc/planvault/planvault.toml.example ]] || fail "dpkg -P left the example config"
! dpkg-query -W planvault >/dev/null 2>&1 || fail "dpkg still knows the package after purge"
pass "dpkg -r keeps the configuration, dpkg -P removes it"
echo "package test: all passed"
