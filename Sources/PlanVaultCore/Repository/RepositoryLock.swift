import Foundation
import Logging

/// A lock object in the repository (FORMAT.md §15), so hosts that share a target coordinate:
/// pushes, verifications and drills share it; forget, prune and repair need it alone; and
/// appending to the attestation chain takes a short exclusive lock of its own.
public struct LockRecord: Codable, Sendable, Equatable {
    public enum Purpose: String, Codable, Sendable {
        case repository
        /// Held only while one attestation is appended, so two hosts never fork the chain.
        case chain
    }

    public var format = "planvault-lock"
    public var version = 1
    public var repository: String
    public var purpose: Purpose
    public var exclusive: Bool
    public var host: String
    public var pid: Int32
    public var username: String
    /// When the holder took the lock, and when it last refreshed it.
    public var created: String
    public var refreshed: String

    public var refreshedDate: Date { Timestamps.parse(refreshed) ?? .distantPast }

    func conflicts(with other: LockRecord) -> Bool {
        purpose == other.purpose && (exclusive || other.exclusive)
    }

    /// A lock is stale when its holder has not refreshed it for `staleAfter`, or at once when the
    /// holder ran on this host and its process is gone. A lock refreshed more than `staleAfter`
    /// in the future is stale too: no clock is that far off, and it would otherwise block every
    /// other holder for as long as it claims.
    func isStale(now: Date) -> Bool {
        let age = now.timeIntervalSince(refreshedDate)
        if age > RepositoryLock.staleAfter || age < -RepositoryLock.staleAfter { return true }
        if host == HostInfo.hostname, pid > 0, kill(pid, 0) != 0, errno == ESRCH { return true }
        return false
    }

    public var holderDescription: String {
        "\(exclusive ? "an exclusive" : "a shared") lock held by \(username)@\(host) (PID \(pid)) \(DurationWords.since(created))"
    }
}

/// A held repository lock. Refreshed in the background while held; `release()` deletes it.
public final class RepositoryLock: @unchecked Sendable {
    /// Holders refresh every `refreshInterval`; a lock not refreshed for `staleAfter` is ignored.
    public static let refreshInterval: TimeInterval = 5 * 60
    public static let staleAfter: TimeInterval = 30 * 60

    let backend: any Backend
    let logger: Logger
    private let stateLock = NSLock()
    private var record: LockRecord
    private var name: String
    private var refresher: Task<Void, Never>?

    init(backend: any Backend, record: LockRecord, name: String, logger: Logger) {
        self.backend = backend
        self.record = record
        self.name = name
        self.logger = logger
    }

    /// Takes a lock, waiting up to `wait` seconds (printing that it waits) for a conflicting one.
    public static func acquire(backend: any Backend, repository: String, purpose: LockRecord.Purpose = .repository, exclusive: Bool,
                               wait: TimeInterval, logger: Logger, onWait: (@Sendable (String) -> Void)? = nil) async throws -> RepositoryLock {
        let now = Timestamps.format(Date())
        let record = LockRecord(repository: repository, purpose: purpose, exclusive: exclusive, host: HostInfo.hostname, pid: getpid(),
                                username: HostInfo.username, created: now, refreshed: now)
        let deadline = Date().addingTimeInterval(wait)
        var delay: TimeInterval = 0.05
        var announced = false
        while true {
            if let holder = try await conflict(for: record, backend: backend, ownName: nil) {
                guard Date() < deadline else { throw PlanVaultError.repositoryLocked(holder: holder.holderDescription, location: backend.location, waited: wait) }
                if !announced {
                    // Said even when the caller gave no printer: a wait is never silent.
                    let message = "waiting up to \(DurationWords.text(wait)) for \(holder.holderDescription)"
                    if let onWait { onWait(message) } else { logger.notice("\(message)") }
                    announced = true
                }
                try await Task.sleep(nanoseconds: UInt64(min(delay, max(0, deadline.timeIntervalSinceNow)) * 1e9))
                delay = min(delay * 2, 2)
                continue
            }
            let name = try await write(record, backend: backend)
            // Two takers can write at once: each checks again and, on a conflict, steps back.
            if let holder = try await conflict(for: record, backend: backend, ownName: name) {
                try? await backend.delete(.lock, name: name)
                guard Date() < deadline else { throw PlanVaultError.repositoryLocked(holder: holder.holderDescription, location: backend.location, waited: wait) }
                try await Task.sleep(nanoseconds: UInt64(Double.random(in: 0.02...0.2) * 1e9))
                continue
            }
            let lock = RepositoryLock(backend: backend, record: record, name: name, logger: logger)
            lock.startRefreshing()
            return lock
        }
    }

    /// Runs `body` holding the lock, and releases it afterwards (also when `body` throws).
    public func around<T>(_ body: () async throws -> T) async throws -> T {
        do {
            let result = try await body()
            await release()
            return result
        } catch {
            await release()
            throw error
        }
    }

    public func release() async {
        let name: String = stateLock.withLock {
            refresher?.cancel()
            refresher = nil
            return self.name
        }
        do { try await backend.delete(.lock, name: name) } catch {
            logger.warning("the repository lock \(name.prefix(12)) could not be removed; it goes stale in \(Int(Self.staleAfter / 60)) minutes")
        }
    }

    private func startRefreshing() {
        let task = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: UInt64(Self.refreshInterval * 1e9))
                guard !Task.isCancelled, let self else { return }
                await self.refresh()
            }
        }
        stateLock.withLock { refresher = task }
    }

    /// Writes a fresh copy of the lock, then deletes the old one.
    private func refresh() async {
        var next = stateLock.withLock { record }
        next.refreshed = Timestamps.format(Date())
        do {
            let newName = try await Self.write(next, backend: backend)
            let old = stateLock.withLock { () -> String in
                let old = name
                record = next
                name = newName
                return old
            }
            try? await backend.delete(.lock, name: old)
        } catch {
            logger.warning("the repository lock could not be refreshed: \((error as? PlanVaultError)?.localizedDescription ?? "\(error)")")
        }
    }

    static func write(_ record: LockRecord, backend: any Backend) async throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let bytes = Array(try encoder.encode(record))
        let name = LibCrypto.sha256(bytes).hex
        try await backend.write(.lock, name: name, data: bytes)
        return name
    }

    /// The first live lock that conflicts with `record` (other than our own); stale locks of a
    /// dead process on this host are removed on the way.
    static func conflict(for record: LockRecord, backend: any Backend, ownName: String?) async throws -> LockRecord? {
        let now = Date()
        for info in try await backend.list(.lock) where info.name != ownName && info.size <= 64 * 1024 {
            guard let bytes = try? await backend.read(.lock, name: info.name, range: nil),
                  let other = try? JSONDecoder().decode(LockRecord.self, from: Data(bytes)),
                  other.format == "planvault-lock", other.repository == record.repository else { continue }
            if other.isStale(now: now) {
                if other.host == HostInfo.hostname { try? await backend.delete(.lock, name: info.name) }
                continue
            }
            if record.conflicts(with: other) { return other }
        }
        return nil
    }
}
