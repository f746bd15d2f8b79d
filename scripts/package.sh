#!/usr/bin/env bash
# Builds the release packages into dist/:
#   dist/planvault-VERSION-linux-x86_64.tar.gz   the binary, man pages, examples, systemd units
#   dist/planvault_VERSION_amd64.deb             the same, installed as a Debian package
# The binary carries the Swift runtime and Foundation (--static-swift-stdlib) and OpenSSL's
# libcrypto (PLANVAULT_STATIC_LIBS=1, see Package.swift). It still needs glibc, libstdc++, libgcc_s,
# zlib (libz.so.1) and libxml2 (Foundation's XML parser), which the .deb depends on.
#
# Usage: scripts/package.sh [--scratch-path DIR] [--config release|debug]
#   --scratch-path DIR   SwiftPM build folder for the release build (default: PLANVAULT_RELEASE_SCRATCH,
#                        then .build-release); a warm one saves most of the ~20 minutes of a cold build.
#   --config CONFIG      release (default, what is shipped; PLANVAULT_PACKAGE_CONFIG) or debug: the same
#                        static linking and packaging with an unoptimised build, a quarter of the time,
#                        which is how CI checks the packaging path within its time limit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh

scratch=${PLANVAULT_RELEASE_SCRATCH:-$PWD/.build-release}
config=${PLANVAULT_PACKAGE_CONFIG:-release}
while (($#)); do
  case $1 in
    --scratch-path) scratch=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    *) echo "package: unknown argument $1 (usage: scripts/package.sh [--scratch-path DIR] [--config release|debug])" >&2; exit 64 ;;
  esac
done
[[ $config == release || $config == debug ]] || { echo "package: --config is release or debug, not \"$config\"" >&2; exit 64; }

for tool in dpkg-deb gzip strip readelf; do
  command -v "$tool" >/dev/null || { echo "package: $tool is missing (apt-get install dpkg-dev binutils gzip)" >&2; exit 1; }
done
for lib in libcrypto.a; do
  [[ -f /usr/lib/x86_64-linux-gnu/$lib ]] || { echo "package: /usr/lib/x86_64-linux-gnu/$lib is missing (apt-get install libssl-dev)" >&2; exit 1; }
done

# The same environment for every SwiftPM call below: a changed manifest would rebuild everything.
export PLANVAULT_STATIC_LIBS=1
# SwiftPM reuses a cached build plan whose options may differ (--static-swift-stdlib is not part of
# its key: a plan made by a plain `swift build -c release` or a plugin would link the Swift runtime
# dynamically). Removing the cached plan makes it plan again with the options below.
rm -f "$scratch/$config.yaml" "$scratch/x86_64-unknown-linux-gnu/$config/description.json"
echo "package: $config build in $scratch (about 20 minutes when cold for release, 5 for debug)" >&2
swift build -c "$config" --static-swift-stdlib --product planvault --scratch-path "$scratch"
bin="$scratch/$config/planvault"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$bin" "$work/planvault"
strip "$work/planvault"
version=$("$work/planvault" --version)
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "package: unexpected version \"$version\" from the binary" >&2; exit 1; }

