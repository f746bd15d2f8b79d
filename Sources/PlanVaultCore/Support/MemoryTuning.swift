/// Process-wide allocator settings, applied once at start-up by the executable.
public enum MemoryTuning {
    /// glibc gives each thread that allocates its own arena (up to 8 per core) and keeps what is
    /// freed there. Bundles are read on I/O threads and freed on others, so every arena ended up
    /// holding a few bundles' worth of memory: a restore peaked near 190 MiB instead of 90.
    /// One arena keeps the peak nearest the bytes in flight. Against two, on two cores: push peaks
    /// 15 to 30 MiB lower (1 GiB of 5,000 or 100,000 files), restore 15 MiB lower, same speed;
    /// the data path allocates in large pieces, so threads seldom meet on the arena's lock.
    public static let arenas: Int32 = 1

    public static func apply() {
        _ = glibcMallopt(mallocArenaMax, arenas)
    }

    /// M_ARENA_MAX from <malloc.h>, which Glibc's Swift overlay does not import.
    private static let mallocArenaMax: Int32 = -8
}

@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
