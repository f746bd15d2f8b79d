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

/// The data path of a push. The calling task reads files and cuts chunks; child tasks
/// hash chunks, compress and encrypt the new ones (zlib is the slow stage, so it gets
/// every core) and upload finished bundles. Hashing runs in child tasks too: on
/// already-compressed files, where there is no zlib, a reader that also hashed was the
/// bottleneck while the other core waited. Memory stays bounded: at most
/// `sealConcurrency` chunks in flight (being hashed or sealed) and `uploadConcurrency + 1`
/// bundles in memory (being filled, closed or uploading), whose buffers are reused.
///
/// What a push remembers per new chunk is held once, in the compact `ChunkIndex` (about 60
/// bytes a chunk): an uploaded bundle's chunks go straight into it, and its entries are written
/// to an index file every `indexBatchEntries` entries and let go. Before, a dictionary of new
/// chunks and every uploaded bundle's entry list, kept for one index file at the end, took about
/// 120 bytes a chunk more, and the push's peak grew with the plan folder (issue 12).
struct ChunkPipeline {
    enum Completion: Sendable {
        case hashed(file: Int, position: Int, id: Digest32, chunk: [UInt8], compress: Bool)
        case sealed(bundle: Int, slot: Int, SealedChunk)
        case uploaded(bundle: Int, IndexedBundle, BundleBuffer)
        case indexed(name: String, size: Int, bundles: [Digest32])
    }

    /// The bytes of one bundle, handed whole from the pipeline to its upload task and back, so
    /// the next bundle is filled in the same memory.
    ///
    /// A bundle freed after its upload left a hole in the heap that smaller allocations made
    /// later (the index as it grows) took part of, so the next bundle no longer fit and the heap
    /// grew by a bundle: resident memory rose in 16 MiB steps as the push went on (issue 12:
    /// memory flat as the plan folder grows). One task uses a buffer at a time.
    final class BundleBuffer: @unchecked Sendable {
        var bytes: [UInt8]

        init(capacity: Int) {
            bytes = []
            bytes.reserveCapacity(capacity)
        }
    }

    /// A bundle being filled. Sealed records are appended to its buffer as they arrive (in any
    /// order), so a bundle is held in memory once, never as records plus a copy.
    final class OpenBundle {
        let sealer: BundleSealer
        let buffer: BundleBuffer
        var entries: [BundleEntry?] = []
        var pending = 0
        var rawBytes = 0
        var closed = false

        init(sealer: BundleSealer, buffer: BundleBuffer, capacity: Int) {
            self.sealer = sealer
            self.buffer = buffer
            sealer.start(&buffer.bytes, reservingCapacity: capacity)
        }
    }

    let repository: Repository
    let writer: RepositoryWriter
    let chunker: Chunker
    /// The repository's index, and the chunks of every bundle this push has uploaded.
    private(set) var index: ChunkIndex
    let bundleSize: Int
    let compressionLevel: Int32
    let sealConcurrency: Int
    let uploadConcurrency: Int
    let indexBatchEntries: Int
    let times: StageTimes?

    /// New chunks whose bundle is not uploaded yet, with the number of that bundle; once it is
    /// uploaded they are in `index`.
    private var pending = [Digest32: Int]()
    /// Bundles that chunks of the snapshot are in: new ones by number, earlier ones by ID.
    private var referencedNew = Set<Int>()
    private var referencedOld = Set<Digest32>()
    private var uploadedIDs = [Int: Digest32]()
    private var bundles = [Int: OpenBundle]()
    /// Buffers of uploaded bundles, for the next ones.
    private var spareBuffers = [BundleBuffer]()
    /// New chunks hashed while every bundle buffer was taken: sealed as one frees up.
    private var toSeal = [(id: Digest32, chunk: [UInt8], compress: Bool)]()
    /// Chunks of `toSeal` that a file already names: their bundle is noted once it is chosen.
    private var referencedWhileQueued = Set<Digest32>()
    /// `pending`'s bundle number for a chunk in `toSeal`.
    private static let queued = -1
    private var current: Int?
    private var nextBundle = 0
    private var ready = [Int]()
    /// Bundles closed (full) and not yet handed to an upload: `ready` ones, and ones whose last
    /// chunks are still being sealed. `bundles` holds these and the one being filled.
    private var closedBundles: Int { bundles.count - (current == nil ? 0 : 1) }
    private var sealsInFlight = 0
    private var hashesInFlight = 0
    /// The file being read (a sequence number), its chunk IDs in order (nil while a child
    /// task hashes that chunk) and how many of its chunks are being hashed.
    private var currentFile = 0
    private var fileIDs = [Digest32?]()
    private var fileHashesPending = 0
    private var uploadsInFlight = 0
    /// Uploaded bundles that no index file names yet, and their entry count.
    private var unindexed = [IndexedBundle]()
    private var unindexedEntries = 0
    private var indexesInFlight = 0
    private var buffer: [UInt8]
    private(set) var newChunks = 0
    private(set) var bundlesWritten = 0
    /// Bytes of the bundles and index files written so far.
    private(set) var bytesStored: UInt64 = 0

