import ArgumentParser
import Foundation
import PlanVaultCore

struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore a snapshot (or part of it) into a folder, authenticating every byte.",
        discussion: "Needs only the repository address and the passphrase: no cache or config from the original machine.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "`latest`, a snapshot ID or a unique ID prefix.")
    var snapshot: String

    @Option(name: .long, help: ArgumentHelp("Destination folder (created if missing).", valueName: "DIR"))
    var to: String

    @Option(name: .long, help: ArgumentHelp("Restore only this snapshot path and what lies below it (repeatable).", valueName: "PATH"))
    var include: [String] = []

    @Flag(help: "Replace files in the destination that differ from the snapshot (files already identical are always kept).")
    var overwrite = false

    @Option(name: .long, help: ArgumentHelp("Write files matching this glob first and print each as soon as it is on disk (repeatable; added to `first` in the config file). A glob with a / matches the snapshot path, one without matches a name; a matching folder selects all below it.", valueName: "GLOB"))
    var first: [String] = []

    @Option(help: "Only consider snapshots from this host when resolving `latest`.")
    var host: String?

    @Flag(help: "Print the result as JSON.")
    var json = false

    struct Report: Encodable {
        var snapshot: String
        var files: Int
        var directories: Int
        var symlinks: Int
        var bytes: UInt64
        var kept: Int
        var temporaryFilesRemoved: Int
        var problems: [PushCommand.Problem]

        enum CodingKeys: String, CodingKey {
            case snapshot, files, directories, symlinks, bytes, kept, problems, temporaryFilesRemoved = "temporary_files_removed"
        }
    }

    func run() async throws {
        try await guarded {
            let context = try Context(global)
            let repository = try await context.openRepository()
            // The bundles' own headers back up the index: a damaged index file does not block a restore.
            // Loaded first, so reading the snapshot's trees reuses it.
            let index = try await repository.loadIndexWithBundles().load.index
            let (id, snap) = try await repository.resolveSnapshot(snapshot, host: host)
            var options = RestoreOptions(destination: to)
            options.includes = include
            options.overwrite = overwrite
            options.first = context.config.first + first
            if !json { options.onReady = { path in Output.line("ready: \(path)") } }
            let result = try await Restorer(repository: repository, logger: context.logger).restore(snap, options: options, index: index)
            for pattern in result.unmatchedFirst {
                Output.error("planvault: warning: --first \(pattern) matches no file to restore (list paths with `planvault ls`)")
            }
            if json {
                try Output.json(Report(snapshot: id, files: result.files, directories: result.directories, symlinks: result.symlinks,
                                       bytes: result.bytes, kept: result.kept, temporaryFilesRemoved: result.temporaryFilesRemoved,
                                       problems: result.problems.map { .init(path: $0.path, message: $0.message) }))
            } else {
                for problem in result.problems { Output.error("planvault: not restored: \(problem.path): \(problem.message)") }
                if result.temporaryFilesRemoved > 0 {
                    Output.line("removed \(result.temporaryFilesRemoved) temporary file(s) left by an interrupted restore")
                }
                let kept = result.kept > 0 ? "; \(result.kept) already there and identical, kept" : ""
                Output.line("restored snapshot \(id.prefix(8)) to \(to): \(result.files) files (\(Output.bytes(result.bytes))), \(result.directories) folders, \(result.symlinks) symlinks\(kept)")
            }
            if !result.problems.isEmpty {
                let full = result.problems.contains { problem in ExitCodes.noSpaceMessages.contains { problem.message.contains($0) } }
                if !json {
                    Output.error("planvault: \(result.problems.count) item(s) could not be restored"
                                 + (full ? ": the destination \(to) is full; free space there or restore to another folder with --to" : ""))
                }
                throw ExitCode(full ? ExitCodes.noSpace : ExitCodes.failure)
            }
        }
    }
}
