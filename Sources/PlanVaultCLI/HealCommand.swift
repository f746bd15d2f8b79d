import ArgumentParser
import Foundation
import PlanVaultCore

/// `planvault repair`: puts back what can be put back, and says exactly what cannot.
struct HealCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repair",
        abstract: "Heal the repository: config, index, and damaged bundles from the sources.",
        discussion: """
        1. A lost or altered config is written back from the copy every key file authenticates.
        2. Every bundle is read and checked; bundles no index names are indexed.
        3. The chunks of damaged or lost bundles are stored again from the source folders (the PATHs given, or \
        `sources` in the config), as a new snapshot.
        4. Damaged bundles whose every chunk now has an intact copy are deleted (unless --keep-damaged, or the \
        target refuses deletes).

        It ends by naming any file of any snapshot that still cannot be restored, with exit code 4.

        Examples:
          planvault repair /srv/plans
          planvault repair --keep-damaged
        """ + HelpLayout.examples("planvault repair", "planvault repair ~/plans ~/contacts   # store damaged chunks again from the sources"))

    @OptionGroup(title: "Repository and global options") var global: GlobalOptions

    @Argument(help: "Source folders to read again (default: `sources` in the config).")
    var paths: [String] = []

    @Flag(help: "Leave damaged bundles in place after their chunks are stored again.")
    var keepDamaged = false

    func run() async throws {
        try await guarded {
            let context = try Context(global)
            let backend = try context.backend()
            let repository = try await context.open(backend, acceptAlteredConfig: true)
            let writer = RepositoryWriter(repository: repository, backend: backend)
            let locks = try await context.repositoryLock(writer, exclusive: true)
            try await locks.around { try await heal(repository: repository, writer: writer, backend: backend, context: context) }
        }
    }

    private func heal(repository: Repository, writer: RepositoryWriter, backend: any Backend, context: Context) async throws {
        do {
            var unresolved = 0

            if let problem = repository.configProblem {
                Output.line("config: \(problem)")
                if try await backend.stat(.config, name: ObjectName.config) != nil {
                    try await backend.delete(.config, name: ObjectName.config)
                }
                try await backend.write(.config, name: ObjectName.config, data: repository.configBytes)
                Output.line("config: written back from the key file's authenticated copy")
            }

            // Bundles no index names are indexed first, from their headers alone, so that the
            // full check below reads every record of them too: a copy counts only once it has
            // been read intact in this run, never on the word of its header.
            let load = try await repository.loadIndex()
            let unindexed = try await repository.unindexedBundles(index: load.index)
            if !unindexed.isEmpty {
                let saved = try await writer.saveIndexFiles(unindexed)
                Output.line("index: \(unindexed.count) unindexed bundle(s) indexed in \(saved.map { String($0.prefix(8)) }.joined(separator: ", "))")
            }

            var options = VerifyOptions()
            options.readData = .all
            let report = try await Checker(repository: repository, logger: context.logger).verify(options)
            let damaged = Set(report.findings.filter { $0.kind == "bundle" }.compactMap { Digest32(hex: $0.object) })
            Output.line("checked \(report.bundlesRead) bundle(s): \(damaged.count) damaged or missing")

            if !damaged.isEmpty {
                let sources = paths.isEmpty ? context.config.sources : paths
                if sources.isEmpty {
                    Output.error("planvault: give the source folders (or set `sources` in the config) to store the damaged bundles' chunks again")
                } else {
                    var push = PushOptions(paths: sources)
                    push.excludes = context.config.excludes
                    push.host = context.config.host ?? HostInfo.hostname
                    push.rereadAll = true
                    push.avoidBundles = damaged
                    let result = try await Archiver(writer: writer, logger: context.logger).push(push)
                    let record = try await AttestationLog.pushRecord(snapshotID: result.snapshotID, snapshot: result.snapshot,
                                                                     repository: repository, index: result.index, chunkBundles: result.chunkBundles)
                    try await AttestationLog.append(record, writer: writer)
                    Output.line("stored \(result.snapshot.summary.newChunks) chunk(s) again from the sources (snapshot \(result.snapshotID.prefix(8)))")
                }
            }

            // What still depends on a damaged bundle, with no other copy.
            var index = try await repository.loadIndexWithBundles().load.index
            index.forget(damaged)
            let snapshots = try await repository.loadAllSnapshots(withNodes: true, index: index)
            var lost = [String]()
            for (id, snapshot) in snapshots.snapshots {
                for node in snapshot.nodes where node.type == .file {
                    if (node.chunks ?? []).contains(where: { !index.contains($0) }) {
                        lost.append("\(id.prefix(8)):\(node.path)")
                    }
                }
            }
            for file in lost.prefix(50) { Output.error("planvault: cannot be restored (no intact copy, and the sources no longer have it): \(file)") }
            if lost.count > 50 { Output.error("planvault: ... and \(lost.count - 50) more") }
            unresolved += lost.count + snapshots.damaged.count
            for (name, error) in snapshots.damaged { Output.error("planvault: snapshot \(name.prefix(8)) is unreadable: \(error.localizedDescription)") }

            if !damaged.isEmpty && lost.isEmpty && !keepDamaged {
                try await removeDamaged(damaged, index: index, writer: writer)
            }
            for id in try await AttestationLog.reattestStale(writer: writer) {
                Output.line("re-attested snapshot \(id.prefix(8)) with the objects it now uses")
            }
            if unresolved > 0 {
                Output.error("planvault: repair finished with \(unresolved) item(s) that cannot be restored")
                throw ExitCode(ExitCodes.verificationFailed)
            }
            Output.line("repair complete: every snapshot can be restored")
        }
    }

    /// Deletes damaged bundles, then replaces the index files by one that no longer names them:
    /// the new index is written before any old one is deleted, so the index is never incomplete.
    private func removeDamaged(_ damaged: Set<Digest32>, index: ChunkIndex, writer: RepositoryWriter) async throws {
        var removed = 0
        for bundle in damaged.sorted() {
            do {
                try await writer.backend.delete(.bundle, name: bundle.hex)
                removed += 1
                Output.line("removed damaged bundle \(bundle.hex.prefix(12)) (every chunk has an intact copy)")
            } catch let error as PlanVaultError {
                Output.error("planvault: damaged bundle \(bundle.hex.prefix(12)) left in place: \(error.localizedDescription)")
            }
        }
        guard removed > 0 else { return }
        let oldFiles = try await writer.backend.list(.index).map(\.name)
        let saved = try await writer.saveIndexFiles(index.indexedBundles())
        for name in oldFiles where !saved.contains(name) {
            do {
                try await writer.backend.delete(.index, name: name)
            } catch let error as PlanVaultError {
                Output.error("planvault: old index file \(name.prefix(8)) left in place: \(error.localizedDescription)")
            }
        }
        Output.line("index: rewritten as \(saved.map { String($0.prefix(8)) }.joined(separator: ", ")) without the removed bundles")
    }
}
