#!/usr/bin/env bash
# Benchmarks/first-file.sh — time to the first priority file of a restore over HTTPS.
#
# Usage: Benchmarks/first-file.sh [--size-mib N] [--files N] [--first GLOB] [--keep]
#
# Generates the benchmark plan folder (make-plan-folder.py; default 1024 MiB in 5000 files, as
# Benchmarks/run.sh), pushes it to a PlanVault server on loopback HTTPS (`planvault serve`), then
# restores it as a bare machine would (fresh HOME, no cache) with `--first GLOB` (default
# 'Call tree*', the call trees in Contacts/). Prints the seconds from the start of the restore
# to its first and last `ready:` line (priority files complete and on disk) and to the end,
# and checks the restored tree is identical to the source.
set -euo pipefail

SIZE_MIB=1024
FILES=5000
FIRST='Call tree*'
KEEP=0
while (($#)); do
  case "$1" in
    --size-mib) SIZE_MIB=${2:?--size-mib needs a value}; shift 2 ;;
    --files) FILES=${2:?--files needs a value}; shift 2 ;;
    --first) FIRST=${2:?--first needs a value}; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "first-file.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
source "$SCRIPT_DIR/planvault-binary.sh"

WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/planvault-first.XXXXXX")
SERVER_PID=""
cleanup() {
  [[ -z $SERVER_PID ]] || kill "$SERVER_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  if ((KEEP)); then echo "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
cd "$WORK"
unset PLANVAULT_KEYS_FILE PLANVAULT_REPO PLANVAULT_SERVER_TOKEN PLANVAULT_CACHE_DIR
export PLANVAULT_PASSPHRASE="first-file benchmark passphrase"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout key.pem -out cert.pem 2>/dev/null
chmod 600 key.pem
mkdir -p serverroot
export PLANVAULT_SERVER_TOKEN=$("$PV" serve token add --file tokens.json --role agent --repo '*' 2>/dev/null)
export PLANVAULT_CACERT=$WORK/cert.pem
"$PV" serve --root serverroot --tokens tokens.json --tls-cert cert.pem --tls-key key.pem --listen 127.0.0.1:0 \
  --port-file port --quiet >server.log 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 3000); do [[ -s port ]] && break; sleep 0.01; done
[[ -s port ]] || { echo "first-file.sh: server did not start" >&2; cat server.log >&2; exit 1; }
REPO=https://$(cat port)/bench

echo "[generate] $SIZE_MIB MiB, $FILES files"
python3 "$SCRIPT_DIR/make-plan-folder.py" data/plans --size-mib "$SIZE_MIB" --files "$FILES" --seed 1 | sed 's/^/  /'
echo "[push] to $REPO"
PLANVAULT_CACHE_DIR=$WORK/cache "$PV" init --repo "$REPO" >/dev/null
PLANVAULT_CACHE_DIR=$WORK/cache "$PV" push --repo "$REPO" --quiet data/plans

echo "[restore] --first '$FIRST', fresh HOME, no cache"
mkdir -p home
# Timestamps each stdout line as it arrives; prints "first last end count status".
read -r T_FIRST T_LAST T_END COUNT STATUS < <(python3 - "$PV" restore latest --repo "$REPO" --to restored --no-cache \
  --first "$FIRST" <<'PY'
import os, subprocess, sys, time
env = dict(os.environ, HOME=os.path.abspath("home"))
start = time.monotonic()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=open("restore.err", "w"), env=env)
ready = []
with open("restore.out", "w") as log:
    for line in proc.stdout:
        now = time.monotonic() - start
        log.write(f"{now:8.3f} {line.decode(errors='replace')}")
        if line.startswith(b"ready: "):
            ready.append(now)
status = proc.wait()
end = time.monotonic() - start
first = f"{ready[0]:.2f}" if ready else "-"
last = f"{ready[-1]:.2f}" if ready else "-"
print(first, last, f"{end:.2f}", len(ready), status)
PY
)

RESULT=PASS
if [[ $STATUS != 0 ]]; then RESULT=FAIL; echo "restore exited $STATUS:" >&2; tail -5 restore.err >&2; fi
if ! diff -r data/plans restored/plans >/dev/null; then RESULT=FAIL; echo "restored tree differs from the source" >&2; fi
((COUNT > 0)) || { RESULT=FAIL; echo "no file matched --first '$FIRST'" >&2; }

echo
echo "restore over HTTPS ($(du -sh data/plans | cut -f1) in $(find data/plans -type f | wc -l) files, $(nproc) cores):"
printf '  %-34s %8s s\n' "first priority file on disk" "$T_FIRST" "last priority file ($COUNT files)" "$T_LAST" "whole restore" "$T_END"
echo "result: $RESULT"
[[ $RESULT == PASS ]]
