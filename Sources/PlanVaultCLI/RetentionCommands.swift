import ArgumentParser
import Foundation
import PlanVaultCore

/// The `--keep-*` options, shared by `forget`.
struct RetentionOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Keep the newest N snapshots of each host and source set.", valueName: "N"))
    var keepLast: Int?
    @Option(help: ArgumentHelp("Keep the newest snapshot of each of the last N hours (UTC) that have one.", valueName: "N"))
    var keepHourly: Int?
    @Option(help: ArgumentHelp("Keep the newest snapshot of each of the last N days (UTC) that have one.", valueName: "N"))
    var keepDaily: Int?
    @Option(help: ArgumentHelp("Keep the newest snapshot of each of the last N ISO weeks that have one.", valueName: "N"))
    var keepWeekly: Int?
    @Option(help: ArgumentHelp("Keep the newest snapshot of each of the last N months that have one.", valueName: "N"))
    var keepMonthly: Int?
    @Option(help: ArgumentHelp("Keep the newest snapshot of each of the last N years that have one.", valueName: "N"))
    var keepYearly: Int?
    @Option(help: ArgumentHelp("Keep every snapshot within this long of the group's newest (e.g. 30d).", valueName: "DURATION"))
    var keepWithin: String?
    @Option(help: ArgumentHelp("Keep every snapshot with this tag (repeatable).", valueName: "TAG"))
    var keepTag: [String] = []

    /// The policy from these options, or else from the config's `[retention]` table.
    private var keeps: [(name: String, value: Int?)] {
        [("last", keepLast), ("hourly", keepHourly), ("daily", keepDaily), ("weekly", keepWeekly), ("monthly", keepMonthly), ("yearly", keepYearly)]
    }

    /// Checked as the line is parsed, before the lock and the passphrase (exit 64).
    func validate() throws {
        for (name, value) in keeps {
            if let value, value < 1 { throw ValidationError("--keep-\(name) must be at least 1") }
        }
        if let keepWithin, Duration.parse(keepWithin) == nil {
            throw ValidationError("--keep-within \(keepWithin) is not a duration (examples: 36h, 30d, 1w)")
        }
    }

    func policy(fallback: RetentionPolicy?) throws -> RetentionPolicy {
        var policy = RetentionPolicy()
        for (name, value) in keeps {
            // `validate` has refused values below 1.
            guard let value else { continue }
            policy.set(name, value)
        }
        if let keepWithin {
            guard let seconds = Duration.parse(keepWithin) else {
                throw PlanVaultError.usage("--keep-within \(keepWithin) is not a duration (examples: 36h, 30d, 1w)")
            }
            policy.within = seconds
        }
        policy.tags = keepTag
        if policy.isEmpty, let fallback { return fallback }
        return policy
    }
}

struct ForgetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forget",
        abstract: "Remove snapshots by a retention policy (or by ID), with a signed record of which and why.",
        discussion: """
        Snapshots are grouped by host and source set; in each group, newest first, a snapshot is kept while a rule \
        has room for it (as restic decides). With no --keep-* option the config's [retention] table applies, so cron \
        can run `planvault forget --prune` alone. --prune then deletes the data no remaining snapshot needs.

        Examples:
          planvault forget --keep-daily 7 --keep-weekly 5 --keep-monthly 12 --dry-run
          planvault forget --prune
          planvault forget 3fa2c1d0
        """)

    @OptionGroup(title: "Repository and global options") var global: GlobalOptions
    @OptionGroup var retention: RetentionOptions
    @OptionGroup(title: "Choosing snapshots") var filter: SnapshotFilterOptions

    @Argument(help: "Snapshot IDs or unique prefixes to remove (instead of a policy).")
    var snapshots: [String] = []

    @Flag(help: "Print what would be kept and removed, and why; change nothing.")
    var dryRun = false

    @Flag(help: "Afterwards, delete the data that no remaining snapshot needs (see `planvault prune`).")
    var prune = false

    @Option(help: "The policy in your organisation's words, for the signed record (default: the --keep-* rules).")
    var policy: String?

    func run() async throws {
        try await guarded {
            let context = try Context(global)
            let (writer, locks) = try await context.openLockedWriter(exclusive: true)
            try await locks.around {
                var doomed = [String]()
                var rules: RetentionPolicy?
                let chooser = SnapshotChooser(repository: writer.repository, filter: filter, config: context.config)
                for spec in snapshots { doomed.append(try await chooser.choose(spec).id) }
                if snapshots.isEmpty {
                    let policy = try retention.policy(fallback: context.config.retention)
                    guard !policy.isEmpty else {
                        throw PlanVaultError.invalidArgument("no retention policy: give --keep-* options or snapshot IDs, or set a [retention] table in the config")
                    }
                    rules = policy
                    let loaded = try await writer.repository.loadAllSnapshots()
                    for (name, _) in loaded.damaged {
                        Output.error("planvault: snapshot \(name.prefix(8)) cannot be read; it is neither kept nor removed by this run")
                    }
                    // The filters narrow which snapshots the policy sees (restic's semantics); the rest stay untouched.
                    let considered = loaded.snapshots.filter { filter.matches($0.snapshot) }
                    if considered.isEmpty && !filter.isEmpty {
                        throw PlanVaultError.invalidArgument("no snapshot matches \(filter.description)" + SnapshotChooser.existing(loaded.snapshots))
                    }
                    for decision in policy.apply(to: considered) {
                        let time = String(decision.snapshot.time.prefix(19))
                        if dryRun || !global.quiet {
                            Output.line("\(decision.keep ? "keep  " : "remove") \(decision.id.prefix(8))  \(time)  \(decision.group)"
                                        + (decision.keep ? "  (\(decision.reasons.joined(separator: ", ")))" : ""))
                        }
                        if !decision.keep { doomed.append(decision.id) }
                    }
                }
                doomed = Array(Set(doomed)).sorted()
                if dryRun {
                    Output.line("dry run: \(doomed.count) snapshot(s) would be removed; nothing was changed")
                    return
                }
                if doomed.isEmpty {
                    Output.line("nothing to forget")
                } else {
                    try await remove(doomed, policy: policy ?? rules?.description ?? "removed by operator", writer: writer)
                }
                if prune {
                    let report = try await Pruner(writer: writer, logger: context.logger).prune(PruneOptions())
                    PruneCommand.print(report, dryRun: false)
                }
            }
        }
    }

    /// Removes snapshots and records, signed, only those really removed: a refused delete (an
    /// append-only server, an agent token) must not tell the auditor a snapshot is gone.
    private func remove(_ doomed: [String], policy: String, writer: RepositoryWriter) async throws {
        var removed = [String]()
        var refused: PlanVaultError?
        for id in doomed {
            do {
                try await writer.backend.delete(.snapshot, name: id)
                removed.append(id)
            } catch let error as PlanVaultError {
                refused = error
                break
            }
        }
        if !removed.isEmpty {
            var record = AttestationLog.record(.retention, repository: writer.repository)
            record.removed = removed
            record.policy = policy
            try await AttestationLog.append(record, writer: writer)
            RunLog.done("forgot \(removed.count) snapshot(s)")
            Output.line("forgot \(removed.count) snapshot(s): \(removed.map { String($0.prefix(8)) }.joined(separator: ", "))")
        }
        if let refused { throw refused }
    }
}

