import Foundation

/// A file that could not be read: reported and left out of the snapshot, not fatal.
struct FileReadError: Error {
    let message: String
}

struct FileReadResult {
    var chunks: [Digest32]
    var size: UInt64
    var mtimeNs: Int64
    var ctimeNs: Int64
    var mode: UInt32
    var inode: UInt64
    var device: UInt64
    var changedWhileReading: Bool
}

/// The data path of a push. The calling task reads files, cuts chunks and
/// hashes them (cheap, ~1 GB/s); child tasks compress and encrypt new chunks
/// (zlib is the slow stage, so it gets every core) and upload finished bundles.
/// Memory stays bounded: at most `sealConcurrency` chunks in flight and
/// `uploadConcurrency + 1` finished bundles waiting.
struct ChunkPipeline {
    enum Completion: Sendable {
        case sealed(bundle: Int, slot: Int, SealedChunk)
        case uploaded(bundle: Int, IndexedBundle)
    }

    /// A bundle being filled. Sealed records are appended to `bytes` as they arrive (in any
    /// order), so a bundle is held in memory once, never as records plus a copy.
    final class OpenBundle {
        let sealer: BundleSealer
        var bytes: [UInt8]
        var entries: [BundleEntry?] = []
        var pending = 0
        var rawBytes = 0
        var closed = false

        init(sealer: BundleSealer, capacity: Int) {
            self.sealer = sealer
            bytes = sealer.start(reservingCapacity: capacity)
        }
    }

    let repository: Repository
    let writer: RepositoryWriter
    let chunker: Chunker
    let index: ChunkIndex
    let bundleSize: Int
    let compressionLevel: Int32
    let sealConcurrency: Int
    let uploadConcurrency: Int
    let times: StageTimes?

    /// Chunks new to this push, with the number of the bundle each went into.
    private var seen = [Digest32: Int]()
    /// Bundles that chunks of the snapshot are in: new ones by number, earlier ones by ID.
    private var referencedNew = Set<Int>()
    private var referencedOld = Set<Digest32>()
    private var uploadedIDs = [Int: Digest32]()
    private var bundles = [Int: OpenBundle]()
    private var current: Int?
    private var nextBundle = 0
    private var ready = [Int]()
    private var sealsInFlight = 0
    private var uploadsInFlight = 0
    private var uploaded = [IndexedBundle]()
    private var buffer: [UInt8]
    private(set) var newChunks = 0

    init(repository: Repository, writer: RepositoryWriter, index: ChunkIndex, bundleSize: Int, compressionLevel: Int32,
         sealConcurrency: Int, uploadConcurrency: Int, times: StageTimes? = nil) {
        self.times = times
        self.compressionLevel = compressionLevel
        self.repository = repository
        self.writer = writer
        self.chunker = repository.chunker
        self.index = index
        self.bundleSize = bundleSize
        self.sealConcurrency = max(1, sealConcurrency)
        self.uploadConcurrency = max(1, uploadConcurrency)
        buffer = [UInt8](repeating: 0, count: 2 * repository.config.chunker.maxSize)
    }

    typealias Group = ThrowingTaskGroup<Completion, any Error>

