import XCTest
import PlanVaultCore
import PlanVaultTestSupport

/// Counts bundle reads, to see which trees a walk over many snapshots reads again.
final class BundleReadCounter: ReadableBackend, @unchecked Sendable {
    let inner: any ReadableBackend
    private let lock = NSLock()
    private var count = 0
    var bundleReads: Int { lock.withLock { count } }

    init(_ inner: any ReadableBackend) { self.inner = inner }
    var location: String { inner.location }
    func list(_ kind: ObjectKind) async throws -> [ObjectInfo] { try await inner.list(kind) }
    func stat(_ kind: ObjectKind, name: String) async throws -> ObjectInfo? { try await inner.stat(kind, name: name) }
    func read(_ kind: ObjectKind, name: String, range: Range<UInt64>?) async throws -> [UInt8] {
        if kind == .bundle { lock.withLock { count += 1 } }
        return try await inner.read(kind, name: name, range: range)
    }
}

/// Choosing the right snapshot (--path/--tag/--host, `latest`, the restore preamble) and finding
/// files (find, ls and --include globs, dump, diff), with the real executable.
final class FindAndFilterTests: CLITestCase {
    override func setUp() async throws {
        try await super.setUp()
        try Fixture.write(dir.sub("plans/BCP/plan.docx"), Fixture.noise(50_000, seed: 1))
        try Fixture.write(dir.sub("plans/Contacts/call-tree.csv"), Fixture.text(100, seed: 2))
        try Fixture.write(dir.sub("plans/Contacts/suppliers.csv"), Fixture.text(40, seed: 3))
        try Fixture.write(dir.sub("office/scans/floor-plan.pdf"), Fixture.noise(30_000, seed: 4))
        XCTAssertEqual(try pv(["init", "--repo", repo]).status, 0)
    }

    /// Runs a command that must succeed and returns its standard output.
    func ok(_ args: [String], cwd: String? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let r = try pv(args, cwd: cwd)
        XCTAssertEqual(r.status, 0, "planvault \(args.joined(separator: " ")): \(r.stderr)", file: file, line: line)
        return r.stdout
    }

    func json(_ text: String) throws -> Any { try JSONSerialization.jsonObject(with: Data(text.utf8)) }

    /// Pushes and returns the new snapshot's ID.
    func push(_ extra: [String], cwd: String? = nil) throws -> String {
        let out = try ok(["push", "--repo", repo, "--json"] + extra, cwd: cwd)
        return try XCTUnwrap((try json(out) as? [String: Any])?["snapshot"] as? String)
    }

    func files(_ root: String) -> [String] {
        let all = (FileManager.default.enumerator(atPath: root)?.allObjects as? [String]) ?? []
        return all.filter { path in
            var isDir: ObjCBool = false
            return FileManager.default.fileExists(atPath: "\(root)/\(path)", isDirectory: &isDir) && !isDir.boolValue
        }.sorted()
    }

    // MARK: choosing the snapshot

    /// The 3 a.m. stumble: an ad-hoc push of another folder must not become "latest" for a config that names the plans.
    func testLatestIsTheNewestSnapshotOfTheConfigSourcesNotAnAdHocPush() throws {
        try Fixture.write(dir.sub("planvault.toml"), "repo = \"repo\"\nsources = [\"plans\"]\n")
        let plans = try push([], cwd: dir.path)
        _ = try push([dir.sub("office/scans")], cwd: dir.path)
        let out = try ok(["restore", "latest", "--to", dir.sub("out")], cwd: dir.path)
        XCTAssertEqual(files(dir.sub("out")), ["plans/BCP/plan.docx", "plans/Contacts/call-tree.csv", "plans/Contacts/suppliers.csv"])
        XCTAssertTrue(out.contains("restoring snapshot \(plans.prefix(8))"), out)
        let ls = try ok(["ls", "latest"], cwd: dir.path)
        XCTAssertTrue(ls.contains("plans/Contacts/call-tree.csv") && !ls.contains("floor-plan"), ls)
    }

