/// Runs reads of stored objects with several in flight, to cover a target's latency, and bounds
/// them by the bytes they hold rather than by a count: a few large reads or many small ones take
/// the same memory. Outcomes are handed over in the order they complete. Restore, drill and
/// `verify --read-data` read bundles through this.
public struct BoundedReads: Sendable {
    /// Most reads in flight (the target's `readsInFlight`).
    let maxReads: Int
    /// Most bytes the reads in flight may hold; one read larger than this still runs, alone.
    let maxBytes: UInt64

    /// Bytes the reads of a restore or verify hold at once: enough for several 16 MiB bundles.
    public static let defaultMaxBytes: UInt64 = 64 << 20

    init(maxReads: Int, maxBytes: UInt64 = defaultMaxBytes) {
        self.maxReads = max(1, maxReads)
        self.maxBytes = maxBytes
    }

    func run<Item: Sendable, Outcome: Sendable>(
        _ items: [Item], bytes: (Item) -> UInt64,
        read: @escaping @Sendable (Item) async throws -> Outcome,
        handle: (Outcome) async throws -> Void
    ) async throws {
        let sizes = items.map(bytes)
        try await withThrowingTaskGroup(of: (Int, Outcome).self) { group in
            var next = 0, running = 0
            var held: UInt64 = 0
            var arrived: Outcome?
            while true {
                // Start what fits before handling the last outcome, so reads go on meanwhile.
                while next < items.count, running < maxReads, running == 0 || held + sizes[next] <= maxBytes {
                    let i = next, item = items[i]
                    group.addTask { (i, try await read(item)) }
                    next += 1
                    running += 1
                    held += sizes[i]
                }
                if let outcome = arrived {
                    arrived = nil
                    try await handle(outcome)
                }
                guard let (i, outcome) = try await group.next() else { return }
                running -= 1
                held -= sizes[i]
                arrived = outcome
            }
        }
    }
}
