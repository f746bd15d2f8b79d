import ArgumentParser
import Foundation
import PlanVaultCore

struct SnapshotsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "snapshots", abstract: "List snapshots, oldest first.",
                                                    discussion: "" + HelpLayout.examples("planvault snapshots", "planvault snapshots --host eoc-fileserver --json"))

    @OptionGroup(title: "Repository and global options") var global: GlobalOptions

    @OptionGroup(title: "Choosing snapshots") var filter: SnapshotFilterOptions

    @Flag(help: "Print the list as JSON.")
    var json = false

    struct Entry: Encodable {
        var id: String
        var time: String
        var host: String
        var username: String
        var paths: [String]
        var tags: [String]
        var parent: String?
        var summary: SnapshotSummary
    }

    struct Listing: Encodable {
        var snapshots: [Entry]
        /// Snapshot objects that could not be read (the run exits 4).
        var unreadable: [String]
    }

    func run() async throws {
        try await guarded {
            let context = try Context(global)
            let repository = try await context.openRepository()
            let loaded = try await repository.loadAllSnapshots()
            let list = loaded.snapshots.filter { filter.matches($0.snapshot) }
            if list.isEmpty && !filter.isEmpty && !loaded.snapshots.isEmpty {
                throw PlanVaultError.invalidArgument("no snapshot matches \(filter.description)" + SnapshotChooser.existing(loaded.snapshots))
            }
            RunLog.done("\(list.count) snapshot(s)" + (loaded.damaged.isEmpty ? "" : ", \(loaded.damaged.count) unreadable"))
            for (name, error) in loaded.damaged { Output.error("planvault: snapshot \(name.prefix(8)) unreadable: \(error.localizedDescription)") }
            // An unreadable snapshot is never a quiet omission: the listing ends with exit 4.
            defer { if !loaded.damaged.isEmpty { Output.error("planvault: \(loaded.damaged.count) snapshot(s) could not be read; run `planvault verify`") } }
            if json {
                let entries = list.map { Entry(id: $0.id, time: $0.snapshot.time, host: $0.snapshot.host, username: $0.snapshot.username,
                                               paths: $0.snapshot.paths, tags: $0.snapshot.tags, parent: $0.snapshot.parent, summary: $0.snapshot.summary) }
                try Output.json(Listing(snapshots: entries, unreadable: loaded.damaged.map { $0.name }.sorted()), schema: "planvault.snapshots/1")
                if !loaded.damaged.isEmpty { throw ExitCode(ExitCodes.verificationFailed) }
                return
            }
            // Column widths come from the content: a long host name never shifts the columns after it.
            var table = Table(["ID", "Time", "Host", "Files", "Size", "Paths"], rightAligned: [3, 4])
            for (id, s) in list {
                let time = s.date.map { Self.localTime($0) } ?? s.time
                let tags = s.tags.isEmpty ? "" : "  [\(s.tags.joined(separator: ","))]"
                table.add([String(id.prefix(8)), time, s.host, String(s.summary.files), Output.bytes(s.summary.totalBytes),
                           s.paths.joined(separator: ", ") + tags])
            }
            table.print()
            Output.line("\(list.count) snapshot(s)")
            if !loaded.damaged.isEmpty { throw ExitCode(ExitCodes.verificationFailed) }
        }
    }

    static func localTime(_ date: Date) -> String {
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return f.string(from: date)
    }
}

extension String {
    func leftPad(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}

struct LsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List the files of a snapshot.",
                                                    discussion: "" + HelpLayout.examples("planvault ls latest", "planvault ls 1a2b3c4d plans/Contacts"))

    @OptionGroup(title: "Repository and global options") var global: GlobalOptions

    @Argument(help: "`latest`, a snapshot ID or a unique ID prefix.")
    var snapshot: String

    @Argument(help: "Only this path and what lies below it, or entries matching a glob ('*call*' matches names anywhere, 'plans/Contacts/*.csv' whole paths).")
    var path: String?

    @OptionGroup(title: "Choosing snapshots") var filter: SnapshotFilterOptions

    @Flag(help: "Print the list as JSON.")
    var json = false

    struct Entry: Encodable {
        var path: String
        var type: String
        var mode: String
        var size: UInt64?
        var mtime: String
        var target: String?
    }

    struct Listing: Encodable {
        var snapshot: String
        var entries: [Entry]
    }

    func run() async throws {
        try await guarded {
            let context = try Context(global)
            let repository = try await context.openRepository()
            let (id, snap, _) = try await SnapshotChooser(repository: repository, filter: filter, config: context.config).load(snapshot)
            var nodes = snap.nodes
            if let path, !PathPattern(path).isEmpty {
                // A path or glob that matches nothing is an error: an empty listing reads as "not in the backup".
                let pattern = PathPattern(path)
                let selection = PathPattern.select(snap.nodes, [pattern])
                if !selection.unmatched.isEmpty {
                    throw PlanVaultError.invalidArgument(PathPattern.noMatch(pattern, in: snap.nodes, snapshot: id, option: ""))
                }
                nodes = selection.nodes
            }
            let entries = nodes.map { node in
                Entry(path: node.path, type: node.type.rawValue, mode: String(node.mode, radix: 8), size: node.size,
                      mtime: Timestamps.formatSeconds(node.mtimeNs.floorDividedByBillion), target: node.target)
            }
            if json {
                try Output.json(Listing(snapshot: id, entries: entries), schema: "planvault.ls/1")
                return
            }
            for e in entries {
                let kind = e.type == "dir" ? "d" : e.type == "symlink" ? "l" : "-"
                let size = (e.size.map(String.init) ?? "").leftPad(12)
                Output.line("\(kind) \(e.mode.leftPad(4))  \(size)  \(e.mtime.prefix(19))  \(e.path)\(e.target.map { " -> \($0)" } ?? "")")
            }
        }
    }
}
