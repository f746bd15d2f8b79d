import ArgumentParser
import Foundation
import PlanVaultCore

/// `--path`, `--tag` and `--host`: which snapshots a command considers, and so what `latest` means
/// (restic's semantics: every --path must be one of the snapshot's source paths, every --tag one of its tags).
struct SnapshotFilterOptions: ParsableArguments {
    @Option(name: .customLong("path"), help: ArgumentHelp("Only snapshots whose source paths include this folder (repeatable: all must be included).", valueName: "PATH"))
    var paths: [String] = []

    @Option(name: .customLong("tag"), help: ArgumentHelp("Only snapshots with this tag (repeatable: all must be present).", valueName: "TAG"))
    var tags: [String] = []

    @Option(help: ArgumentHelp("Only snapshots from this host.", valueName: "HOST"))
    var host: String?

    var isEmpty: Bool { paths.isEmpty && tags.isEmpty && host == nil }

    /// Source paths as push records them: absolute and normalised (a relative one is taken from here).
    var absolutePaths: [String] { paths.map(SnapshotChooser.normalised) }

    func matches(_ snapshot: Snapshot) -> Bool {
        if let host, snapshot.host != host { return false }
        let own = Set(snapshot.paths)
        return absolutePaths.allSatisfy(own.contains) && tags.allSatisfy(snapshot.tags.contains)
    }

    /// The filter in the user's words, for messages.
    var description: String {
        (paths.map { "--path \($0)" } + tags.map { "--tag \($0)" } + (host.map { ["--host \($0)"] } ?? [])).joined(separator: " ")
    }
}

/// Resolves a snapshot argument (`latest`, an ID or a prefix) against the filters and the config's
/// `sources`, and says out loud which snapshot that is.
struct SnapshotChooser {
    typealias Listed = (id: String, snapshot: Snapshot)

    let repository: Repository
    let filter: SnapshotFilterOptions
    /// The config's source set, normalised; empty when the config names none.
    let configSources: [String]

    init(repository: Repository, filter: SnapshotFilterOptions, config: ConfigFile) {
        self.repository = repository
        self.filter = filter
        configSources = config.sources.map(Self.normalised).sorted()
    }

    static func normalised(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.path
    }

    /// Every readable snapshot the filters admit, oldest first. An unreadable snapshot is reported
    /// loudly: it might be one the filters admit.
    func filtered() async throws -> (all: [Listed], matching: [Listed]) {
        let loaded = try await repository.loadAllSnapshots()
        if let (name, error) = loaded.damaged.first {
            throw PlanVaultError.snapshotUnreadable(name: name, reason: error.localizedDescription, others: loaded.damaged.count - 1)
        }
        let matching = loaded.snapshots.filter { filter.matches($0.snapshot) }
        if matching.isEmpty && !filter.isEmpty {
            throw PlanVaultError.invalidArgument("no snapshot matches \(filter.description)" + Self.existing(loaded.snapshots))
        }
        return (loaded.snapshots, matching)
    }

    /// The header of the chosen snapshot, and whether `latest` was decided without any narrowing
    /// by the user (so other source sets deserve a mention).
    func choose(_ spec: String) async throws -> (id: String, header: Snapshot, others: [Listed]) {
        guard spec == "latest" else {
            let id = try await resolveID(spec)
            let header = try await repository.loadSnapshotHeader(id)
            guard filter.matches(header) else {
                throw PlanVaultError.invalidArgument("snapshot \(id.prefix(8)) (\(Self.describeSet(header))) does not match \(filter.description); "
                                                     + "drop the filter or give another snapshot")
            }
            return (id, header, [])
        }
        let (all, matching) = try await filtered()
        var candidates = matching
        if filter.isEmpty && !configSources.isEmpty {
            // The config's own source set: an ad-hoc push of some other folder is not "the latest plans".
            candidates = matching.filter { $0.snapshot.paths.sorted() == configSources }
            if candidates.isEmpty {
                throw PlanVaultError.invalidArgument("no snapshot of the config's sources (\(configSources.joined(separator: ", ")))"
                                                     + Self.existing(all) + "\nchoose one with --path PATH or by its ID")
            }
        }
        guard let newest = try Snapshot.newest(of: candidates) else {
            throw PlanVaultError.invalidArgument("the repository holds no snapshots yet: push one with `planvault push`")
        }
        // Never an older snapshot in silence: the signed records say whether a newer one existed.
        // (Push records carry no tags: with --tag, a newer snapshot of the sources need not be
        // one the filter would have chosen.)
        if filter.tags.isEmpty {
            let missing: Attestation.SnapshotFacts?
            do {
                missing = try await AttestationLog.missingNewerSnapshots(than: newest.snapshot, listed: Set(all.map(\.id)),
                                                                        repository: repository).last
            } catch let error as PlanVaultError {
                throw PlanVaultError.backend(location: repository.backend.location,
                                             message: "the signed records (attestations) that say whether a snapshot newer than \(newest.id.prefix(8)) was lost could not be read: \(error.localizedDescription). To restore without this check, name the snapshot: \(newest.id.prefix(8))")
            }
            if let missing {
                throw PlanVaultError.newerSnapshotMissing(missing: missing.id, missingTime: missing.time, chosen: newest.id, chosenTime: newest.snapshot.time)
            }
        }
        var others = [Listed]()
        if filter.isEmpty {
            let chosenKey = Self.setKey(newest.snapshot)
            var seen: Set<String> = [chosenKey]
            for listed in all.reversed() where seen.insert(Self.setKey(listed.snapshot)).inserted { others.append(listed) }
        }
        return (newest.id, newest.snapshot, others)
    }

