# Sourced by the benchmark scripts: puts swift on PATH and sets PV to a release planvault,
# built from this checkout unless PLANVAULT_BIN names one.
case ":$PATH:" in *:/opt/swift/usr/bin:*) ;; *) export PATH="$PATH:/opt/swift/usr/bin" ;; esac
if [[ -z ${PLANVAULT_BIN:-} ]]; then
  echo "building planvault (release)..."
  (cd "$REPO_ROOT" && swift build -c release --product planvault >/dev/null)
  PLANVAULT_BIN="$(cd "$REPO_ROOT" && swift build -c release --show-bin-path)/planvault"
fi
PV=$PLANVAULT_BIN
