import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A repository in a local folder or on a mounted share.
///
/// Layout: `config`, `keys/NAME`, `index/NAME`, `snapshots/NAME`, and
/// `bundles/NA/NAME` where NA is the first two hex digits of NAME.
/// Writes go to a temporary file in the destination folder, are fsynced,
/// renamed into place, and the folder is fsynced, so a crash leaves either the
/// whole object or none (plus at most a `.tmp-*` file, which readers ignore).
public struct DirectoryBackend: Backend {
    public let root: String
    public var location: String { root }

    public init(root: String) {
        var path = root
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        self.root = path
    }

    public func folder(_ kind: ObjectKind, name: String) -> String {
        switch kind {
        case .config: return root
        case .bundle: return "\(root)/bundles/\(name.prefix(2))"
        default: return "\(root)/\(kind.rawValue)"
        }
    }

    public func path(_ kind: ObjectKind, name: String) -> String {
        "\(folder(kind, name: name))/\(name)"
    }

    public func prepare() async throws {
        try makeDirectory(root, allowExisting: true)
        for kind in ObjectKind.allCases where kind != .config {
            try makeDirectory("\(root)/\(kind.rawValue)", allowExisting: true)
        }
        for i in 0..<256 {
            try makeDirectory("\(root)/bundles/\(Hex.encode([UInt8(i)]))", allowExisting: true)
        }
        try FileIO.fsyncDirectory("\(root)/bundles")
        try FileIO.fsyncDirectory(root)
    }

    public func list(_ kind: ObjectKind) async throws -> [ObjectInfo] {
        if kind == .config {
            return try await stat(.config, name: ObjectName.config).map { [$0] } ?? []
        }
        if kind == .bundle {
            let bundles = "\(root)/bundles"
            let folders = try await BlockingIO.run { try FileIO.listDirectory(bundles) }
                .filter { $0.utf8.count == 2 }.sorted().map { "\(bundles)/\($0)" }
            return try await Self.listFolders(folders)
        }
        // A kind added in a later version has no folder in an older repository yet: nothing to list.
        if kind == .attestation || kind == .lock, access("\(root)/\(kind.rawValue)", F_OK) != 0 { return [] }
        let folder = "\(root)/\(kind.rawValue)"
        return try await BlockingIO.run { try Self.listFolder(folder) }
    }

    /// Lists the bundle folders `lanes` at a time on I/O threads. On a machine that has never
    /// seen the repository (the alternate site), each object's size is an inode read from disk:
    /// one folder after another would wait for each of those reads in turn.
    static func listFolders(_ folders: [String], lanes: Int = 8) async throws -> [ObjectInfo] {
        let step = max(1, (folders.count + lanes - 1) / lanes)
        return try await withThrowingTaskGroup(of: (Int, [ObjectInfo]).self) { group in
            for start in stride(from: 0, to: folders.count, by: step) {
                let lane = Array(folders[start..<min(folders.count, start + step)])
                group.addTask { (start, try await BlockingIO.run { try lane.flatMap(listFolder) }) }
            }
            var parts = [(Int, [ObjectInfo])]()
            for try await part in group { parts.append(part) }
            return parts.sorted { $0.0 < $1.0 }.flatMap(\.1)
        }
    }

    /// The objects (regular files with valid names) in one folder, with their sizes.
    static func listFolder(_ dir: String) throws -> [ObjectInfo] {
        var out = [ObjectInfo]()
        try FileIO.forEachEntry(in: dir) { folder, name in
            guard ObjectName.isValid(name) else { return }
            var st = Glibc.stat()
            if fstatat(folder, name, &st, AT_SYMLINK_NOFOLLOW) == 0, (st.st_mode & S_IFMT) == S_IFREG {
                out.append(ObjectInfo(name: name, size: UInt64(st.st_size)))
            }
        }
        return out
    }

    public func read(_ kind: ObjectKind, name: String, range: Range<UInt64>?) async throws -> [UInt8] {
        try await BlockingIO.run { try readNow(kind, name: name, range: range) }
    }

