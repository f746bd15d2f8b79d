import ArgumentParser
import Foundation
import PlanVaultCore

struct PushCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push",
        abstract: "Snapshot plan folders into the repository.",
        discussion: "Unchanged files (same size, mtime, ctime and inode as in the last snapshot of the same paths from this host) are not read again. Each push also appends a signed attestation for auditors." + HelpLayout.examples("planvault push --repo /mnt/offsite/plans ~/plans ~/contacts", "planvault push --quiet --tag nightly   # repo and sources from planvault.toml"))

    @OptionGroup(title: "Repository and global options") var global: GlobalOptions

    @Argument(help: "Folders or files to push (default: `sources` from the config file).")
    var paths: [String] = []

    @Option(name: .long, help: ArgumentHelp("Leave out names or paths matching this glob (repeatable).", valueName: "PATTERN"))
    var exclude: [String] = []

    @Option(name: .long, help: ArgumentHelp("Tag for the snapshot (repeatable).", valueName: "TAG"))
    var tag: [String] = []

    @Option(help: "Host name recorded in the snapshot.")
    var host: String?

    @Option(help: ArgumentHelp("Record this time (RFC 3339, e.g. 2026-01-31T02:00:00Z) instead of now, as restic's --time does.", valueName: "TIME"))
    var time: String?

    @Flag(help: "Read every file, even those unchanged since the last snapshot.")
    var force = false

    @Option(help: "zlib level for compressible data: 1 fastest … 9 smallest (default 3, with a search tuned for text: about 4% larger than 4 for a fifth less CPU; 6 saves about 10% of text for 2.5 times the CPU).")
    var compressionLevel: Int?

    /// The config file's compression_level is checked where the file is read (`Settings`).
    func validate() throws {
        if let time, Timestamps.parse(time) == nil {
            throw ValidationError("--time \(time) is not a UTC time in RFC 3339 form ending in Z (example: 2026-01-31T02:00:00Z)")
        }
        if let compressionLevel, !(1...9).contains(compressionLevel) {
            throw ValidationError("--compression-level \(compressionLevel) is out of range: give 1 to 9")
        }
    }

    @Flag(help: "Print the result as JSON.")
    var json = false

    @Flag(help: "Print where the time went, stage by stage (read, chunk, hash, compress, encrypt, store), to standard error.")
    var profile = false

    struct Report: Encodable {
        var snapshot: String
        var parent: String?
        var time: String
        var host: String
        var paths: [String]
        var tags: [String]
        /// As stored in the snapshot, so it equals `snapshots --json` for this snapshot.
        var summary: SnapshotSummary
        /// Everything this run wrote: `summary.bytes_stored` plus the snapshot's own folder
        /// listings, header and their index file.
        var bytesWritten: UInt64
        var problems: [Problem]
        var adoptedBundles: Int
    }

    struct Problem: Encodable {
        var path: String
        var message: String
    }

    func run() async throws {
        if let targets = try? Context(global).pushTargets, targets.count > 1 {
            try await MultiTargetPush(command: self, targets: targets).run()
            return
        }
        try await pushToOneTarget()
    }

    func pushToOneTarget() async throws {
        try await guarded {
            let context = try Context(global)
            let (writer, locks) = try await context.openLockedWriter(exclusive: false)
            try await locks.around {
                var options = PushOptions(paths: paths.isEmpty ? context.config.sources : paths)
                options.excludes = context.config.excludes + exclude
                options.tags = context.config.tags + tag
                options.host = host ?? context.config.host ?? HostInfo.hostname
                options.rereadAll = force
                if let time { options.time = Timestamps.parse(time) }
                options.bundleSize = context.config.bundleSizeMiB.map { $0 * 1024 * 1024 }
                let level = compressionLevel ?? context.config.compressionLevel ?? Int(Zlib.defaultLevel)
                options.compressionLevel = Int32(level)
                if profile { options.times = StageTimes() }
                let started = ContinuousClock.now
                let progress = TerminalProgress.ifTerminal(enabled: !json && !global.quiet)
                var onProgress: (@Sendable (PushProgress) -> Void)?
                if let progress { onProgress = { @Sendable update in progress.update(update) } }
                let archiver = Archiver(writer: writer, logger: context.logger, progress: onProgress,
                                        uploadConcurrency: context.uploadConcurrency(for: writer.backend))
                if let directory = writer.backend as? DirectoryBackend {
                    let stale = directory.removeStaleTemporaryFiles()
                    if stale.count > 0 {
                        context.logger.info("removed \(stale.count) temporary file(s) (\(Output.bytes(stale.bytes))) left by interrupted writes")
                    }
                }
                let result = try await archiver.push(options)
                progress?.finish()
                if let times = options.times { PushProfile.print(times, wall: ContinuousClock.now - started) }
                // Evidence for the auditor: a signed, chained record of this copy, and of any snapshot
                // an interrupted push wrote without its record.
                let record = try await AttestationLog.pushRecord(snapshotID: result.snapshotID, snapshot: result.snapshot,
                                                                 repository: writer.repository, index: result.index, chunkBundles: result.chunkBundles)
                try await AttestationLog.append(record, writer: writer)
                try await attestLeftovers(writer: writer, index: result.index, context: context)
                let s = result.snapshot.summary
                let skipped = result.problems.isEmpty ? "" : ", \(result.problems.count) item(s) skipped"
                let doubtful = result.warnings.isEmpty ? "" : ", \(result.warnings.count) file(s) may be inconsistent"
                RunLog.done("snapshot \(result.snapshotID.prefix(8)), \(s.files) files, \(Output.bytes(s.bytesStored)) new\(skipped)\(doubtful)")
                if json {
                    // The summary as `snapshots` will show it: the stored header's, read back.
                    let stored = try await writer.repository.loadSnapshotHeader(result.snapshotID).summary
                    try Output.json(Report(snapshot: result.snapshotID, parent: result.parent, time: result.snapshot.time, host: result.snapshot.host,
                                           paths: result.snapshot.paths, tags: result.snapshot.tags, summary: stored, bytesWritten: s.bytesStored,
                                           problems: result.problems.map { Problem(path: $0.path, message: $0.message) },
                                           adoptedBundles: result.adoptedBundles), schema: "planvault.push/1")
                } else {
                    for problem in result.problems { Output.error("planvault: skipped \(problem.path): \(problem.message)") }
                }
                if !json && !global.quiet {
                    Output.line("snapshot \(result.snapshotID.prefix(8)) saved")
                    Output.line("  files: \(s.files) (\(s.filesRead) read, \(s.files - s.filesRead) unchanged), folders: \(s.directories), symlinks: \(s.symlinks)")
                    Output.line("  data: \(Output.bytes(s.totalBytes)) in snapshot, \(Output.bytes(s.bytesRead)) read, \(s.newChunks) new chunks, \(Output.bytes(s.bytesStored)) stored")
                }
                // Warnings reach standard error whatever --quiet says: cron mails them.
                for warning in result.warnings { Output.error("planvault: warning: \(warning.path): \(warning.message)") }
                if !result.warnings.isEmpty && result.problems.isEmpty {
                    Output.error("planvault: \(result.warnings.count) file(s) may be inconsistent in this snapshot (exit code 3)")
                    throw ExitCode(ExitCodes.partial)
                }
                if !result.problems.isEmpty {
                    if !json {
                        Output.error("planvault: \(result.problems.count) item(s) could not be read and are not in this snapshot (exit code 3)")
                    }
                    throw ExitCode(ExitCodes.partial)
                }
            }
        }
    }

    /// Attests snapshots a push killed between its snapshot and its record left behind.
    private func attestLeftovers(writer: RepositoryWriter, index: ChunkIndex, context: Context) async throws {
        let outcome = try await AttestationLog.attestUnattested(writer: writer, index: index)
        for id in outcome.attested { context.logger.info("attested snapshot \(id.prefix(8)), which an interrupted push left without its record") }
        for failure in outcome.failures { Output.error("planvault: warning: \(failure)") }
    }
}
