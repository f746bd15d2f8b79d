#if canImport(Glibc)
import Glibc
#endif

/// Whether a file already in the destination holds exactly the snapshot's bytes, so a restore
/// run again after an interruption keeps it instead of writing it anew (restic's
/// `--overwrite if-changed`). Size and mtime are not trusted: the file is read once and each
/// piece's keyed hash is compared with the snapshot's chunk ID.
enum ExistingFileCheck {
    /// `chunks`: the file's chunk IDs and plaintext lengths, in order; they add up to `size`.
    static func isIdentical(_ relative: String, size: UInt64, chunks: [(id: Digest32, length: Int)],
                            dest: Destination, keys: MasterKeys) throws -> Bool {
        try dest.withExistingFile(relative) { fd, existingSize in
            guard existingSize == size else { return false }
            // Chunk lengths come from the index, which bounds them by Limits.maxChunkSize.
            var buffer = [UInt8](repeating: 0, count: chunks.map(\.length).max() ?? 0)
            for chunk in chunks {
                let read = try buffer.withUnsafeMutableBytes { raw in
                    try FileIO.readFully(fd: fd, into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<chunk.length]),
                                         path: dest.absolute(relative))
                }
                guard read == chunk.length else { return false }
                let id = buffer.withUnsafeBytes { keys.chunkID(UnsafeRawBufferPointer(rebasing: $0[0..<chunk.length])) }
                guard id == chunk.id else { return false }
            }
            // Nothing may follow the last chunk (the file could have grown since fstat).
            var extra: UInt8 = 0
            return try withUnsafeMutableBytes(of: &extra) { try FileIO.readFully(fd: fd, into: $0, path: dest.absolute(relative)) } == 0
        } ?? false
    }
}
