import ArgumentParser
import Foundation
import PlanVaultCore

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Check the offsite copy with the repository's public key alone (no passphrase), against the continuity policy.",
        discussion: "The policy (defaults: newest copy within 26h, a verification within 8d, a restore drill within 365d) comes from the config's [policy] table, then these options. Exit code 0 only when every signature verifies, the chain is unbroken (and, with --previous, extends the earlier report's), every object the retained snapshots need is present (and, with --read-data, intact) and every policy criterion is met; 5 when only policy criteria fail; 4 otherwise." + HelpLayout.examples("planvault audit --public-key audit.pub", "planvault audit --public-key audit.pub --read-data --report audit.html", "planvault audit --public-key audit.pub --previous 2025.json --report 2026.json", "planvault audit --public-key audit.pub --format oscal > results.json"))

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json, oscal }

    @OptionGroup(title: "Repository and global options") var global: GlobalOptions

    @Option(help: ArgumentHelp("The auditor's key, from `planvault key export-public`.", valueName: "FILE"))
    var publicKey: String

    @Flag(help: "Download every needed object and check its SHA-256 against its name.")
    var readData = false

    @Option(help: ArgumentHelp("Policy: the newest copy must be younger than this (default 26h, or [policy] push).", valueName: "DURATION"))
    var maxAge: String?

    @Option(help: ArgumentHelp("Policy: a verification must be younger than this (default 8d, or [policy] verify).", valueName: "DURATION"))
    var maxVerifyAge: String?

    @Option(help: ArgumentHelp("Policy: a restore drill must be younger than this (default 365d, or [policy] drill).", valueName: "DURATION"))
    var maxDrillAge: String?

    @Flag(help: "Check signatures, the chain and the objects only: apply no policy criterion (the report records that none was applied).")
    var integrityOnly = false

    @Option(help: ArgumentHelp("An earlier report (.json): fail unless today's chain extends the one it recorded (truncation, rollback, fork).", valueName: "FILE"))
    var previous: String?

    @Option(help: ArgumentHelp("What to print: text, json (the audit.json report) or oscal (an OSCAL assessment-results document).", valueName: "FORMAT"))
    var format: Format = .text

    @Option(help: ArgumentHelp("Write the report to FILE: .oscal.json (OSCAL assessment results), .json (machine-readable) or .html (one self-contained page). Repeatable.", valueName: "FILE"))
    var report: [String] = []

    /// audit.json files are small (kilobytes per snapshot); a larger --previous file is not one.
    static let maxPreviousReportSize = 64 << 20

    func validate() throws {
        for (name, value) in [("--max-age", maxAge), ("--max-verify-age", maxVerifyAge), ("--max-drill-age", maxDrillAge)] {
            if let value, !(Duration.parse(value).map(AuditPolicy.isAllowed) ?? false) {
                throw ValidationError("\(name) \(value): use a number and unit, like 26h or 7d (at most 100 years)")
            }
        }
        if integrityOnly && (maxAge != nil || maxVerifyAge != nil || maxDrillAge != nil) {
            throw ValidationError("--integrity-only applies no policy: leave out --max-age, --max-verify-age and --max-drill-age, or --integrity-only")
        }
        for file in report where !(file.hasSuffix(".json") || file.hasSuffix(".html")) {
            throw ValidationError("--report \(file): the name must end in .json, .oscal.json or .html")
        }
    }

    func run() async throws {
        if let targets = try? Context(global).pushTargets, targets.count > 1 {
            // Each target is its own copy with its own chain: each gets its own verdict and report.
            try await EachTarget.run(targets, command: "audit", quiet: format != .text) { url in
                var one = self
                one.global.repo = url
                let n = (targets.firstIndex { $0.repo == url } ?? 0) + 1
                one.report = report.map { Self.reportName($0, target: n) }
                try await one.auditOneTarget()
            }
            return
        }
        try await auditOneTarget()
    }

    /// `audit.html` for target 2 of several is `audit-target2.html` (`.oscal.json` kept whole).
    static func reportName(_ file: String, target: Int) -> String {
        for suffix in [".oscal.json", ".json", ".html"] where file.hasSuffix(suffix) {
            return String(file.dropLast(suffix.count)) + "-target\(target)" + suffix
        }
        return file + "-target\(target)"
    }

    func auditOneTarget() async throws {
        try await guarded {
            let context = try Context(global)
            let text: String
            do { text = try String(contentsOfFile: publicKey, encoding: .utf8) } catch {
                throw PlanVaultError.invalidArgument("cannot read --public-key \(publicKey): \(error.localizedDescription)")
            }
            let key = try AuditPublicKey.parse(text)
            var options = Auditor.Options()
            options.readData = readData
            var policy = context.config.policy ?? AuditPolicy()
            if let seconds = maxAge.flatMap(Duration.parse) { policy.push = seconds }
            if let seconds = maxVerifyAge.flatMap(Duration.parse) { policy.verify = seconds }
            if let seconds = maxDrillAge.flatMap(Duration.parse) { policy.drill = seconds }
            options.policy = integrityOnly ? nil : policy
            options.planvaultVersion = PlanVaultCommand.configuration.version
            options.commandLine = ["planvault"] + CommandLine.arguments.dropFirst()
            if let previous {
                var st = stat()
                guard stat(previous, &st) == 0 else { throw PlanVaultError.io(path: previous, operation: "read --previous report", errno: errno) }
                let info = UInt64(max(0, st.st_size))
                guard info <= UInt64(Self.maxPreviousReportSize) else {
                    throw PlanVaultError.invalidArgument("--previous \(previous) is \(Output.bytes(info)), larger than any audit report (limit \(Output.bytes(UInt64(Self.maxPreviousReportSize)))): give the .json report an earlier audit wrote")
                }
                options.previous = try PreviousHead.parse(try FileIO.readFile(previous), file: previous)
            }
            let result = try await Auditor(backend: try context.backend(), publicKey: key, logger: context.logger).audit(options)
            for file in report {
                let bytes = file.hasSuffix(".oscal.json") ? try AuditOSCAL.document(result)
                    : file.hasSuffix(".json") ? try result.json() : Array(AuditHTML.render(result).utf8)
                try FileIO.writeAtomically(bytes, to: file, inDirectory: (URL(fileURLWithPath: file).deletingLastPathComponent().path), mode: 0o644)
            }
            switch format {
            case .json: FileHandle.standardOutput.write(Data(try result.json() + [10]))
            case .oscal: FileHandle.standardOutput.write(Data(try AuditOSCAL.document(result) + [10]))
            case .text: printText(result)
            }
            RunLog.done("\(result.snapshots.count) attested snapshot(s), \(result.findings.count) finding(s), verdict \(result.verdict)")
            if !result.passed {
                throw ExitCode(result.findings.allSatisfy { $0.kind == .stale || $0.kind == .policy } ? ExitCodes.stale : ExitCodes.verificationFailed)
            }
        }
    }

    private func printText(_ result: AuditReport) {
        Output.line("audit of \(result.target) (repository \(result.repository.prefix(8)), key \(result.fingerprint.prefix(19))…)")
        Output.line("  \(result.snapshots.count) attested snapshot(s), newest \(result.newestCopy ?? "none"); \(result.checks.count) verification/drill record(s); \(result.objectsChecked) object(s) checked\(readData ? " and hashed" : "")")
        if result.criteria.isEmpty {
            Output.line("  policy: none applied (integrity only): the copy's age and the verification and drill records are not judged")
        }
        for criterion in result.criteria {
            let found = criterion.last.map { "\($0), \(DurationWords.text(Double(criterion.ageSeconds ?? 0))) ago" } ?? "none"
            Output.line("  policy: \(criterion.requirement): \(criterion.met ? "met" : "NOT MET") (newest: \(found))")
        }
        if let head = result.chainHead { Output.line("  chain head: record \(head.sequence) (\(head.time)) \(head.name.prefix(12))") }
        if let previous = result.previousReport, previous.extended {
            Output.line("  the chain extends the one the report of \(previous.checkedAt) recorded (record \(previous.head.sequence))")
        }
        for control in result.controls { Output.line("  \(control.satisfied ? "met    " : "NOT MET") \(control.id) \(control.title)") }
        for finding in result.findings { Output.line("FAIL \(finding.message)") }
        for notice in result.notices { Output.line("NOTE \(notice.message)") }
        Output.line("verdict: \(result.verdict)")
    }
}

