import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import PlanVaultCore

/// A repository on a PlanVault server: `https://HOST:PORT/NAME` (or `http://` on loopback).
/// Transient failures (connection errors, timeouts, 5xx) are retried with exponential backoff;
/// errors that retrying cannot fix (401, 403, 404, 400) are reported at once.
public final class HTTPBackend: Backend, @unchecked Sendable {
    public let location: String
    /// Each read waits a round trip before its first byte: keep more of them going than on disk.
    public var readsInFlight: Int { 12 }
    let base: String
    let token: String?
    let transport: HTTPTransport

    public init(url: String, token: String?, caCertificatePath: String?, logger: Logger, attempts: Int = 6) throws {
        var trimmed = url
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let parsed = URL(string: trimmed), let scheme = parsed.scheme, scheme == "https" || scheme == "http", parsed.host != nil,
              parsed.path.split(separator: "/").count == 1
        else {
            throw PlanVaultError.invalidArgument("server repository URL \(url) must look like https://HOST:PORT/NAME")
        }
        // Decided by address: "127.0.0.1.example.org" is a name like any other.
        if scheme == "http", let host = parsed.host, !Loopback.isLoopback(host: host) {
            throw PlanVaultError.invalidArgument("refusing to send the server token over plain http to \(host): use https:// (http:// is only for a loopback address: 127.x.x.x, ::1 or localhost)")
        }
        base = trimmed
        location = trimmed
        self.token = token
        transport = try HTTPTransport(location: trimmed, caCertificatePath: caCertificatePath, logger: logger, attempts: attempts)
    }

    func url(_ kind: ObjectKind, _ name: String) -> String {
        kind == .config ? "\(base)/config" : "\(base)/\(kind.rawValue)/\(name)"
    }

    typealias Reply = HTTPTransport.Reply

    func send(_ method: HTTPMethod, _ url: String, body: [UInt8]? = nil, headers extra: [(String, String)] = [],
              limit: Int = 1 << 30, range: Range<UInt64>? = nil) async throws -> Reply {
        try await transport.send(method, url, body: body, limit: limit, range: range) {
            var headers = extra
            if let token { headers.append(("Authorization", "Bearer \(token)")) }
            return headers
        }
    }

    /// Turns a non-success reply into an error that says what to do.
    func failure(_ reply: Reply, _ kind: ObjectKind, _ name: String) -> PlanVaultError {
        let detail = String(decoding: reply.body.prefix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        switch reply.status.code {
        case 401:
            return .backend(location: location, message: "the server refused the token (401): set PLANVAULT_SERVER_TOKEN or server_token in the keys file")
        case 403:
            return .backend(location: location, message: "the token is not allowed to do this (403): \(detail)")
        case 404:
            return kind == .config ? .repositoryNotFound(location: location) : .objectMissing(kind: kind, name: name)
        case 507:
            return .backend(location: location, message: "the repository on the server is full (507): ask the server's administrator to free space or raise its --max-repo-gib")
        case 300..<400:
            let target = reply.headers.first(name: "Location").map { " to \($0)" } ?? ""
            return .backend(location: location, message: "the server redirected the request\(target) (HTTP \(reply.status.code)); redirects are never followed, so put the server's real address in the repository URL")
        default:
            return .backend(location: location, message: "HTTP \(reply.status.code) for \(kind.singular) \(name.prefix(12)): \(detail)")
        }
    }

    public func prepare() async throws {
        let reply = try await send(.POST, "\(base)?create=true")
        guard reply.status == .created || reply.status == .ok else { throw failure(reply, .config, ObjectName.config) }
    }

    struct Listed: Decodable {
        var name: String
        var size: UInt64
    }

    public func list(_ kind: ObjectKind) async throws -> [ObjectInfo] {
        if kind == .config {
            return try await stat(.config, name: ObjectName.config).map { [$0] } ?? []
        }
        let reply = try await send(.GET, "\(base)/\(kind.rawValue)/")
        if reply.status == .notFound { throw PlanVaultError.repositoryNotFound(location: location) }
        guard reply.status == .ok else { throw failure(reply, kind, "") }
        guard let listed = try? JSONDecoder().decode([Listed].self, from: Data(reply.body)) else {
            throw PlanVaultError.backend(location: location, message: "the server sent an unreadable listing of \(kind.rawValue)")
        }
        return listed.filter { ObjectName.isValid($0.name) }.map { ObjectInfo(name: $0.name, size: $0.size) }
    }

    public func read(_ kind: ObjectKind, name: String, range: Range<UInt64>?) async throws -> [UInt8] {
        try ObjectName.validate(kind, name)
        var headers = [(String, String)]()
        if let range {
            guard !range.isEmpty else { return [] }
            headers.append(("Range", "bytes=\(range.lowerBound)-\(range.upperBound - 1)"))
        }
        // A reply is never longer than what was asked for, or than an object of its kind may be.
        let reply = try await send(.GET, url(kind, name), headers: headers, limit: HTTPTransport.readLimit(kind, range), range: range)
        guard reply.status == .ok || reply.status == .partialContent else {
            if reply.status == .rangeNotSatisfiable {
                throw PlanVaultError.objectDamaged(kind: kind, name: name, reason: "shorter than expected (truncated?)")
            }
            throw failure(reply, kind, name)
        }
        return try reply.bytes(of: range, kind: kind, name: name)
    }

    public func stat(_ kind: ObjectKind, name: String) async throws -> ObjectInfo? {
        try ObjectName.validate(kind, name)
        let reply = try await send(.HEAD, url(kind, name))
        if reply.status == .notFound { return nil }
        guard reply.status == .ok else { throw failure(reply, kind, name) }
        let size = reply.headers.first(name: "Content-Length").flatMap(UInt64.init) ?? 0
        return ObjectInfo(name: name, size: size)
    }

    public func write(_ kind: ObjectKind, name: String, data: [UInt8]) async throws {
        try ObjectName.validate(kind, name)
        // An interrupted push resumes cheaply: objects the server already has are not sent again.
        if kind.isContentAddressed, let existing = try await stat(kind, name: name), existing.size == UInt64(data.count) { return }
        let reply = try await send(.PUT, url(kind, name), body: data, headers: [("Content-Type", "application/octet-stream")])
        guard reply.status == .created || reply.status == .ok else {
            if reply.status == .conflict { throw PlanVaultError.repositoryExists(location: location) }
            throw failure(reply, kind, name)
        }
    }

    /// A plain PUT, without the exists-check of `write`: the server replaces a stored copy that no
    /// longer hashes to its name (FORMAT.md §13), and keeps an intact one.
    public func repair(_ kind: ObjectKind, name: String, data: [UInt8]) async throws {
        try ObjectName.validate(kind, name)
        guard kind.isContentAddressed else { throw PlanVaultError.invalidArgument("the config is never replaced; only content-addressed objects can be repaired") }
        let reply = try await send(.PUT, url(kind, name), body: data, headers: [("Content-Type", "application/octet-stream")])
        guard reply.status == .created || reply.status == .ok else { throw failure(reply, kind, name) }
    }

    public func delete(_ kind: ObjectKind, name: String) async throws {
        try ObjectName.validate(kind, name)
        let reply = try await send(.DELETE, url(kind, name))
        guard reply.status == .noContent || reply.status == .ok || reply.status == .notFound else { throw failure(reply, kind, name) }
    }
}