    private func readNow(_ kind: ObjectKind, name: String, range: Range<UInt64>?) throws -> [UInt8] {
        try ObjectName.validate(kind, name)
        let p = path(kind, name: name)
        // Not followed, and not waited on: a symlink, FIFO or device planted in the repository is
        // refused rather than read (a FIFO would stall the command, a device could be anything).
        let fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard fd >= 0 else {
            if errno == ENOENT { throw PlanVaultError.objectMissing(kind: kind, name: name) }
            if errno == ELOOP {
                throw PlanVaultError.objectDamaged(kind: kind, name: name, reason: "\(p) is a symbolic link, not a stored object")
            }
            throw PlanVaultError.io(path: p, operation: "open", errno: errno)
        }
        defer { close(fd) }
        var st = Glibc.stat()
        guard fstat(fd, &st) == 0 else { throw PlanVaultError.io(path: p, operation: "stat", errno: errno) }
        guard st.st_mode & S_IFMT == S_IFREG else {
            throw PlanVaultError.objectDamaged(kind: kind, name: name, reason: "\(p) is not a regular file")
        }
        let start: UInt64
        let count: Int
        if let range {
            start = range.lowerBound
            count = Int(range.upperBound - range.lowerBound)
        } else {
            start = 0
            count = Int(st.st_size)
        }
        // Bounded before anything is allocated: a file planted in the repository can be any size.
        guard UInt64(count) <= Limits.maxObjectSize(kind) else {
            throw PlanVaultError.objectDamaged(kind: kind, name: name, reason: "\(count) bytes to read, over the \(Limits.maxObjectSize(kind)) byte limit for a \(kind.singular) (FORMAT.md §14)")
        }
        // Large bundle reads go around the page cache, as bundle writes do (see `DirectIO`), on
        // the same descriptor. A filesystem that cannot do that refuses the flag or the first
        // read (EINVAL), and the read goes through the page cache instead: the same bytes.
        var direct: [UInt8]?
        if kind == .bundle && count >= DirectIO.minimumSize, DirectIO.flag != 0 {
            let flags = fcntl(fd, F_GETFL)
            if flags >= 0, fcntl(fd, F_SETFL, flags | DirectIO.flag) == 0 {
                direct = try DirectIO.read(fd: fd, count: count, offset: start, path: p)
                if direct == nil, fcntl(fd, F_SETFL, flags) != 0 { throw PlanVaultError.io(path: p, operation: "read", errno: errno) }
            }
        }
        let data = try direct ?? FileIO.preadFully(fd: fd, count: count, offset: start, path: p)
        guard data.count == count else {
            throw PlanVaultError.objectDamaged(kind: kind, name: name, reason: "short read: wanted \(count) bytes at offset \(start), the object has only \(data.count) there (truncated?)")
        }
        return data
    }

    public func stat(_ kind: ObjectKind, name: String) async throws -> ObjectInfo? {
        try ObjectName.validate(kind, name)
        var st = Glibc.stat()
        let p = path(kind, name: name)
        guard lstat(p, &st) == 0 else {
            if errno == ENOENT { return nil }
            throw PlanVaultError.io(path: p, operation: "stat", errno: errno)
        }
        return ObjectInfo(name: name, size: UInt64(st.st_size))
    }

    public func write(_ kind: ObjectKind, name: String, data: [UInt8]) async throws {
        try await BlockingIO.run { try writeNow(kind, name: name, data: data) }
    }

    private func writeNow(_ kind: ObjectKind, name: String, data: [UInt8]) throws {
        try ObjectName.validate(kind, name)
        let dir = folder(kind, name: name)
        let final = "\(dir)/\(name)"
        if kind.isContentAddressed, access(final, F_OK) == 0 {
            // Same name, so same content, unless the stored copy was damaged: then this upload is
            // a repair, not an overwrite, and replaces it.
            if let stored = try? FileIO.readFile(final), LibCrypto.sha256(stored).hex == name { return }
            guard LibCrypto.sha256(data).hex == name else {
                throw PlanVaultError.invalidArgument("refusing to replace \(kind.singular) \(name): the new bytes do not hash to its name")
            }
        }
        if kind == .bundle || kind == .attestation || kind == .lock { try makeDirectory(dir, allowExisting: true) }
        try FileIO.writeAtomically(data, to: final, inDirectory: dir, direct: kind == .bundle)
    }

    public func repair(_ kind: ObjectKind, name: String, data: [UInt8]) async throws {
        try ObjectName.validate(kind, name)
        guard kind.isContentAddressed, LibCrypto.sha256(data).hex == name else {
            throw PlanVaultError.invalidArgument("a repair upload must hash to its name (\(kind.singular) \(name))")
        }
        let dir = folder(kind, name: name)
        if kind == .bundle || kind == .attestation { try makeDirectory(dir, allowExisting: true) }
        try FileIO.writeAtomically(data, to: "\(dir)/\(name)", inDirectory: dir)
    }

    /// Removes temporary files that killed writers left behind (`.tmp-*`, older than `age`
    /// seconds, so a write in progress elsewhere is never touched). Returns how many and bytes.
    public func removeStaleTemporaryFiles(olderThan age: TimeInterval = 3600, now: Date = Date()) -> (count: Int, bytes: UInt64) {
        var folders = [root] + ObjectKind.allCases.filter { $0 != .config && $0 != .bundle }.map { "\(root)/\($0.rawValue)" }
        folders += ((try? FileIO.listDirectory("\(root)/bundles")) ?? []).filter { $0.utf8.count == 2 }.map { "\(root)/bundles/\($0)" }
        var removed = 0
        var bytes: UInt64 = 0
        for folder in folders {
            for name in (try? FileIO.listDirectory(folder)) ?? [] where name.hasPrefix(".tmp-") {
                var st = Glibc.stat()
                let path = "\(folder)/\(name)"
                guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG,
                      now.timeIntervalSince1970 - Double(st.st_mtim.tv_sec) > age, unlink(path) == 0 else { continue }
                removed += 1
                bytes += UInt64(st.st_size)
            }
        }
        return (removed, bytes)
    }

    public func delete(_ kind: ObjectKind, name: String) async throws {
        try ObjectName.validate(kind, name)
        let p = path(kind, name: name)
        guard unlink(p) == 0 else {
            if errno == ENOENT { return }
            throw PlanVaultError.io(path: p, operation: "delete", errno: errno)
        }
        try FileIO.fsyncDirectory(folder(kind, name: name))
    }

    private func makeDirectory(_ path: String, allowExisting: Bool) throws {
        if mkdir(path, 0o700) != 0 {
            guard errno == EEXIST, allowExisting else { throw PlanVaultError.io(path: path, operation: "create folder", errno: errno) }
        }
    }
}