struct PruneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Delete data that no snapshot needs, and repack mostly unused bundles.",
        discussion: """
        Writes the new index before deleting anything, and deletes in an order a kill cannot turn into a lost chunk. \
        Deletes nothing while any snapshot cannot be read. On an append-only server or under Object Lock it does what \
        it may and names what it could not delete.

        Examples:
          planvault prune --dry-run
          planvault prune --max-unused 10 --max-repack-mib 512
        """)

    @OptionGroup(title: "Repository and global options") var global: GlobalOptions

    @Flag(help: "Print what would be freed; change nothing.")
    var dryRun = false

    @Option(help: ArgumentHelp("Repack a bundle when more than this percentage of it is unused.", valueName: "PERCENT"))
    var maxUnused: Double = 5

    @Option(help: ArgumentHelp("Repack at most this many MiB of bundles in one run.", valueName: "N"))
    var maxRepackMib: Int?

    func validate() throws {
        guard (0...100).contains(maxUnused) else { throw ValidationError("--max-unused must be from 0 to 100") }
        if let maxRepackMib, maxRepackMib < 0 { throw ValidationError("--max-repack-mib must not be negative") }
    }

    func run() async throws {
        try await guarded {
            let context = try Context(global)
            let (writer, locks) = try await context.openLockedWriter(exclusive: true)
            try await locks.around {
                var options = PruneOptions()
                options.dryRun = dryRun
                options.maxUnusedPercent = maxUnused
                options.maxRepackBytes = maxRepackMib.map { UInt64($0) * 1024 * 1024 }
                let report = try await Pruner(writer: writer, logger: context.logger).prune(options)
                Self.print(report, dryRun: dryRun)
                if !report.refused.isEmpty { throw ExitCode(ExitCodes.partial) }
            }
        }
    }

    static func print(_ report: PruneReport, dryRun: Bool) {
        RunLog.done("\(dryRun ? "would delete" : "deleted") \(report.bundlesDeleted) bundle(s), \(Output.bytes(report.bytesFreed)) \(dryRun ? "to free" : "freed")")
        let verb = dryRun ? "would delete" : "deleted"
        Output.line("prune: \(report.bundlesTotal) bundle(s), \(report.chunksKept) chunk(s) still needed, \(report.chunksDropped) not")
        Output.line("prune: \(verb) \(report.bundlesDeleted) bundle(s), freeing \(Output.bytes(report.bytesFreed)); "
                    + (dryRun ? "would repack \(report.bundlesRepacked) into \(report.bundlesWritten) (\(Output.bytes(report.bytesWritten)) to write)"
                              : "repacked \(report.bundlesRepacked) into \(report.bundlesWritten) (\(Output.bytes(report.bytesWritten)) written)"))
        for (object, reason) in report.refused { Output.error("planvault: could not delete \(object): \(reason)") }
    }
}