# Refuse a binary that needs a library beyond the ones the .deb depends on: the C/C++ runtime,
# zlib (libz.so.1, see Package.swift; zlib1g is a "required" Debian package) and libxml2
# (Foundation's XML parser, used for S3 replies).
needed=$(readelf -d "$work/planvault" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
unexpected=$(grep -vE '^(libc\.so\.6|libm\.so\.6|libstdc\+\+\.so\.6|libgcc_s\.so\.1|ld-linux-x86-64\.so\.2|libz\.so\.1|libxml2\.so\.2)$' <<<"$needed" || true)
if [[ -n $unexpected ]]; then
  echo "package: the binary needs libraries the package does not depend on:" $unexpected >&2
  exit 1
fi

# Man pages from the command's own help, by the tool behind argument-parser's generate-manual
# plugin. `swift package plugin generate-manual` would first rebuild the whole package in release
# without the static runtime (another ~20 minutes here), so the script builds the plugin's tool
# (the `generate-manual` product of the same argument-parser checkout) with the options above and
# runs it on the packaged binary, as the plugin does.
echo "package: man pages (argument-parser's generate-manual)" >&2
swift build -c "$config" --static-swift-stdlib --product generate-manual --scratch-path "$scratch"
mandir="$work/man"
mkdir -p "$mandir"
"$scratch/$config/generate-manual" "$work/planvault" --multi-page --authors "PlanVault engineers" \
  ${SOURCE_DATE_EPOCH:+--date "$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)"} --output-directory "$mandir"
[[ -f $mandir/planvault.1 && -f $mandir/planvault.restore.1 ]] || { echo "package: the man pages were not generated" >&2; exit 1; }

# The file tree both packages share.
stage() {
  local root=$1 bindir=$2 mandest=$3 etc=$4 units=$5 doc=$6
  install -d "$root$bindir" "$root$mandest" "$root$etc" "$root$units" "$root$doc"
  install -m 755 "$work/planvault" "$root$bindir/planvault"
  for page in "$mandir"/*.1; do
    gzip -9n <"$page" >"$root$mandest/$(basename "$page").gz"
    chmod 644 "$root$mandest/$(basename "$page").gz"
  done
  install -m 644 Examples/planvault.toml "$root$etc/planvault.toml.example"
  install -m 644 packaging/systemd/planvault-push.service packaging/systemd/planvault-push.timer \
    packaging/systemd/planvault-verify.service packaging/systemd/planvault-verify.timer "$root$units/"
  install -m 644 README.md FORMAT.md Keys.example "$root$doc/"
}

mkdir -p dist
name="planvault-$version-linux-x86_64"
stage "$work/$name" "" /man/man1 "" /systemd ""
tar -C "$work" --owner=0 --group=0 --numeric-owner -czf "dist/$name.tar.gz" "$name"

deb="$work/deb"
stage "$deb" /usr/bin /usr/share/man/man1 /etc/planvault /lib/systemd/system /usr/share/doc/planvault
install -d "$deb/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$deb" | cut -f1)
cat >"$deb/DEBIAN/control" <<EOF
Package: planvault
Version: $version
Architecture: amd64
Maintainer: PlanVault engineers <planvault@localhost>
Installed-Size: $size
Depends: libc6 (>= 2.34), libstdc++6, libgcc-s1, zlib1g, libxml2
Section: admin
Priority: optional
Description: encrypted offsite copies of business-continuity plans
 planvault pushes plan folders into compressed, encrypted, content-addressed
 bundles on a folder, a PlanVault HTTPS server or S3-compatible storage, and
 restores them on a bare machine with only the address and the passphrase.
 Timers: planvault-push.timer (nightly) and planvault-verify.timer (weekly),
 enabled by the administrator once /etc/planvault/planvault.toml exists.
EOF
echo /etc/planvault/planvault.toml.example >"$deb/DEBIAN/conffiles"
# Timers are not enabled on install: they need a config and a keys file first (see README).
cat >"$deb/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
exit 0
EOF
cat >"$deb/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
  systemctl disable --now planvault-push.timer planvault-verify.timer >/dev/null 2>&1 || true
fi
exit 0
EOF
# Purge removes the cache; the administrator's own config and keys files in /etc/planvault are
# theirs, not the package's, and stay (dpkg says the folder is not empty).
cat >"$deb/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = purge ]; then rm -rf /var/cache/planvault; fi
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
exit 0
EOF
chmod 755 "$deb/DEBIAN/postinst" "$deb/DEBIAN/prerm" "$deb/DEBIAN/postrm"
dpkg-deb --root-owner-group -Zxz --build "$deb" "dist/planvault_${version}_amd64.deb" >/dev/null

echo "package: dist/$name.tar.gz" >&2
echo "package: dist/planvault_${version}_amd64.deb" >&2
