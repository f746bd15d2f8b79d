#!/usr/bin/env python3
"""PlanVault reliability campaign: crash injection, corruption, hostile repositories and requests,
operational faults. Drives the real `planvault` binary; prints one table; exits 1 if any row fails.

Run it through run.sh (it builds the binaries and checks the peers); see README "Development"."""
import argparse
import concurrent.futures
import os
import random
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pvrel.common import Stats  # noqa: E402
from pvrel.crash import run_crash  # noqa: E402
from pvrel.corruption import run_corruption  # noqa: E402
from pvrel.hostile import run_hostile  # noqa: E402
from pvrel.operational import run_operational  # noqa: E402
from pvrel.table import print_report  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="5 push kills and 2 server kills per target (for development)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the kill moments and data (default: random, printed)")
    parser.add_argument("--kills", type=int, default=None, help="push kills per target (default 50, --quick 5)")
    parser.add_argument("--server-kills", type=int, default=None, help="server kills per server target (default 20, --quick 2)")
    parser.add_argument("--restore-all-every", type=int, default=None,
                        help="restore every earlier snapshot after every Nth fault, else the oldest and newest; always at the end (default 10, --quick 1)")
    parser.add_argument("--only", default="crash,corruption,hostile,operational", help="comma-separated sections")
    parser.add_argument("--targets", default="directory,https,s3")
    parser.add_argument("--serial", action="store_true", help="crash-test the targets one after another, not at the same time")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()

    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 2**31)
    kills = args.kills if args.kills is not None else (5 if args.quick else 50)
    server_kills = args.server_kills if args.server_kills is not None else (2 if args.quick else 20)
    every = args.restore_all_every if args.restore_all_every is not None else (1 if args.quick else 10)
    sections = set(args.only.split(","))
    work = tempfile.mkdtemp(prefix="planvault-reliability-")
    package = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    started = time.monotonic()

    def log(text):
        print("[%6.1f s] %s" % (time.monotonic() - started, text), flush=True)

    log("seed %d (rerun with --seed %d), binary %s, work %s" % (seed, seed, os.environ["PLANVAULT_BIN"], work))
    report = {"seed": seed, "kills": kills, "server_kills": server_kills, "every": every}
    try:
        if "crash" in sections:
            kinds = args.targets.split(",")
            log("crash injection: %s%s" % (", ".join(kinds), "" if args.serial else ", at the same time"))

            def one(i, kind):
                rng = random.Random(seed * 31 + i)  # one generator per target: the same seed gives the same runs either way
                row = run_crash(kind, os.path.join(work, "crash-" + kind), rng, kills, server_kills, every, log)
                log("crash injection: %s done" % kind)
                return row
            if args.serial:
                rows = [one(i, kind) for i, kind in enumerate(kinds)]
            else:
                with concurrent.futures.ThreadPoolExecutor(len(kinds)) as pool:
                    rows = list(pool.map(one, range(len(kinds)), kinds))
            report["crash"] = dict(zip(kinds, rows))
        if "corruption" in sections:
            log("corruption")
            report["corruption"] = run_corruption(os.path.join(work, "corruption"), random.Random(seed + 1), log)
        if "hostile" in sections:
            log("hostile repositories and requests")
            report["hostile"] = run_hostile(package, os.path.join(work, "hostile"), log)
        if "operational" in sections:
            log("operational faults")
            report["operational"] = run_operational(os.path.join(work, "operational"), random.Random(seed + 2), log)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    report["seconds"] = time.monotonic() - started
    ok = print_report(report, Stats)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
