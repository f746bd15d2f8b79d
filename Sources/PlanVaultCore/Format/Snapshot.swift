import Foundation

/// A snapshot: the state of the source paths at one time. The stored object is only its header
/// (JSON, zlib-compressed and sealed as an object of kind `snapshot`; its ID is the SHA-256 of
/// the stored object), naming the root of its directory trees (`tree`). In memory it also holds
/// the flat node list those trees expand to, parents before children.
public struct Snapshot: Codable, Sendable {
    public static let currentVersion = 2
    public var version: Int = currentVersion
    /// RFC 3339 time in UTC, with fractional seconds.
    public var time: String
    public var host: String
    public var username: String
    /// Absolute source paths; each appears in `nodes` under its last path component.
    public var paths: [String]
    public var tags: [String]
    /// ID of the snapshot used to skip unchanged files, if any.
    public var parent: String?
    public var summary: SnapshotSummary
    /// ID (hex) of the root tree; set when the snapshot is saved or loaded.
    public var tree: String?
    /// Every entry, parents before children, sorted by path (not stored: expanded from the trees).
    public var nodes: [SnapshotNode] = []
    /// Every tree the snapshot uses (not stored).
    public var treeIDs: [Digest32] = []
    /// Folders whose contents could not be read, when the trees were expanded with
    /// `unreadableFolders: .reported` (not stored). Their nodes are left out of `nodes`.
    public var unreadableFolders: [UnreadableFolder] = []

    enum CodingKeys: String, CodingKey {
        case version, time, host, username, paths, tags, parent, summary, tree
    }

    public init(time: String, host: String, username: String, paths: [String], tags: [String], parent: String?,
                summary: SnapshotSummary, nodes: [SnapshotNode]) {
        self.time = time
        self.host = host
        self.username = username
        self.paths = paths
        self.tags = tags
        self.parent = parent
        self.summary = summary
        self.nodes = nodes
    }

    public var date: Date? { Timestamps.parse(time) }

    /// `time` as an exact instant; nil when it is not in the form FORMAT.md §9.1 allows.
    public var instant: Timestamps.Instant? { Timestamps.instant(time) }

    /// Snapshot order (FORMAT.md §9.1): by `time` as an instant, a snapshot without a valid time
    /// before every other, then by ID. Not by the text of `time`: `…:30Z` is earlier than
    /// `…:30.754Z`, yet sorts after it as a string. Each time is parsed once.
    /// The newest of `candidates` (oldest first, as `oldestFirst` orders them), or nil when there
    /// are none. One without a valid time cannot be placed and might be the newest, so it is an
    /// error, never skipped (FORMAT.md §14).
    public static func newest(of candidates: [(id: String, snapshot: Snapshot)]) throws -> (id: String, snapshot: Snapshot)? {
        if let timeless = candidates.first(where: { $0.snapshot.instant == nil }) {
            throw PlanVaultError.snapshotWithoutTime(name: timeless.id, time: timeless.snapshot.time)
        }
        return candidates.last
    }

    public static func oldestFirst(_ list: [(id: String, snapshot: Snapshot)]) -> [(id: String, snapshot: Snapshot)] {
        list.map { (listed: $0, instant: $0.snapshot.instant ?? .unknown) }
            .sorted { ($0.instant, $0.listed.id) < ($1.instant, $1.listed.id) }
            .map(\.listed)
    }
}

/// A folder of a snapshot whose tree could not be read from any copy: its contents are unknown.
public struct UnreadableFolder: Sendable, Equatable {
    public var path: String
    public var reason: String
}

public struct SnapshotSummary: Codable, Sendable, Equatable {
    public var files: Int = 0
    public var directories: Int = 0
    public var symlinks: Int = 0
    /// Bytes of file content in the snapshot.
    public var totalBytes: UInt64 = 0
    /// Files read this run (the rest were unchanged since the parent).
    public var filesRead: Int = 0
    public var bytesRead: UInt64 = 0
    public var newChunks: Int = 0
    public var newBundles: Int = 0
    /// Bytes written to the target this run (bundles, index, snapshot).
    public var bytesStored: UInt64 = 0
    /// Sources that could not be read and are not in the snapshot.
    public var errors: Int = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case files, directories, symlinks
        case totalBytes = "total_bytes", filesRead = "files_read", bytesRead = "bytes_read"
        case newChunks = "new_chunks", newBundles = "new_bundles", bytesStored = "bytes_stored", errors
    }
}

public enum NodeType: String, Codable, Sendable {
    case file, dir, symlink
}

public struct SnapshotNode: Sendable, Equatable {
    /// Relative path, "/"-separated; its first component is a source's name.
    public var path: String
    public var type: NodeType
    /// Permission bits (07777).
    public var mode: UInt32
    /// Modification time, nanoseconds since the Unix epoch.
    public var mtimeNs: Int64
    public var size: UInt64?
    /// Status-change time, device and inode at push time, used to skip unchanged files next time.
    public var ctimeNs: Int64?
    public var inode: UInt64?
    public var device: UInt64?
    /// Chunk IDs in order; files only. Held as 32-byte values (hex only in JSON): a snapshot of
    /// 100,000 files holds as many of them, and a hex string takes over three times the memory.
    public var chunks: [Digest32]?
    /// Link target; symlinks only.
    public var target: String?

