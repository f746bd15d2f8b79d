import Foundation

/// A local copy of index files and snapshots, so a push or restore against a
/// remote target does not download them again. Objects are stored as they are
/// on the target (encrypted) and checked against their names on load, so the
/// cache is safe to delete at any time and cannot inject data.
public final class ObjectCache: Sendable {
    let folder: String
    /// Attestations are kept per target: each target has its own chain, and a record this machine
    /// saw at one target is evidence of deletion only if that target no longer has it.
    let attestationFolder: String

    init(root: String, repositoryID: String, location: String) {
        folder = "\(root)/\(repositoryID)"
        attestationFolder = "\(folder)/attestations-by-target/\(LibCrypto.sha256(Array(location.utf8)).hex.prefix(16))"
        // A cache made before there were several targets kept one attestation folder; it is left
        // alone (not assigned to whichever target opens first, which could be the wrong one).
    }

    private func directory(_ kind: ObjectKind) -> String {
        kind == .attestation ? attestationFolder : "\(folder)/\(kind.rawValue)"
    }

    private func path(_ kind: ObjectKind, _ name: String) -> String { "\(directory(kind))/\(name)" }

    func load(_ kind: ObjectKind, name: String) -> [UInt8]? {
        guard ObjectName.isValid(name), let bytes = try? FileIO.readFile(path(kind, name)) else { return nil }
        guard LibCrypto.sha256(bytes).hex == name else {
            unlink(path(kind, name))
            return nil
        }
        return bytes
    }

    func store(_ kind: ObjectKind, name: String, bytes: [UInt8]) {
        let dir = directory(kind)
        // The cache is an optimisation: failing to fill it is never an error.
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try? FileIO.writeAtomically(bytes, to: "\(dir)/\(name)", inDirectory: dir)
    }

    /// The snapshot the last push of a source set from this machine wrote: the likely parent of
    /// the next one, found without decrypting every snapshot in the repository.
    func parentHint(for key: String) -> String? {
        guard let bytes = try? FileIO.readFile("\(folder)/parents.json"),
              let hints = try? JSONDecoder().decode([String: String].self, from: Data(bytes)) else { return nil }
        return hints[key]
    }

    func setParentHint(_ id: String, for key: String) {
        var hints = (try? FileIO.readFile("\(folder)/parents.json")).flatMap { try? JSONDecoder().decode([String: String].self, from: Data($0)) } ?? [:]
        hints[key] = id
        guard let bytes = try? JSONEncoder().encode(hints) else { return }
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try? FileIO.writeAtomically(Array(bytes), to: "\(folder)/parents.json", inDirectory: folder)
    }

    /// The key file that opened this repository on this machine last time: tried first.
    func keyHint() -> String? {
        guard let bytes = try? FileIO.readFile("\(folder)/key-hint") else { return nil }
        let name = String(decoding: bytes, as: UTF8.self)
        return ObjectName.isValid(name) ? name : nil
    }

    func setKeyHint(_ name: String) {
        guard keyHint() != name else { return }
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try? FileIO.writeAtomically(Array(name.utf8), to: "\(folder)/key-hint", inDirectory: folder)
    }

    /// Names of the objects of a kind held here.
    func cachedNames(_ kind: ObjectKind) -> [String] {
        ((try? FileIO.listDirectory(directory(kind))) ?? []).filter(ObjectName.isValid)
    }

    /// Drops cached objects that the target no longer lists.
    func retainOnly(_ kind: ObjectKind, names: Set<String>) {
        let dir = directory(kind)
        guard let present = try? FileIO.listDirectory(dir) else { return }
        for name in present where !names.contains(name) { unlink("\(dir)/\(name)") }
    }
}
