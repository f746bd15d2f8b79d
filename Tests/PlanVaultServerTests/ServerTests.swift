import NIOHTTP1
import XCTest
@testable import PlanVaultCore
import PlanVaultTestSupport
@testable import PlanVaultHTTP
@testable import PlanVaultServer

/// A real `planvault serve` on loopback with TLS, started and stopped by the test.
final class TestServer {
    let dir: TempDir
    let root: String
    let tokensPath: String
    let certPath: String
    var process: Process?
    var address = ""
    /// The running server's output (stderr holds the access log), without the .out/.err suffix.
    var logPath = ""
    let tls: Bool
    let host: String
    var agent = "", auditor = "", admin = "", otherRepoAgent = "", reader = ""

    /// `env`: extra environment for the server process (a fault shim, say).
    let env: [String: String]

    init(appendOnly: Bool = false, extraArguments: [String] = [], tls: Bool = true, host: String = "127.0.0.1",
         env: [String: String] = [:]) throws {
        self.tls = tls
        self.env = env
        self.host = host
        dir = try TempDir()
        root = dir.sub("root")
        tokensPath = dir.sub("tokens.json")
        certPath = dir.sub("cert.pem")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        var file = TokenFile()
        agent = try file.add(role: .agent, repositories: ["plans"], label: "office").token
        auditor = try file.add(role: .auditor, repositories: ["plans"], label: "auditor").token
        admin = try file.add(role: .admin, repositories: ["*"], label: "admin").token
        otherRepoAgent = try file.add(role: .agent, repositories: ["other"], label: "other office").token
        reader = try file.add(role: .reader, repositories: ["plans"], label: "disaster day").token
        try file.save(path: tokensPath)
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        openssl.arguments = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                             "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                             "-keyout", dir.sub("key.pem"), "-out", certPath]
        openssl.standardError = FileHandle.nullDevice
        openssl.standardOutput = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        guard openssl.terminationStatus == 0 else { throw PlanVaultError.invalidArgument("openssl failed") }
        chmod(dir.sub("key.pem"), 0o600)
        try start(appendOnly: appendOnly, extraArguments: extraArguments)
    }

    func start(appendOnly: Bool = false, extraArguments: [String] = [], port: Int = 0) throws {
        let portFile = dir.sub("port-\(UUID().uuidString)")
        var args = ["serve", "--root", root, "--listen", "\(host):\(port)", "--tokens", tokensPath, "--port-file", portFile]
        if tls { args += ["--tls-cert", certPath, "--tls-key", dir.sub("key.pem")] }
        if appendOnly { args.append("--append-only") }
        args += extraArguments
        logPath = dir.sub("server-log-\(UUID().uuidString)")
        let process = try CLI.start(args, env: env, output: logPath)
        self.process = process
        // Wait for the condition (the server wrote its address), not for a fixed time.
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline && process.isRunning {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8), text.hasSuffix("\n") {
                address = text.trimmingCharacters(in: .whitespacesAndNewlines)
                return
            }
            usleep(2000)
        }
        throw PlanVaultError.invalidArgument("server did not start")
    }

    var scheme: String { tls ? "https" : "http" }
    var url: String { "\(scheme)://\(address)/plans" }
    var log: String { (try? String(contentsOfFile: logPath + ".err", encoding: .utf8)) ?? "" }
    var port: Int { Int(address.split(separator: ":").last ?? "") ?? 0 }

    func kill(_ signal: Int32 = SIGKILL) {
        guard let process, process.isRunning else { return }
        Glibc.kill(process.processIdentifier, signal)
        process.waitUntilExit()
    }

    func backend(token: String?, repository: String = "plans") throws -> HTTPBackend {
        try HTTPBackend(url: "\(scheme)://\(address)/\(repository)", token: token, caCertificatePath: certPath, logger: Fixture.logger, attempts: 1)
    }

    deinit { kill(SIGTERM) }
}

final class ServerTests: XCTestCase {
    func cliEnv(_ server: TestServer, _ dir: TempDir) -> [String: String] {
        ["PLANVAULT_PASSPHRASE": Fixture.passphrase, "PLANVAULT_SERVER_TOKEN": server.agent, "PLANVAULT_CACERT": server.certPath,
         "PLANVAULT_CACHE_DIR": dir.sub("cache"), "HOME": dir.path]
    }

