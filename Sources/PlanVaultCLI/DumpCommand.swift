import ArgumentParser
import Foundation
import PlanVaultCore

struct DumpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "Write one file of a snapshot to standard output, authenticating every chunk.",
        discussion: """
        Examples:
          planvault dump latest 'plans/Contacts/call tree.csv' > call-tree.csv
          planvault dump 3fa2c1d0 plans/BCP/plan.docx > plan.docx
        """)

    @OptionGroup(title: "Repository and global options") var global: GlobalOptions

    @Argument(help: "`latest`, a snapshot ID or a unique ID prefix.")
    var snapshot: String

    @Argument(help: "The file's path in the snapshot (as `planvault ls` shows it).")
    var path: String

    @OptionGroup(title: "Choosing snapshots") var filter: SnapshotFilterOptions

    func run() async throws {
        try await guarded {
            let context = try Context(global)
            let repository = try await context.openRepository()
            let index = try await repository.loadIndexWithBundles().load.index
            let (id, snap, _) = try await SnapshotChooser(repository: repository, filter: filter, config: context.config).load(snapshot, index: index)
            let wanted = PathPattern(path)
            guard !wanted.isGlob else {
                throw PlanVaultError.invalidArgument("dump writes one file: give its exact path, not a glob (find it with `planvault find '\(path)'`)")
            }
            guard let node = snap.nodes.first(where: { wanted.matches($0.path) }) else {
                throw PlanVaultError.invalidArgument(PathPattern.noMatch(wanted, in: snap.nodes, snapshot: id, option: ""))
            }
            switch node.type {
            case .dir:
                throw PlanVaultError.invalidArgument("\(node.path) is a folder in snapshot \(id.prefix(8)); dump writes one file. "
                    + "Restore the folder with `planvault restore \(id.prefix(8)) --include '\(node.path)' --to DIR`, or list it with `planvault ls \(id.prefix(8)) '\(node.path)'`")
            case .symlink:
                throw PlanVaultError.invalidArgument("\(node.path) is a symlink (to \(node.target ?? "?")) in snapshot \(id.prefix(8)); dump writes a file's contents: dump the file it points to")
            case .file:
                break
            }
            guard let chunks = node.chunks, let size = node.size else {
                throw PlanVaultError.objectDamaged(kind: .snapshot, name: id, reason: "\(node.path) has no chunk list or size")
            }
            var written: UInt64 = 0
            for chunk in chunks {
                let plain = try await repository.readChunk(chunk, index: index)
                FileHandle.standardOutput.write(Data(plain))
                written += UInt64(plain.count)
            }
            // The chunks are authentic, but their sum must also be the file the snapshot describes.
            guard written == size else {
                throw PlanVaultError.objectDamaged(kind: .snapshot, name: id, reason: "\(node.path): its chunks hold \(written) bytes, the snapshot records \(size); the output is incomplete")
            }
        }
    }
}
