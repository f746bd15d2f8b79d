extension Restorer {
    /// Takes complete files into place as a restore goes. A priority (`--first`) file is synced
    /// on its own and announced at once. The others wait in a batch that one syncfs makes durable,
    /// flushed about every second: a restore interrupted later has them under their real names
    /// (and a run again keeps them), without paying one fsync per small file.
    struct Commits {
        let dest: Destination
        let onReady: (@Sendable (String) -> Void)?
        private var pending = [Int]()
        private var lastFlush = ContinuousClock.now
        private static let interval = Swift.Duration.seconds(1)

        init(dest: Destination, onReady: (@Sendable (String) -> Void)?) {
            self.dest = dest
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

        mutating func flushIfDue(files: inout [FileJob], result: inout RestoreResult) throws {
            if !pending.isEmpty && ContinuousClock.now - lastFlush >= Self.interval { try flush(files: &files, result: &result) }
        }

        /// Makes the pending files' data durable, then renames them: after a crash a real name
        /// never holds a partly written file. A failed sync is thrown (the caller discards them).
        mutating func flush(files: inout [FileJob], result: inout RestoreResult) throws {
            lastFlush = ContinuousClock.now
            guard !pending.isEmpty else { return }
            try dest.sync()
            for i in pending { commit(i, durable: false, files: &files, result: &result) }
            pending = []
        }

        /// Renames file `i` into place; on failure reports it and removes the temporary file.
        /// Either way the file is settled.
        @discardableResult
        private func commit(_ i: Int, durable: Bool, files: inout [FileJob], result: inout RestoreResult) -> Bool {
            let job = files[i]
            files[i].settled = true
            do {
                try dest.commitPartial(job.node.path, partial: job.partial, mode: job.node.mode, mtimeNs: job.node.mtimeNs, durable: durable)
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
