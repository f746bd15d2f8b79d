import ArgumentParser
import Foundation
import PlanVaultCore

struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check that every snapshot can be restored; optionally read and authenticate all data.",
        discussion: "Exit code 0 when all is well, 4 when anything is missing or damaged, 5 when the newest snapshot is older than --max-age." + HelpLayout.examples("planvault verify --max-age 26h", "planvault verify --read-data-subset 10 --json"))

    @OptionGroup(title: "Repository and global options") var global: GlobalOptions

    @Flag(help: "Read every bundle: check its SHA-256 against its name and decrypt and authenticate every chunk.")
    var readData = false

    @Option(help: ArgumentHelp("Read a random PERCENT of the bundles (e.g. 10 reads about a tenth each run).", valueName: "PERCENT"))
    var readDataSubset: Double?

    @Option(help: ArgumentHelp("Fail (exit 5) when the newest snapshot is older than this, e.g. 26h, 7d, 90m.", valueName: "DURATION"))
    var maxAge: String?

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Flag(help: "Do not append a signed verification record to the repository.")
    var noRecord = false

    func validate() throws {
        if let p = readDataSubset, !(p > 0 && p <= 100) { throw ValidationError("--read-data-subset takes a percentage above 0 and at most 100") }
        if readData && readDataSubset != nil { throw ValidationError("give --read-data or --read-data-subset, not both") }
        if let maxAge, Duration.parse(maxAge) == nil { throw ValidationError("--max-age \(maxAge): use a number and unit, like 26h, 7d or 90m") }
    }

    func run() async throws {
        if let targets = try? Context(global).pushTargets, targets.count > 1 {
            try await EachTarget.run(targets, command: "verify", quiet: global.quiet || json) { url in
                var one = self
                one.global.repo = url
                try await one.verifyOneTarget()
            }
            return
        }
        try await verifyOneTarget()
    }

    func verifyOneTarget() async throws {
        try await guarded {
            let context = try Context(global)
            let repository = try await context.openRepository()
            var options = VerifyOptions()
            if readData { options.readData = .all } else if let p = readDataSubset { options.readData = .subset(percent: p) }
            options.maxAge = maxAge.flatMap(Duration.parse)
            options.requiredRetentionDays = global.s3ObjectLockDays
            let progress = TerminalProgress.ifTerminal(enabled: !json && !global.quiet)
            if let progress { options.progress = { @Sendable done, total in progress.update(done: done, total: total) } }
            // A shared lock keeps a prune from deleting what this run is checking. A read-only
            // credential cannot write one: then it checks without, and says so.
            let locks = try await context.sharedLockIfPossible(repository)
            let report = try await Checker(repository: repository, logger: context.logger).verify(options)
            progress?.finish()
            await locks?.release()
            if !noRecord { await record(report, context: context, repository: repository) }
            RunLog.done("\(report.snapshots) snapshot(s), \(report.bundles) bundle(s)"
                        + (report.bundlesRead > 0 ? ", \(report.bundlesRead) read (\(Output.bytes(report.bytesRead)))" : "")
                        + (report.ok ? ", no problems" : report.findings.isEmpty ? ", stale" : ", \(report.findings.count) problem(s)"))
            if json {
                try Output.json(report, schema: "planvault.verify/1")
            } else if !global.quiet || !report.ok {
                // --quiet (cron) prints the report only when something is wrong; the summary line says the rest.
                print(report)
            }
            if !report.findings.isEmpty { throw ExitCode(ExitCodes.verificationFailed) }
            if report.stale { throw ExitCode(ExitCodes.stale) }
        }
    }

    /// Appends the signed verification record; a target that refuses writes (an auditor's
    /// read-only credential) only costs the record, never the verification.
    private func record(_ report: VerifyReport, context: Context, repository: Repository) async {
        var record = AttestationLog.record(.verify, repository: repository)
        let depth = readData ? "verify --read-data" : readDataSubset.map { "verify --read-data-subset \($0)" } ?? "verify"
        record.check = .init(what: depth, result: report.ok ? "ok" : (report.findings.isEmpty ? "stale" : "failed"), findings: report.findings.count,
                             detail: "\(report.snapshots) snapshots, \(report.bundles) bundles, \(report.bundlesRead) read")
        let damaged = Set(report.findings.filter { $0.kind == "bundle" }.map(\.object)).sorted()
        if !damaged.isEmpty { record.damagedBundles = damaged }
        do {
            // Appending takes the chain's own short lock, so no two records fork the chain.
            try await AttestationLog.append(record, writer: RepositoryWriter(repository: repository, backend: try context.backend()))
        } catch {
            context.logger.warning("the verification record could not be written: \((error as? PlanVaultError)?.localizedDescription ?? "\(error)")")
        }
    }

    private func print(_ report: VerifyReport) {
        Output.line("checked \(report.snapshots) snapshot(s), \(report.indexFiles) index file(s), \(report.bundles) bundle(s)")
        if report.bundlesRead > 0 {
            Output.line("read \(report.bundlesRead) bundle(s), \(Output.bytes(report.bytesRead)), \(report.chunksChecked) chunk(s) authenticated")
        }
        if report.unindexedBundles > 0 {
            Output.line("note: \(report.unindexedBundles) bundle(s) are not indexed yet (left by an interrupted push; the next push adopts them)")
        }
        if let id = report.newestSnapshot, let age = report.newestSnapshotAgeSeconds {
            Output.line("newest snapshot \(id.prefix(8)) is \(Output.duration(max(0, age))) old")
        }
        for finding in report.findings {
            Output.line("DAMAGED \(finding.kind) \(finding.object.prefix(16)): \(finding.problem)")
            for affected in finding.affects.prefix(20) { Output.line("  affects \(affected)") }
            if finding.affects.count > 20 { Output.line("  ... and \(finding.affects.count - 20) more") }
        }
        if report.stale, let age = report.newestSnapshotAgeSeconds {
            Output.line("STALE: the newest copy is \(Output.duration(age)) old, more than --max-age \(maxAge ?? "")")
        } else if report.stale {
            Output.line("STALE: the repository holds no snapshot")
        }
        Output.line(report.ok ? "no problems found" : "verification FAILED: \(report.findings.count) problem(s)\(report.stale ? ", stale" : "")")
    }
}

enum Duration {
    /// Parses "26h", "7d", "90m", "45s", "1d12h" into seconds.
    static func parse(_ text: String) -> TimeInterval? {
        var total: TimeInterval = 0
        var number = ""
        var sawUnit = false
        for c in text {
            if c.isNumber || c == "." {
                number.append(c)
                continue
            }
            guard let n = Double(number) else { return nil }
            switch c {
            case "s": total += n
            case "m": total += n * 60
            case "h": total += n * 3600
            case "d": total += n * 86400
            case "w": total += n * 7 * 86400
            default: return nil
            }
            number = ""
            sawUnit = true
        }
        guard number.isEmpty, sawUnit else { return nil }
        return total
    }
}