struct ExportPublicKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export-public",
                                                    abstract: "Print the auditor's public key (give it to the auditor; compare the fingerprint by phone or on paper).",
                                                    discussion: "" + HelpLayout.examples("planvault key export-public > auditor.pub"))

    @OptionGroup(title: "Repository and global options") var global: GlobalOptions

    func run() async throws {
        try await guarded {
            let repository = try await Context(global).openRepository()
            let key = AuditPublicKey(repository: repository.config.id, key: try repository.keys.attestationPublicKey())
            Output.error("fingerprint: \(key.fingerprint)")
            FileHandle.standardOutput.write(Data(key.text.utf8))
        }
    }
}

struct DrillCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drill",
        abstract: "Restore drill: restore the latest snapshot into a scratch folder, check it, and record the result in the repository.",
        discussion: "With --sample N, only N files drawn at random are restored, and each is compared byte for byte with its source on this machine where that is present and unchanged since the snapshot; the signed record says how many were sampled, compared and matched." + HelpLayout.examples("planvault drill", "planvault drill --sample 20", "planvault drill --to /tmp/drill --keep"))

    @OptionGroup(title: "Repository and global options") var global: GlobalOptions

    @Option(help: ArgumentHelp("Scratch folder (default: a new temporary folder, removed afterwards).", valueName: "DIR"))
    var to: String?

    @Flag(help: "Keep the restored files.")
    var keep = false

    @OptionGroup(title: "Choosing snapshots") var filter: SnapshotFilterOptions

    @Option(help: ArgumentHelp("Restore N files drawn at random and compare them with their sources at this site.", valueName: "N"))
    var sample: Int?

    func validate() throws {
        if let sample, sample < 1 { throw ValidationError("--sample \(sample): give a number of files, at least 1") }
    }

    func run() async throws {
        if let targets = try? Context(global).pushTargets, targets.count > 1 {
            // Each target is its own copy: each is drilled, and each chain records its drill.
            try await EachTarget.run(targets, command: "drill", quiet: global.quiet) { url in
                var one = self
                one.global.repo = url
                try await one.drillOneTarget()
            }
            return
        }
        try await drillOneTarget()
    }

    func drillOneTarget() async throws {
        try await guarded {
            let context = try Context(global)
            let writer = try await context.openWriter()
            let repository = writer.repository
            let started = Date()
            let locks = try await context.sharedLockIfPossible(repository)
            defer { if let locks { Task { await locks.release() } } }
            let index = try await repository.loadIndexWithBundles().load.index
            let (id, snapshot, _) = try await SnapshotChooser(repository: repository, filter: filter, config: context.config).load("latest", index: index)
            let scratch = to ?? NSTemporaryDirectory() + "planvault-drill-\(UUID().uuidString)"
            var restoreOptions = RestoreOptions(destination: scratch)
            let drawn = sample.map { DrillSample.draw(snapshot, count: $0) }
            if let drawn {
                // No include would mean "everything": a sample of nothing is refused instead.
                guard !drawn.isEmpty else {
                    throw PlanVaultError.invalidArgument("drill --sample: snapshot \(id.prefix(8)) holds no file to sample; run `planvault drill` without --sample")
                }
                restoreOptions.includes = drawn.map(\.path)
            }
            let progress = TerminalProgress.ifTerminal(enabled: !global.quiet)
            if let progress { restoreOptions.progress = { @Sendable done, total in progress.update(done: done, total: total) } }
            let result = try await Restorer(repository: repository, logger: context.logger).restore(snapshot, options: restoreOptions, index: index)
            progress?.finish()
            let expectedFiles = drawn?.count ?? snapshot.summary.files
            let expectedBytes = drawn.map { $0.reduce(UInt64(0)) { $0 + ($1.size ?? 0) } } ?? snapshot.summary.totalBytes
            let comparison = drawn.map { DrillSample.compare($0, restoredIn: scratch, sources: snapshot.paths) }
            let matchedAll = comparison.map { $0.matched == $0.compared } ?? true
            let complete = result.problems.isEmpty && result.files == expectedFiles && result.bytes == expectedBytes && matchedAll
            let seconds = Date().timeIntervalSince(started)
            if !keep { try? FileManager.default.removeItem(atPath: scratch) }
            var record = AttestationLog.record(.drill, repository: repository, time: started)
            let what = drawn == nil ? "restore drill of snapshot \(id.prefix(8))" : "sampled restore drill of snapshot \(id.prefix(8))"
            var check = Attestation.Check(what: what, result: complete ? "ok" : "failed",
                                          findings: result.problems.count + (comparison.map { $0.compared - $0.matched } ?? 0),
                                          detail: String(format: "%d files, %llu bytes in %.1f s", result.files, result.bytes, seconds))
            if let drawn, let comparison {
                check.sampled = drawn.count
                check.compared = comparison.compared
                check.matched = comparison.matched
            }
            record.check = check
            try await AttestationLog.append(record, writer: writer)
            for problem in result.problems { Output.error("planvault: drill: \(problem.path): \(problem.message)") }
            for path in comparison?.differing ?? [] {
                Output.error("planvault: drill: \(path): the restored file differs from its source at this site, which has not changed since the snapshot")
            }
            RunLog.done("snapshot \(id.prefix(8)), \(result.files) of \(expectedFiles) files restored and checked: \(complete ? "OK" : "FAILED")")
            // --quiet: a drill that passed says so only in the run's closing line.
            let speak = !global.quiet || !complete
            if speak {
                Output.line(String(format: "drill of snapshot %@: %d of %d files, %@ restored and authenticated in %.1f s: %@", String(id.prefix(8)),
                                   result.files, expectedFiles, Output.bytes(result.bytes), seconds, complete ? "OK" : "FAILED"))
            }
            if speak, let drawn, let comparison {
                Output.line("sample: \(drawn.count) of \(snapshot.summary.files) files drawn; \(comparison.compared) compared with their sources at this site, \(comparison.matched) matched"
                            + (comparison.notCompared > 0 ? "; \(comparison.notCompared) not compared (source absent or changed since the snapshot)" : ""))
            }
            if !complete { throw ExitCode(ExitCodes.verificationFailed) }
        }
    }
}