    /// Reads one file, returning its chunk IDs; new chunks are queued for sealing.
    mutating func readFile(_ path: String, group: inout Group, onBytes: (Int) -> Void) async throws -> FileReadResult {
        let store = CompressibilityProbe.isCompressedFormat(path: path)
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw FileReadError(message: "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var before = stat()
        guard fstat(fd, &before) == 0 else { throw FileReadError(message: "cannot stat: \(String(cString: strerror(errno)))") }
        guard (before.st_mode & S_IFMT) == S_IFREG else { throw FileReadError(message: "no longer a regular file") }

        var ids = [Digest32]()
        var total: UInt64 = 0
        var start = 0, end = 0
        var eof = false
        let maxSize = chunker.parameters.maxSize
        while true {
            if end - start < maxSize && !eof {
                if start > 0 {
                    buffer.withUnsafeMutableBytes { p in
                        if end > start, let base = p.baseAddress { base.copyMemory(from: base + start, byteCount: end - start) }
                    }
                    end -= start
                    start = 0
                }
                let want = buffer.count - end
                let got: Int
                let started = times == nil ? 0 : DispatchTime.now().uptimeNanoseconds
                do {
                    got = try buffer.withUnsafeMutableBytes { p in
                        try FileIO.readFully(fd: fd, into: UnsafeMutableRawBufferPointer(rebasing: p[end...]), path: path)
                    }
                    times?.add(.read, DispatchTime.now().uptimeNanoseconds &- started, bytes: got)
                } catch {
                    throw FileReadError(message: "read failed: \(error.localizedDescription)")
                }
                end += got
                if got < want { eof = true }
            }
            if start == end { break }
            let (cut, id, chunk): (Int, Digest32, [UInt8]?) = buffer.withUnsafeBytes { p in
                let window = UnsafeRawBufferPointer(rebasing: p[start..<end])
                let cut = times?.time(.chunk) { chunker.nextCut(window) } ?? chunker.nextCut(window)
                let piece = UnsafeRawBufferPointer(rebasing: window[0..<cut])
                let id = times?.time(.hash, bytes: cut) { repository.keys.chunkID(piece) } ?? repository.keys.chunkID(piece)
                let isNew = seen[id] == nil && !index.contains(id)
                return (cut, id, isNew ? Array(piece) : nil)
            }
            ids.append(id)
            start += cut
            total += UInt64(cut)
            if let chunk {
                seen[id] = try await submit(chunk, id: id, compress: !store, group: &group)
            }
            onBytes(cut)
        }
        var after = stat()
        let changed = fstat(fd, &after) != 0 || after.st_size != before.st_size || after.st_mtim.tv_sec != before.st_mtim.tv_sec
            || after.st_mtim.tv_nsec != before.st_mtim.tv_nsec || UInt64(after.st_size) != total
        return FileReadResult(chunks: ids, size: total,
                              mtimeNs: Int64(before.st_mtim.tv_sec) * 1_000_000_000 + Int64(before.st_mtim.tv_nsec),
                              ctimeNs: Int64(before.st_ctim.tv_sec) * 1_000_000_000 + Int64(before.st_ctim.tv_nsec),
                              mode: UInt32(before.st_mode) & 0o7777, inode: UInt64(before.st_ino), device: UInt64(before.st_dev),
                              changedWhileReading: changed)
    }

    /// Notes that the snapshot holds `chunks` (a file read, or one kept from the parent), so the
    /// bundles they are in are named in the push's attestation. Chunks of a file that could not
    /// be read are never noted, and a bundle holding only those is not named.
    mutating func reference(_ chunks: [Digest32]) {
        for id in chunks {
            if let bundle = seen[id] {
                referencedNew.insert(bundle)
            } else if let location = index.location(of: id) {
                referencedOld.insert(location.bundle)
            }
        }
    }

    /// The bundles the noted chunks are in; complete once `finish` has returned.
    var referencedBundles: Set<Digest32> {
        referencedOld.union(referencedNew.compactMap { uploadedIDs[$0] })
    }

    /// Queues one new chunk for sealing; returns the number of the bundle it goes into.
    /// `compress`: false for a file whose format is compressed already (no probe, no zlib).
    private mutating func submit(_ chunk: [UInt8], id: Digest32, compress: Bool, group: inout Group) async throws -> Int {
        let waitStarted = times == nil ? 0 : DispatchTime.now().uptimeNanoseconds
        while sealsInFlight >= sealConcurrency || ready.count + uploadsInFlight > uploadConcurrency {
            try await handleNext(&group)
        }
        if let times { times.add(.readerWaits, DispatchTime.now().uptimeNanoseconds &- waitStarted) }
        let seq: Int
        if let c = current {
            seq = c
        } else {
            seq = nextBundle
            nextBundle += 1
            bundles[seq] = OpenBundle(sealer: try BundleSealer(keys: repository.keys), capacity: bundleSize + chunker.parameters.maxSize)
            current = seq
        }
        guard let bundle = bundles[seq] else { preconditionFailure("open bundle \(seq) vanished") }
        let slot = bundle.entries.count
        bundle.entries.append(nil)
        bundle.pending += 1
        bundle.rawBytes += chunk.count
        newChunks += 1
        let sealer = bundle.sealer
        let level: Int32? = compress ? compressionLevel : nil
        let times = self.times
        group.addTask {
            .sealed(bundle: seq, slot: slot, try chunk.withUnsafeBytes { try sealer.seal($0, id: id, slot: UInt32(slot), level: level, times: times) })
        }
        sealsInFlight += 1
        if bundle.rawBytes >= bundleSize {
            bundle.closed = true
            current = nil
        }
        return seq
    }

    private mutating func handleNext(_ group: inout Group) async throws {
        guard let completion = try await group.next() else { return }
        switch completion {
        case .sealed(let seq, let slot, let chunk):
            sealsInFlight -= 1
            guard let bundle = bundles[seq] else { preconditionFailure("sealed chunk for unknown bundle \(seq)") }
            bundle.entries[slot] = bundle.sealer.append(chunk, slot: UInt32(slot), to: &bundle.bytes)
            bundle.pending -= 1
            if bundle.closed && bundle.pending == 0 { ready.append(seq) }
        case .uploaded(let seq, let indexed):
            uploadsInFlight -= 1
            uploaded.append(indexed)
            uploadedIDs[seq] = indexed.id
        }
        try startUploads(&group)
    }

    private mutating func startUploads(_ group: inout Group) throws {
        while uploadsInFlight < uploadConcurrency, !ready.isEmpty {
            let seq = ready.removeFirst()
            guard let bundle = bundles.removeValue(forKey: seq) else { continue }
            let entries = bundle.entries.compactMap { $0 }
            // The header is small: finish the bundle here, so the upload task owns the only copy.
            try bundle.sealer.finish(&bundle.bytes, entries: entries)
            let bytes = bundle.bytes
            bundle.bytes = []
            let writer = self.writer
            let times = self.times
            group.addTask {
                let id = try await writer.saveBundle(bytes, times: times)
                return .uploaded(bundle: seq, IndexedBundle(id: id, size: UInt64(bytes.count), entries: entries))
            }
            uploadsInFlight += 1
        }
    }

    /// Closes the last bundle, waits for every seal and upload, and returns the bundles written.
    mutating func finish(group: inout Group) async throws -> [IndexedBundle] {
        if let c = current, let bundle = bundles[c] {
            bundle.closed = true
            current = nil
            if bundle.pending == 0 { ready.append(c) }
        }
        try startUploads(&group)
        while sealsInFlight + uploadsInFlight > 0 || !ready.isEmpty {
            try await handleNext(&group)
        }
        return uploaded
    }
}
