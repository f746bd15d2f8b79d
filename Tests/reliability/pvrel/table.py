"""Prints the campaign's table and decides whether it passed."""


def table(headers, rows):
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"
    print(line(headers))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in cells:
        print(line(r))


def verdict(ok):
    return "ok" if ok else "FAIL"


def print_report(report, stats):
    ok = True
    print()
    print("PlanVault reliability campaign, seed %d, %.0f s" % (report["seed"], report["seconds"]))
    if "crash" in report:
        print()
        print("1. Crash injection (%d push kills per target at a random moment, %d server kills per server target; "
              "after each: snapshots, verify, restore %s, next push)" %
              (report["kills"], report["server_kills"],
               "every earlier snapshot" if report["every"] == 1 else "every earlier snapshot every %d faults, else oldest and newest" % report["every"]))
        rows = []
        for kind, r in report["crash"].items():
            good = r["unreadable"] == 0 and r["lost"] == 0 and r["wrong"] == 0 and r["next push failed"] == 0 and r["unindexed"] == 0
            ok &= good
            rows.append([kind, r["runs"], r["kills"], r["server kills"] or "n/a", r["snapshots"], r["unreadable"], r["lost"], r["wrong"],
                         r["next push failed"], r["temp files"], r["orphan bytes"], r["unindexed"], verdict(good)])
        table(["target", "runs", "kills landed", "server kills", "snapshots", "unreadable repos", "snapshots lost", "wrong files",
               "next push failed", "temp files left", "orphan bytes", "unindexed bundles", "result"], rows)
        for kind, r in report["crash"].items():
            for note in r["notes"][:8]:
                print("   %s: %s" % (kind, note))
        print("   kills landed: pushes still running when SIGKILLed (the others had finished first); temp files left: .tmp-* files")
        print("   of killed writers, removed by a later push once an hour old; orphan bytes: their size; unindexed: after the final push")
    if "corruption" in report:
        print()
        print("2. Corruption (directory target, 2 snapshots, 11 files; verify --read-data, restore both snapshots,")
        print("   repair-index --remove-damaged, verify --read-data again)")
        rows = []
        for r in report["corruption"]:
            ok &= r["ok"]
            rows.append([r["type"], r["damage"], r["verify"], "yes" if r["named"] else "no", r["affects"], r["restored"], r["wrong"],
                         r["repair-index"], r["after"], verdict(r["ok"]) + ("" if r["ok"] else ": " + r["why"])])
        table(["object", "damage", "verify exit", "named", "affects", "files restored", "wrong bytes", "repair-index exit",
               "verify after", "result"], rows)
    if "hostile" in report:
        repo_rows, cli_rows, server_rows = report["hostile"]
        print()
        print("3. Hostile repositories (XCTests build them with the repository key)")
        for _, passed, _ in repo_rows:
            ok &= passed
        table(["case", "result", "seconds"], [[n, verdict(p), "%.2f" % s] for n, p, s in repo_rows])
        print()
        print("   The same hostile repositories restored by the real CLI (bound: peak memory < 512 MiB, time < 60 s,")
        print("   nothing written outside the destination)")
        for r in cli_rows:
            ok &= r["ok"]
        table(["case", "exit", "peak MiB", "seconds", "outside", "result", "message"],
              [[r["case"], r["exit"], r["peak MiB"], r["seconds"], r["outside"], verdict(r["ok"]), r["message"]] for r in cli_rows])
        print()
        print("4. Hostile requests to planvault serve (XCTests)")
        for _, passed, _ in server_rows:
            ok &= passed
        table(["case", "result", "seconds"], [[n, verdict(p), "%.2f" % s] for n, p, s in server_rows])
    if "operational" in report:
        print()
        print("6. Operational faults (directory target)")
        rows = []
        codes = {}
        for r in report["operational"]:
            if r["exit"] not in (0, None):
                codes.setdefault(r["exit"], []).append(r["scenario"])
        for r in report["operational"]:
            expected = r["expect"]
            code_ok = (r["exit"] in expected) if expected else (r["exit"] not in (0, None) and len(codes.get(r["exit"], [])) == 1)
            good = r["consistent"] and code_ok and bool(r["message"])
            ok &= good
            why = "" if good else (": exit code shared with " + ", ".join(s for s in codes.get(r["exit"], []) if s != r["scenario"])
                                   if not code_ok and r["exit"] in codes else ": " + r["detail"])
            rows.append([r["scenario"], r["exit"], "/".join(map(str, sorted(expected))) if expected else "distinct",
                         "yes" if r["consistent"] else "NO", verdict(good) + why, r["message"]])
        table(["fault", "exit", "expected", "repository consistent", "result", "message"], rows)
    print()
    crashes = len(stats.crashes)
    for command, how in stats.crashes[:10]:
        print("   crash: planvault %s: %s" % (command, how))
    # Crash rows keep their own counts (the targets run in threads); the other sections add to stats.
    for r in report.get("crash", {}).values():
        stats.unreadable += r["unreadable"]
        stats.lost += r["lost"]
        stats.wrong_bytes += r["wrong"]
    total_ok = ok and stats.unreadable == 0 and stats.lost == 0 and stats.wrong_bytes == 0 and crashes == 0
    print("TOTAL: %d unreadable repositories, %d lost snapshots, %d files restored with wrong bytes, %d crashes; %s: %s" %
          (stats.unreadable, stats.lost, stats.wrong_bytes, crashes, "every row ok" if ok else "rows marked FAIL above",
           "PASS" if total_ok else "FAIL"))
    return total_ok