    /// The preamble says which snapshot (ID, time with age, host, paths, tags) before any file is
    /// written, and names the other source sets' newest snapshots when no filter narrowed the choice.
    func testRestorePreambleNamesTheSnapshotAndTheOtherSourceSets() throws {
        let plans = try push(["--tag", "nightly", "--host", "office-nas", dir.sub("plans")])
        let scans = try push(["--host", "office-nas", dir.sub("office/scans")])
        let r = try pv(["restore", "latest", "--repo", repo, "--to", dir.sub("out")])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.components(separatedBy: "\n")
        XCTAssertEqual(lines.first, "restoring snapshot \(scans.prefix(8)) (\(scans))")
        XCTAssertTrue(r.stdout.contains("host   office-nas"), r.stdout)
        XCTAssertTrue(r.stdout.contains("paths  \(dir.sub("office/scans"))"), r.stdout)
        XCTAssertTrue(r.stdout.contains("tags   (none)"), r.stdout)
        XCTAssertTrue(r.stdout.contains(" s ago)") || r.stdout.contains(" min ") , r.stdout)
        // The plans are named as another source set, so nobody misses that folder.
        let others = try XCTUnwrap(r.stdout.range(of: "other source sets"))
        XCTAssertTrue(r.stdout[others.upperBound...].contains("\(plans.prefix(8))  "), r.stdout)
        XCTAssertTrue(r.stdout[others.upperBound...].contains(dir.sub("plans")), r.stdout)
        // The preamble comes before the result line, i.e. before anything was written.
        let preamble = try XCTUnwrap(r.stdout.range(of: "restoring snapshot"))
        let result = try XCTUnwrap(r.stdout.range(of: "restored snapshot"))
        XCTAssertLessThan(preamble.lowerBound, result.lowerBound)

        // With --path the plans are chosen, and no other set is listed (the user narrowed the choice).
        let narrowed = try ok(["restore", "latest", "--repo", repo, "--path", dir.sub("plans"), "--to", dir.sub("out2")])
        XCTAssertTrue(narrowed.hasPrefix("restoring snapshot \(plans.prefix(8))"), narrowed)
        XCTAssertTrue(narrowed.contains("tags   nightly"), narrowed)
        XCTAssertFalse(narrowed.contains("other source sets"), narrowed)
        XCTAssertEqual(files(dir.sub("out2")).count, 3)
    }

    func testPathTagAndHostFiltersOnSnapshots() throws {
        let both = try push(["--tag", "nightly", "--tag", "plans", "--host", "a", dir.sub("plans")])
        let nightly = try push(["--tag", "nightly", "--host", "b", dir.sub("plans")])
        let scans = try push(["--tag", "nightly", "--host", "a", dir.sub("office/scans")])
        func ids(_ args: [String]) throws -> [String] {
            let list = try XCTUnwrap((try json(try ok(["snapshots", "--repo", repo, "--json"] + args)) as? [String: Any])?["snapshots"] as? [[String: Any]])
            return list.compactMap { $0["id"] as? String }
        }
        XCTAssertEqual(try ids(["--tag", "nightly", "--tag", "plans"]), [both], "every --tag must be present")
        XCTAssertEqual(try ids(["--tag", "nightly"]), [both, nightly, scans])
        XCTAssertEqual(try ids(["--host", "a"]), [both, scans])
        XCTAssertEqual(try ids(["--path", dir.sub("plans")]), [both, nightly])
        XCTAssertEqual(try ids(["--path", dir.sub("plans"), "--host", "a"]), [both])
        // A relative --path is taken from the current folder, as push records sources.
        let relative = try XCTUnwrap((try json(try ok(["snapshots", "--repo", repo, "--json", "--path", "office/scans"], cwd: dir.path)) as? [String: Any])?["snapshots"] as? [[String: Any]])
        XCTAssertEqual(relative.compactMap { $0["id"] as? String }, [scans])
        // ls, drill and find honour them too.
        XCTAssertTrue(try ok(["ls", "latest", "--repo", repo, "--host", "b"]).contains("call-tree.csv"))
        let drill = try ok(["drill", "--repo", repo, "--path", dir.sub("plans"), "--host", "a"])
        XCTAssertTrue(drill.contains("drill of snapshot \(both.prefix(8))"), drill)
        let found = try XCTUnwrap(try json(try ok(["find", "--repo", repo, "--json", "--host", "b", "*.csv"])) as? [String: Any])
        XCTAssertEqual(found["snapshots_searched"] as? Int, 1)
    }

