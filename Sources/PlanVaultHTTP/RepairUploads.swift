import PlanVaultCore

// Interim repair uploads for the remote targets until their own implementations land: a plain
// upload without the "already stored" shortcut.
extension HTTPBackend {
    public func repair(_ kind: ObjectKind, name: String, data: [UInt8]) async throws {
        try ObjectName.validate(kind, name)
        let reply = try await send(.PUT, url(kind, name), body: data, headers: [("Content-Type", "application/octet-stream")])
        guard reply.status == .created || reply.status == .ok else { throw failure(reply, kind, name) }
    }
}

extension S3Backend {
    public func repair(_ kind: ObjectKind, name: String, data: [UInt8]) async throws {
        try ObjectName.validate(kind, name)
        if data.count > options.partSize {
            try await writeMultipart(key(kind, name), data)
            return
        }
        let reply = try await send(.PUT, key: key(kind, name), headers: lockHeaders(data), body: data)
        guard reply.status == .ok else { throw failure(reply, "repairing \(kind.singular) \(name.prefix(12))") }
    }
}