    public init(path: String, type: NodeType, mode: UInt32, mtimeNs: Int64, size: UInt64? = nil, inode: UInt64? = nil,
                device: UInt64? = nil, chunks: [Digest32]? = nil, target: String? = nil) {
        self.path = path
        self.type = type
        self.mode = mode
        self.mtimeNs = mtimeNs
        self.size = size
        self.inode = inode
        self.device = device
        self.chunks = chunks
        self.target = target
    }

}

public enum Timestamps {
    /// "YYYY-MM-DDTHH:MM:SSZ" for whole seconds since the epoch, without a date formatter
    /// (one formatter per line made `ls` of a million files take minutes).
    public static func formatSeconds(_ seconds: Int64) -> String {
        var time = time_t(seconds)
        var parts = tm()
        guard gmtime_r(&time, &parts) != nil else { return "\(seconds)s" }
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let year = Int(parts.tm_year) + 1900
        let yearText = year >= 0 && year < 10000 ? String(repeating: "0", count: max(0, 4 - String(year).count)) + String(year) : String(year)
        return "\(yearText)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }

    public static func format(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: date)
    }

    public static func parse(_ s: String) -> Date? {
        instant(s).map { Date(timeIntervalSince1970: Double($0.seconds) + Double($0.nanoseconds) / 1e9) }
    }

    /// A point in time to the nanosecond: compared exactly, unlike `Date` (a Double).
    public struct Instant: Comparable, Sendable {
        public var seconds: Int64
        public var nanoseconds: Int32

        /// Before every time: where a time that cannot be read sorts.
        public static let unknown = Instant(seconds: .min, nanoseconds: 0)

        public static func < (a: Instant, b: Instant) -> Bool {
            (a.seconds, a.nanoseconds) < (b.seconds, b.nanoseconds)
        }
    }

    /// The instant a time in the written form names (FORMAT.md §9.1), whatever number of fraction
    /// digits it has: proleptic Gregorian, year 0000–9999, a day that exists in its month, hour
    /// 00–23, minute 00–59, second 00–60 (60, a leap second, is the next minute's 00). Plain
    /// arithmetic, no date parser: ICU traps on some inputs (a fraction of dozens of digits, found
    /// by fuzzing), and sorting thousands of snapshots must not build a formatter per comparison.
    public static func instant(_ s: String) -> Instant? {
        guard hasWrittenShape(s) else { return nil }
        let u = Array(s.utf8)
        func number(_ range: Range<Int>) -> Int64 { u[range].reduce(0) { $0 * 10 + Int64($1 - 48) } }
        let year = number(0..<4), month = number(5..<7), day = number(8..<10)
        let hour = number(11..<13), minute = number(14..<16), second = number(17..<19)
        guard (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year), hour <= 23, minute <= 59, second <= 60 else {
            return nil
        }
        var nanoseconds: Int64 = 0, scale: Int64 = 100_000_000
        for c in u.dropFirst(20).dropLast() {
            nanoseconds += Int64(c - 48) * scale
            scale /= 10
        }
        let days = daysFromCivil(year: year, month: month, day: day)
        return Instant(seconds: days * 86_400 + hour * 3600 + minute * 60 + second, nanoseconds: Int32(nanoseconds))
    }

    static func daysIn(month: Int64, year: Int64) -> Int64 {
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        return [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][Int(month - 1)]
    }

    /// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil).
    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// "YYYY-MM-DDTHH:MM:SS", an optional "." and 1 to 9 digits, then "Z" (RFC 3339 UTC, FORMAT.md).
    static func hasWrittenShape(_ s: String) -> Bool {
        let u = Array(s.utf8)
        let digit = { (c: UInt8) in c >= 48 && c <= 57 }
        let pattern = Array("dddd-dd-ddTdd:dd:dd".utf8)
        guard u.count >= pattern.count + 1, u.last == UInt8(ascii: "Z") else { return false }
        for (c, p) in zip(u, pattern) where p == UInt8(ascii: "d") ? !digit(c) : c != p { return false }
        let fraction = u[pattern.count..<(u.count - 1)]
        if fraction.isEmpty { return true }
        return fraction.first == UInt8(ascii: ".") && (2...10).contains(fraction.count) && fraction.dropFirst().allSatisfy(digit)
    }
}

extension Int64 {
    /// Whole seconds of a nanosecond count, rounded towards minus infinity (so times before 1970
    /// keep a non-negative nanosecond part).
    public var floorDividedByBillion: Int64 {
        let (q, r) = quotientAndRemainder(dividingBy: 1_000_000_000)
        return r < 0 ? q - 1 : q
    }

    /// The nanosecond part, 0 ..< 1e9, matching `floorDividedByBillion`.
    public var nanosecondsPart: Int64 {
        let r = self % 1_000_000_000
        return r < 0 ? r + 1_000_000_000 : r
    }
}
