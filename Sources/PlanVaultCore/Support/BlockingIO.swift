import Foundation

/// Runs blocking system calls (reads, writes, fsync, syncfs) on threads of their own.
///
/// Swift concurrency runs tasks on one thread per core. A task that waits in `fsync` or in a
/// read from a slow share holds one of those threads, so on a two-core office server half of the
/// compression and decryption would stop at every bundle written. Work sent here waits on one of
/// `threadCount` dedicated threads instead, and the task suspends until it is done.
public enum BlockingIO {
    /// Enough for the deepest queue of waits a command sets up (bundle reads in flight during a
    /// restore, uploads during a push); threads are started lazily, on first use.
    static let threadCount = 16

    private static let pool = BlockingPool(threads: threadCount)

    /// Runs `body` on an I/O thread and returns its result (or throws its error).
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await pool.run(body)
    }
}

/// A set of I/O threads of its own, for work that must not queue behind `BlockingIO`'s (the
/// server's uploads, whose fsyncs may wait long on a slow disk, beside the reads that answer
/// downloads and listings).
public final class BlockingPool: Sendable {
    private let pool: WorkerPool

    public init(threads: Int) { pool = WorkerPool(threads: threads) }

    /// Runs `body` on one of this pool's threads and returns its result (or throws its error).
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            pool.submit { continuation.resume(with: Result { try body() }) }
        }
    }
}

/// A fixed set of threads taking closures from one queue, first in first out.
private final class WorkerPool: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [(@Sendable () -> Void)?] = []
    private var head = 0
    private var idle = 0
    private var started = 0
    private let limit: Int

    init(threads: Int) { limit = threads }

    func submit(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        jobs.append(job)
        // A new thread only when none is waiting for work, up to the limit.
        if idle == 0 && started < limit {
            started += 1
            let thread = Thread { [unowned self] in self.work() }
            thread.name = "planvault-io"
            thread.start()
        }
        condition.signal()
        condition.unlock()
    }

    private func work() {
        while true {
            condition.lock()
            while head == jobs.count {
                idle += 1
                condition.wait()
                idle -= 1
            }
            let job = jobs[head]
            // Released here, not when the queue is next trimmed: a job holds its data (a bundle).
            jobs[head] = nil
            head += 1
            // Drop the finished prefix now and then, so the queue does not grow for ever.
            if head > 1024 && head * 2 > jobs.count {
                jobs.removeFirst(head)
                head = 0
            }
            condition.unlock()
            job?()
        }
    }
}