    func testAFilterMatchingNothingIsExitOneAndListsWhatExists() throws {
        let plans = try push(["--tag", "nightly", dir.sub("plans")])
        for command in [["restore", "latest", "--to", dir.sub("out")], ["snapshots"], ["ls", "latest"], ["drill"], ["find", "*"],
                        ["forget", "--keep-last", "1"]] {
            let r = try pv(command + ["--repo", repo, "--tag", "weekly"])
            XCTAssertEqual(r.status, 1, "\(command): \(r.stdout) \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("no snapshot matches --tag weekly"), "\(command): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("\(plans.prefix(8))  ") && r.stderr.contains(dir.sub("plans")), "\(command): \(r.stderr)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.sub("out")))
        // A config whose sources were never pushed: no silent fallback to another set.
        try Fixture.write(dir.sub("planvault.toml"), "repo = \"repo\"\nsources = [\"office/scans\"]\n")
        let r = try pv(["restore", "latest", "--to", dir.sub("out")], cwd: dir.path)
        XCTAssertEqual(r.status, 1, r.stdout)
        XCTAssertTrue(r.stderr.contains("no snapshot of the config's sources"), r.stderr)
    }

    func testForgetAppliesThePolicyOnlyToFilteredSnapshots() throws {
        let plans1 = try push([dir.sub("plans")])
        try Fixture.write(dir.sub("plans/Contacts/call-tree.csv"), Fixture.text(101, seed: 2))
        let plans2 = try push([dir.sub("plans")])
        let scans = try push([dir.sub("office/scans")])
        let out = try ok(["forget", "--repo", repo, "--keep-last", "1", "--path", dir.sub("plans")])
        XCTAssertTrue(out.contains("forgot 1 snapshot(s): \(plans1.prefix(8))"), out)
        let left = try XCTUnwrap((try json(try ok(["snapshots", "--repo", repo, "--json"])) as? [String: Any])?["snapshots"] as? [[String: Any]])
        XCTAssertEqual(left.compactMap { $0["id"] as? String }, [plans2, scans])
    }

    // MARK: finding files

    /// The stumble: `ls latest '*call*'` printed nothing and exited 0.
    func testLsTakesGlobsAndAMissIsAnError() throws {
        _ = try push([dir.sub("plans")])
        let byName = try ok(["ls", "latest", "--repo", repo, "*call*"])
        XCTAssertEqual(byName.components(separatedBy: "\n").filter { !$0.isEmpty }.count, 1, byName)
        XCTAssertTrue(byName.hasSuffix("plans/Contacts/call-tree.csv\n"), byName)
        let byPath = try ok(["ls", "latest", "--repo", repo, "plans/Contacts/*.csv"])
        XCTAssertTrue(byPath.contains("call-tree.csv") && byPath.contains("suppliers.csv") && !byPath.contains("plan.docx"), byPath)
        // A plain path still means that entry and everything below it.
        let folder = try ok(["ls", "latest", "--repo", repo, "plans/Contacts"])
        XCTAssertEqual(folder.components(separatedBy: "\n").filter { !$0.isEmpty }.count, 3, folder)

        for miss in ["*agenda*", "call-tree.csv", "Contacts"] {
            let r = try pv(["ls", "latest", "--repo", repo, miss])
            XCTAssertEqual(r.status, 1, "\(miss): \(r.stdout)")
            XCTAssertEqual(r.stdout, "", miss)
            XCTAssertTrue(r.stderr.contains("nothing in snapshot") && r.stderr.contains("planvault find"), r.stderr)
        }
        // The hint names the path meant.
        let r = try pv(["ls", "latest", "--repo", repo, "Contacts"])
        XCTAssertTrue(r.stderr.contains("did you mean \"plans/Contacts\"?"), r.stderr)
    }

    /// The stumble: `restore --include 'plans/Contacts/*.csv'` restored 0 files and exited 0.
    func testRestoreIncludeTakesGlobsAndAMissIsAnError() throws {
        _ = try push([dir.sub("plans")])
        XCTAssertTrue(try ok(["restore", "latest", "--repo", repo, "--to", dir.sub("csv"), "--include", "plans/Contacts/*.csv"])
            .contains("2 files"))
        XCTAssertEqual(files(dir.sub("csv")), ["plans/Contacts/call-tree.csv", "plans/Contacts/suppliers.csv"])
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dir.sub("csv/plans/Contacts/call-tree.csv"))), try Data(contentsOf: URL(fileURLWithPath: dir.sub("plans/Contacts/call-tree.csv"))))
        _ = try ok(["restore", "latest", "--repo", repo, "--to", dir.sub("call"), "--include", "*call*"])
        XCTAssertEqual(files(dir.sub("call")), ["plans/Contacts/call-tree.csv"])
        _ = try ok(["restore", "latest", "--repo", repo, "--to", dir.sub("bcp"), "--include", "plans/BCP"])
        XCTAssertEqual(files(dir.sub("bcp")), ["plans/BCP/plan.docx"])