    /// `choose`, then the snapshot's trees.
    func load(_ spec: String, index: ChunkIndex? = nil, unreadableFolders: UnreadableFolderPolicy = .fail) async throws
        -> (id: String, snapshot: Snapshot, others: [Listed]) {
        let (id, header, others) = try await choose(spec)
        return (id, try await repository.expandTrees(header, id: id, index: index, unreadableFolders: unreadableFolders), others)
    }

    private func resolveID(_ spec: String) async throws -> String {
        let lowered = spec.lowercased()
        let matches = try await repository.snapshotIDs().filter { $0.hasPrefix(lowered) }
        guard !lowered.isEmpty, let first = matches.first else { throw PlanVaultError.snapshotNotFound(spec) }
        guard matches.count == 1 else { throw PlanVaultError.ambiguousSnapshot(prefix: spec, matches: matches.map { String($0.prefix(12)) }) }
        return first
    }

    /// A source set: host and paths (as `forget` groups snapshots).
    static func setKey(_ s: Snapshot) -> String { ([s.host] + s.paths.sorted()).joined(separator: "\u{0}") }

    static func describeSet(_ s: Snapshot) -> String { "\(s.host): \(s.paths.joined(separator: ", "))" }

    /// What the repository holds: the newest snapshot of each source set, for hints.
    static func existing(_ all: [Listed]) -> String {
        guard !all.isEmpty else { return "; the repository holds no snapshots yet" }
        var seen = Set<String>()
        var lines = [String]()
        for listed in all.reversed() where seen.insert(setKey(listed.snapshot)).inserted {
            lines.append(summaryLine(listed))
        }
        return "; the repository holds (newest snapshot of each source set):\n" + lines.map { "  " + $0 }.joined(separator: "\n")
    }

    /// "3fa2c1d0  2026-12-01 03:00:02 (9 h 2 min ago)  host  /a, /b  [tag]"
    static func summaryLine(_ listed: Listed) -> String {
        let s = listed.snapshot
        let tags = s.tags.isEmpty ? "" : "  [\(s.tags.joined(separator: ","))]"
        return "\(listed.id.prefix(8))  \(when(s))  \(s.host)  \(s.paths.joined(separator: ", "))\(tags)"
    }

    /// Local time with the age in words.
    static func when(_ s: Snapshot) -> String {
        guard let date = s.date else { return s.time }
        return "\(SnapshotsCommand.localTime(date)) (\(Output.duration(max(0, Date().timeIntervalSince(date)))) ago)"
    }

    /// The lines `restore` prints before writing anything: which snapshot, and which others exist.
    static func preamble(id: String, snapshot s: Snapshot, others: [Listed]) -> [String] {
        var lines = ["restoring snapshot \(id.prefix(8)) (\(id))",
                     "  time   \(when(s))",
                     "  host   \(s.host)",
                     "  paths  \(s.paths.joined(separator: ", "))",
                     "  tags   \(s.tags.isEmpty ? "(none)" : s.tags.joined(separator: ", "))"]
        if !others.isEmpty {
            lines.append("the repository also holds other source sets (newest of each; choose one with --path PATH or its ID):")
            lines += others.map { "  " + summaryLine($0) }
        }
        return lines
    }
}
