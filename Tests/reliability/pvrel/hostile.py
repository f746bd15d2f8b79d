"""Hostile repositories and hostile requests: the XCTests that build them, and the real CLI restoring them."""
import os
import re
import shutil
import subprocess

from .common import Stats, base_env, planvault_lines, run

CASE = re.compile(r"Test Case '-?\[?([\w.]+)[ .](\w+)\]?' (passed|failed|skipped) \(([\d.]+) seconds\)")
# Stated bounds for restoring a hostile repository with the CLI (FORMAT.md §14: a snapshot's payload stops at
# 256 MiB; everything else is checked before allocating).
MEMORY_BOUND_MIB = 512
TIME_BOUND_S = 60
ABSOLUTE_ESCAPE = "/tmp/planvault-hostile-absolute-escape.csv"


def swift_tests(package, filter_, env_extra=None):
    """Runs XCTest classes with the already-built test bundle; returns [(class.test, passed, seconds)]."""
    env = dict(os.environ)
    env.update(env_extra or {})
    done = subprocess.run(["swift", "test", "--skip-build", "--disable-swift-testing", "--filter", filter_],
                          cwd=package, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    rows = []
    for line in done.stdout.splitlines():
        m = CASE.search(line)
        if m:
            rows.append(("%s.%s" % (m.group(1).split(".")[-1], m.group(2)), m.group(3) == "passed", float(m.group(4))))
    if not rows:
        rows.append((filter_, False, 0.0))
    return rows, done.stdout


def cli_restores(export, work):
    """Restores every exported hostile repository with the real CLI, in a sandbox, measuring memory and time."""
    rows = []
    for name in sorted(os.listdir(export)):
        case = os.path.join(export, name)
        sandbox = os.path.join(work, "sandbox-" + name)
        os.makedirs(os.path.join(sandbox, "outside"))
        if os.path.lexists(ABSOLUTE_ESCAPE):
            os.unlink(ABSOLUTE_ESCAPE)
        with open(os.path.join(case, "passphrase")) as f:
            passphrase = f.read().strip()
        env = base_env(sandbox, {"PLANVAULT_PASSPHRASE": passphrase})
        sid = open(os.path.join(case, "snapshot")).read().strip()
        before = set(os.listdir(sandbox))
        result = run(["restore", sid, "--repo", os.path.join(case, "repo"), "--to", os.path.join(sandbox, "dest")], env, cwd=sandbox,
                     timeout=TIME_BOUND_S * 2)
        after = set(os.listdir(sandbox)) - before - {"dest", "cache"}
        outside = os.listdir(os.path.join(sandbox, "outside")) + ([ABSOLUTE_ESCAPE] if os.path.lexists(ABSOLUTE_ESCAPE) else [])
        message = planvault_lines(result.err)[-1:]
        rss_mib = result.max_rss_kib / 1024
        ok = (result.rc != 0 and not outside and not after and rss_mib < MEMORY_BOUND_MIB and result.seconds < TIME_BOUND_S
              and bool(message))
        rows.append({"case": name, "exit": result.rc, "peak MiB": round(rss_mib), "seconds": round(result.seconds, 2),
                     "outside": len(outside) + len(after), "ok": ok, "message": (message[0] if message else "")[:150]})
        shutil.rmtree(sandbox, ignore_errors=True)
    return rows


def run_hostile(package, work, log):
    export = os.path.join(work, "hostile-export")
    os.makedirs(export, exist_ok=True)
    repo_rows, _ = swift_tests(package, "HostileRepositoryTests|HostileRestoreTests", {"PLANVAULT_HOSTILE_EXPORT": export})
    for name, passed, seconds in repo_rows:
        log("  %s: %s (%.2f s)" % (name, "passed" if passed else "FAILED", seconds))
    cli_rows = cli_restores(export, work)
    for r in cli_rows:
        log("  CLI restore %s: exit %d, %d MiB, %.2f s" % (r["case"], r["exit"], r["peak MiB"], r["seconds"]))
    server_rows, _ = swift_tests(package, "ServerHostileRequestTests|ServerConnectionTests|"
                                          "ServerTests.testTraversalAndOddNamesAreRefused|"
                                          "ServerTests.testBundleUploadedUnderTheWrongNameIsRefusedAndLeavesNothing|"
                                          "ServerTests.testOversizedUploadIsRefusedAndLeavesNothing|"
                                          "ServerTests.testMissingWrongReadOnlyAndOutOfScopeTokensAreRefused")
    return repo_rows, cli_rows, server_rows
