import XCTest
@testable import PlanVaultCore
import PlanVaultTestSupport

final class AuditTests: XCTestCase {
    func testPublicKeyFileWithWindowsLineEndsIsRead() throws {
        let key = AuditPublicKey(repository: String(repeating: "ab", count: 32), key: [UInt8](repeating: 7, count: 32))
        XCTAssertEqual(try AuditPublicKey.parse(key.text.replacingOccurrences(of: "\n", with: "\r\n")), key)
        XCTAssertEqual(try AuditPublicKey.parse(key.text), key)
    }

    func testEd25519MatchesRFC8032Tests1And2() throws {
        let key1 = SecretKey(bytes: Hex.decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60") ?? [])
        XCTAssertEqual(Hex.encode(try Ed25519.publicKey(privateKey: key1)), "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        let sig1 = try Ed25519.sign(privateKey: key1, message: [])
        XCTAssertEqual(Hex.encode(sig1), "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
        let key2 = SecretKey(bytes: Hex.decode("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb") ?? [])
        let sig2 = try Ed25519.sign(privateKey: key2, message: [0x72])
        XCTAssertEqual(Hex.encode(sig2), "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00")
        let pub2 = try Ed25519.publicKey(privateKey: key2)
        XCTAssertTrue(Ed25519.verify(publicKey: pub2, message: [0x72], signature: sig2))
        XCTAssertFalse(Ed25519.verify(publicKey: pub2, message: [0x73], signature: sig2))
    }

    /// A repository with two pushes, a verification and a drill, and the auditor's key.
    final class AuditedRepository {
        let dir: TempDir
        let env: [String: String]
        var repo: String { dir.sub("repo") }
        var publicKey: String { dir.sub("audit.pub") }

        init(drill: Bool = true) throws {
            dir = try TempDir()
            env = ["PLANVAULT_PASSPHRASE": Fixture.passphrase, "PLANVAULT_CACHE_DIR": dir.sub("cache"), "HOME": dir.path]
            try Fixture.write(dir.sub("plans/BCP/plan.docx"), Fixture.noise(1_500_000, seed: 1))
            try Fixture.write(dir.sub("plans/Contacts/call tree.csv"), Fixture.text(300, seed: 2))
            for args in [["init", "--repo", repo, "--bundle-size-mib", "1"], ["push", "--repo", repo, dir.sub("plans")]] {
                let r = try CLI.run(args, env: env)
                guard r.status == 0 else { throw PlanVaultError.invalidArgument(r.stderr) }
            }
            try Fixture.write(dir.sub("plans/Runbooks/new.md"), Fixture.text(100, seed: 3))
            let runs = [["push", "--repo", repo, dir.sub("plans")], ["verify", "--repo", repo, "--read-data"], ["drill", "--repo", repo]]
            for args in drill ? runs : Array(runs.dropLast()) {
                let r = try CLI.run(args, env: env)
                guard r.status == 0 else { throw PlanVaultError.invalidArgument(r.stdout + r.stderr) }
            }
            let key = try CLI.run(["key", "export-public", "--repo", repo], env: env)
            try Fixture.write(publicKey, key.stdout)
        }

        /// `planvault audit` as the auditor runs it: no passphrase anywhere in its environment.
        func audit(_ extra: [String] = []) throws -> CLI.Result {
            try CLI.run(["audit", "--repo", repo, "--public-key", publicKey] + extra, env: ["HOME": dir.sub("auditor-home")])
        }

        func attestations() throws -> [(name: String, attestation: Attestation)] {
            try FileIO.listDirectory(dir.sub("repo/attestations")).compactMap { name in
                guard let parsed = Attestation.parse(try FileIO.readFile(dir.sub("repo/attestations/\(name)"))) else { return nil }
                return (name, parsed.attestation)
            }.sorted { $0.attestation.sequence < $1.attestation.sequence }
        }

        func keys() async throws -> MasterKeys {
            try await Repository.open(backend: DirectoryBackend(root: repo), passphrase: Fixture.passphrase, cacheRoot: nil, logger: Fixture.logger).keys
        }
    }

    func testGoodRepositoryAuditsCleanWithOnlyThePublicKey() throws {
        let r = try AuditedRepository()
        XCTAssertEqual(try r.attestations().map(\.attestation.type), [.push, .push, .verify, .drill])
        let result = try r.audit(["--read-data", "--max-age", "26h", "--report", r.dir.sub("audit.json")])
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        XCTAssertTrue(result.stdout.contains("verdict: PASS"))
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(try FileIO.readFile(r.dir.sub("audit.json")))) as? [String: Any])
        XCTAssertEqual(report["verdict"] as? String, "PASS")
        XCTAssertEqual((report["snapshots"] as? [Any])?.count, 2)
        XCTAssertEqual((report["checks"] as? [Any])?.count, 2)
        // Nothing an auditor sees names a file.
        let everything = try FileIO.listDirectory(r.dir.sub("repo/attestations")).map { try FileIO.readFile(r.dir.sub("repo/attestations/\($0)")) }
        for bytes in everything + [try FileIO.readFile(r.dir.sub("audit.json"))] {
            XCTAssertNil(Data(bytes).range(of: Data("call tree".utf8)))
        }
    }

    func testDeletedBundleIsNamed() throws {
        let r = try AuditedRepository()
        let bundle = try XCTUnwrap(r.attestations().first?.attestation.objects?.first { $0.kind == "bundles" })
        XCTAssertEqual(unlink(r.dir.sub("repo/bundles/\(bundle.name.prefix(2))/\(bundle.name)")), 0)
        let result = try r.audit()
        XCTAssertEqual(result.status, 4)
        XCTAssertTrue(result.stdout.contains("bundle \(bundle.name.prefix(12))… missing"), result.stdout)
    }

    func testFlippedByteInABundleIsFoundWithReadData() throws {
        let r = try AuditedRepository()
        let bundle = try XCTUnwrap(r.attestations().first?.attestation.objects?.first { $0.kind == "bundles" })
        let path = r.dir.sub("repo/bundles/\(bundle.name.prefix(2))/\(bundle.name)")
        var bytes = try FileIO.readFile(path)
        bytes[bytes.count / 3] ^= 0x04
        try FileIO.writeAtomically(bytes, to: path, inDirectory: (path as NSString).deletingLastPathComponent)
        XCTAssertEqual(try r.audit().status, 0, "same size: only reading the data can tell")
        let result = try r.audit(["--read-data"])
        XCTAssertEqual(result.status, 4)
        XCTAssertTrue(result.stdout.contains("bundle \(bundle.name.prefix(12))… is damaged"), result.stdout)
    }

    func testDeletedAttestationBreaksTheChain() throws {
        let r = try AuditedRepository()
        let second = try r.attestations()[1]
        XCTAssertEqual(unlink(r.dir.sub("repo/attestations/\(second.name)")), 0)
        let result = try r.audit()
        XCTAssertEqual(result.status, 4)
        XCTAssertTrue(result.stdout.contains("attestation chain broken after \(try r.attestations()[0].attestation.time.prefix(10))"), result.stdout)
    }

    /// Both fail: a repository whose records are all gone, and an address with no repository at
    /// all (a typo, or the copy is gone), which the finding names as such.
    func testNoAttestationsFailsAndAnAddressWithoutARepositoryIsNamed() throws {
        let r = try AuditedRepository(drill: false)
        for (name, _) in try r.attestations() { XCTAssertEqual(unlink(r.dir.sub("repo/attestations/\(name)")), 0) }
        let emptied = try r.audit()
        XCTAssertEqual(emptied.status, 4, emptied.stdout + emptied.stderr)
        XCTAssertTrue(emptied.stdout.contains("no attestation signed by this key exists: there is no evidence of an offsite copy"), emptied.stdout)

        let mistyped = r.dir.sub("rep0")
        try FileManager.default.createDirectory(atPath: mistyped, withIntermediateDirectories: true)
        let typo = try CLI.run(["audit", "--repo", mistyped, "--public-key", r.publicKey], env: ["HOME": r.dir.sub("auditor-home")])
        XCTAssertEqual(typo.status, 4, typo.stdout + typo.stderr)
        XCTAssertTrue(typo.stdout.contains("verdict: FAIL"), typo.stdout)
        XCTAssertTrue(typo.stdout.contains("there is no PlanVault repository at \(mistyped) (no config, no attestation): check the address"), typo.stdout)
        let nowhere = r.dir.sub("no-such-folder")
        let missing = try CLI.run(["audit", "--repo", nowhere, "--public-key", r.publicKey], env: ["HOME": r.dir.sub("auditor-home")])
        XCTAssertNotEqual(missing.status, 0, missing.stdout + missing.stderr)
        XCTAssertTrue((missing.stdout + missing.stderr).contains("no PlanVault repository at \(nowhere)"), missing.stdout + missing.stderr)
    }

    func testAttestationSignedByAnotherKeyIsRejected() async throws {
        let r = try AuditedRepository()
        let other = try await Fixture.makeRepository(try TempDir())
        let chain = try r.attestations()
        var forged = chain[chain.count - 1].attestation
        forged.sequence += 1
        forged.previous = chain[chain.count - 1].name
        forged.time = Timestamps.format(Date())
        let bytes = try forged.signed(by: other.repository.keys)
        try FileIO.writeAtomically(bytes, to: r.dir.sub("repo/attestations/\(LibCrypto.sha256(bytes).hex)"), inDirectory: r.dir.sub("repo/attestations"))
        // Not evidence, and not a failure either: anyone with write access could plant it.
        let result = try r.audit()
        XCTAssertEqual(result.status, 0, result.stdout)
        XCTAssertTrue(result.stdout.contains("NOTE attestation"), result.stdout)
        XCTAssertTrue(result.stdout.contains("is not signed by the key"), result.stdout)
    }

    func testReorderedChainIsRejected() async throws {
        let r = try AuditedRepository()
        let keys = try await r.keys()
        let chain = try r.attestations()
        // A validly signed record that claims the next sequence but links back past the head.
        var skipping = chain[chain.count - 1].attestation
        skipping.type = .verify
        skipping.objects = nil
        skipping.snapshot = nil
        skipping.check = .init(what: "verify", result: "ok", findings: 0, detail: nil)
        skipping.sequence = chain[chain.count - 1].attestation.sequence + 1
        skipping.previous = chain[0].name
        let bytes = try skipping.signed(by: keys)
        try FileIO.writeAtomically(bytes, to: r.dir.sub("repo/attestations/\(LibCrypto.sha256(bytes).hex)"), inDirectory: r.dir.sub("repo/attestations"))
        let result = try r.audit()
        XCTAssertEqual(result.status, 4)
        XCTAssertTrue(result.stdout.contains("attestation chain out of order"), result.stdout)
    }

    func testPlantedAttestationIsNeverChainedOnto() throws {
        let r = try AuditedRepository()
        let chain = try r.attestations()
        var planted = chain[chain.count - 1].attestation
        planted.sequence += 1
        planted.previous = chain[chain.count - 1].name
        let body = Array(try JSONEncoder().encode(planted))
        let bytes = body + [10] + Array(Data(repeating: 7, count: 64).base64EncodedString().utf8) + [10]
        try FileIO.writeAtomically(bytes, to: r.dir.sub("repo/attestations/\(LibCrypto.sha256(bytes).hex)"), inDirectory: r.dir.sub("repo/attestations"))
        XCTAssertEqual(try CLI.run(["push", "--repo", r.repo, r.dir.sub("plans")], env: r.env).status, 0)
        let newest = try XCTUnwrap(try r.attestations().filter { $0.attestation.type == .push }.last)
        XCTAssertEqual(newest.attestation.previous, chain[chain.count - 1].name, "the push follows the last genuine record")
        let result = try r.audit()
        XCTAssertEqual(result.status, 0, result.stdout)
        XCTAssertTrue(result.stdout.contains("is not signed by the key"), result.stdout)
        XCTAssertFalse(result.stdout.contains("attestation chain"), result.stdout)
    }

    func testStaleCopyIsReported() throws {
        let r = try AuditedRepository()
        let result = try r.audit(["--max-age", "0s"])
        XCTAssertEqual(result.status, 5, result.stdout)
        XCTAssertTrue(result.stdout.contains("newest copy is"), result.stdout)
    }

    func testForgottenSnapshotsKeepTheChainIntact() throws {
        let r = try AuditedRepository()
        let forget = try CLI.run(["forget", "--repo", r.repo, "--keep-last", "1", "--policy", "test: keep the newest"], env: r.env)
        XCTAssertEqual(forget.status, 0, forget.stderr)
        let result = try r.audit(["--read-data", "--report", r.dir.sub("a.json")])
        XCTAssertEqual(result.status, 0, result.stdout)
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(try FileIO.readFile(r.dir.sub("a.json")))) as? [String: Any])
        let rows = try XCTUnwrap(report["snapshots"] as? [[String: Any]])
        XCTAssertEqual(rows.map { $0["retained"] as? Bool }, [false, true])
        // Retention records have their own section, not a row among the checks.
        let retention = try XCTUnwrap(report["retention"] as? [[String: Any]])
        XCTAssertEqual(retention.count, 1)
        XCTAssertEqual(retention.first?["policy"] as? String, "test: keep the newest")
        XCTAssertEqual((retention.first?["removed"] as? [String])?.count, 1)
        XCTAssertFalse((report["checks"] as? [[String: Any]] ?? []).contains { $0["type"] as? String == "retention" })
        XCTAssertEqual(try r.audit(["--report", r.dir.sub("a.html")]).status, 0)
        let html = try String(contentsOfFile: r.dir.sub("a.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("<h2>Retention records</h2>") && html.contains("test: keep the newest"), html)
    }

    func testHTMLReportRendersVerdictAndChartInHeadlessChromium() throws {
        let r = try AuditedRepository()
        XCTAssertEqual(try r.audit(["--report", r.dir.sub("audit.html")]).status, 0)
        let html = try String(contentsOfFile: r.dir.sub("audit.html"), encoding: .utf8)
        XCTAssertFalse(html.contains("http://") && html.contains("<script src"), "self-contained")
        let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
        let browser = try XCTUnwrap(chromium, "chromium is installed by scripts/setup.sh")
        let flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars", "--window-size=1200,1400"]
        let shot = Process()
        shot.executableURL = URL(fileURLWithPath: browser)
        shot.arguments = flags + ["--screenshot=\(r.dir.sub("audit.png"))", "file://\(r.dir.sub("audit.html"))"]
        shot.standardOutput = FileHandle.nullDevice
        shot.standardError = FileHandle.nullDevice
        try shot.run()
        shot.waitUntilExit()
        let png = try FileIO.readFile(r.dir.sub("audit.png"))
        XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        XCTAssertGreaterThan(png.count, 10_000)
        // What the browser rendered: the verdict and the chart's bars.
        let dom = Process()
        dom.executableURL = URL(fileURLWithPath: browser)
        dom.arguments = flags + ["--dump-dom", "file://\(r.dir.sub("audit.html"))"]
        let out = Pipe()
        dom.standardOutput = out
        dom.standardError = FileHandle.nullDevice
        try dom.run()
        let rendered = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        dom.waitUntilExit()
        XCTAssertTrue(rendered.contains("id=\"verdict\">PASS</span>"), rendered.prefix(500).description)
        XCTAssertTrue(rendered.contains("<svg id=\"timeline\""))
        XCTAssertTrue(rendered.contains("class=\"bar\""))
    }

    /// A record appended after the same head by a writer that could not share the chain lock.
    func plantFork(_ r: AuditedRepository) async throws -> (head: String, branch: String) {
        let keys = try await r.keys()
        let head = try XCTUnwrap(try r.attestations().last)
        var other = head.attestation
        other.host = "alternate-site"
        other.time = Timestamps.format(Date().addingTimeInterval(1))
        let bytes = try other.signed(by: keys)
        let name = LibCrypto.sha256(bytes).hex
        try FileIO.writeAtomically(bytes, to: r.dir.sub("repo/attestations/\(name)"), inDirectory: r.dir.sub("repo/attestations"))
        return (head.name, name)
    }

    func testForkIsAFailureUntilTheNextRunMergesItThenTheMergeIsShown() async throws {
        let r = try AuditedRepository()
        let sequence = try XCTUnwrap(try r.attestations().last).attestation.sequence
        let (head, branch) = try await plantFork(r)
        let forked = try r.audit()
        XCTAssertEqual(forked.status, 4, forked.stdout)
        XCTAssertTrue(forked.stdout.contains("attestation chain forked at sequence \(sequence)"), forked.stdout)
        XCTAssertTrue(forked.stdout.contains("not merged yet"), forked.stdout)

        // The next run with the passphrase merges the branches; the fork itself does not fail it.
        let verify = try CLI.run(["verify", "--repo", r.repo], env: r.env)
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
        let merges = try r.attestations().filter { $0.attestation.type == .merge }
        XCTAssertEqual(merges.count, 1)
        let merge = try XCTUnwrap(merges.first).attestation
        XCTAssertEqual(Set(merge.links), [head, branch])
        XCTAssertEqual(merge.sequence, sequence + 1)
        XCTAssertEqual(try r.attestations().last?.attestation.type, .verify, "verify's own record follows the merge")

        let merged = try r.audit(["--report", r.dir.sub("audit.json")])
        XCTAssertEqual(merged.status, 0, merged.stdout)
        XCTAssertTrue(merged.stdout.contains("NOTE attestation chain forked (branch from"), merged.stdout)
        XCTAssertTrue(merged.stdout.contains("merged by record \(sequence + 1)"), merged.stdout)
        XCTAssertFalse(merged.stdout.contains("not merged yet"), merged.stdout)
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(try FileIO.readFile(r.dir.sub("audit.json")))) as? [String: Any])
        let checks = try XCTUnwrap(report["checks"] as? [[String: Any]])
        XCTAssertTrue(checks.contains { $0["type"] as? String == "merge" }, "\(checks)")

