import Foundation

/// Where a push spends its time (`push --profile`): busy time per stage, summed over every task
/// that ran it, so stages that run on several cores at once can add up to more than the wall time.
public final class StageTimes: @unchecked Sendable {
    public enum Stage: String, CaseIterable, Sendable {
        case scan = "scan sources"
        case parent = "load parent snapshot"
        case read = "read files"
        case chunk = "cut chunks"
        case hash = "hash chunks"
        case probe = "probe compressibility"
        case compress = "compress"
        case encrypt = "encrypt"
        case bundleHash = "name bundles (SHA-256)"
        case store = "store bundles"
        case readerWaits = "reader waits for sealing/storing"
        case finish = "save index and snapshot"
    }

    private let lock = NSLock()
    private var nanoseconds = [Stage: UInt64]()
    private var bytes = [Stage: UInt64]()
    private var marks = [(label: String, residentBytes: UInt64)]()

    public init() {}

    /// Runs `body` and adds its duration (and `bytes`, when given) to `stage`.
    @inline(__always)
    public func time<T>(_ stage: Stage, bytes count: Int = 0, _ body: () throws -> T) rethrows -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { add(stage, DispatchTime.now().uptimeNanoseconds &- start, bytes: count) }
        return try body()
    }

    public func time<T>(_ stage: Stage, bytes count: Int = 0, _ body: () async throws -> T) async rethrows -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { add(stage, DispatchTime.now().uptimeNanoseconds &- start, bytes: count) }
        return try await body()
    }

    public func add(_ stage: Stage, _ elapsed: UInt64, bytes count: Int = 0) {
        lock.lock()
        nanoseconds[stage, default: 0] &+= elapsed
        bytes[stage, default: 0] &+= UInt64(max(0, count))
        lock.unlock()
    }

    /// Notes the process's resident memory now, after `label` (a step of the push).
    public func markMemory(_ label: String) {
        guard let resident = Self.residentBytes() else { return }
        lock.lock()
        marks.append((label, resident))
        lock.unlock()
    }

    /// Resident memory at each mark, in order.
    public var memoryMarks: [(label: String, residentBytes: UInt64)] {
        lock.lock()
        defer { lock.unlock() }
        return marks
    }

    /// The second field of /proc/self/statm (resident pages) in bytes; nil where there is none.
    static func residentBytes() -> UInt64? {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = UInt64(fields[1]) else { return nil }
        return pages * UInt64(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Each stage that ran: its busy seconds and the bytes it handled.
    public var report: [(stage: Stage, seconds: Double, bytes: UInt64)] {
        lock.lock()
        defer { lock.unlock() }
        return Stage.allCases.compactMap { stage in
            guard let ns = nanoseconds[stage] else { return nil }
            return (stage, Double(ns) / 1e9, bytes[stage] ?? 0)
        }
    }
}