    func testFullCycleOverHTTPS() throws {
        let server = try TestServer()
        let dir = try TempDir()
        try Fixture.makeAwkwardTree(dir.sub("plans"))
        let env = cliEnv(server, dir)
        XCTAssertEqual(try CLI.run(["init", "--repo", server.url], env: env).status, 0)
        let push = try CLI.run(["push", "--repo", server.url, dir.sub("plans")], env: env)
        XCTAssertEqual(push.status, 0, push.stderr)
        let again = try CLI.run(["push", "--repo", server.url, "--json", dir.sub("plans")], env: env)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stdout.contains("\"files_read\" : 0"), again.stdout)
        // The alternate site: no cache, only address, token, CA and passphrase.
        var fresh = env
        fresh["PLANVAULT_CACHE_DIR"] = dir.sub("other-cache")
        let restore = try CLI.run(["restore", "latest", "--repo", server.url, "--to", dir.sub("out")], env: fresh)
        XCTAssertEqual(restore.status, 0, restore.stderr)
        XCTAssertEqual(try TreeCompare.differences(dir.sub("plans"), dir.sub("out/plans")), [])
        let verify = try CLI.run(["verify", "--repo", server.url, "--read-data"], env: fresh)
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
        // The server's data folder is itself a directory target.
        let direct = try CLI.run(["verify", "--repo", server.root + "/plans", "--read-data"], env: fresh)
        XCTAssertEqual(direct.status, 0, direct.stdout + direct.stderr)
    }

    func testMissingWrongReadOnlyAndOutOfScopeTokensAreRefused() async throws {
        let server = try TestServer()
        try await server.backend(token: server.agent).prepare()
        let body = Array("some object".utf8)
        let name = LibCrypto.sha256(body).hex
        let url = "https://\(server.address)/plans/index/\(name)"

        let none = try await server.backend(token: nil).send(.GET, "https://\(server.address)/plans/keys/")
        XCTAssertEqual(none.status.code, 401)
        let unknown = try await server.backend(token: "pvt_00000000_forged").send(.GET, "https://\(server.address)/plans/keys/")
        XCTAssertEqual(unknown.status.code, 401)
        let tampered = try await server.backend(token: server.agent + "x").send(.GET, "https://\(server.address)/plans/keys/")
        XCTAssertEqual(tampered.status.code, 401)
        let readOnly = try await server.backend(token: server.auditor).send(.PUT, url, body: body)
        XCTAssertEqual(readOnly.status.code, 403)
        let otherRepo = try await server.backend(token: server.otherRepoAgent).send(.GET, "https://\(server.address)/plans/keys/")
        XCTAssertEqual(otherRepo.status.code, 403)
        let put = try await server.backend(token: server.agent).send(.PUT, url, body: body)
        XCTAssertEqual(put.status.code, 201)
        let auditorRead = try await server.backend(token: server.auditor).send(.GET, url)
        XCTAssertEqual(auditorRead.body, body)
        let agentDelete = try await server.backend(token: server.agent).send(.DELETE, url)
        XCTAssertEqual(agentDelete.status.code, 403)
        let adminDelete = try await server.backend(token: server.admin).send(.DELETE, url)
        XCTAssertEqual(adminDelete.status.code, 204)
    }

    func testRevokedTokenIsRefusedWithoutRestart() async throws {
        let server = try TestServer()
        try await server.backend(token: server.agent).prepare()
        var file = try TokenFile.load(path: server.tokensPath)
        let id = try XCTUnwrap(file.tokens.first { $0.label == "office" }?.id)
        XCTAssertTrue(file.revoke(id: id))
        try file.save(path: server.tokensPath)
        let reply = try await server.backend(token: server.agent).send(.GET, "https://\(server.address)/plans/keys/")
        XCTAssertEqual(reply.status.code, 401)
    }

    func testAppendOnlyRefusesDeleteAndOverwrite() async throws {
        let server = try TestServer(appendOnly: true)
        let admin = try server.backend(token: server.admin)
        try await admin.prepare()
        let config = RepositoryConfig(id: String(repeating: "a", count: 64), created: "2026-01-01T00:00:00Z", chunker: .default, bundleSize: 1 << 24)
        let body = try config.encoded()
        try await admin.write(.config, name: ObjectName.config, data: body)
        let overwrite = try await admin.send(.PUT, "https://\(server.address)/plans/config", body: body)
        XCTAssertEqual(overwrite.status.code, 409)
        let delete = try await admin.send(.DELETE, "https://\(server.address)/plans/config")
        XCTAssertEqual(delete.status.code, 403)
        let kept = try await admin.read(.config, name: ObjectName.config, range: nil)
        XCTAssertEqual(kept, body)
    }

    func testBundleUploadedUnderTheWrongNameIsRefusedAndLeavesNothing() async throws {
        let server = try TestServer()
        let agent = try server.backend(token: server.agent)
        try await agent.prepare()
        let wrongName = LibCrypto.sha256(Array("something else".utf8)).hex
        let reply = try await agent.send(.PUT, "https://\(server.address)/plans/bundles/\(wrongName)", body: Array(repeating: 7, count: 100_000))
        XCTAssertEqual(reply.status.code, 400)
        let folder = "\(server.root)/plans/bundles/\(wrongName.prefix(2))"
        XCTAssertEqual(try FileIO.listDirectory(folder), [], "neither the object nor a temporary file remains")
        let notAConfig = try await agent.send(.PUT, "https://\(server.address)/plans/config", body: Array("{}".utf8))
        XCTAssertEqual(notAConfig.status.code, 400)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(server.root)/plans/config"))
    }

    func testOversizedUploadIsRefusedAndLeavesNothing() async throws {
        let server = try TestServer(extraArguments: ["--max-object-mib", "1"])
        let agent = try server.backend(token: server.agent)
        try await agent.prepare()
        let data = Fixture.noise(2 * 1024 * 1024, seed: 12)
        let name = LibCrypto.sha256(data).hex
        let reply = try await agent.send(.PUT, "https://\(server.address)/plans/bundles/\(name)", body: data)
        XCTAssertEqual(reply.status.code, 413)
        XCTAssertEqual(try FileIO.listDirectory("\(server.root)/plans/bundles/\(name.prefix(2))"), [])
    }

    func testTraversalAndOddNamesAreRefused() async throws {
        let server = try TestServer()
        let admin = try server.backend(token: server.admin)
        try await admin.prepare()
        for path in ["/plans/../x", "/plans/keys/..%2F..%2Fx", "/plans/keys/../../etc", "/plans/keys/ABCDEF", "/../plans/config",
                     "/plans/bundles/\(String(repeating: "a", count: 63))/", "/pl%61ns/config", "/plans/evil/\(String(repeating: "a", count: 64))"] {
            let reply = try await admin.send(.PUT, "https://\(server.address)\(path)", body: [1, 2, 3])
            XCTAssertTrue([400, 404, 405].contains(reply.status.code), "\(path) gave \(reply.status.code)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(server.root)/x"))
        XCTAssertEqual(try FileIO.listDirectory(server.root).sorted(), ["plans"])
    }

    func testRangedGetReturnsTheRightBytes() async throws {
        let server = try TestServer()
        let agent = try server.backend(token: server.agent)
        try await agent.prepare()
        let data = Fixture.noise(300_000, seed: 3)
        let name = LibCrypto.sha256(data).hex
        try await agent.write(.bundle, name: name, data: data)
        let part = try await agent.read(.bundle, name: name, range: 1000..<251_000)
        XCTAssertEqual(part, Array(data[1000..<251_000]))
        let whole = try await agent.read(.bundle, name: name, range: nil)
        XCTAssertEqual(whole, data)
        let suffix = try await agent.send(.GET, "https://\(server.address)/plans/bundles/\(name)", headers: [("Range", "bytes=-8")])
        XCTAssertEqual(suffix.status.code, 206)
        XCTAssertEqual(suffix.body, Array(data.suffix(8)))
        let stat = try await agent.stat(.bundle, name: name)
        XCTAssertEqual(stat?.size, 300_000)
    }

    /// Uploads waiting on a slow disk do not stop the server answering others. The fault shim
    /// holds every upload's fsync until the test lets go: more uploads than the machine has cores
    /// wait in fsync at once, and a listing is answered before any of them is done. Disk waits
    /// run on I/O threads, not on the few threads that serve every connection, and uploads have
    /// threads of their own, so reads never queue behind them.
    func testUploadsWaitingOnASlowDiskDoNotStopTheServerAnsweringOthers() async throws {
        guard FileManager.default.fileExists(atPath: FaultShim.path) else {
            return XCTFail("no fault shim at \(FaultShim.path): build it with `swift build --product ReadFaultShim`")
        }
        let files = try TempDir()
        let log = files.sub("fsyncs.log"), hold = files.sub("hold")
        let server = try TestServer(env: ["LD_PRELOAD": FaultShim.path, "PLANVAULT_TEST_SLOW_FSYNC": log, "PLANVAULT_TEST_HOLD_FSYNC": hold])
        try await server.backend(token: server.agent).prepare()
        // Lines the shim wrote since the set-up (which syncs files of its own, not held).
        func count(_ word: String) -> Int {
            ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").filter { $0 == word }.count
        }
        let startedBefore = count("start"), doneBefore = count("done")
        func lines(_ word: String) -> Int { count(word) - (word == "start" ? startedBefore : doneBefore) }

        try Fixture.write(hold, "the disk is slow until this file is gone")
        defer { unlink(hold) }
        // More than the threads that serve connections (one per core), within the uploads' 12.
        let waiting = min(ProcessInfo.processInfo.activeProcessorCount + 1, 12)
        let agents = try (0..<waiting).map { _ in try server.backend(token: server.agent) }
        let uploads = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (i, agent) in agents.enumerated() {
                    group.addTask {
                        let data = Fixture.noise(100_000, seed: UInt64(200 + i))
                        try await agent.write(.bundle, name: LibCrypto.sha256(data).hex, data: data)
                    }
                }
                try await group.waitForAll()
            }
        }
        let deadline = Date().addingTimeInterval(60)
        while lines("start") < waiting && Date() < deadline { try await Task.sleep(nanoseconds: 2_000_000) }
        XCTAssertEqual(lines("start"), waiting, "uploads waiting in fsync at once")
        let listed = try await server.backend(token: server.reader).list(.snapshot)
        XCTAssertEqual(listed.map(\.name), [])
        XCTAssertEqual(lines("done"), 0, "the listing was answered while every upload still waited on the disk")

        unlink(hold)
        try await uploads.value
        XCTAssertEqual(lines("done"), waiting)
        withExtendedLifetime(files) {}
    }

    /// A server (idle timeout 1 s) whose writes of upload files are held while `hold` exists
    /// (the fault shim notes each held write in `log`), its repository made, and `hold` made.
    func heldDiskServer() async throws -> (TestServer, HTTPBackend, TempDir, log: String, hold: String)? {
        guard FileManager.default.fileExists(atPath: FaultShim.path) else {
            XCTFail("no fault shim at \(FaultShim.path): build it with `swift build --product ReadFaultShim`")
            return nil
        }
        let files = try TempDir()
        let log = files.sub("writes.log"), hold = files.sub("hold")
        let server = try TestServer(extraArguments: ["--idle-timeout", "1"], tls: false,
                                    env: ["LD_PRELOAD": FaultShim.path, "PLANVAULT_TEST_SLOW_WRITE": log, "PLANVAULT_TEST_HOLD_WRITE": hold])
        let agent = try server.backend(token: server.agent)
        try await agent.prepare()
        try Fixture.write(hold, "the disk is slow until this file is gone")
        return (server, agent, files, log, hold)
    }

    /// The server's own disk holding up an upload is not the client's fault: with the body's
    /// first write held for three idle timeouts, the server reads no more of the body meanwhile,
    /// and the upload still completes instead of being closed as a stalled client.
    func testAnUploadWaitingOnTheServersOwnDiskIsNotTimedOut() async throws {
        guard let (server, agent, files, log, hold) = try await heldDiskServer() else { return }
        defer { unlink(hold) }
        let data = Fixture.noise(8 << 20, seed: 31)
        let name = LibCrypto.sha256(data).hex
        let url = "\(server.url)/bundles/\(name)"
        let upload = Task { try await agent.send(.PUT, url, body: data).status.code }
        // Polled without blocking a thread: the upload runs on the same few threads.
        let deadline = Date().addingTimeInterval(30)
        func held() -> Bool { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("start") }
        while !held() && Date() < deadline { try await Task.sleep(nanoseconds: 2_000_000) }
        XCTAssertTrue(held(), "the upload's first write never reached the disk")
        // Three idle timeouts with the server's write held: the time is the server's own.
        try await Task.sleep(nanoseconds: 3_000_000_000)
        unlink(hold)
        let status = try await upload.value
        XCTAssertEqual(status, 201, "the upload was not stored")
        XCTAssertEqual(try FileIO.readFile("\(server.root)/plans/bundles/\(name.prefix(2))/\(name)"), data)
        XCTAssertFalse(server.log.contains("closing the connection"), server.log)
        withExtendedLifetime(files) {}
    }

    /// A server that stays behind on a body (its write held past 10 idle timeouts) closes the
    /// connection rather than keep it for good.
    func testAServerBehindOnABodyForTenIdleTimeoutsClosesIt() async throws {
        guard let (server, agent, files, _, hold) = try await heldDiskServer() else { return }
        defer { unlink(hold) }
        let data = Fixture.noise(8 << 20, seed: 32)
        let url = "\(server.url)/bundles/\(LibCrypto.sha256(data).hex)"
        let upload = Task { try await agent.send(.PUT, url, body: data).status.code }
        let deadline = Date().addingTimeInterval(60)
        while !server.log.contains("has not read for 10 idle timeouts") && Date() < deadline { try await Task.sleep(nanoseconds: 20_000_000) }
        XCTAssertTrue(server.log.contains("has not read for 10 idle timeouts"), server.log)
        unlink(hold)
        let status = try? await upload.value
        XCTAssertNil(status, "the upload on a closed connection was answered")
        withExtendedLifetime(files) {}
    }

    func testServerKilledDuringPushThenRestartedPushCompletes() throws {
        let server = try TestServer()
        let dir = try TempDir()
        var env = cliEnv(server, dir)
        XCTAssertEqual(try CLI.run(["init", "--repo", server.url, "--bundle-size-mib", "1"], env: env).status, 0)
        for i in 0..<10 { try Fixture.write(dir.sub("plans/part-\(i).bin"), Fixture.noise(3 * 1024 * 1024, seed: UInt64(i))) }
        let push = try CLI.start(["push", "--repo", server.url, dir.sub("plans")], env: env, output: dir.sub("push"))
        func bundles() -> Int {
            (FileManager.default.enumerator(atPath: "\(server.root)/plans/bundles")?.allObjects as? [String] ?? [])
                .filter { ($0 as NSString).lastPathComponent.count == 64 }.count
        }
        let deadline = Date().addingTimeInterval(120)
        while push.isRunning && bundles() < 4 && Date() < deadline { usleep(1000) }
        server.kill(SIGKILL)
        kill(push.processIdentifier, SIGKILL)
        push.waitUntilExit()
        let stored = bundles()
        XCTAssertGreaterThanOrEqual(stored, 4)

        try server.start()
        env["PLANVAULT_SERVER_TOKEN"] = server.agent
        let again = try CLI.run(["push", "--repo", server.url, "--json", dir.sub("plans")], env: env)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stdout.contains("\"adopted_bundles\" : \(stored)"), "bundles already on the server are adopted, not re-sent: \(again.stdout)")
        let verify = try CLI.run(["verify", "--repo", server.url, "--read-data"], env: env)
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
        XCTAssertEqual(try CLI.run(["restore", "latest", "--repo", server.url, "--to", dir.sub("out")], env: env).status, 0)
        XCTAssertEqual(try TreeCompare.differences(dir.sub("plans"), dir.sub("out/plans")), [])
    }

    func testPushRetriesThroughAServerRestart() throws {
        let server = try TestServer()
        let dir = try TempDir()
        let env = cliEnv(server, dir)
        XCTAssertEqual(try CLI.run(["init", "--repo", server.url, "--bundle-size-mib", "1"], env: env).status, 0)
        for i in 0..<8 { try Fixture.write(dir.sub("plans/part-\(i).bin"), Fixture.noise(3 * 1024 * 1024, seed: UInt64(200 + i))) }
        let push = try CLI.start(["push", "--repo", server.url, dir.sub("plans")], env: env, output: dir.sub("push"))
        let deadline = Date().addingTimeInterval(120)
        func bundles() -> Int {
            (FileManager.default.enumerator(atPath: "\(server.root)/plans/bundles")?.allObjects as? [String] ?? []).filter { $0.count == 67 }.count
        }
        while push.isRunning && bundles() < 2 && Date() < deadline { usleep(1000) }
        // The server dies mid-push and comes back on the same address: the agent's retries carry the push through.
        let port = Int(server.address.split(separator: ":").last ?? "") ?? 0
        server.kill(SIGKILL)
        try server.start(port: port)
        push.waitUntilExit()
        let result = CLI.collect(dir.sub("push"), status: push.terminationStatus)
        XCTAssertEqual(result.status, 0, result.stderr)
        let verify = try CLI.run(["verify", "--repo", server.url, "--read-data"], env: env)
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
    }

    func testPlainHTTPOnANonLoopbackAddressIsRefused() throws {
        let dir = try TempDir()
        var file = TokenFile()
        _ = try file.add(role: .agent, repositories: ["*"], label: nil)
        try file.save(path: dir.sub("tokens.json"))
        try FileManager.default.createDirectory(atPath: dir.sub("root"), withIntermediateDirectories: true)
        let r = try CLI.run(["serve", "--root", dir.sub("root"), "--tokens", dir.sub("tokens.json"), "--listen", "0.0.0.0:0"], env: [:])
        XCTAssertEqual(r.status, 64, "options that do not fit together are a usage error")
        XCTAssertTrue(r.stderr.contains("without TLS"), r.stderr)
    }

    func testTokenCommandsManageTheFile() throws {
        let dir = try TempDir()
        let add = try CLI.run(["serve", "token", "add", "--file", dir.sub("t.json"), "--role", "auditor", "--repo", "plans", "--label", "state auditor"], env: [:])
        XCTAssertEqual(add.status, 0, add.stderr)
        let token = add.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(token.hasPrefix("pvt_"))
        var st = stat()
        XCTAssertEqual(stat(dir.sub("t.json"), &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)
        let raw = try String(contentsOfFile: dir.sub("t.json"), encoding: .utf8)
        XCTAssertFalse(raw.contains(token), "only the token's hash is stored")
        let list = try CLI.run(["serve", "token", "list", "--file", dir.sub("t.json")], env: [:])
        XCTAssertTrue(list.stdout.contains("auditor"))
        let id = String(token.split(separator: "_")[1])
        XCTAssertEqual(try CLI.run(["serve", "token", "revoke", "--file", dir.sub("t.json"), id], env: [:]).status, 0)
        XCTAssertNil(try TokenFile.load(path: dir.sub("t.json")).authenticate(token))
    }
}

