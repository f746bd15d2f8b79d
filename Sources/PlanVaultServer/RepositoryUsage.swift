import Foundation
import PlanVaultCore

/// Bytes stored per repository, for `--max-repo-gib`. A repository's total is computed once, by
/// walking its folder before its first upload (`prepare`), and then kept as a running total under
/// a lock: uploads reserve their bytes as they arrive and give back what they do not keep.
final class RepositoryUsage: @unchecked Sendable {
    let store: ObjectStore
    /// Nil: no limit, and nothing is counted.
    let limit: Int64?
    private let lock = NSLock()
    private var totals: [String: Int64] = [:]

    init(store: ObjectStore, limit: Int64?) {
        self.store = store
        self.limit = limit
    }

    /// Whether `bytes` more would fit, without reserving them (to refuse early on Content-Length).
    func fits(_ repository: String, _ bytes: Int64) -> Bool {
        guard let limit else { return true }
        lock.lock()
        defer { lock.unlock() }
        let (sum, overflow) = total(repository).addingReportingOverflow(bytes)
        return !overflow && sum <= limit
    }

    /// Reserves `bytes` for an upload; false (nothing reserved) if they would take the repository past the limit.
    func reserve(_ repository: String, _ bytes: Int64) -> Bool {
        guard let limit else { return true }
        lock.lock()
        defer { lock.unlock() }
        let (sum, overflow) = total(repository).addingReportingOverflow(bytes)
        guard !overflow, sum <= limit else { return false }
        totals[repository] = sum
        return true
    }

    /// Counts bytes stored without a reservation (an upload let past the limit because the same
    /// object was stored, which was deleted meanwhile): they are on disk, so they count even past
    /// the limit.
    func add(_ repository: String, _ bytes: Int64) {
        guard limit != nil, bytes > 0 else { return }
        lock.lock()
        defer { lock.unlock() }
        if let current = totals[repository] { totals[repository] = current &+ bytes }
    }

    /// Counts a repository's stored bytes before its first upload, on an I/O thread and outside
    /// the lock, so that walking a large repository holds up neither other repositories' uploads
    /// nor the threads that serve connections. Uploads call it before `fits` and `reserve`.
    func prepare(_ repository: String) async throws {
        guard limit != nil, known(repository) == nil else { return }
        let root = store.repositoryPath(repository)
        let sum = try await BlockingIO.run { Self.storedBytes(below: root) }
        keepFirstCount(repository, sum)
    }

    /// Another upload's count may have been kept first, and may already hold reservations.
    private func keepFirstCount(_ repository: String, _ sum: Int64) {
        lock.lock()
        defer { lock.unlock() }
        if totals[repository] == nil { totals[repository] = sum }
    }

    private func known(_ repository: String) -> Int64? {
        lock.lock()
        defer { lock.unlock() }
        return totals[repository]
    }

    /// Gives back bytes: an upload discarded, an object deleted or replaced.
    func release(_ repository: String, _ bytes: Int64) {
        guard limit != nil, bytes > 0 else { return }
        lock.lock()
        defer { lock.unlock() }
        if let current = totals[repository] { totals[repository] = max(0, current - bytes) }
    }

    /// The running total (under the lock); counted here only if `prepare` was not called.
    private func total(_ repository: String) -> Int64 {
        if let known = totals[repository] { return known }
        let sum = Self.storedBytes(below: store.repositoryPath(repository))
        totals[repository] = sum
        return sum
    }

    /// The sizes of the regular files below `root`. Unfinished uploads (`.tmp-*`) are counted
    /// through their reservations, not here.
    private static func storedBytes(below root: String) -> Int64 {
        var sum: Int64 = 0
        if let walker = FileManager.default.enumerator(atPath: root) {
            while let relative = walker.nextObject() as? String {
                if (relative as NSString).lastPathComponent.hasPrefix(".tmp-") { continue }
                sum &+= ObjectStore.regularFileSize("\(root)/\(relative)")
            }
        }
        return sum
    }
}
