#if canImport(Glibc)
import Glibc
#endif

/// Open file descriptors by key, at most `capacity` of them: past it, the least recently used
/// idle one is closed. A descriptor with users (a write or an open below it in progress) is never
/// closed. Not thread-safe: its owner holds a lock around every call.
struct DescriptorLRU<Key: Hashable> {
    private struct Entry {
        var fd: Int32
        var lastUse: UInt64
        var users: Int
    }

    private var open: [Key: Entry] = [:]
    private var clock: UInt64 = 0
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    /// The descriptor of `key`, now with one more user; nil when not open.
    mutating func use(_ key: Key) -> Int32? {
        guard var entry = open[key] else { return nil }
        clock += 1
        entry.lastUse = clock
        entry.users += 1
        open[key] = entry
        return entry.fd
    }

    /// Keeps a newly opened descriptor, closing an idle one first if full.
    mutating func insert(_ key: Key, fd: Int32, users: Int) {
        evictIfFull()
        clock += 1
        if let old = open.updateValue(Entry(fd: fd, lastUse: clock, users: users), forKey: key) { close(old.fd) }
    }

    mutating func release(_ key: Key) {
        open[key]?.users -= 1
    }

    /// Takes `key`'s descriptor out; the caller now owns it.
    mutating func remove(_ key: Key) -> Int32? {
        open.removeValue(forKey: key)?.fd
    }

    func closeAll() {
        for entry in open.values { close(entry.fd) }
    }

    private mutating func evictIfFull() {
        guard open.count >= capacity else { return }
        var victim: (key: Key, entry: Entry)?
        for (key, entry) in open where entry.users <= 0 && entry.lastUse < (victim?.entry.lastUse ?? .max) { victim = (key, entry) }
        guard let victim else { return }
        close(victim.entry.fd)
        open.removeValue(forKey: victim.key)
    }
}
