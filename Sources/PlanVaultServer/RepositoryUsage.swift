import Foundation
import PlanVaultCore

/// Bytes stored per repository, for `--max-repo-gib`. A repository's total is computed once, by
/// walking its folder at its first upload, and then kept as a running total under a lock: uploads
/// reserve their bytes as they arrive and give back what they do not keep.
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

    /// Gives back bytes: an upload discarded, an object deleted or replaced.
    func release(_ repository: String, _ bytes: Int64) {
        guard limit != nil, bytes > 0 else { return }
        lock.lock()
        defer { lock.unlock() }
        if let current = totals[repository] { totals[repository] = max(0, current - bytes) }
    }

    /// The running total; the first call for a repository walks its folder (under the lock, so no
    /// upload can commit while it is counted). Unfinished uploads (`.tmp-*`) are counted through
    /// their reservations, not here.
    private func total(_ repository: String) -> Int64 {
        if let known = totals[repository] { return known }
        var sum: Int64 = 0
        let root = store.repositoryPath(repository)
        if let walker = FileManager.default.enumerator(atPath: root) {
            while let relative = walker.nextObject() as? String {
                if (relative as NSString).lastPathComponent.hasPrefix(".tmp-") { continue }
                var st = stat()
                if lstat("\(root)/\(relative)", &st) == 0, (st.st_mode & S_IFMT) == S_IFREG { sum += Int64(st.st_size) }
            }
        }
        totals[repository] = sum
        return sum
    }
}
