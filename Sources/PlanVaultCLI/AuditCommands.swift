import ArgumentParser
import Foundation
import PlanVaultCore

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Check the offsite copy with the repository's public key alone (no passphrase).",
        discussion: "Exit code 0 only when every signature verifies, the chain is unbroken, the newest copy is fresh enough and every object the retained snapshots need is present (and, with --read-data, intact); 4 otherwise, 5 when the copy is only stale." + HelpLayout.examples("planvault audit --public-key auditor.pub --max-age 26h", "planvault audit --public-key auditor.pub --read-data --report audit.html"))

    @OptionGroup(title: "Repository and global options") var global: GlobalOptions

    @Option(help: ArgumentHelp("The auditor's key, from `planvault key export-public`.", valueName: "FILE"))
    var publicKey: String

    @Flag(help: "Download every needed object and check its SHA-256 against its name.")
    var readData = false

    @Option(help: ArgumentHelp("Fail when the newest attested copy is older than this, e.g. 26h or 7d.", valueName: "DURATION"))
    var maxAge: String?

    @Option(help: ArgumentHelp("Write the report to FILE: .json (machine-readable) or .html (one self-contained page). Repeatable.", valueName: "FILE"))
    var report: [String] = []

    func validate() throws {
        if let maxAge, Duration.parse(maxAge) == nil { throw ValidationError("--max-age \(maxAge): use a number and unit, like 26h or 7d") }
        for file in report where !(file.hasSuffix(".json") || file.hasSuffix(".html")) {
            throw ValidationError("--report \(file): the name must end in .json or .html")
        }
    }

    func run() async throws {
        try await guarded {
            let context = try Context(global)
            let text: String
            do { text = try String(contentsOfFile: publicKey, encoding: .utf8) } catch {
                throw PlanVaultError.invalidArgument("cannot read --public-key \(publicKey): \(error.localizedDescription)")
            }
            let key = try AuditPublicKey.parse(text)
            var options = Auditor.Options()
            options.readData = readData
            options.maxAge = maxAge.flatMap(Duration.parse)
            let result = try await Auditor(backend: try context.backend(), publicKey: key, logger: context.logger).audit(options)
            for file in report {
                let bytes = file.hasSuffix(".json") ? try result.json() : Array(AuditHTML.render(result).utf8)
                try FileIO.writeAtomically(bytes, to: file, inDirectory: (URL(fileURLWithPath: file).deletingLastPathComponent().path), mode: 0o644)
            }
            Output.line("audit of \(result.target) (repository \(result.repository.prefix(8)), key \(result.fingerprint.prefix(19))…)")
            Output.line("  \(result.snapshots.count) attested snapshot(s), newest \(result.newestCopy ?? "none"); \(result.checks.count) verification/drill record(s); \(result.objectsChecked) object(s) checked\(readData ? " and hashed" : "")")
            for finding in result.findings { Output.line("FAIL \(finding.message)") }
            for notice in result.notices { Output.line("NOTE \(notice.message)") }
            Output.line("verdict: \(result.verdict)")
            RunLog.done("\(result.snapshots.count) attested snapshot(s), \(result.findings.count) finding(s), verdict \(result.verdict)")
            if !result.passed {
                throw ExitCode(result.findings.allSatisfy { $0.kind == .stale } ? ExitCodes.stale : ExitCodes.verificationFailed)
            }
        }
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
        discussion: "" + HelpLayout.examples("planvault drill", "planvault drill --to /tmp/drill --keep"))

    @OptionGroup(title: "Repository and global options") var global: GlobalOptions

    @Option(help: ArgumentHelp("Scratch folder (default: a new temporary folder, removed afterwards).", valueName: "DIR"))
    var to: String?

    @Flag(help: "Keep the restored files.")
    var keep = false

    @OptionGroup(title: "Choosing snapshots") var filter: SnapshotFilterOptions

    func run() async throws {
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
            let result = try await Restorer(repository: repository, logger: context.logger).restore(snapshot, options: RestoreOptions(destination: scratch), index: index)
            let complete = result.problems.isEmpty && result.files == snapshot.summary.files && result.bytes == snapshot.summary.totalBytes
            let seconds = Date().timeIntervalSince(started)
            if !keep { try? FileManager.default.removeItem(atPath: scratch) }
            var record = AttestationLog.record(.drill, repository: repository, time: started)
            record.check = .init(what: "restore drill of snapshot \(id.prefix(8))", result: complete ? "ok" : "failed", findings: result.problems.count,
                                 detail: String(format: "%d files, %llu bytes in %.1f s", result.files, result.bytes, seconds))
            try await AttestationLog.append(record, writer: writer)
            for problem in result.problems { Output.error("planvault: drill: \(problem.path): \(problem.message)") }
            RunLog.done("snapshot \(id.prefix(8)), \(result.files) of \(snapshot.summary.files) files restored and checked: \(complete ? "OK" : "FAILED")")
            Output.line(String(format: "drill of snapshot %@: %d of %d files, %@ restored and authenticated in %.1f s: %@", String(id.prefix(8)),
                               result.files, snapshot.summary.files, Output.bytes(result.bytes), seconds, complete ? "OK" : "FAILED"))
            if !complete { throw ExitCode(ExitCodes.verificationFailed) }
        }
    }
}
