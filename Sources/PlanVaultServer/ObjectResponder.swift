import Foundation
import Hummingbird
import Logging
import NIOCore
import PlanVaultCore

/// The REST protocol (see FORMAT.md, "Server protocol"): authenticates every request,
/// authorises it by role and repository, and serves objects from the `ObjectStore`.
struct ObjectResponder: HTTPResponder {
    typealias Context = ServerContext

    let store: ObjectStore
    let tokens: TokenStore
    let appendOnly: Bool
    let maxObjectSize: Int
    let usage: RepositoryUsage
    let accessLog: AccessLog

    enum Action { case read, add, remove }

    func respond(to request: Request, context: ServerContext) async throws -> Response {
        let started = Date()
        var tokenID = "-"
        let response: Response
        do {
            response = try await handle(request, tokenID: &tokenID)
        } catch let failure as HTTPFailure {
            response = failure.response
        } catch {
            accessLog.logger.error("internal error on \(request.method) \(AccessLog.escape(request.uri.path)): \(error)")
            response = HTTPFailure(.internalServerError, "internal error").response
        }
        accessLog.record(request: request, context: context, tokenID: tokenID, response: response, started: started)
        return response
    }

    private func handle(_ request: Request, tokenID: inout String) async throws -> Response {
        // The scheme's name is case-insensitive (RFC 9110 §11.1).
        guard let header = request.headers[.authorization], header.prefix(7).lowercased() == "bearer ",
              let token = tokens.current.authenticate(String(header.dropFirst(7)))
        else {
            var failure = HTTPFailure(.unauthorized, "missing or unknown token")
            failure.headers[.wwwAuthenticate] = "Bearer realm=\"planvault\""
            throw failure
        }
        tokenID = token.id
        guard let target = ServerTarget.parse(request.uri.path) else {
            throw HTTPFailure(.badRequest, "invalid path: expected /REPO, /REPO/config, /REPO/TYPE/ or /REPO/TYPE/NAME with a 64-hex-digit NAME")
        }
        guard token.allows(repository: target.repository) else {
            throw HTTPFailure(.forbidden, "this token may not reach repository \(target.repository)")
        }
        switch (request.method, target) {
        case (.post, .repository(let repo)):
            try authorize(token, .add)
            // As with restic's REST protocol: a POST that does not ask to create is a mistake, not a create.
            guard request.uri.queryParameters.get("create") == "true" else {
                throw HTTPFailure(.badRequest, "POST /\(repo) creates a repository only as POST /\(repo)?create=true")
            }
            return try await createRepository(repo)
        case (.get, .listing(let repo, let kind)):
            try authorize(token, .read)
            return try await list(repo, kind)
        case (.head, .object(let repo, let kind, let name)):
            try authorize(token, .read)
            return try head(repo, kind, name)
        case (.get, .object(let repo, let kind, let name)):
            try authorize(token, .read)
            // Key files are only useful for guessing passphrases offline; an audit needs none.
            if kind == .key && token.role == .auditor { throw HTTPFailure(.forbidden, "auditor tokens may not download key files") }
            return try get(repo, kind, name, range: request.headers[.range])
        case (.put, .object(let repo, let kind, let name)):
            try authorize(token, .add)
            return try await put(repo, kind, name, request: request)
        case (.delete, .object(let repo, let kind, let name)):
            // Agents release their repository locks, even on an append-only server; nothing else.
            if kind == .lock && (token.role == .agent || token.role == .admin) { return try await delete(repo, kind, name) }
            try authorize(token, .remove)
            return try await delete(repo, kind, name)
        default:
            throw HTTPFailure(.methodNotAllowed, "\(request.method) is not supported on \(request.uri.path)")
        }
    }

    private func authorize(_ token: TokenEntry, _ action: Action) throws {
        switch (token.role, action) {
        case (_, .read), (.agent, .add), (.admin, .add): break
        case (.admin, .remove):
            if appendOnly { throw HTTPFailure(.forbidden, "the server is append-only: nothing can be deleted or overwritten") }
        default:
            throw HTTPFailure(.forbidden, "a token with role \(token.role.rawValue) may not \(action == .remove ? "delete" : "write")")
        }
    }

    private func requireRepository(_ repo: String) throws -> DirectoryBackend {
        guard store.exists(repo) else { throw HTTPFailure(.notFound, "no repository \(repo)") }
        return store.backend(repo)
    }

    private func createRepository(_ repo: String) async throws -> Response {
        let existed = store.exists(repo)
        try await store.backend(repo).prepare()
        return Response(status: existed ? .ok : .created)
    }

