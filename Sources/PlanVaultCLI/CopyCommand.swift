import ArgumentParser
import Foundation
import PlanVaultCore

struct CopyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy",
        abstract: "Make another target hold the same repository: copy the objects it lacks, checking each one's hash.",
        discussion: """
            Objects are content-addressed, so only what the destination lacks is copied; an interrupted copy resumes \
            when run again. The destination's attestation chain records what it holds: copied snapshots are attested there. \
            Both targets use this run's credentials (PLANVAULT_SERVER_TOKEN, AWS_* keys, --cacert).
            """ + HelpLayout.examples("planvault copy --from /mnt/offsite/planvault --to s3://agency-dr/planvault",
                                      "planvault copy --to https://dr.example.gov:8443/plans"))

    @OptionGroup(title: "Repository and global options") var global: GlobalOptions

    @Option(help: ArgumentHelp("The repository to copy from (default: --repo, PLANVAULT_REPO, or `repo` in the config).", valueName: "URL"))
    var from: String?

    @Option(help: ArgumentHelp("The target to copy to: empty, or an earlier copy of the same repository.", valueName: "URL"))
    var to: String

    @Flag(help: "Print the result as JSON.")
    var json = false

    struct Report: Encodable {
        var from: String
        var to: String
        var objectsCopied: Int
        var bytesCopied: UInt64
        var alreadyPresent: Int
        var snapshotsAttested: [String]
        var problems: [String]
    }

    func run() async throws {
        try await guarded {
            var options = global
            if let from { options.repo = from }
            let context = try Context(options)
            let source = try await context.openRepository()
            let result = try await context.copy(source, to: to)
            let destination = try context.backend(for: to)
            let count = result.copied.values.reduce(0) { $0 + $1.count }
            let bytes = result.copied.values.reduce(UInt64(0)) { $0 + $1.bytes }
            let problems = result.mismatched + result.attestFailures
            if json {
                try Output.json(Report(from: source.backend.location, to: destination.location, objectsCopied: count, bytesCopied: bytes,
                                       alreadyPresent: result.alreadyPresent, snapshotsAttested: result.snapshotsAttested, problems: problems),
                                schema: "planvault.copy/1")
            } else {
                Output.line("copied \(count) object(s) (\(Output.bytes(bytes))) from \(source.backend.location) to \(destination.location); \(result.alreadyPresent) already there")
                let kinds = [ObjectKind.key, .config, .bundle, .index, .snapshot].compactMap { kind in
                    result.copied[kind].map { "\($0.count) \(kind.rawValue)" }
                }
                if !kinds.isEmpty { Output.line("  \(kinds.joined(separator: ", "))") }
                if result.notCopiedAsRemoved > 0 {
                    Output.line("  \(result.notCopiedAsRemoved) snapshot(s) the destination's retention records removed were not brought back")
                }
                if !result.snapshotsAttested.isEmpty { Output.line("  attested \(result.snapshotsAttested.count) snapshot(s) at the destination") }
                for problem in problems { Output.error("planvault: \(problem)") }
            }
            if !result.mismatched.isEmpty {
                if !json { Output.error("planvault: \(result.mismatched.count) object(s) at the destination differ from the source: run `planvault verify --read-data --repo \(to)` and `planvault repair` there") }
                throw ExitCode(ExitCodes.verificationFailed)
            }
            if !result.attestFailures.isEmpty { throw ExitCode(ExitCodes.partial) }
        }
    }
}
