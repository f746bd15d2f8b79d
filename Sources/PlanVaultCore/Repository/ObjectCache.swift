import Foundation

/// A local copy of index files and snapshots, so a push or restore against a
/// remote target does not download them again. Objects are stored as they are
/// on the target (encrypted) and checked against their names on load, so the
/// cache is safe to delete at any time and cannot inject data.
public final class ObjectCache: Sendable {
    let folder: String

    init(root: String, repositoryID: String) {
        folder = "\(root)/\(repositoryID)"
    }

    private func path(_ kind: ObjectKind, _ name: String) -> String { "\(folder)/\(kind.rawValue)/\(name)" }

    func load(_ kind: ObjectKind, name: String) -> [UInt8]? {
        guard ObjectName.isValid(name), let bytes = try? FileIO.readFile(path(kind, name)) else { return nil }
        guard LibCrypto.sha256(bytes).hex == name else {
            unlink(path(kind, name))
            return nil
        }
        return bytes
    }

    func store(_ kind: ObjectKind, name: String, bytes: [UInt8]) {
        let dir = "\(folder)/\(kind.rawValue)"
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
        ((try? FileIO.listDirectory("\(folder)/\(kind.rawValue)")) ?? []).filter(ObjectName.isValid)
    }

    /// Drops cached objects that the target no longer lists.
    func retainOnly(_ kind: ObjectKind, names: Set<String>) {
        let dir = "\(folder)/\(kind.rawValue)"
        guard let present = try? FileIO.listDirectory(dir) else { return }
        for name in present where !names.contains(name) { unlink("\(dir)/\(name)") }
    }
}
