/// Process-wide allocator settings, applied once at start-up by the executable.
public enum MemoryTuning {
    /// glibc gives each thread that allocates its own arena (up to 8 per core) and keeps what is
    /// freed there. Bundles are read on I/O threads and freed on others, so every arena ended up
    /// holding a few bundles' worth of memory: a restore peaked near 190 MiB instead of 90.
    /// One arena keeps the peak nearest the bytes in flight. Against two, on two cores: push peaks
    /// 15 to 30 MiB lower (1 GiB of 5,000 or 100,000 files), restore 15 MiB lower, same speed;
    /// the data path allocates in large pieces, so threads seldom meet on the arena's lock.
    public static let arenas: Int32 = 1

    /// Freed memory is kept for the next allocation rather than given back to the kernel. glibc
    /// by default maps each buffer over its threshold (a bundle piece, a chunk) afresh and trims
    /// the heap as soon as its top is free, so a restore or push touched new pages for nearly
    /// every byte it moved: 90,000–120,000 page faults per GiB restored, each a zeroed page, and
    /// on a VM whose host takes back idle memory a fault in the host too. With these settings
    /// (measured on the 1 GiB benchmark corpus, alternating, two rounds each): restore 19,000
    /// faults, 0.6 s of kernel time instead of 0.8–2.9 s, 2.5–2.65 s instead of 2.67–3.98 s; first
    /// push 3.26 s instead of 3.49–6.13 s; peak memory within 8 MiB either way.
    static let mmapThreshold: Int32 = 32 << 20
    static let trimThreshold: Int32 = 256 << 20
    static let topPad: Int32 = 64 << 20

    public static func apply() {
        _ = glibcMallopt(mallocArenaMax, arenas)
        _ = glibcMallopt(mallocMmapThreshold, mmapThreshold)
        _ = glibcMallopt(mallocTrimThreshold, trimThreshold)
        _ = glibcMallopt(mallocTopPad, topPad)
    }

    /// M_ARENA_MAX, M_MMAP_THRESHOLD, M_TRIM_THRESHOLD and M_TOP_PAD from <malloc.h>, which
    /// Glibc's Swift overlay does not import.
    private static let mallocArenaMax: Int32 = -8
    private static let mallocMmapThreshold: Int32 = -3
    private static let mallocTrimThreshold: Int32 = -1
    private static let mallocTopPad: Int32 = -2
}

@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
