import ArgumentParser
import Foundation
import PlanVaultCore

struct DiffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "List what changed between two snapshots: added (+), removed (-) and changed (M) entries.",
        discussion: """
        A file is changed when its content (chunk list), size, mode or modification time differs; a folder or \
        symlink when its type, mode or target differs (a folder's own mtime moves with every file and is ignored).

        Examples:
          planvault diff 1b2c3d4e latest
          planvault diff 1b2c3d4e 3fa2c1d0 --json
        """)

    @OptionGroup(title: "Repository and global options") var global: GlobalOptions

    @Argument(help: "The older snapshot: `latest`, an ID or a unique ID prefix.")
    var first: String

    @Argument(help: "The newer snapshot: `latest`, an ID or a unique ID prefix.")
    var second: String

    @OptionGroup(title: "Choosing snapshots") var filter: SnapshotFilterOptions

    @Flag(help: "Print the differences as JSON.")
    var json = false

    struct Change: Encodable {
        var path: String
        var type: String
        var what: [String]?
    }

    struct Report: Encodable {
        var from: String
        var to: String
        var added: [Change]
        var removed: [Change]
        var changed: [Change]
    }

    /// What differs between two versions of one path, in words; empty when nothing does.
    static func differences(_ a: SnapshotNode, _ b: SnapshotNode) -> [String] {
        guard a.type == b.type else { return ["type"] }
        var what = [String]()
        switch a.type {
        case .file:
            if a.chunks != b.chunks || a.size != b.size { what.append("content") }
            if a.mtimeNs != b.mtimeNs { what.append("mtime") }
        case .symlink:
            if a.target != b.target { what.append("target") }
        case .dir:
            break
        }
        if a.mode != b.mode { what.append("mode") }
        return what
    }

    func run() async throws {
        try await guarded {
            let context = try Context(global)
            let repository = try await context.openRepository()
            let index = try await repository.loadIndexWithBundles().load.index
            let chooser = SnapshotChooser(repository: repository, filter: filter, config: context.config)
            let a = try await chooser.load(first, index: index)
            let b = try await chooser.load(second, index: index)
            // Keyed by bytes: two names that differ only in Unicode normalisation are two files.
            let old = Dictionary(a.snapshot.nodes.map { (Array($0.path.utf8), $0) }, uniquingKeysWith: { x, _ in x })
            let new = Dictionary(b.snapshot.nodes.map { (Array($0.path.utf8), $0) }, uniquingKeysWith: { x, _ in x })
            var report = Report(from: a.id, to: b.id, added: [], removed: [], changed: [])
            var lines = [([UInt8], String)]()
            for node in b.snapshot.nodes {
                let key = Array(node.path.utf8)
                guard let before = old[key] else {
                    report.added.append(Change(path: node.path, type: node.type.rawValue))
                    lines.append((key, "+  \(node.path)"))
                    continue
                }
                let what = Self.differences(before, node)
                if !what.isEmpty {
                    report.changed.append(Change(path: node.path, type: node.type.rawValue, what: what))
                    lines.append((key, "M  \(node.path)  (\(what.joined(separator: ", ")))"))
                }
            }
            for node in a.snapshot.nodes where new[Array(node.path.utf8)] == nil {
                report.removed.append(Change(path: node.path, type: node.type.rawValue))
                lines.append((Array(node.path.utf8), "-  \(node.path)"))
            }
            if json {
                try Output.json(report, schema: "planvault.diff/1")
                return
            }
            for (_, line) in lines.sorted(by: { $0.0.lexicographicallyPrecedes($1.0) }) { Output.line(line) }
            Output.line("snapshot \(a.id.prefix(8)) → \(b.id.prefix(8)): \(report.added.count) added, \(report.removed.count) removed, \(report.changed.count) changed")
        }
    }
}
