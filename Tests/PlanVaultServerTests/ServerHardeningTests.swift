import XCTest
import NIOCore
@testable import PlanVaultCore
import PlanVaultTestSupport
@testable import PlanVaultHTTP
@testable import PlanVaultServer

/// Connections: early close, timeouts both ways, the connection cap, shutdown, leftovers (issue 8, item 12).
final class ServerConnectionTests: XCTestCase {
    let someName = String(repeating: "ab", count: 32)

    func putHead(_ server: TestServer, token: String?, length: Int, name: String? = nil) -> String {
        var head = "PUT /plans/bundles/\(name ?? someName) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \(length)\r\n"
        if let token { head += "Authorization: Bearer \(token)\r\n" }
        return head + "\r\n"
    }

    /// Sends `request` on a new connection and returns the answer, once the server closed it (or
    /// after 10 s), lower-cased, and whether it was closed.
    func answerAndClose(_ server: TestServer, _ request: String) throws -> (text: String, closed: Bool) {
        let connection = try RawConnection(port: server.port)
        connection.send(request)
        let (bytes, closed) = connection.readUntilClosed(timeout: 10)
        return (String(decoding: bytes, as: UTF8.self).lowercased(), closed)
    }

    /// Sends a POST to `path` with the agent's token in `scheme` on a new connection and returns
    /// the first part of the answer (nil when none came within 10 s).
    func post(_ server: TestServer, _ path: String, scheme: String = "Bearer") throws -> String? {
        let connection = try RawConnection(port: server.port)
        connection.send("POST \(path) HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nAuthorization: \(scheme) \(server.agent)\r\n\r\n")
        guard case .data(let bytes) = connection.read(timeout: 10) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    func testUnauthenticatedUploadIsAnsweredAndClosedWithoutReadingTheBody() throws {
        let server = try TestServer(tls: false)
        // The answer comes and the connection ends, though 8 MiB of body were announced and not sent.
        let (text, closed) = try answerAndClose(server, putHead(server, token: nil, length: 8 << 20) + String(repeating: "x", count: 1000))
        XCTAssertTrue(text.hasPrefix("http/1.1 401"), text)
        XCTAssertTrue(text.contains("connection: close"), text)
        XCTAssertTrue(closed, "the server kept the connection open to read the rest of the body")
    }

    func testARequestWithoutABodyAndWithABadTokenIsAnsweredAndClosed() throws {
        let server = try TestServer(tls: false)
        // Complete requests with a bad token must not keep a connection (one of the few slots) open.
        let (text, closed) = try answerAndClose(server, "GET /plans/bundles/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer pvt_00000000_nope\r\n\r\n")
        XCTAssertTrue(text.hasPrefix("http/1.1 401"), text)
        XCTAssertTrue(text.contains("connection: close"), text)
        XCTAssertTrue(closed, "the server kept a connection open for a client without a valid token")
    }

    func testTheBearerSchemeIsMatchedWhateverItsCase() throws {
        let server = try TestServer(tls: false)
        for scheme in ["bearer", "BEARER", "Bearer"] {
            guard let text = try post(server, "/plans?create=true", scheme: scheme) else { return XCTFail("no answer for \(scheme)") }
            XCTAssertTrue(text.hasPrefix("HTTP/1.1 201") || text.hasPrefix("HTTP/1.1 200"), "\(scheme): \(text)")
        }
    }

    func testAPostWithoutCreateTrueCreatesNothing() throws {
        let server = try TestServer(tls: false)
        for query in ["", "?create=false", "?create"] {
            guard let text = try post(server, "/plans\(query)") else { return XCTFail("no answer for POST /plans\(query)") }
            XCTAssertTrue(text.hasPrefix("HTTP/1.1 400"), "POST /plans\(query): \(text)")
            XCTAssertTrue(text.contains("?create=true"), text)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(server.root)/plans"), "a POST without create=true made the repository")
    }

    func testAnInvalidRangeIsIgnoredAndARangePastTheEndIsUnsatisfiable() {
        // RFC 9110 §14.2: a Range that is not a valid range-spec is ignored, not refused.
        for header in ["bytes=5-3", "bytes=abc-", "bytes=-x", "bytes=0-1,4-5", "items=0-5", "bytes=5", "bytes=-", "bytes=+0-+9",
                       "bytes=--0", "bytes=-+5", "bytes= 1-2", "bytes="] {
            XCTAssertEqual(ByteRange.parse(header, size: 10), .whole, header)
        }
        XCTAssertEqual(ByteRange.parse("bytes=10-", size: 10), .unsatisfiable)
        XCTAssertEqual(ByteRange.parse("bytes=12-20", size: 10), .unsatisfiable)
        XCTAssertEqual(ByteRange.parse("bytes=-0", size: 10), .unsatisfiable)
        XCTAssertEqual(ByteRange.parse("bytes=0-", size: 0), .unsatisfiable)
        XCTAssertEqual(ByteRange.parse("bytes=2-100", size: 10), .part(2..<10))
        XCTAssertEqual(ByteRange.parse("bytes=-4", size: 10), .part(6..<10))
        XCTAssertEqual(ByteRange.parse("bytes=3-3", size: 10), .part(3..<4))
        XCTAssertEqual(ByteRange.parse("Bytes=3-4", size: 10), .part(3..<5), "the unit is case-insensitive")
        XCTAssertEqual(ByteRange.parse("bytes=0-18446744073709551616", size: 10), .part(0..<10), "a last position past 64 bits is the end")
        XCTAssertEqual(ByteRange.parse("bytes=99999999999999999999-", size: 10), .unsatisfiable)
    }

    func testAConfigOrLockLargerThanItsKindAllowsIsRefusedBeforeItIsRead() throws {
        let server = try TestServer(tls: false)
        guard let created = try post(server, "/plans?create=true") else { return XCTFail("the repository was not created") }
        XCTAssertTrue(created.hasPrefix("HTTP/1.1 201"), created)
        for path in ["/plans/config", "/plans/locks/\(someName)"] {
            // 1 MiB announced, none sent: the answer comes from the Content-Length alone.
            let (text, closed) = try answerAndClose(server, "PUT \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \(1 << 20)\r\nAuthorization: Bearer \(server.agent)\r\n\r\n")
            XCTAssertTrue(text.hasPrefix("http/1.1 413"), "\(path): \(text)")
            XCTAssertTrue(text.contains("exceeds the limit of 65536 bytes for a"), "\(path): \(text)")
            XCTAssertTrue(closed, path)
        }
        let leftovers = try FileManager.default.subpathsOfDirectory(atPath: "\(server.root)/plans").filter { $0.contains(".tmp-") || $0.hasPrefix("locks/") && $0.count > 6 }
        XCTAssertEqual(leftovers, [])
    }

    func testALockIsStoredInARepositoryMadeBeforeItHadALocksFolder() async throws {
        let server = try TestServer()
        let agent = try server.backend(token: server.agent)
        try await agent.prepare()
        try FileManager.default.removeItem(atPath: "\(server.root)/plans/locks")
        let lock = Array("{\"format\":\"planvault-lock\"}".utf8)
        let reply = try await agent.send(.PUT, "https://\(server.address)/plans/locks/\(LibCrypto.sha256(lock).hex)", body: lock)
        XCTAssertEqual(reply.status.code, 201)
        XCTAssertEqual(try FileIO.readFile("\(server.root)/plans/locks/\(LibCrypto.sha256(lock).hex)"), lock)
    }

    func testStalledOrTricklingUploadIsClosedAfterTheIdleTimeout() async throws {
        let server = try TestServer(extraArguments: ["--idle-timeout", "2"], tls: false)
        try await server.backend(token: server.agent).prepare()
        let connection = try RawConnection(port: server.port)
        connection.send(putHead(server, token: server.agent, length: 1 << 20))
        // A byte every 50 ms keeps "activity" going but moves far under 64 KiB per 2 s.
        let started = Date()
        var closed = false
        while Date().timeIntervalSince(started) < 20 {
            if !connection.send([0x41]) { closed = true; break }
            if case .closed = connection.read(timeout: 0.05) { closed = true; break }
        }
        XCTAssertTrue(closed, "a trickling upload was never timed out")
        XCTAssertLessThan(Date().timeIntervalSince(started), 10)
        let folder = "\(server.root)/plans/bundles/ab"
        XCTAssertTrue(waitFor(10) { ((try? FileIO.listDirectory(folder)) ?? []).isEmpty }, "the partial upload was not discarded")
    }

    func testResponseTheClientDoesNotReadIsTimedOut() async throws {
        let server = try TestServer(extraArguments: ["--idle-timeout", "2"], tls: false)
        let agent = try server.backend(token: server.agent)
        try await agent.prepare()
        // Larger than the kernel's send buffer can ever hold (tcp_wmem's maximum), or the whole
        // response could sit in the server's socket and reach the client after the close.
        let sendBufferMax = (try? String(contentsOfFile: "/proc/sys/net/ipv4/tcp_wmem", encoding: .utf8))?
            .split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).last.flatMap { Int($0) } ?? (4 << 20)
        let data = Fixture.noise(max(8 << 20, min(4 * sendBufferMax, 96 << 20)), seed: 81)
        let name = LibCrypto.sha256(data).hex
        try await agent.write(.bundle, name: name, data: data)
        let connection = try RawConnection(port: server.port, receiveBuffer: 4096)
        connection.send("GET /plans/bundles/\(name) HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(server.agent)\r\n\r\n")
        // Not reading: the server's writes stall, and it must give up on this client (named by its
        // port: the agent's idle connection is closed after the same timeout, with the same words).
        let port = try connection.localPort()
        XCTAssertTrue(waitFor(20) { server.log.contains("closing the connection from 127.0.0.1:\(port):") }, server.log)
        let (bytes, closed) = connection.readUntilClosed(timeout: 10)
        XCTAssertTrue(closed)
        XCTAssertLessThan(bytes.count, data.count, "the whole response was delivered: nothing was timed out")
    }

    func testSIGTERMStopsTheServerWithinTheDrainTimeoutDespiteAStalledUpload() async throws {
        let server = try TestServer(extraArguments: ["--drain-timeout", "1", "--idle-timeout", "600"], tls: false)
        try await server.backend(token: server.agent).prepare()
        let connection = try RawConnection(port: server.port)
        connection.send(putHead(server, token: server.agent, length: 1 << 20) + String(repeating: "x", count: 4096))
        XCTAssertTrue(waitFor(10) { ((try? FileIO.listDirectory("\(server.root)/plans/bundles/ab")) ?? []).contains { $0.hasPrefix(".tmp-") } })
        let process = try XCTUnwrap(server.process)
        let signalled = Date()
        kill(process.processIdentifier, SIGTERM)
        XCTAssertTrue(waitFor(15) { !process.isRunning }, "the server did not stop while a client stalled")
        XCTAssertLessThan(Date().timeIntervalSince(signalled), 8)
        XCTAssertEqual(try FileIO.listDirectory("\(server.root)/plans/bundles/ab"), [], "the partial upload was left behind")
    }

    func testUnfinishedUploadsOfAKilledServerAreRemovedAtStart() throws {
        let server = try TestServer(tls: false)
        server.kill(SIGKILL)
        let leftover = "\(server.root)/plans/bundles/ab/.tmp-0123456789abcdef"
        let kept = "\(server.root)/plans/bundles/ab/\(someName)"
        try Fixture.write(leftover, Fixture.noise(1000, seed: 1))
        try Fixture.write(kept, Fixture.noise(1000, seed: 2))
        try server.start()
        XCTAssertFalse(FileManager.default.fileExists(atPath: leftover))
        XCTAssertTrue(FileManager.default.fileExists(atPath: kept), "only temporary files are removed")
    }

    func testConnectionsBeyondTheCapWaitForAFreeSlot() throws {
        let server = try TestServer(extraArguments: ["--max-connections", "2"], tls: false)
        var holders = [try RawConnection(port: server.port), try RawConnection(port: server.port)]
        // Both slots are taken once each holder gets an answer (with a valid token: a 401 closes).
        for holder in holders {
            holder.send("GET /plans/keys/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(server.agent)\r\n\r\n")
            guard case .data = holder.read(timeout: 10) else { return XCTFail("a connection within the cap was not served") }
        }
        let third = try RawConnection(port: server.port)
        third.send("GET /plans/keys/ HTTP/1.1\r\nHost: x\r\n\r\n")
        if case .data = third.read(timeout: 1.5) { XCTFail("a third connection was served past --max-connections 2") }
        holders.removeFirst()
        guard case .data(let bytes) = third.read(timeout: 10) else { return XCTFail("the waiting connection was not served once a slot freed") }
        XCTAssertTrue(String(decoding: bytes, as: UTF8.self).hasPrefix("HTTP/1.1 401"))
    }

    /// After a request with `Connection: close` the server reads nothing more. A client that
    /// then pipelines an upload and goes silent must not keep the connection (the only slot
    /// here) as one the server is "behind" on: it is closed once the response is sent.
    func testAConnectionAskedToCloseIsClosedAfterItsResponse() throws {
        let server = try TestServer(extraArguments: ["--max-connections", "1", "--idle-timeout", "600"], tls: false)
        let holder = try RawConnection(port: server.port)
        let chunks = String(repeating: "1\r\nA\r\n", count: 12)
        holder.send("GET /plans/keys/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer \(server.agent)\r\n\r\n"
                    + "PUT /plans/bundles/\(someName) HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nAuthorization: Bearer \(server.agent)\r\n\r\n"
                    + chunks)
        let (answer, closed) = holder.readUntilClosed(timeout: 10)
        XCTAssertTrue(String(decoding: answer, as: UTF8.self).hasPrefix("HTTP/1.1 "), "the first request was not answered")
        XCTAssertTrue(closed, "the connection was not closed after the response to Connection: close")
        let next = try RawConnection(port: server.port)
        next.send("GET /plans/keys/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(server.agent)\r\n\r\n")
        guard case .data = next.read(timeout: 10) else { return XCTFail("the only slot stayed with the silent client") }
        withExtendedLifetime(holder) {}
    }

    func testConnectionHeaderAsksToCloseOnlyWithTheCloseOption() {
        XCTAssertTrue(ConnectionGuard.asksToClose("close"))
        XCTAssertTrue(ConnectionGuard.asksToClose("Keep-Alive, CLOSE"))
        XCTAssertFalse(ConnectionGuard.asksToClose("keep-alive"))
        XCTAssertFalse(ConnectionGuard.asksToClose("closed"))
        XCTAssertFalse(ConnectionGuard.asksToClose(nil))
    }
}

/// Options, TLS, loopback, logs, redirects, token file reloads (issue 8, item 13).
final class ServerSettingsTests: XCTestCase {
    func serve(_ extra: [String]) throws -> CLI.Result {
        let dir = try TempDir()
        var file = TokenFile()
        _ = try file.add(role: .agent, repositories: ["*"], label: nil)
        try file.save(path: dir.sub("tokens.json"))
        try FileManager.default.createDirectory(atPath: dir.sub("root"), withIntermediateDirectories: true)
        return try CLI.run(["serve", "--root", dir.sub("root"), "--tokens", dir.sub("tokens.json"), "--listen", "127.0.0.1:0"] + extra, env: [:])
    }

