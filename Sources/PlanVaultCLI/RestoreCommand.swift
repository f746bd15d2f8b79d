import ArgumentParser
import Foundation
import PlanVaultCore

struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore a snapshot (or part of it) into a folder, authenticating every byte.",
        discussion: "Needs only the repository address and the passphrase: no cache or config from the original machine." + HelpLayout.examples("planvault restore latest --to /srv/restored", "planvault restore 1a2b3c4d --to ./plans --include plans/Contacts"))

    @OptionGroup(title: "Repository and global options") var global: GlobalOptions

    @Argument(help: "`latest`, a snapshot ID or a unique ID prefix.")
    var snapshot: String

    @Option(name: .long, help: ArgumentHelp("Destination folder (created if missing).", valueName: "DIR"))
    var to: String

    @Option(name: .long, help: ArgumentHelp("Restore only this snapshot path and what lies below it, or the entries matching a glob such as 'plans/Contacts/*.csv' or '*call*' (repeatable).", valueName: "PATH|GLOB"))
    var include: [String] = []

    @Flag(help: "Replace files in the destination that differ from the snapshot (files already identical are always kept).")
    var overwrite = false

    @OptionGroup(title: "Choosing snapshots") var filter: SnapshotFilterOptions

    @Option(name: .long, help: ArgumentHelp("Write files matching this glob first and print each as soon as it is on disk (repeatable; added to `first` in the config file). A glob with a / matches the snapshot path, one without matches a name; a matching folder selects all below it.", valueName: "GLOB"))
    var first: [String] = []

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
            // A folder whose list of contents is damaged in every copy does not stop the rest:
            // everything else is restored, and each such folder is named (and the exit is non-zero).
            let chosen = try await SnapshotChooser(repository: repository, filter: filter, config: context.config)
                .load(snapshot, index: index, unreadableFolders: .reported)
            let id = chosen.id
            var snap = chosen.snapshot
            // Before anything is written: which snapshot this is, and which other source sets exist.
            if !global.quiet {
                // With --json, standard output carries the report alone.
                for line in SnapshotChooser.preamble(id: id, snapshot: snap, others: chosen.others) {
                    if json { Output.error(line) } else { Output.line(line) }
                }
            }
            if !include.isEmpty {
                // Globs are resolved here; every include must match something (0 files restored is no success).
                try snap.checkPathsAreSafe()
                let patterns = include.map { PathPattern($0) }
                if let empty = patterns.first(where: \.isEmpty) {
                    throw PlanVaultError.usage("--include \"\(empty.text)\" names no path: give a path such as plans/Contacts or a glob such as '*.csv'")
                }
                let selection = PathPattern.select(snap.nodes, patterns, ancestors: true)
                if let missing = selection.unmatched.first {
                    // A path that may lie in a folder whose contents are unknown is reported with those folders.
                    guard !snap.unreadableFolders.isEmpty else {
                        throw PlanVaultError.invalidArgument(PathPattern.noMatch(missing, in: snap.nodes, snapshot: id, option: "--include "))
                    }
                    for pattern in selection.unmatched {
                        Output.error("planvault: --include \(pattern.text) matches nothing that could be read; it may lie in one of the folders below whose contents are unknown")
                    }
                } else {
                    snap.unreadableFolders = snap.unreadableFolders.filter { folder in patterns.contains { $0.couldSelectInside(folder.path) } }
                }
                snap.nodes = selection.nodes
            }
            var options = RestoreOptions(destination: to)
            options.overwrite = overwrite
            options.first = context.config.first + first
            let progress = TerminalProgress.ifTerminal(enabled: !json && !global.quiet)
            if !json {
                options.onReady = { path in
                    // A ready line is never drawn over by the bar.
                    progress?.clearLine()
                    Output.line("ready: \(path)")
                }
            }
            if let progress { options.progress = { @Sendable done, total in progress.update(done: done, total: total) } }
            let result = try await Restorer(repository: repository, logger: context.logger).restore(snap, options: options, index: index)
            progress?.finish()
            RunLog.done("snapshot \(id.prefix(8)) to \(to), \(result.files) files, \(Output.bytes(result.bytes))"
                        + (result.kept > 0 ? ", \(result.kept) kept" : "")
                        + (result.problems.isEmpty ? "" : ", \(result.problems.count) item(s) not restored"))
            for pattern in result.unmatchedFirst {
                Output.error("planvault: warning: --first \(pattern) matches no file to restore (list paths with `planvault ls`)")
            }
            if json {
                try Output.json(Report(snapshot: id, files: result.files, directories: result.directories, symlinks: result.symlinks,
                                       bytes: result.bytes, kept: result.kept, temporaryFilesRemoved: result.temporaryFilesRemoved,
                                       problems: result.problems.map { .init(path: $0.path, message: $0.message) }),
                                schema: "planvault.restore/1")
            } else {
                for problem in result.problems { Output.error("planvault: not restored: \(problem.path): \(problem.message)") }
                if result.temporaryFilesRemoved > 0 {
                    Output.line("removed \(result.temporaryFilesRemoved) temporary file(s) left by an interrupted restore")
                }
                let kept = result.kept > 0 ? "; \(result.kept) already there and identical, kept" : ""
                if !global.quiet || !result.problems.isEmpty { Output.line("restored snapshot \(id.prefix(8)) to \(to): \(result.files) files (\(Output.bytes(result.bytes))), \(result.directories) folders, \(result.symlinks) symlinks\(kept)") }
            }
            if !result.problems.isEmpty {
                let full = result.problems.contains { problem in ExitCodes.noSpaceMessages.contains { problem.message.contains($0) } }
                if !json {
                    Output.error("planvault: \(result.problems.count) item(s) could not be restored"
                                 + (full ? ": the destination \(to) is full; free space there or restore to another folder with --to" : ""))
                    if !snap.unreadableFolders.isEmpty {
                        Output.error("planvault: \(snap.unreadableFolders.count) folder(s) of snapshot \(id.prefix(8)) could not be read from the repository;"
                                     + " `planvault verify` shows the damage, and an older snapshot (`planvault snapshots`) may still hold them")
                    }
                }
                throw ExitCode(full ? ExitCodes.noSpace : ExitCodes.failure)
            }
        }
    }
}