    private func list(_ repo: String, _ kind: ObjectKind) async throws -> Response {
        let backend = try requireRepository(repo)
        let objects: [ObjectInfo]
        do {
            objects = try await backend.list(kind)
        } catch PlanVaultError.io(_, _, let code) where code == ENOENT {
            // The kind's folder is missing (lost, or from an older version): nothing to list, as
            // a directory target says; a 500 would be retried in vain.
            objects = []
        }
        // Streamed in batches: a repository may hold 100,000+ objects.
        let body = ResponseBody { writer in
            var buffer = ByteBuffer(string: "[")
            for (i, object) in objects.enumerated() {
                buffer.writeString("\(i == 0 ? "" : ","){\"name\":\"\(object.name)\",\"size\":\(object.size)}")
                if buffer.readableBytes > 64 * 1024 {
                    try await writer.write(buffer)
                    buffer.clear()
                }
            }
            buffer.writeString("]")
            try await writer.write(buffer)
            try await writer.finish(nil)
        }
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: body)
    }

    private func head(_ repo: String, _ kind: ObjectKind, _ name: String) throws -> Response {
        let path = try requireRepository(repo).path(kind, name: name)
        var st = stat()
        guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { throw HTTPFailure(.notFound, "no such object") }
        var headers = HTTPFields()
        headers[.contentLength] = String(st.st_size)
        headers[.acceptRanges] = "bytes"
        return Response(status: .ok, headers: headers, body: ResponseBody())
    }

    private func get(_ repo: String, _ kind: ObjectKind, _ name: String, range rangeHeader: String?) throws -> Response {
        let path = try requireRepository(repo).path(kind, name: name)
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw HTTPFailure(.notFound, "no such object") }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw HTTPFailure(.notFound, "no such object")
        }
        let size = UInt64(st.st_size)
        var headers = HTTPFields()
        headers[.acceptRanges] = "bytes"
        headers[.contentType] = "application/octet-stream"
        let span: Range<UInt64>
        let status: HTTPResponse.Status
        switch ByteRange.parse(rangeHeader, size: size) {
        case .whole:
            span = 0..<size
            status = .ok
        case .part(let r):
            span = r
            status = .partialContent
            headers[.contentRange] = "bytes \(r.lowerBound)-\(r.upperBound - 1)/\(size)"
        case .unsatisfiable:
            close(fd)
            var failure = HTTPFailure(.rangeNotSatisfiable, "range not satisfiable")
            failure.headers[.contentRange] = "bytes */\(size)"
            throw failure
        }
        let descriptor = FileDescriptorBox(fd: fd)
        let body = ResponseBody(contentLength: Int(span.count)) { writer in
            defer { descriptor.close() }
            var offset = span.lowerBound
            while offset < span.upperBound {
                let count = Int(min(1 << 20, span.upperBound - offset))
                // Read on an I/O thread (a cold read waits on the disk), straight into the buffer sent.
                let at = offset
                let buffer = try await BlockingIO.run { try ObjectStore.read(fd: descriptor.fd, count: count, offset: at, path: path) }
                guard buffer.readableBytes > 0 else { break }
                try await writer.write(buffer)
                offset += UInt64(buffer.readableBytes)
            }
            try await writer.finish(nil)
        }
        return Response(status: status, headers: headers, body: body)
    }

    private func put(_ repo: String, _ kind: ObjectKind, _ name: String, request: Request) async throws -> Response {
        let backend = try requireRepository(repo)
        let path = backend.path(kind, name: name)
        let declared = request.headers[.contentLength].flatMap(Int.init)
        // The server's limit, or the format's for the kind when smaller (a config or lock is a
        // small JSON document: a larger one is refused before it is stored or read).
        let kindLimit = Int(clamping: Limits.maxObjectSize(kind))
        let limit = min(maxObjectSize, kindLimit)
        let limitText = kindLimit < maxObjectSize ? "the limit of \(kindLimit) bytes for a \(kind.singular)" : "the server's limit of \(maxObjectSize) bytes"
        // Refused before a byte of the body is read (the connection then closes).
        if let length = declared, length > limit {
            throw HTTPFailure(.contentTooLarge, "object of \(length) bytes exceeds \(limitText)")
        }
        if kind == .config && access(path, F_OK) == 0 {
            throw HTTPFailure(.conflict, "the repository's config exists and is never overwritten")
        }
        // An object of this name and size already stored: this upload (a retry) can add nothing
        // if its body hashes to the name, which the end checks, along with the stored copy. So it
        // may pass the repository's limit, which would otherwise refuse a retry of a success.
        var st = stat()
        let sameSizeStored = kind.isContentAddressed && declared != nil && lstat(path, &st) == 0 && Int(st.st_size) == declared
        try await usage.prepare(repo)
        if let length = declared, !sameSizeStored, !usage.fits(repo, Int64(length)) { throw repositoryFull(repo) }
        let store = self.store
        let upload = try await ObjectStore.writes.run {
            try ObjectStore.Upload(store: store, repository: repo, kind: kind, name: name, declaredSize: declared)
        }
        // Bytes counted against the repository's limit. Once the upload's file is in place (even
        // if a later step, such as the folder's fsync, fails), all it holds is counted and what it
        // replaced given back; otherwise the reservation is given back.
        var reserved: Int64 = 0
        defer {
            if upload.placed {
                usage.add(repo, Int64(upload.received) - reserved)
                usage.release(repo, upload.replacedSize)
            } else {
                usage.release(repo, reserved)
            }
        }
        var parts = request.body.makeAsyncIterator()
        while let buffer = try await Self.nextPart(&parts) {
            guard upload.received + buffer.readableBytes <= limit else {
                throw HTTPFailure(.contentTooLarge, "object exceeds \(limitText)")
            }
            if usage.reserve(repo, Int64(buffer.readableBytes)) {
                reserved += Int64(buffer.readableBytes)
            } else if !sameSizeStored {
                throw repositoryFull(repo)
            }
            try await upload.receive(buffer)
        }
        try await upload.endOfBody()
        if let length = declared, length != upload.received {
            throw HTTPFailure(.badRequest, "body ended after \(upload.received) of \(length) bytes")
        }
        if kind.isContentAddressed {
            let digest = upload.hash.finalize()
            guard digest.hex == name else {
                throw HTTPFailure(.badRequest, "body SHA-256 \(digest.hex) does not match the object name \(name)")
            }
            // Put in place only while the name is free, so two uploads of one object racing each
            // other store and count it once.
            if try await upload.commit(replace: false) { return Response(status: .created) }
            // The name is taken. Same name, same content: an intact stored copy stays untouched.
            if try await BlockingIO.run({ ObjectStore.isIntact(path: path, name: name) }) { return Response(status: .ok) }
            // The stored copy no longer hashes to its name: replacing it with bytes that do is
            // repair, not overwrite, so it is allowed to agents and with --append-only. What it
            // replaced is measured at the rename (a racing repair may have replaced it first).
            _ = try await upload.commit(replace: true)
            accessLog.logger.notice("repaired \(kind.singular) \(name) in repository \(repo): the stored copy was damaged")
            return Response(status: .created)
        }
        // The config is not content-addressed: it must be a config, and it is never replaced,
        // even by an upload racing another.
        let tmp = upload.tmp
        guard (try? RepositoryConfig.decode(try await BlockingIO.run { try FileIO.readFile(tmp) }, location: repo)) != nil else {
            throw HTTPFailure(.badRequest, "the body is not a PlanVault config")
        }
        guard try await upload.commit(replace: false) else {
            throw HTTPFailure(.conflict, "the repository's config exists and is never overwritten")
        }
        return Response(status: .created)
    }

    /// The next part of a request body. A body that cannot be read (the client went away, or
    /// its chunked framing is invalid) is the client's fault, not an internal error.
    private static func nextPart(_ parts: inout RequestBody.AsyncIterator) async throws -> ByteBuffer? {
        do {
            return try await parts.next()
        } catch {
            throw HTTPFailure(.badRequest, "the request body could not be read: the connection ended or its framing is invalid")
        }
    }

    private func repositoryFull(_ repo: String) -> HTTPFailure {
        HTTPFailure(HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage"), "repository \(repo) is full: it may hold at most \(usage.limit.map { $0 >> 30 } ?? 0) GiB (--max-repo-gib)")
    }

    private func delete(_ repo: String, _ kind: ObjectKind, _ name: String) async throws -> Response {
        let path = try requireRepository(repo).path(kind, name: name)
        // On the uploads' I/O threads: the folder's fsync waits on the disk like theirs.
        let size = try await ObjectStore.writes.run { () throws -> Int64 in
            // Measured and removed under the lock a repair's rename takes: what is given back is
            // what this unlink removed.
            let size = try ObjectStore.renaming { () throws -> Int64 in
                let size = ObjectStore.regularFileSize(path)
                guard unlink(path) == 0 else {
                    throw errno == ENOENT ? HTTPFailure(.notFound, "no such object") : HTTPFailure(.internalServerError, "delete failed")
                }
                return size
            }
            try? FileIO.fsyncDirectory((path as NSString).deletingLastPathComponent)
            return size
        }
        usage.release(repo, size)
        return Response(status: .noContent)
    }
}

/// An HTTP error response with a one-line plain-text explanation.
struct HTTPFailure: Error {
    var status: HTTPResponse.Status
    var message: String
    var headers = HTTPFields()

    init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }

    var response: Response {
        var headers = self.headers
        headers[.contentType] = "text/plain; charset=utf-8"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: message + "\n")))
    }
}

/// Closes a file descriptor once, from whichever path finishes with it.
final class FileDescriptorBox: @unchecked Sendable {
    let fd: Int32
    private let lock = NSLock()
    private var closed = false

    init(fd: Int32) { self.fd = fd }

    func close() {
        lock.lock()
        defer { lock.unlock() }
        if !closed {
            closed = true
            _ = Glibc.close(fd)
        }
    }

    deinit { close() }
}