    init(repository: Repository, writer: RepositoryWriter, index: ChunkIndex, bundleSize: Int, compressionLevel: Int32,
         sealConcurrency: Int, uploadConcurrency: Int, indexBatchEntries: Int, times: StageTimes? = nil) {
        self.times = times
        self.compressionLevel = compressionLevel
        self.repository = repository
        self.writer = writer
        self.chunker = repository.chunker
        self.index = index
        self.bundleSize = bundleSize
        self.sealConcurrency = max(1, sealConcurrency)
        self.uploadConcurrency = max(1, uploadConcurrency)
        self.indexBatchEntries = max(1, indexBatchEntries)
        buffer = [UInt8](repeating: 0, count: 2 * repository.config.chunker.maxSize)
    }

    typealias Group = ThrowingTaskGroup<Completion, any Error>

    /// Chunks shorter than this are hashed by the reader: a child task would cost more than the hash.
    static let inlineHashLimit = 64 * 1024

    /// Reads one file, returning its chunk IDs; new chunks are queued for sealing.
    mutating func readFile(_ path: String, group: inout Group, onBytes: (Int) -> Void) async throws -> FileReadResult {
        let store = CompressibilityProbe.isCompressedFormat(path: path)
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw FileReadError(message: "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var before = stat()
        guard fstat(fd, &before) == 0 else { throw FileReadError(message: "cannot stat: \(String(cString: strerror(errno)))") }
        guard (before.st_mode & S_IFMT) == S_IFREG else { throw FileReadError(message: "no longer a regular file") }

        currentFile += 1
        fileIDs = []
        fileHashesPending = 0
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
                    // Chunks of this file still being hashed are dropped when they come back
                    // (`handleNext` compares their file number), so there is nothing to wait for.
                    throw FileReadError(message: "read failed: \(error.localizedDescription)")
                }
                end += got
                if got < want { eof = true }
            }
            if start == end { break }
            // The file's last chunk and small ones are hashed here (the reader would only wait for
            // them); others go to a child task, and their IDs arrive through `handleNext`.
            let (cut, id, chunk): (Int, Digest32?, [UInt8]?) = buffer.withUnsafeBytes { p in
                let window = UnsafeRawBufferPointer(rebasing: p[start..<end])
                let cut = times?.time(.chunk) { chunker.nextCut(window) } ?? chunker.nextCut(window)
                let piece = UnsafeRawBufferPointer(rebasing: window[0..<cut])
                guard cut < Self.inlineHashLimit || (eof && cut == window.count) else { return (cut, nil, Array(piece)) }
                let id = times?.time(.hash, bytes: cut) { repository.keys.chunkID(piece) } ?? repository.keys.chunkID(piece)
                return (cut, id, isNew(id) ? Array(piece) : nil)
            }
            let position = fileIDs.count
            fileIDs.append(id)
            start += cut
            total += UInt64(cut)
            if let chunk {
                try await waitForRoom(&group)
                if let id {
                    // While waiting, a child task may have hashed the same content: store it once.
                    if isNew(id) { pending[id] = try startSeal(chunk, id: id, compress: !store, group: &group) }
                } else {
                    startHash(chunk, position: position, compress: !store, group: &group)
                }
            }
            onBytes(cut)
        }
        try await drainFileHashes(&group)
        let ids = fileIDs.compactMap { $0 }
        guard ids.count == fileIDs.count else { preconditionFailure("a chunk of \(path) was never hashed") }
        var after = stat()
        let changed = fstat(fd, &after) != 0 || after.st_size != before.st_size || after.mtimeNs != before.mtimeNs
            || UInt64(after.st_size) != total
        return FileReadResult(chunks: ids, size: total,
                              mtimeNs: before.mtimeNs, ctimeNs: before.ctimeNs,
                              mode: UInt32(before.st_mode) & 0o7777, inode: UInt64(before.st_ino), device: UInt64(before.st_dev),
                              changedWhileReading: changed)
    }

    /// Notes that the snapshot holds the chunks of a file just read, so the bundles they are in
    /// are named in the push's attestation. Chunks of a file that could not be read are never
    /// noted, and a bundle holding only those is not named.
    mutating func reference(_ chunks: [Digest32]) {
        for id in chunks {
            if let bundle = pending[id] {
                if bundle == Self.queued { referencedWhileQueued.insert(id) } else { referencedNew.insert(bundle) }
            } else if let location = index.location(of: id) {
                referencedOld.insert(location.bundle)
            } else {
                // `readFile` stores every chunk that is not indexed: nothing else can get here.
                preconditionFailure("chunk \(id.hex) of a file just read is neither new nor indexed")
            }
        }
    }

    /// Notes the chunks of a file kept from the parent when every one is still indexed, and
    /// returns true; returns false, noting none, when any is not (the file is read again).
    mutating func referenceIfIndexed(_ chunks: [Digest32]) -> Bool {
        var bundles = [Digest32]()
        bundles.reserveCapacity(chunks.count)
        for id in chunks {
            guard let location = index.location(of: id) else { return false }
            bundles.append(location.bundle)
        }
        referencedOld.formUnion(bundles)
        return true
    }

    /// The bundles the noted chunks are in; complete once `finish` has returned.
    var referencedBundles: Set<Digest32> {
        referencedOld.union(referencedNew.compactMap { uploadedIDs[$0] })
    }

    private func isNew(_ id: Digest32) -> Bool {
        pending[id] == nil && !index.contains(id)
    }

    /// Bundles held in memory at most: one being filled and the rest closed or uploading. The
    /// reader waits while `uploadConcurrency` are closed or uploading, so it always finds a
    /// buffer; a chunk hashed by a child task meanwhile may not, and waits in `toSeal`.
    private var maxBuffers: Int { uploadConcurrency + 1 }

    /// What a bundle's buffer reserves: a bundle closes at `bundleSize` raw bytes, so its last
    /// chunk may pass that by up to one chunk; each chunk adds its record's encoding byte and tag
    /// and a header entry (counted here for chunks of `minSize`); then the prefix, the header's
    /// count and tag, and the trailer. A bundle of many smaller chunks can still outgrow it, and
    /// its buffer is then not kept (`.uploaded`), or it would hold double for the rest of the push.
    private var bundleCapacity: Int {
        let chunks = bundleSize / chunker.parameters.minSize + 2
        return bundleSize + chunker.parameters.maxSize + chunks * (1 + 16 + BundleFormat.headerEntrySize) + BundleFormat.prefixLength + 64
    }

    private var bufferAvailable: Bool { current != nil || bundles.count + uploadsInFlight < maxBuffers }

    /// Waits until one more chunk may be in flight without passing the memory bounds.
    private mutating func waitForRoom(_ group: inout Group) async throws {
        let waitStarted = times == nil ? 0 : DispatchTime.now().uptimeNanoseconds
        while sealsInFlight + hashesInFlight + toSeal.count >= sealConcurrency || closedBundles + uploadsInFlight >= uploadConcurrency {
            try await handleNext(&group)
        }
        if let times { times.add(.readerWaits, DispatchTime.now().uptimeNanoseconds &- waitStarted) }
    }

    /// Waits for the IDs of the current file's chunks still being hashed.
    private mutating func drainFileHashes(_ group: inout Group) async throws {
        let waitStarted = times == nil ? 0 : DispatchTime.now().uptimeNanoseconds
        while fileHashesPending > 0 { try await handleNext(&group) }
        if let times { times.add(.readerWaits, DispatchTime.now().uptimeNanoseconds &- waitStarted) }
    }

    /// Hashes a chunk of the current file in a child task; `handleNext` files its ID at `position`.
    private mutating func startHash(_ chunk: [UInt8], position: Int, compress: Bool, group: inout Group) {
        let keys = repository.keys
        let times = self.times
        let file = currentFile
        group.addTask {
            let id = chunk.withUnsafeBytes { piece in times?.time(.hash, bytes: piece.count) { keys.chunkID(piece) } ?? keys.chunkID(piece) }
            return .hashed(file: file, position: position, id: id, chunk: chunk, compress: compress)
        }
        hashesInFlight += 1
        fileHashesPending += 1
    }

    /// Queues one new chunk for sealing; returns the number of the bundle it goes into.
    /// `compress`: false for a file whose format is compressed already (no probe, no zlib).
    /// Does not wait: the caller made room (`waitForRoom`), or the chunk was already in flight.
    private mutating func startSeal(_ chunk: [UInt8], id: Digest32, compress: Bool, group: inout Group) throws -> Int {
        let seq: Int
        if let c = current {
            seq = c
        } else {
            seq = nextBundle
            nextBundle += 1
            let capacity = bundleCapacity
            bundles[seq] = OpenBundle(sealer: try BundleSealer(keys: repository.keys),
                                      buffer: spareBuffers.popLast() ?? BundleBuffer(capacity: capacity), capacity: capacity)
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
        guard let completion = try await group.next() else {
            // Chunks wait in `toSeal` only while bundles are closed or uploading, which are tasks.
            precondition(toSeal.isEmpty, "chunks wait for a bundle buffer with nothing in flight")
            return
        }
        switch completion {
        case .hashed(let file, let position, let id, let chunk, let compress):
            hashesInFlight -= 1
            // A chunk of a file given up on (a read failed) is dropped: the snapshot never names it.
            if file == currentFile {
                fileHashesPending -= 1
                fileIDs[position] = id
                if isNew(id) {
                    if bufferAvailable {
                        pending[id] = try startSeal(chunk, id: id, compress: compress, group: &group)
                    } else {
                        pending[id] = Self.queued
                        toSeal.append((id, chunk, compress))
                    }
                }
            }
        case .sealed(let seq, let slot, let chunk):
            sealsInFlight -= 1
            guard let bundle = bundles[seq] else { preconditionFailure("sealed chunk for unknown bundle \(seq)") }
            bundle.entries[slot] = bundle.sealer.append(chunk, slot: UInt32(slot), to: &bundle.buffer.bytes)
            bundle.pending -= 1
            if bundle.closed && bundle.pending == 0 { ready.append(seq) }
        case .uploaded(let seq, let indexed, let buffer):
            uploadsInFlight -= 1
            if spareBuffers.count < maxBuffers, buffer.bytes.capacity <= bundleCapacity + bundleCapacity / 4 { spareBuffers.append(buffer) }
            uploadedIDs[seq] = indexed.id
            bundlesWritten += 1
            bytesStored += indexed.size
            index.add(indexed, fromIndexFile: nil)
            for entry in indexed.entries { pending.removeValue(forKey: entry.id) }
            unindexed.append(indexed)
            unindexedEntries += indexed.entries.count
            if unindexedEntries >= indexBatchEntries { startIndexFile(&group) }
        case .indexed(let name, let size, let ids):
            indexesInFlight -= 1
            bytesStored += UInt64(size)
            index.recordIndexFile(name, for: ids)
        }
        try startUploads(&group)
        try startQueuedSeals(&group)
    }

    /// Seals the chunks that waited for a bundle buffer, as far as buffers allow.
    private mutating func startQueuedSeals(_ group: inout Group) throws {
        while !toSeal.isEmpty, bufferAvailable {
            let next = toSeal.removeFirst()
            let seq = try startSeal(next.chunk, id: next.id, compress: next.compress, group: &group)
            pending[next.id] = seq
            if referencedWhileQueued.remove(next.id) != nil { referencedNew.insert(seq) }
        }
    }

    /// Writes an index file naming the uploaded bundles no index file names yet.
    private mutating func startIndexFile(_ group: inout Group) {
        let batch = unindexed
        unindexed = []
        unindexedEntries = 0
        let writer = self.writer
        group.addTask {
            let saved = try await writer.saveIndex(batch)
            return .indexed(name: saved.name, size: saved.size, bundles: batch.map(\.id))
        }
        indexesInFlight += 1
    }

    private mutating func startUploads(_ group: inout Group) throws {
        while uploadsInFlight < uploadConcurrency, !ready.isEmpty {
            let seq = ready.removeFirst()
            guard let bundle = bundles.removeValue(forKey: seq) else { continue }
            let entries = bundle.entries.compactMap { $0 }
            // The header is small: finish the bundle here, so the upload task owns the only copy.
            try bundle.sealer.finish(&bundle.buffer.bytes, entries: entries)
            let buffer = bundle.buffer
            let writer = self.writer
            let times = self.times
            group.addTask {
                let id = try await writer.saveBundle(buffer.bytes, times: times)
                return .uploaded(bundle: seq, IndexedBundle(id: id, size: UInt64(buffer.bytes.count), entries: entries), buffer)
            }
            uploadsInFlight += 1
        }
    }

    /// Closes the last bundle, waits for every seal, upload and index file, and returns the
    /// uploaded bundles that no index file names yet (the caller's index file names them).
    mutating func finish(group: inout Group) async throws -> [IndexedBundle] {
        while !toSeal.isEmpty { try await handleNext(&group) }
        if let c = current, let bundle = bundles[c] {
            bundle.closed = true
            current = nil
            if bundle.pending == 0 { ready.append(c) }
        }
        try startUploads(&group)
        while sealsInFlight + uploadsInFlight + indexesInFlight > 0 || !ready.isEmpty {
            try await handleNext(&group)
        }
        let rest = unindexed
        unindexed = []
        unindexedEntries = 0
        return rest
    }

    /// Hands the index over (the repository's and this push's chunks), leaving this pipeline an
    /// empty one, so the caller adds to it without a copy.
    mutating func takeIndex() -> ChunkIndex {
        defer { index = ChunkIndex() }
        return index
    }
}