        for miss in ["plans/Contacts/*.pdf", "plans/Contacts/agenda.csv"] {
            let r = try pv(["restore", "latest", "--repo", repo, "--to", dir.sub("miss"), "--include", "plans/BCP", "--include", miss])
            XCTAssertEqual(r.status, 1, "\(miss): \(r.stdout)")
            XCTAssertTrue(r.stderr.contains("matches --include \"\(miss)\""), r.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.sub("miss")), "nothing is written when an include matches nothing")
        }
    }

    func testFindListsEachMatchWithTheSnapshotsThatHoldItNewestFirst() throws {
        let first = try push([dir.sub("plans")])
        try Fixture.write(dir.sub("plans/Contacts/call-tree.csv"), Fixture.text(120, seed: 9))
        let second = try push([dir.sub("plans")])
        _ = try push([dir.sub("office/scans")])
        let out = try ok(["find", "--repo", repo, "*call*"])
        let lines = out.components(separatedBy: "\n")
        XCTAssertEqual(lines[0], "plans/Contacts/call-tree.csv", out)
        XCTAssertTrue(lines[1].hasPrefix("  \(second.prefix(8))  ") && lines[1].contains(" ago)"), out)
        XCTAssertTrue(lines[2].hasPrefix("  \(first.prefix(8))  "), out)
        XCTAssertTrue(out.contains("1 match(es) in 2 of 3 snapshot(s)"), out)

        // A name without glob characters is found anywhere; a pattern with "/" matches paths.
        let report = try XCTUnwrap(try json(try ok(["find", "--repo", repo, "--json", "suppliers.csv", "plans/*/plan.docx"])) as? [String: Any])
        let matches = try XCTUnwrap(report["matches"] as? [[String: Any]])
        XCTAssertEqual(matches.compactMap { $0["path"] as? String }, ["plans/BCP/plan.docx", "plans/Contacts/suppliers.csv"])
        let holders = try XCTUnwrap(matches[0]["snapshots"] as? [[String: Any]])
        XCTAssertEqual(holders.compactMap { $0["id"] as? String }, [second, first])
        XCTAssertNotNil(holders[0]["mtime"] as? String)

        // Case: a miss is exit 1 with a hint, and --ignore-case finds it.
        let miss = try pv(["find", "--repo", repo, "*CALL*"])
        XCTAssertEqual(miss.status, 1, miss.stdout)
        XCTAssertTrue(miss.stderr.contains("try --ignore-case"), miss.stderr)
        XCTAssertTrue(try ok(["find", "--repo", repo, "--ignore-case", "*CALL*"]).contains("call-tree.csv"))
        // --snapshot narrows the search to one.
        let one = try ok(["find", "--repo", repo, "--snapshot", String(first.prefix(8)), "*call*"])
        XCTAssertTrue(one.contains(String(first.prefix(8))) && !one.contains(String(second.prefix(8))), one)
    }

    func testDumpWritesOneFileAndRefusesAFolder() throws {
        try Fixture.write(dir.sub("plans/BCP/plan.docx"), Fixture.noise(3_000_000, seed: 7))
        _ = try push([dir.sub("plans")])
        let out = dir.sub("dumped.docx")
        let p = try CLI.start(["dump", "latest", "plans/BCP/plan.docx", "--repo", repo], env: env, output: dir.sub("dump"))
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        try FileManager.default.moveItem(atPath: dir.sub("dump") + ".out", toPath: out)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out)), try Data(contentsOf: URL(fileURLWithPath: dir.sub("plans/BCP/plan.docx"))))

        let folder = try pv(["dump", "latest", "plans/Contacts", "--repo", repo])
        XCTAssertEqual(folder.status, 1)
        XCTAssertEqual(folder.stdout, "")
        XCTAssertTrue(folder.stderr.contains("plans/Contacts is a folder") && folder.stderr.contains("--include"), folder.stderr)
        let missing = try pv(["dump", "latest", "plans/agenda.docx", "--repo", repo])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("nothing in snapshot"), missing.stderr)
    }

    func testDiffListsAddedRemovedAndChangedFiles() throws {
        let a = try push([dir.sub("plans")])
        try Fixture.write(dir.sub("plans/Contacts/call-tree.csv"), Fixture.text(101, seed: 2))
        try FileManager.default.removeItem(atPath: dir.sub("plans/Contacts/suppliers.csv"))
        try Fixture.write(dir.sub("plans/BCP/annex.pdf"), Fixture.noise(1000, seed: 5))
        XCTAssertEqual(chmod(dir.sub("plans/BCP/plan.docx"), 0o600), 0)
        let b = try push([dir.sub("plans")])
        let out = try ok(["diff", String(a.prefix(8)), String(b.prefix(8)), "--repo", repo])
        XCTAssertEqual(out.components(separatedBy: "\n").filter { !$0.isEmpty }, [
            "+  plans/BCP/annex.pdf",
            "M  plans/BCP/plan.docx  (mode)",
            "M  plans/Contacts/call-tree.csv  (content, mtime)",
            "-  plans/Contacts/suppliers.csv",
            "snapshot \(a.prefix(8)) → \(b.prefix(8)): 1 added, 1 removed, 2 changed",
        ])
        let report = try XCTUnwrap(try json(try ok(["diff", a, "latest", "--repo", repo, "--json"])) as? [String: Any])
        XCTAssertEqual((report["added"] as? [[String: Any]])?.compactMap { $0["path"] as? String }, ["plans/BCP/annex.pdf"])
        XCTAssertEqual((report["removed"] as? [[String: Any]])?.compactMap { $0["path"] as? String }, ["plans/Contacts/suppliers.csv"])
        XCTAssertEqual((report["changed"] as? [[String: Any]])?.count, 2)
        XCTAssertEqual(report["from"] as? String, a)
        let same = try ok(["diff", a, a, "--repo", repo])
        XCTAssertTrue(same.hasSuffix("0 added, 0 removed, 0 changed\n"), same)
    }

    /// `find` walks every snapshot the way this test does (one repository handle, `expandTrees`
    /// per snapshot): trees shared with a snapshot already walked are not read again.
    func testWalkingManySnapshotsReadsSharedTreesOnce() async throws {
        for _ in 0..<6 { _ = try push([dir.sub("plans")]) }
        let repository = try await Repository.open(backend: BundleReadCounter(DirectoryBackend(root: repo)), passphrase: Fixture.passphrase,
                                                   cacheRoot: nil, logger: Fixture.logger)
        let counter = try XCTUnwrap(repository.backend as? BundleReadCounter)
        let index = try await repository.loadIndexWithBundles().load.index
        let snapshots = try await repository.loadAllSnapshots().snapshots
        XCTAssertEqual(snapshots.count, 6)
        _ = try await repository.expandTrees(snapshots[0].snapshot, id: snapshots[0].id, index: index)
        let afterFirst = counter.bundleReads
        XCTAssertGreaterThan(afterFirst, 0)
        for listed in snapshots.dropFirst() {
            let expanded = try await repository.expandTrees(listed.snapshot, id: listed.id, index: index)
            XCTAssertEqual(expanded.nodes.count, 6)
        }
        XCTAssertEqual(counter.bundleReads, afterFirst, "the five later snapshots share every tree with the first")
    }
}