final class ServerAuditTests: XCTestCase {
    func testAuditorTokenCanAuditButNotWrite() async throws {
        let server = try TestServer()
        let dir = try TempDir()
        try Fixture.write(dir.sub("plans/plan.md"), Fixture.text(200, seed: 4))
        let env = ["PLANVAULT_PASSPHRASE": Fixture.passphrase, "PLANVAULT_SERVER_TOKEN": server.agent, "PLANVAULT_CACERT": server.certPath,
                   "PLANVAULT_CACHE_DIR": dir.sub("cache"), "HOME": dir.path]
        XCTAssertEqual(try CLI.run(["init", "--repo", server.url], env: env).status, 0)
        XCTAssertEqual(try CLI.run(["push", "--repo", server.url, dir.sub("plans")], env: env).status, 0)
        // The default policy wants a verification and a drill too.
        XCTAssertEqual(try CLI.run(["verify", "--repo", server.url], env: env).status, 0)
        XCTAssertEqual(try CLI.run(["drill", "--repo", server.url, "--sample", "1"], env: env).status, 0)
        let key = try CLI.run(["key", "export-public", "--repo", server.url], env: env)
        try Fixture.write(dir.sub("audit.pub"), key.stdout)
        // The auditor: another machine, a read-only token, the public key, no passphrase.
        let auditorEnv = ["PLANVAULT_SERVER_TOKEN": server.auditor, "PLANVAULT_CACERT": server.certPath, "HOME": dir.sub("auditor")]
        let audit = try CLI.run(["audit", "--repo", server.url, "--public-key", dir.sub("audit.pub"), "--read-data", "--report", dir.sub("a.html")], env: auditorEnv)
        XCTAssertEqual(audit.status, 0, audit.stdout + audit.stderr)
        XCTAssertTrue(audit.stdout.contains("verdict: PASS"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.sub("a.html")))
        // The auditor token can neither add a record nor fetch key files for an offline guess.
        let auditor = try server.backend(token: server.auditor)
        let body = Array("not an attestation".utf8)
        let put = try await auditor.send(.PUT, "https://\(server.address)/plans/attestations/\(LibCrypto.sha256(body).hex)", body: body)
        XCTAssertEqual(put.status.code, 403)
        let keyName = try XCTUnwrap(try FileIO.listDirectory("\(server.root)/plans/keys").first { $0.count == 64 })
        let keyFetch = try await auditor.send(.GET, "https://\(server.address)/plans/keys/\(keyName)")
        XCTAssertEqual(keyFetch.status.code, 403)
    }
}