        // The merge names both branches: removing either one afterwards breaks the chain.
        let joined = merge.merged?.first ?? ""
        XCTAssertEqual(unlink(r.dir.sub("repo/attestations/\(joined)")), 0)
        let cut = try r.audit()
        XCTAssertEqual(cut.status, 4, cut.stdout)
        XCTAssertTrue(cut.stdout.contains("attestation chain broken"), cut.stdout)
    }

    func testRecordCutOffByADeletedOneIsNeverMergedAway() throws {
        let r = try AuditedRepository()
        XCTAssertEqual(unlink(r.dir.sub("repo/attestations/\(try r.attestations()[1].name)")), 0)
        let push = try CLI.run(["push", "--repo", r.repo, r.dir.sub("plans")], env: r.env)
        XCTAssertEqual(push.status, 0, push.stderr)
        XCTAssertFalse(try r.attestations().contains { $0.attestation.type == .merge }, "a gap is not a fork")
        let result = try r.audit()
        XCTAssertEqual(result.status, 4, result.stdout)
        XCTAssertTrue(result.stdout.contains("attestation chain broken"), result.stdout)
    }


    // MARK: Policy, evidence, rollback (issue 11 item 5)

    func json(_ path: String) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(try FileIO.readFile(path))) as? [String: Any])
    }

    func testNeverDrilledRepositoryFailsNamingTheDrillCriterion() throws {
        let r = try AuditedRepository(drill: false)
        let result = try r.audit(["--report", r.dir.sub("audit.json")])
        XCTAssertEqual(result.status, 5, "a policy criterion, not damage: " + result.stdout)
        XCTAssertTrue(result.stdout.contains("FAIL policy \"a restore drill within 365 days\" not met: no restore drill has ever been recorded"), result.stdout)
        XCTAssertFalse(result.stdout.contains("FAIL policy \"a verification"), result.stdout)
        let report = try json(r.dir.sub("audit.json"))
        let criteria = try XCTUnwrap(report["criteria"] as? [[String: Any]])
        XCTAssertEqual(criteria.map { $0["id"] as? String }, ["push", "verify", "drill"])
        XCTAssertEqual(criteria.map { $0["met"] as? Bool }, [true, true, false])
        let controls = try XCTUnwrap(report["controls"] as? [[String: Any]])
        XCTAssertEqual(controls.first { $0["id"] as? String == "CP-4" }?["satisfied"] as? Bool, false)
        XCTAssertEqual(controls.first { $0["id"] as? String == "CP-6" }?["satisfied"] as? Bool, true)
        // The same repository passes once drilled.
        XCTAssertEqual(try CLI.run(["drill", "--repo", r.repo], env: r.env).status, 0)
        XCTAssertEqual(try r.audit().status, 0)
    }

    func testPolicyComesFromTheConfigFileAndOptionsOverrideIt() throws {
        let r = try AuditedRepository()
        try Fixture.write(r.dir.sub("planvault.toml"), "[policy]\npush = \"2d\"\nverify = \"30d\"\ndrill = \"730d\"\n")
        let result = try r.audit(["--config", r.dir.sub("planvault.toml"), "--max-drill-age", "400d", "--report", r.dir.sub("audit.json")])
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        XCTAssertTrue(result.stdout.contains("policy: newest copy within 2 days: met"), result.stdout)
        let criteria = try XCTUnwrap(try json(r.dir.sub("audit.json"))["criteria"] as? [[String: Any]])
        XCTAssertEqual(criteria.map { $0["max_age_seconds"] as? Int }, [2 * 86400, 30 * 86400, 400 * 86400])
        XCTAssertEqual(criteria.map { $0["requirement"] as? String },
                       ["newest copy within 2 days", "a verification within 30 days", "a restore drill within 400 days"])
        try Fixture.write(r.dir.sub("bad.toml"), "[policy]\ndrill = \"yearly\"\n")
        let bad = try r.audit(["--config", r.dir.sub("bad.toml")])
        XCTAssertEqual(bad.status, 1, bad.stdout)
        XCTAssertTrue(bad.stderr.contains("policy drill must be a duration"), bad.stderr)
    }

    func testReportRecordsCriteriaVersionCommandLineChainHeadAndControls() throws {
        let r = try AuditedRepository()
        let result = try r.audit(["--read-data", "--report", r.dir.sub("audit.json"), "--report", r.dir.sub("audit.oscal.json")])
        XCTAssertEqual(result.status, 0, result.stdout)
        let report = try json(r.dir.sub("audit.json"))
        XCTAssertEqual(report["planvault_version"] as? String, "0.1.0")
        XCTAssertEqual((report["command_line"] as? [String])?.prefix(2), ["planvault", "audit"])
        XCTAssertTrue((report["command_line"] as? [String] ?? []).contains("--read-data"))
        let head = try XCTUnwrap(report["chain_head"] as? [String: Any])
        let last = try XCTUnwrap(try r.attestations().last)
        XCTAssertEqual(head["name"] as? String, last.name)
        XCTAssertEqual(head["sequence"] as? Int, last.attestation.sequence)
        let storage = try XCTUnwrap(report["remote_storage"] as? [String: Any])
        XCTAssertEqual(storage["objects_present"] as? Int, storage["objects_needed"] as? Int)
        XCTAssertGreaterThan(storage["objects_hashed"] as? Int ?? 0, 0)
        XCTAssertEqual(storage["immutability"] as? String, "not determined: this kind of target does not report Object Lock or append-only status")
        let test = try XCTUnwrap(report["annual_test"] as? [String: Any])
        XCTAssertEqual(test["drill_result"] as? String, "ok")
        let current = try XCTUnwrap(report["kept_current"] as? [String: Any])
        let sets = try XCTUnwrap(current["source_sets"] as? [[String: Any]])
        XCTAssertEqual(sets.first?["pushes"] as? Int, 2)
        XCTAssertEqual(sets.first?["changes_last_year"] as? Int, 2, "the second push added a file")
        XCTAssertEqual(sets.first?["files"] as? Int, 3)
        let controls = try XCTUnwrap(report["controls"] as? [[String: Any]])
        XCTAssertEqual(controls.map { $0["id"] as? String }, ["CP-6", "CP-9", "CP-9 d", "CP-9(1)", "CP-9(2)", "CP-9(8)", "CP-4"])
        XCTAssertTrue(controls.allSatisfy { $0["satisfied"] as? Bool == true }, "\(controls)")

        // The OSCAL document: assessment results with one finding per control.
        let oscal = try XCTUnwrap(try json(r.dir.sub("audit.oscal.json"))["assessment-results"] as? [String: Any])
        XCTAssertNotNil(UUID(uuidString: oscal["uuid"] as? String ?? ""))
        XCTAssertEqual((oscal["metadata"] as? [String: Any])?["oscal-version"] as? String, "1.1.2")
        let results = try XCTUnwrap(oscal["results"] as? [[String: Any]])
        let findings = try XCTUnwrap(results.first?["findings"] as? [[String: Any]])
        let targets = findings.compactMap { ($0["target"] as? [String: Any])?["target-id"] as? String }
        XCTAssertEqual(targets, ["cp-6_obj", "cp-9_obj", "cp-9_smt.d", "cp-9.1_obj", "cp-9.2_obj", "cp-9.8_obj", "cp-4_obj"])
        let observations = Set((results.first?["observations"] as? [[String: Any]] ?? []).compactMap { $0["uuid"] as? String })
        for finding in findings {
            let related = (finding["related-observations"] as? [[String: Any]])?.first?["observation-uuid"] as? String
            XCTAssertTrue(observations.contains(related ?? ""), "each finding points at its observation")
        }
        let stdout = try r.audit(["--format", "oscal"])
        XCTAssertEqual(stdout.status, 0)
        XCTAssertNotNil((try JSONSerialization.jsonObject(with: Data(stdout.stdout.utf8)) as? [String: Any])?["assessment-results"])
    }

    func testPreviousReportPassesOnAnExtendedChainAndFailsOnATruncatedOne() throws {
        let r = try AuditedRepository()
        XCTAssertEqual(try r.audit(["--report", r.dir.sub("2025.json")]).status, 0)
        let then = try XCTUnwrap(try r.attestations().last)
        try Fixture.write(r.dir.sub("plans/Runbooks/later.md"), Fixture.text(80, seed: 9))
        XCTAssertEqual(try CLI.run(["push", "--repo", r.repo, r.dir.sub("plans")], env: r.env).status, 0)

        let extended = try r.audit(["--previous", r.dir.sub("2025.json"), "--report", r.dir.sub("2026.json")])
        XCTAssertEqual(extended.status, 0, extended.stdout)
        XCTAssertTrue(extended.stdout.contains("the chain extends the one the report of"), extended.stdout)
        let previous = try XCTUnwrap(try json(r.dir.sub("2026.json"))["previous_report"] as? [String: Any])
        XCTAssertEqual(previous["extended"] as? Bool, true)
        XCTAssertEqual((previous["head"] as? [String: Any])?["name"] as? String, then.name)

        // Deleting the newest records (the new push and the head the old report saw) rolls the chain back.
        for record in try r.attestations().suffix(2) {
            XCTAssertEqual(unlink(r.dir.sub("repo/attestations/\(record.name)")), 0)
        }
        let truncated = try r.audit(["--previous", r.dir.sub("2025.json")])
        XCTAssertEqual(truncated.status, 4, truncated.stdout)
        XCTAssertTrue(truncated.stdout.contains("FAIL attestation chain rolled back or truncated: the report of"), truncated.stdout)
        XCTAssertTrue(truncated.stdout.contains("saw record \(then.attestation.sequence)"), truncated.stdout)
        // Without --previous nothing shows it: the remaining chain is whole.
        let integrityOnly = try r.audit(["--integrity-only"])
        XCTAssertFalse(integrityOnly.stdout.contains("FAIL"), integrityOnly.stdout)
        XCTAssertTrue(integrityOnly.stdout.contains("policy: none applied (integrity only)"), "the text says no criterion was judged: " + integrityOnly.stdout)
    }

    func testPreviousReportFailsWhenTheChainForkedAwayFromTheHeadItSaw() async throws {
        let r = try AuditedRepository()
        let keys = try await r.keys()
        let head = try XCTUnwrap(try r.attestations().last)
        // The earlier report saw a branch record; today's chain continues from the other branch.
        let (_, branch) = try await plantFork(r)
        var next = head.attestation
        next.sequence += 1
        next.previous = head.name
        next.time = Timestamps.format(Date().addingTimeInterval(2))
        let bytes = try next.signed(by: keys)
        try FileIO.writeAtomically(bytes, to: r.dir.sub("repo/attestations/\(LibCrypto.sha256(bytes).hex)"), inDirectory: r.dir.sub("repo/attestations"))
        try Fixture.write(r.dir.sub("old.json"), """
            {"schema": "planvault.audit/1", "repository": "\(head.attestation.repository)", "checked_at": "2026-01-01T00:00:00Z",
             "chain_head": {"name": "\(branch)", "sequence": \(head.attestation.sequence), "time": "2026-01-01T00:00:00Z"}}
            """)
        let result = try r.audit(["--previous", r.dir.sub("old.json")])
        XCTAssertEqual(result.status, 4, result.stdout)
        XCTAssertTrue(result.stdout.contains("FAIL attestation chain forked since the earlier report"), result.stdout)
    }

    func testSampledDrillRecordsHowManyFilesWereComparedAndMatched() throws {
        let r = try AuditedRepository()
        let drill = try CLI.run(["drill", "--repo", r.repo, "--sample", "2"], env: r.env)
        XCTAssertEqual(drill.status, 0, drill.stdout + drill.stderr)
        XCTAssertTrue(drill.stdout.contains("sample: 2 of 3 files drawn; 2 compared with their sources at this site, 2 matched"), drill.stdout)
        var check = try XCTUnwrap(try r.attestations().last?.attestation.check)
        XCTAssertEqual([check.sampled, check.compared, check.matched], [2, 2, 2])
        XCTAssertEqual(check.result, "ok")

        // A source edited since the snapshot is not compared; one whose bytes differ while its size
        // and time are as recorded is a mismatch, and the drill fails.
        let edited = r.dir.sub("plans/Runbooks/new.md")
        try Fixture.write(edited, Fixture.text(150, seed: 4))
        let altered = r.dir.sub("plans/Contacts/call tree.csv")
        var st = stat()
        XCTAssertEqual(stat(altered, &st), 0)
        var bytes = try FileIO.readFile(altered)
        bytes[0] ^= 0x01
        try FileIO.writeAtomically(bytes, to: altered, inDirectory: r.dir.sub("plans/Contacts"))
        var times = [st.st_atim, st.st_mtim]
        XCTAssertEqual(utimensat(AT_FDCWD, altered, &times, 0), 0)
        let failed = try CLI.run(["drill", "--repo", r.repo, "--sample", "3"], env: r.env)
        XCTAssertEqual(failed.status, 4, failed.stdout + failed.stderr)
        XCTAssertTrue(failed.stderr.contains("plans/Contacts/call tree.csv: the restored file differs from its source"), failed.stderr)
        check = try XCTUnwrap(try r.attestations().last?.attestation.check)
        XCTAssertEqual([check.sampled, check.compared, check.matched], [3, 2, 1])
        XCTAssertEqual(check.result, "failed")
        let audit = try r.audit(["--report", r.dir.sub("audit.json")])
        XCTAssertEqual(audit.status, 4, audit.stdout)
        let test = try XCTUnwrap(try json(r.dir.sub("audit.json"))["annual_test"] as? [String: Any])
        XCTAssertEqual([test["sampled"] as? Int, test["compared"] as? Int, test["matched"] as? Int], [3, 2, 1])
    }


    /// Runs headless Chromium with `arguments` and waits for it.
    func chromium(_ arguments: [String]) throws {
        let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
        let browser = try XCTUnwrap(chromium, "chromium is installed by scripts/setup.sh")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: browser)
        process.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"] + arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
    }

    /// An 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes) as rows of RGB pixels.
    func decodePNG(_ png: [UInt8]) throws -> (width: Int, height: Int, pixel: (Int, Int) -> (UInt8, UInt8, UInt8)) {
        XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var at = 8, width = 0, height = 0, channels = 0
        var data = [UInt8]()
        func u32(_ i: Int) -> Int { Int(png[i]) << 24 | Int(png[i + 1]) << 16 | Int(png[i + 2]) << 8 | Int(png[i + 3]) }
        while at + 8 <= png.count {
            let length = u32(at), type = String(decoding: png[at + 4..<at + 8], as: UTF8.self)
            let body = Array(png[at + 8..<at + 8 + length])
            if type == "IHDR" {
                width = u32(at + 8); height = u32(at + 12)
                XCTAssertEqual(body[8], 8, "8 bits per sample")
                channels = body[9] == 6 ? 4 : 3
            }
            if type == "IDAT" { data += body }
            at += 12 + length
        }
        let raw = try Zlib.decompress(data, limit: (width * channels + 1) * height)
        let stride = width * channels
        var pixels = [UInt8](repeating: 0, count: stride * height)
        for y in 0..<height {
            let filter = raw[y * (stride + 1)]
            for x in 0..<stride {
                let v = raw[y * (stride + 1) + 1 + x]
                let a = x >= channels ? Int(pixels[y * stride + x - channels]) : 0
                let b = y > 0 ? Int(pixels[(y - 1) * stride + x]) : 0
                let c = x >= channels && y > 0 ? Int(pixels[(y - 1) * stride + x - channels]) : 0
                let predicted: Int
                switch filter {
                case 1: predicted = a
                case 2: predicted = b
                case 3: predicted = (a + b) / 2
                case 4:
                    let p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                    predicted = pa <= pb && pa <= pc ? a : pb <= pc ? b : c
                default: predicted = 0
                }
                pixels[y * stride + x] = UInt8((Int(v) + predicted) & 0xFF)
            }
        }
        return (width, height, { x, y in
            let i = y * stride + x * channels
            return (pixels[i], pixels[i + 1], pixels[i + 2])
        })
    }

    func testHTMLReportPrintsInBlackAndWhiteWithinAPage() throws {
        let r = try AuditedRepository(drill: false)
        XCTAssertEqual(try r.audit(["--report", r.dir.sub("audit.html")]).status, 5, "a FAIL verdict, the one that must not fade")
        let html = try String(contentsOfFile: r.dir.sub("audit.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("@media print"))

        // Printed by the browser (print media, Letter): the red of the screen verdict is gone.
        try chromium(["--no-pdf-header-footer", "--print-to-pdf=\(r.dir.sub("audit.pdf"))", "file://\(r.dir.sub("audit.html"))"])
        let pdf = try FileIO.readFile(r.dir.sub("audit.pdf"))
        XCTAssertEqual(Array(pdf.prefix(5)), Array("%PDF-".utf8))
        let text = String(decoding: pdf, as: UTF8.self)
        let pages = text.components(separatedBy: "/Type /Page").dropFirst().filter { !$0.hasPrefix("s") }.count
        XCTAssertGreaterThanOrEqual(pages, 1)
        var content = ""
        var rest = pdf[...]
        while let start = rest.firstRange(of: Array("stream\n".utf8)), let end = rest[start.upperBound...].firstRange(of: Array("\nendstream".utf8)) {
            if let inflated = try? Zlib.decompress(Array(rest[start.upperBound..<end.lowerBound]), limit: 64 << 20) {
                content += String(decoding: inflated, as: UTF8.self)
            }
            rest = rest[end.upperBound...]
        }
        XCTAssertTrue(content.contains("0 0 0 rg"), "black ink")
        XCTAssertFalse(content.contains(".702 .149 .1176 rg"), "the verdict's red background is not printed")

        // The print stylesheet, applied to a column as wide as an A4 page's printable width
        // (186 mm = 703 CSS px), in a window twice as wide: nothing may spill past the column.
        let column = 703
        let printed = html.replacingOccurrences(of: "@media print", with: "@media all")
            .replacingOccurrences(of: "</style>", with: "body{width:\(column)px!important;margin:0!important}</style>")
        try Fixture.write(r.dir.sub("print.html"), printed)
        try chromium(["--window-size=\(2 * column),2600", "--screenshot=\(r.dir.sub("print.png"))", "file://\(r.dir.sub("print.html"))"])
        let image = try decodePNG(try FileIO.readFile(r.dir.sub("print.png")))
        XCTAssertEqual(image.width, 2 * column)
        var spilled = 0, black = 0, red = 0
        for y in stride(from: 0, to: image.height, by: 2) {
            for x in 0..<image.width {
                let (red8, green8, blue8) = image.pixel(x, y)
                if x >= column + 4 && (red8, green8, blue8) != (255, 255, 255) { spilled += 1 }
                if y < 160 && red8 < 40 && green8 < 40 && blue8 < 40 { black += 1 }
                if red8 > 150 && green8 < 80 && blue8 < 80 { red += 1 }
            }
        }
        XCTAssertEqual(spilled, 0, "the chart and tables fit the page width")
        XCTAssertGreaterThan(black, 500, "the verdict is black ink near the top")
        XCTAssertEqual(red, 0, "nothing relies on colour: no red verdict, no red text")
    }

}
