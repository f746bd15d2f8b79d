import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension Restorer {
    /// Takes complete files into place as a restore goes. A priority (`--first`) file is synced
    /// on its own and announced at once. The others wait in a batch that one syncfs makes durable,
    /// started about every second on an I/O thread while reading goes on: a restore interrupted
    /// later has them under their real names (and a run again keeps them), without paying one
    /// fsync per small file or stopping the reads while the disk catches up.
    struct Commits {
        let dest: Destination
        let descriptors: PartialDescriptors
        let onReady: (@Sendable (String) -> Void)?
        private var pending = [Int]()
        /// The batch whose syncfs is running, if any; it is renamed once that has returned.
        private var syncing: (batch: [Int], sync: Task<Void, any Error>, finished: Flag)?
        private var lastFlush = ContinuousClock.now
        private static let interval = Swift.Duration.seconds(1)

        init(dest: Destination, descriptors: PartialDescriptors, onReady: (@Sendable (String) -> Void)?) {
            self.dest = dest
            self.descriptors = descriptors
            self.onReady = onReady
        }

        /// File `i` has all its bytes written.
        mutating func complete(_ i: Int, priority: Bool, files: inout [FileJob], result: inout RestoreResult) throws {
            guard priority else {
                pending.append(i)
                return
            }
            if commit(i, durable: true, files: &files, result: &result) { onReady?(files[i].node.path) }
        }

        /// Renames the batch whose sync has returned, and starts the next sync when one is due.
        mutating func flushIfDue(files: inout [FileJob], result: inout RestoreResult) async throws {
            if let running = syncing, running.finished.isSet { try await finishSync(files: &files, result: &result) }
            guard syncing == nil, !pending.isEmpty, ContinuousClock.now - lastFlush >= Self.interval else { return }
            lastFlush = ContinuousClock.now
            let dest = self.dest, finished = Flag()
            let sync = Task {
                defer { finished.set() }
                try await BlockingIO.run { try dest.sync() }
            }
            syncing = (pending, sync, finished)
            pending = []
        }

        /// Makes every completed file's data durable, then renames them: after a crash a real
        /// name never holds a partly written file. A failed sync is thrown (the caller discards them).
        mutating func flush(files: inout [FileJob], result: inout RestoreResult) async throws {
            try await finishSync(files: &files, result: &result)
            lastFlush = ContinuousClock.now
            guard !pending.isEmpty else { return }
            let dest = self.dest
            try await BlockingIO.run { try dest.sync() }
            for i in pending { commit(i, durable: false, files: &files, result: &result) }
            pending = []
        }

        /// Waits for the running sync, if any, and renames its batch.
        private mutating func finishSync(files: inout [FileJob], result: inout RestoreResult) async throws {
            guard let running = syncing else { return }
            syncing = nil
            // A failed sync throws before any rename: the caller discards every file not settled.
            try await running.sync.value
            for i in running.batch { commit(i, durable: false, files: &files, result: &result) }
        }

        /// Renames file `i` into place; on failure reports it and removes the temporary file.
        /// Either way the file is settled and its descriptor closed.
        @discardableResult
        private func commit(_ i: Int, durable: Bool, files: inout [FileJob], result: inout RestoreResult) -> Bool {
            let job = files[i]
            files[i].settled = true
            let fd = descriptors.take(i)
            defer { if let fd { close(fd) } }
            do {
                try dest.commitPartial(job.node.path, partial: job.partial, fd: fd, mode: job.node.mode, mtimeNs: job.node.mtimeNs,
                                       durable: durable)
                result.files += 1
                result.bytes += job.node.size ?? 0
                return true
            } catch let error as PlanVaultError {
                dest.discardPartial(job.node.path, partial: job.partial)
                result.problems.append((job.node.path, error.localizedDescription))
                return false
            } catch {
                dest.discardPartial(job.node.path, partial: job.partial)
                result.problems.append((job.node.path, "\(error)"))
                return false
            }
        }
    }
}

/// A one-way flag set by one task and read by another.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false

    var isSet: Bool {
        lock.lock()
        defer { lock.unlock() }
        return value
    }

    func set() {
        lock.lock()
        value = true
        lock.unlock()
    }
}
