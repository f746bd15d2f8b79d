import ArgumentParser
import Foundation
import PlanVaultCore

struct FindCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "find",
        abstract: "Find files and folders by name or path in the snapshots, and which snapshots hold them.",
        discussion: """
        A PATTERN without "/" is a glob matched against each entry's name, wherever it lies; one with "/" is matched \
        against the whole path, which starts with the source folder's name (`*` does not cross "/"). Each match is \
        listed with the snapshots that hold it, newest first. Nothing found is exit 1.

        Examples:
          planvault find '*call*' --ignore-case
          planvault find 'plans/Contacts/*.csv' --path /srv/plans
        """)

    @OptionGroup(title: "Repository and global options") var global: GlobalOptions

    @Argument(help: ArgumentHelp("Glob(s) to look for, e.g. '*call*' or 'plans/Contacts/*.csv'.", valueName: "PATTERN"))
    var patterns: [String]

    @Option(help: ArgumentHelp("Search only this snapshot (`latest`, an ID or a unique prefix).", valueName: "ID"))
    var snapshot: String?

    @Flag(name: [.customShort("i"), .long], help: "Match upper and lower case alike.")
    var ignoreCase = false

    @OptionGroup(title: "Choosing snapshots") var filter: SnapshotFilterOptions

    @Flag(help: "Print the matches as JSON.")
    var json = false

    struct Holder: Encodable {
        var id: String
        var time: String
        var host: String
        var size: UInt64?
        var mtime: String
    }

    struct Match: Encodable {
        var path: String
        var type: String
        var snapshots: [Holder]
    }

    struct Report: Encodable {
        var matches: [Match]
        var snapshotsSearched: Int

        enum CodingKeys: String, CodingKey {
            case matches, snapshotsSearched = "snapshots_searched"
        }
    }

    func validate() throws {
        guard !patterns.isEmpty else { throw ValidationError("give at least one PATTERN, e.g. '*call*'") }
        if patterns.contains(where: { PathPattern($0).isEmpty }) { throw ValidationError("a PATTERN names no file: give a name or glob such as '*.csv'") }
    }

    func run() async throws {
        try await guarded {
            let context = try Context(global)
            let repository = try await context.openRepository()
            let index = try await repository.loadIndexWithBundles().load.index
            let chooser = SnapshotChooser(repository: repository, filter: filter, config: context.config)
            var targets: [SnapshotChooser.Listed]
            if let snapshot {
                let chosen = try await chooser.choose(snapshot)
                targets = [(chosen.id, chosen.header)]
            } else {
                targets = try await chooser.filtered().matching
            }
            guard !targets.isEmpty else { throw PlanVaultError.invalidArgument("the repository holds no snapshots yet: push one with `planvault push`") }
            let globs = patterns.map { PathPattern($0, ignoreCase: ignoreCase, alwaysGlob: true) }
            // Newest first; trees shared between snapshots are read once (the repository's tree cache).
            var order = [[UInt8]]()
            var matches = [[UInt8]: Match]()
            for listed in targets.reversed() {
                let snap = try await repository.expandTrees(listed.snapshot, id: listed.id, index: index)
                for node in snap.nodes where globs.contains(where: { $0.matches(node.path) }) {
                    let key = Array(node.path.utf8)
                    let holder = Holder(id: listed.id, time: listed.snapshot.time, host: listed.snapshot.host, size: node.size,
                                        mtime: Timestamps.formatSeconds(node.mtimeNs.floorDividedByBillion))
                    if matches[key] == nil {
                        order.append(key)
                        matches[key] = Match(path: node.path, type: node.type.rawValue, snapshots: [])
                    }
                    matches[key]?.snapshots.append(holder)
                }
            }
            guard !order.isEmpty else {
                let scope = snapshot.map { "snapshot \($0)" } ?? "\(targets.count) snapshot(s)\(filter.isEmpty ? "" : " matching \(filter.description)")"
                throw PlanVaultError.invalidArgument("nothing matches \(patterns.map { "'\($0)'" }.joined(separator: " ")) in \(scope)"
                    + (ignoreCase ? "" : "; try --ignore-case") + ", or a wider glob such as '*\(PathPattern.name(of: patterns[0]).filter { !"*?[]".contains($0) })*'"
                    + " (a pattern without \"/\" matches names; with \"/\" the whole path, starting at the source folder's name)")
            }
            order.sort { $0.lexicographicallyPrecedes($1) }
            let list = order.compactMap { matches[$0] }
            if json {
                try Output.json(Report(matches: list, snapshotsSearched: targets.count), schema: "planvault.find/1")
                return
            }
            let byID = Dictionary(targets.map { ($0.id, $0.snapshot) }, uniquingKeysWith: { a, _ in a })
            for match in list {
                Output.line(match.path + (match.type == "dir" ? "/" : ""))
                for holder in match.snapshots {
                    let when = byID[holder.id].map(SnapshotChooser.when) ?? holder.time
                    let size = holder.size.map(Output.bytes) ?? ""
                    Output.line("  \(holder.id.prefix(8))  \(when)  \(holder.host)  \(size.leftPad(10))  modified \(holder.mtime)")
                }
            }
            let holding = Set(list.flatMap { $0.snapshots.map(\.id) }).count
            Output.line("\(list.count) match(es) in \(holding) of \(targets.count) snapshot(s)")
        }
    }
}