    func testOutOfRangeOptionsAreRefusedWithAClearMessage() throws {
        for (option, value) in [("--max-object-mib", "99999999999999"), ("--max-object-mib", "0"), ("--idle-timeout", "0"),
                                ("--idle-timeout", "-5"), ("--max-connections", "0"), ("--max-repo-gib", "0"), ("--drain-timeout", "-1")] {
            let result = try serve(["\(option)=\(value)"])
            XCTAssertEqual(result.status, 64, "a value out of range is a usage error: \(option) \(value): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains("\(option) \(value) is out of range"), result.stderr)
        }
    }

    func testTLSBelow12AndCBCSuitesAreRefused() throws {
        let server = try TestServer()
        func handshake(_ args: [String]) throws -> Bool {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            process.arguments = ["s_client", "-connect", server.address, "-CAfile", server.certPath, "-verify_return_error"] + args
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            return process.terminationStatus == 0
        }
        XCTAssertTrue(try handshake(["-tls1_2"]), "a modern TLS 1.2 handshake must work")
        XCTAssertTrue(try handshake(["-tls1_3"]))
        XCTAssertFalse(try handshake(["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"]), "TLS 1.1 was accepted")
        XCTAssertFalse(try handshake(["-tls1", "-cipher", "DEFAULT@SECLEVEL=0"]), "TLS 1.0 was accepted")
        XCTAssertFalse(try handshake(["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA"]), "a CBC-SHA1 suite was accepted")
    }

    func testPlainHTTPIsOnlyForAddressesThatAreLoopback() throws {
        for url in ["http://127.0.0.1.attacker.test/plans", "http://127.0.0.1.attacker.test:8080/plans", "http://10.0.0.1/plans", "http://localhost.attacker.test/plans"] {
            XCTAssertThrowsError(try HTTPBackend(url: url, token: "t", caCertificatePath: nil, logger: Fixture.logger), url) { error in
                XCTAssertTrue("\(error.localizedDescription)".contains("plain http"), "\(error)")
            }
        }
        for url in ["http://127.0.0.1:1/plans", "http://127.5.6.7:1/plans", "http://[::1]:1/plans", "http://localhost:1/plans"] {
            XCTAssertNoThrow(try HTTPBackend(url: url, token: "t", caCertificatePath: nil, logger: Fixture.logger), url)
        }
        var options = ServerOptions(root: "/", host: "127.0.0.1.attacker.test", port: 0, tokensPath: "/nonexistent")
        XCTAssertThrowsError(try options.validate()) { XCTAssertTrue("\($0.localizedDescription)".contains("without TLS"), "\($0)") }
        options.host = "127.0.0.1"
        XCTAssertNoThrow(try options.validate())
    }

    func testAccessLogEscapesQuotesInPaths() throws {
        let server = try TestServer(tls: false)
        let connection = try RawConnection(port: server.port)
        connection.send("GET /plans/\"x\" HTTP/1.1\r\nHost: x\r\n\r\n")
        guard case .data = connection.read(timeout: 10) else { return XCTFail("no answer") }
        XCTAssertTrue(waitFor(10) { server.log.contains("/plans/\\\"x\\\"") }, server.log)
        XCTAssertFalse(server.log.contains("/plans/\"x\""), "a quote from the client was logged raw")
    }

    func testRedirectsAreNeverFollowed() async throws {
        let target = try CannedHTTPServer(response: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        defer { target.stop() }
        let redirector = try CannedHTTPServer(response: "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:\(target.port)/plans/keys/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        defer { redirector.stop() }
        let backend = try HTTPBackend(url: "http://127.0.0.1:\(redirector.port)/plans", token: "pvt_1_secret", caCertificatePath: nil, logger: Fixture.logger, attempts: 1)
        do {
            _ = try await backend.list(.key)
            XCTFail("a redirect was followed or ignored")
        } catch {
            XCTAssertTrue(error.localizedDescription.contains("redirect"), error.localizedDescription)
        }
        XCTAssertEqual(target.connectionCount, 0, "the token went to the redirect's target")
    }

    func testTokensFileFixedWithChmodIsReloaded() async throws {
        let server = try TestServer()
        let agent = try server.backend(token: server.agent)
        try await agent.prepare()
        // Loosened and touched: refused (fail closed).
        chmod(server.tokensPath, 0o644)
        let later = time(nil) + 10
        var times = [timespec(tv_sec: later, tv_nsec: 0), timespec(tv_sec: later, tv_nsec: 0)]
        utimensat(AT_FDCWD, server.tokensPath, &times, 0)
        let refused = try await agent.send(.GET, "https://\(server.address)/plans/keys/")
        XCTAssertEqual(refused.status.code, 401)
        // Fixed with chmod alone (the mtime does not change): accepted again.
        chmod(server.tokensPath, 0o600)
        let accepted = try await agent.send(.GET, "https://\(server.address)/plans/keys/")
        XCTAssertEqual(accepted.status.code, 200)
    }
}

/// The agent's view of failures: permanent ones at once, transient ones retried aloud (item 15).
final class AgentFailureTests: XCTestCase {
    func testUntrustedCertificateFailsAtOnceWithAHint() async throws {
        let server = try TestServer()
        let backend = try HTTPBackend(url: server.url, token: server.agent, caCertificatePath: nil, logger: Fixture.logger, attempts: 6)
        let started = Date()
        do {
            try await backend.prepare()
            XCTFail("an untrusted certificate was accepted")
        } catch {
            XCTAssertTrue(error.localizedDescription.contains("not trusted"), error.localizedDescription)
            XCTAssertTrue(error.localizedDescription.contains("--cacert"), error.localizedDescription)
            XCTAssertFalse(error.localizedDescription.contains("NIOSSL"), error.localizedDescription)
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 5, "a permanent TLS error was retried")
    }

    func testCertificateForAnotherNameFailsAtOnceWithAHint() async throws {
        // The certificate names 127.0.0.1 and localhost; the server answers on 127.0.0.2.
        let server = try TestServer(host: "127.0.0.2")
        let backend = try HTTPBackend(url: server.url, token: server.agent, caCertificatePath: server.certPath, logger: Fixture.logger, attempts: 6)
        let started = Date()
        do {
            try await backend.prepare()
            XCTFail("a certificate for another name was accepted")
        } catch {
            XCTAssertTrue(error.localizedDescription.contains("not for 127.0.0.2"), error.localizedDescription)
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 5, "a permanent TLS error was retried")
    }

    func testRefusedConnectionIsRetriedAndEveryRetryIsPrinted() throws {
        let port = try closedPort()
        let dir = try TempDir()
        let result = try CLI.run(["snapshots", "--repo", "https://127.0.0.1:\(port)/plans"],
                                 env: ["PLANVAULT_PASSPHRASE": Fixture.passphrase, "PLANVAULT_SERVER_TOKEN": "pvt_1_x", "HOME": dir.path,
                                       "PLANVAULT_CACHE_DIR": dir.sub("cache")])
        XCTAssertNotEqual(result.status, 0)
        for attempt in 2...6 {
            XCTAssertTrue(result.stderr.contains("connection refused (attempt \(attempt) of 6)"), result.stderr)
        }
        XCTAssertTrue(result.stderr.contains("retrying in 0.5 s: connection refused"), result.stderr)
        XCTAssertTrue(result.stderr.contains("gave up after 6 attempts"), result.stderr)
        XCTAssertFalse(result.stderr.contains("NIO"), result.stderr)
    }

    /// A server that restarts accepts a connection and hangs up before its TLS handshake is done;
    /// that is transient (the next attempt can pass), unlike a handshake the server refuses.
    func testHandshakeTheServerHangsUpOnIsRetriedNotPermanent() throws {
        let hangsUp = try CannedHTTPServer(response: "")
        defer { hangsUp.stop() }
        let dir = try TempDir()
        // Two retries are enough to show it (the default's six attempts are the test above).
        let result = try CLI.run(["snapshots", "--retries", "2", "--repo", "https://127.0.0.1:\(hangsUp.port)/plans"],
                                 env: ["PLANVAULT_PASSPHRASE": Fixture.passphrase, "PLANVAULT_SERVER_TOKEN": "pvt_1_x", "HOME": dir.path,
                                       "PLANVAULT_CACHE_DIR": dir.sub("cache")])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("closed the connection during the TLS handshake (attempt 2 of 3)"), result.stderr)
        XCTAssertTrue(result.stderr.contains("closed the connection during the TLS handshake (attempt 3 of 3)"), result.stderr)
        XCTAssertTrue(result.stderr.contains("gave up after 3 attempts"), result.stderr)
        XCTAssertEqual(hangsUp.connectionCount, 3, "every attempt reached the server")
        XCTAssertFalse(result.stderr.contains("NIO"), result.stderr)
    }
}

/// Per-repository quota (item 14) and repair of damaged objects (item 4).
final class ServerStorageTests: XCTestCase {
    /// A server with `--max-repo-gib 1` whose repository `plans` a sparse file (bundle 000…0)
    /// fills to 100 KB under its limit, without using the disk; and an agent backend for it.
    func nearlyFullServer() async throws -> (TestServer, HTTPBackend) {
        let server = try TestServer(extraArguments: ["--max-repo-gib", "1"])
        let agent = try server.backend(token: server.agent)
        try await agent.prepare()
        let filler = "\(server.root)/plans/bundles/00/\(String(repeating: "0", count: 64))"
        try Fixture.write(filler, [UInt8]())
        XCTAssertEqual(truncate(filler, off_t((1 << 30) - 100_000)), 0)
        return (server, agent)
    }

    func testUploadPastTheRepositoryLimitIsRefusedWith507AndAPlainMessage() async throws {
        let (server, agent) = try await nearlyFullServer()
        let small = Fixture.noise(60_000, seed: 1), second = Fixture.noise(60_000, seed: 2)
        try await agent.write(.bundle, name: LibCrypto.sha256(small).hex, data: small)
        // The running total now counts the first upload: 40 KB are left.
        let retrying = try HTTPBackend(url: server.url, token: server.agent, caCertificatePath: server.certPath, logger: Fixture.logger, attempts: 6)
        let started = Date()
        do {
            try await retrying.write(.bundle, name: LibCrypto.sha256(second).hex, data: second)
            XCTFail("an upload past --max-repo-gib was stored")
        } catch {
            XCTAssertTrue(error.localizedDescription.contains("the repository on the server is full"), error.localizedDescription)
            XCTAssertTrue(error.localizedDescription.contains("--max-repo-gib"), error.localizedDescription)
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 5, "507 was retried")
        let raw = try await agent.send(.PUT, "https://\(server.address)/plans/bundles/\(LibCrypto.sha256(second).hex)", body: second)
        XCTAssertEqual(raw.status.code, 507)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(server.root)/plans/bundles/\(LibCrypto.sha256(second).hex.prefix(2))/\(LibCrypto.sha256(second).hex)"))
        // Space freed by a delete can be used again.
        try await server.backend(token: server.admin).delete(.bundle, name: String(repeating: "0", count: 64))
        try await agent.write(.bundle, name: LibCrypto.sha256(second).hex, data: second)
    }

    func testUploadingAnIntactObjectAgainIsAcceptedWhenTheRepositoryIsNearlyFull() async throws {
        let (server, agent) = try await nearlyFullServer()
        let data = Fixture.noise(60_000, seed: 3)
        let url = "https://\(server.address)/plans/bundles/\(LibCrypto.sha256(data).hex)"
        let first = try await agent.send(.PUT, url, body: data)
        XCTAssertEqual(first.status.code, 201)
        // 40 KB are left, but the same 60 KB again store nothing new: a retried upload must pass,
        // and it must not be counted a second time.
        for _ in 0..<3 {
            let again = try await agent.send(.PUT, url, body: data)
            XCTAssertEqual(again.status.code, 200)
        }
        let small = Fixture.noise(30_000, seed: 4)
        let fits = try await agent.send(.PUT, "https://\(server.address)/plans/bundles/\(LibCrypto.sha256(small).hex)", body: small)
        XCTAssertEqual(fits.status.code, 201, "the repeated uploads were counted against the limit")
    }

    func testDamagedObjectIsRepairedEvenWhenAppendOnlyAndAnIntactOneIsKept() async throws {
        let server = try TestServer(appendOnly: true)
        let agent = try server.backend(token: server.agent)
        try await agent.prepare()
        let data = Fixture.noise(200_000, seed: 9)
        let name = LibCrypto.sha256(data).hex
        try await agent.write(.bundle, name: name, data: data)
        let path = "\(server.root)/plans/bundles/\(name.prefix(2))/\(name)"
        // Intact: a repair PUT is checked and discarded, the stored file untouched.
        var before = stat(), after = stat()
        stat(path, &before)
        try await agent.repair(.bundle, name: name, data: data)
        stat(path, &after)
        XCTAssertEqual(before.st_ino, after.st_ino)
        // Damaged on the server: bytes that do not hash to the name are refused...
        var damaged = data
        damaged[1000] ^= 0xff
        try FileIO.writeAtomically(damaged, to: path, inDirectory: (path as NSString).deletingLastPathComponent)
        let wrong = try await agent.send(.PUT, "https://\(server.address)/plans/bundles/\(name)", body: damaged)
        XCTAssertEqual(wrong.status.code, 400)
        // ...and the right bytes replace the damaged copy, through the agent's repair (no exists-check).
        try await agent.repair(.bundle, name: name, data: data)
        XCTAssertEqual(try FileIO.readFile(path), data)
        XCTAssertEqual(try FileIO.listDirectory((path as NSString).deletingLastPathComponent), [name])
    }

    /// Two repairs of one damaged object that both found it damaged: the first replaces the
    /// damaged copy, the second the first's copy. Each gives back to the repository's count what
    /// its own rename removed, not the damaged size both saw before (which counted it twice).
    func testARepairCountsWhatItsRenameReplaced() async throws {
        let dir = try TempDir()
        let store = ObjectStore(root: dir.sub("root"))
        try FileManager.default.createDirectory(atPath: "\(store.repositoryPath("plans"))/bundles", withIntermediateDirectories: true)
        let data = Fixture.noise(300_000, seed: 5)
        let name = LibCrypto.sha256(data).hex
        let path = store.backend("plans").path(.bundle, name: name)
        let folder = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try FileIO.writeAtomically([UInt8](repeating: 7, count: 10), to: path, inDirectory: folder)
        func repair() async throws -> ObjectStore.Upload {
            let upload = try ObjectStore.Upload(store: store, repository: "plans", kind: .bundle, name: name, declaredSize: data.count)
            try await upload.receive(ByteBuffer(bytes: data))
            try await upload.endOfBody()
            return upload
        }
        let first = try await repair(), second = try await repair()
        let placedFirst = try await first.commit(replace: true), placedSecond = try await second.commit(replace: true)
        XCTAssertTrue(placedFirst && placedSecond)
        XCTAssertEqual(first.replacedSize, 10)
        XCTAssertEqual(second.replacedSize, Int64(data.count), "the second repair replaced the first's copy")
        XCTAssertEqual(try FileIO.readFile(path), data)
        XCTAssertEqual(try FileIO.listDirectory(folder), [name])
    }
}

/// Reliability suite, item 4: hostile requests at volume while a legitimate client works.
final class ServerHostileRequestTests: XCTestCase {
    func testHostileRequestsDoNotDisturbALegitimateClient() async throws {
        let server = try TestServer(extraArguments: ["--max-object-mib", "1"])
        let agent = try server.backend(token: server.agent)
        try await agent.prepare()
        let base = "https://\(server.address)/plans"
        let known = Fixture.noise(300_000, seed: 70)
        let knownName = LibCrypto.sha256(known).hex
        try await agent.write(.bundle, name: knownName, data: known)
        let racing = Fixture.noise(500_000, seed: 71)
        let racingName = LibCrypto.sha256(racing).hex

        // What the legitimate client does: push a new object, read it back whole and in part.
        func legitimateWork() async throws -> Int {
            var done = 0
            for round in 0..<15 {
                let data = Fixture.noise(150_000, seed: UInt64(1000 + round))
                let name = LibCrypto.sha256(data).hex
                try await agent.write(.bundle, name: name, data: data)
                guard try await agent.read(.bundle, name: name, range: nil) == data,
                      try await agent.read(.bundle, name: name, range: 100..<50_100) == Array(data[100..<50_100]) else { continue }
                done += 1
            }
            return done
        }

        let agentToken = server.agent, certPath = server.certPath
        // Each hostile request returns a description of anything the server should not have done.
        @Sendable func hostile(_ index: Int) async -> String? {
            do {
                switch index % 5 {
                case 0: // oversized body: refused (or cut off), never stored
                    let big = Fixture.noise(2 << 20, seed: UInt64(index))
                    let reply = try? await agent.send(.PUT, "\(base)/bundles/\(LibCrypto.sha256(big).hex)", body: big)
                    if let reply, reply.status.code != 413 { return "oversized PUT got \(reply.status.code)" }
                case 1: // malformed ranges
                    let range = ["bytes=abc", "bytes=5-1", "bytes=-0", "bytes=99999999999999999999-", "bytes=0-0,5-9", "items=0-5", "bytes=--1"][index / 5 % 7]
                    let reply = try await agent.send(.GET, "\(base)/bundles/\(knownName)", headers: [("Range", range)])
                    if ![200, 206, 416].contains(reply.status.code) { return "range \(range) got \(reply.status.code)" }
                    if reply.status.code == 200 && reply.body != known { return "range \(range) gave wrong bytes" }
                case 2: // invalid names and paths
                    let path = ["/bundles/XYZ", "/bundles/\(String(repeating: "g", count: 64))", "/../../etc/passwd", "/bundles/%2e%2e",
                                "/keys/\(String(repeating: "a", count: 4000))", "/nope/\(knownName)"][index / 5 % 6]
                    let reply = try await agent.send(.PUT, base + path, body: [1, 2, 3])
                    if !(400..<500).contains(Int(reply.status.code)) { return "path \(path) got \(reply.status.code)" }
                case 3: // racing PUTs of one object
                    let reply = try await agent.send(.PUT, "\(base)/bundles/\(racingName)", body: racing)
                    if ![200, 201].contains(reply.status.code) { return "racing PUT got \(reply.status.code)" }
                default: // bad tokens
                    let forged = try HTTPBackend(url: base, token: index % 2 == 0 ? "pvt_\(index)_forged" : agentToken + "\(index)",
                                                 caCertificatePath: certPath, logger: Fixture.logger, attempts: 1)
                    let reply = try await forged.send(.GET, "\(base)/bundles/\(knownName)")
                    if reply.status.code != 401 { return "a bad token got \(reply.status.code)" }
                }
            } catch {
                return "hostile request \(index) failed: \(error.localizedDescription)"
            }
            return nil
        }

        async let legitimate = legitimateWork()
        var problems = [String]()
        // 400 hostile requests, at most 16 at a time.
        for batch in stride(from: 0, to: 400, by: 16) {
            await withTaskGroup(of: String?.self) { group in
                for index in batch..<min(batch + 16, 400) { group.addTask { await hostile(index) } }
                for await problem in group { if let problem { problems.append(problem) } }
            }
        }
        let completed = try await legitimate
        XCTAssertEqual(completed, 15, "the legitimate client did not complete all its work")
        XCTAssertEqual(problems, [])
        XCTAssertTrue(server.process?.isRunning ?? false, "the server died")
        let racingStored = try await agent.read(.bundle, name: racingName, range: nil)
        let knownStored = try await agent.read(.bundle, name: knownName, range: nil)
        XCTAssertEqual(racingStored, racing)
        XCTAssertEqual(knownStored, known)
        let leftovers = (FileManager.default.enumerator(atPath: "\(server.root)/plans")?.allObjects as? [String] ?? []).filter { $0.contains(".tmp-") }
        XCTAssertTrue(waitFor(10) { (FileManager.default.enumerator(atPath: "\(server.root)/plans")?.allObjects as? [String] ?? []).filter { $0.contains(".tmp-") }.isEmpty }, "\(leftovers)")
    }
}
