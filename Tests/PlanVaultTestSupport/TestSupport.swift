import Foundation
import Logging
import XCTest
@testable import PlanVaultCore

/// A temporary folder removed when the test ends.
public final class TempDir {
    public let path: String

    public init() throws {
        let base = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        var template = Array("\(base)/planvault-test-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw PlanVaultError.io(path: base, operation: "mkdtemp", errno: errno) }
        path = String(cString: made)
    }

    /// For a folder kept in a test case's property: XCTest keeps every test case object until the
    /// whole run ends, so `deinit` alone would leave one folder per test behind.
    public convenience init(removedAfter testCase: XCTestCase) throws {
        try self.init()
        let path = path
        testCase.addTeardownBlock { TempDir.remove(path) }
    }

    public func sub(_ name: String) -> String { "\(path)/\(name)" }

    deinit { TempDir.remove(path) }

    private static func remove(_ path: String) {
        // rm -rf rather than FileManager: tests leave read-only files behind.
        _ = try? Process.run(URL(fileURLWithPath: "/bin/rm"), arguments: ["-rf", path]).waitUntilExit()
    }
}

public enum Fixture {
    public static let passphrase = "correct horse battery staple"
    public static let logger: Logger = {
        var l = Logger(label: "test")
        l.logLevel = .error
        return l
    }()
    /// Cheap scrypt for tests that create many repositories; the CLI uses the real cost.
    public static let fastKDF: (n: UInt64, r: UInt64, p: UInt64) = (1024, 8, 1)

    public static func write(_ path: String, _ bytes: [UInt8]) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
            throw PlanVaultError.io(path: path, operation: "create", errno: errno)
        }
    }

    public static func write(_ path: String, _ text: String) throws { try write(path, Array(text.utf8)) }

    /// Many small files in an existing folder, fast (plain open/write, no atomic rename).
    /// A config file naming several `[[targets]]`, as an agency writes one (README "Several
    /// offsite copies"); `sources` is left out when empty.
    public static func writeTargetsConfig(_ path: String, sources: [String] = [], _ targets: [(name: String, repo: String)]) throws {
        var lines = sources.isEmpty ? [] : ["sources = [" + sources.map { "\"\($0)\"" }.joined(separator: ", ") + "]"]
        for target in targets { lines += ["[[targets]]", "name = \"\(target.name)\"", "repo = \"\(target.repo)\""] }
        try write(path, lines.joined(separator: "\n") + "\n")
    }

    public static func writeMany(_ folder: String, count: Int, name: (Int) -> String, content: (Int) -> [UInt8]) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for i in 0..<count {
            let path = "\(folder)/\(name(i))"
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw PlanVaultError.io(path: path, operation: "create", errno: errno) }
            defer { close(fd) }
            try FileIO.writeFully(fd: fd, content(i), path: path)
        }
    }

    /// Deterministic pseudo-random bytes (fast, reproducible).
    public static func noise(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed &+ 0x9E3779B97F4A7C15
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { p in
            var i = 0
            while i + 8 <= count {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17
                p.storeBytes(of: state, toByteOffset: i, as: UInt64.self)
                i += 8
            }
            while i < count { state ^= state << 13; state ^= state >> 7; state ^= state << 17; p[i] = UInt8(truncatingIfNeeded: state); i += 1 }
        }
        return out
    }

    public static func text(_ lines: Int, seed: Int) -> String {
        (0..<lines).map { "Line \($0 + seed): call the duty officer on +1 555 01\($0 % 100), then the alternate site.\n" }.joined()
    }

    public static func makeRepository(_ dir: TempDir, cache: Bool = false, bundleSize: Int = RepositoryConfig.defaultBundleSize) async throws -> RepositoryWriter {
        let backend = DirectoryBackend(root: dir.sub("repo"))
        let repository = try await Repository.initialize(backend: backend, passphrase: passphrase, bundleSize: bundleSize, kdfCost: fastKDF,
                                                         cacheRoot: cache ? dir.sub("cache") : nil, logger: logger)
        return RepositoryWriter(repository: repository, backend: backend)
    }

    /// A push as `planvault push` makes it: the snapshot, then its signed record.
    public static func push(_ writer: RepositoryWriter, _ paths: [String]) async throws -> PushResult {
        let result = try await Archiver(writer: writer, logger: logger).push(PushOptions(paths: paths))
        let record = try await AttestationLog.pushRecord(snapshotID: result.snapshotID, snapshot: result.snapshot,
                                                         repository: writer.repository, index: result.index, chunkBundles: result.chunkBundles)
        try await AttestationLog.append(record, writer: writer)
        return result
    }

    public static func restore(_ repository: Repository, snapshot: String = "latest", to dest: String, includes: [String] = [], overwrite: Bool = false) async throws -> RestoreResult {
        let (_, snap) = try await repository.resolveSnapshot(snapshot)
        var options = RestoreOptions(destination: dest)
        options.includes = includes
        options.overwrite = overwrite
        return try await Restorer(repository: repository, logger: logger).restore(snap, options: options, index: try await repository.loadIndexWithBundles().load.index)
    }
}

extension Fixture {
    /// A plan folder with the awkward cases: empty files and folders, a file over 64 MiB,
    /// unicode and space-filled names, symlinks, deep nesting.
    public static func makeAwkwardTree(_ root: String) throws {
        try Fixture.write("\(root)/BCP/Business Continuity Plan 2026.docx", Fixture.noise(300_000, seed: 1))
        try Fixture.write("\(root)/BCP/notes.md", Fixture.text(3000, seed: 2))
        try Fixture.write("\(root)/Contacts/Kontaktliste – Krisenstab ü ß 電話.csv", Fixture.text(200, seed: 3))
        try Fixture.write("\(root)/Contacts/  spaced   name  .txt", "spaces\n")
        try Fixture.write("\(root)/empty.txt", [UInt8]())
        try Fixture.write("\(root)/Supporting/site-video.bin", Fixture.noise(65 * 1024 * 1024 + 12345, seed: 4))
        var deep = "\(root)/Runbooks"
        for level in 0..<12 { deep += "/level \(level)" }
        try Fixture.write("\(deep)/restore-email.md", Fixture.text(50, seed: 5))
        try FileManager.default.createDirectory(atPath: "\(root)/Empty Folder/also empty", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: "\(root)/current-plan", withDestinationPath: "BCP/Business Continuity Plan 2026.docx")
        try FileManager.default.createSymbolicLink(atPath: "\(root)/dangling", withDestinationPath: "/nonexistent/elsewhere")
        chmod("\(root)/Contacts/  spaced   name  .txt", 0o600)
        chmod("\(root)/BCP", 0o750)
    }
}

extension Fixture {
    /// Stores one tree exactly as given, without the writer's checks, in a bundle of its own
    /// (indexed): hostile-repository tests build malformed trees with it. Returns its ID (hex).
    public static func storeRawTree(_ writer: RepositoryWriter, _ entries: [TreeEntry]) async throws -> String {
        try await storeRawTree(writer, bytes: TreeCodec.encode(entries))
    }

    /// A tree of any plaintext, sealed and indexed like a real one; returns its ID.
    public static func storeRawTree(_ writer: RepositoryWriter, bytes: [UInt8]) async throws -> String {
        let id = bytes.withUnsafeBytes { writer.repository.keys.chunkID($0) }
        let sealer = try BundleSealer(keys: writer.repository.keys)
        let record = try bytes.withUnsafeBytes { try sealer.seal($0, id: id, slot: 0) }
        let (bundle, bundleEntries) = try sealer.assemble([record])
        let bundleID = try await writer.saveBundle(bundle)
        _ = try await writer.saveIndex([IndexedBundle(id: bundleID, size: UInt64(bundle.count), entries: bundleEntries)])
        return id.hex
    }

    /// A snapshot header naming `root` as its tree; returns the snapshot ID.
    public static func saveRawHeader(_ writer: RepositoryWriter, root: String, time: String = Timestamps.format(Date())) async throws -> String {
        var header = Snapshot(time: time, host: "evil", username: "evil", paths: ["/x"], tags: [], parent: nil, summary: SnapshotSummary(), nodes: [])
        header.tree = root
        let sealed = try SealedObject.seal(Array(try JSONEncoder().encode(header)), kind: .snapshot, keys: writer.repository.keys, compress: true)
        let id = LibCrypto.sha256(sealed).hex
        try await writer.backend.write(.snapshot, name: id, data: sealed)
        return id
    }

    public static func entry(_ name: String, _ type: NodeType, subtree: String? = nil, target: String? = nil) -> TreeEntry {
        TreeEntry(name: name, type: type, mode: type == .dir ? 0o755 : 0o644, mtimeNs: 0, size: type == .file ? 0 : nil, ctimeNs: nil,
                  inode: nil, device: nil, chunks: type == .file ? [] : nil, target: target, subtree: subtree)
    }
}

/// Compares two trees: same entries, same types, same bytes, same modes and mtimes, same link targets.
public enum TreeCompare {
    public static func differences(_ a: String, _ b: String) throws -> [String] {
        var problems = [String]()
        let fm = FileManager.default
        let left = try entries(a), right = try entries(b)
        if left.keys.sorted() != right.keys.sorted() {
            problems.append("entries differ: only left \(Set(left.keys).subtracting(right.keys).sorted().prefix(5)), only right \(Set(right.keys).subtracting(left.keys).sorted().prefix(5))")
            return problems
        }
        for (rel, l) in left {
            guard let r = right[rel] else { continue }
            if l.type != r.type { problems.append("\(rel): type \(l.type) vs \(r.type)"); continue }
            if l.mode != r.mode && l.type != "l" { problems.append("\(rel): mode \(String(l.mode, radix: 8)) vs \(String(r.mode, radix: 8))") }
            if l.type == "f" {
                if l.mtime != r.mtime { problems.append("\(rel): mtime \(l.mtime) vs \(r.mtime)") }
                if fm.contentsEqual(atPath: "\(a)/\(rel)", andPath: "\(b)/\(rel)") == false { problems.append("\(rel): content differs") }
            }
            if l.type == "l" {
                let lt = try fm.destinationOfSymbolicLink(atPath: "\(a)/\(rel)"), rt = try fm.destinationOfSymbolicLink(atPath: "\(b)/\(rel)")
                if lt != rt { problems.append("\(rel): link \(lt) vs \(rt)") }
            }
        }
        return problems
    }

    public struct Entry { public var type: String; public var mode: UInt32; public var mtime: Int64 }

    public static func entries(_ root: String) throws -> [String: Entry] {
        var out = [String: Entry]()
        func walk(_ rel: String) throws {
            let path = rel.isEmpty ? root : "\(root)/\(rel)"
            for name in try FileManager.default.contentsOfDirectory(atPath: path) {
                let childRel = rel.isEmpty ? name : "\(rel)/\(name)"
                var st = stat()
                guard lstat("\(root)/\(childRel)", &st) == 0 else { continue }
                let kind = st.st_mode & S_IFMT
                let type = kind == S_IFDIR ? "d" : kind == S_IFLNK ? "l" : "f"
                out[childRel] = Entry(type: type, mode: UInt32(st.st_mode & 0o7777),
                                      mtime: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec))
                if type == "d" { try walk(childRel) }
            }
        }
        try walk("")
        return out
    }
}

/// The test-only fault injector (Sources/ReadFaultShim), loaded into planvault with LD_PRELOAD.
public enum FaultShim {
    /// Built beside the test bundle and planvault (`swift build --build-tests` builds it).
    public static var path: String {
        var dirs = [URL(fileURLWithPath: CLI.binary).deletingLastPathComponent()]
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            dirs.append(dir)
            dir = dir.deletingLastPathComponent()
        }
        let candidates = dirs.map { $0.appendingPathComponent("libReadFaultShim.so").path }
        return candidates.first { FileManager.default.fileExists(atPath: $0) } ?? candidates[0]
    }
}

/// Runs the real `planvault` executable.
public enum CLI {
    public struct Result {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    public static var binary: String {
        if let explicit = ProcessInfo.processInfo.environment["PLANVAULT_BIN"] { return explicit }
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("planvault").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return packageRoot + "/.build/debug/planvault"
    }

    /// The package's folder (README.md, packaging/), from this source file's place in it.
    public static var packageRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    public static func environment(_ extra: [String: String]) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        for key in env.keys where key.hasPrefix("PLANVAULT_") { env.removeValue(forKey: key) }
        for (k, v) in extra { env[k] = v }
        return env
    }

    /// Starts the executable with stdout and stderr going to files (no pipe can fill up and block it).
    public static func start(_ args: [String], env: [String: String], cwd: String? = nil, output: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = args
        process.environment = environment(env)
        if let cwd { process.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        FileManager.default.createFile(atPath: output + ".out", contents: nil)
        FileManager.default.createFile(atPath: output + ".err", contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: output + ".out")
        process.standardError = FileHandle(forWritingAtPath: output + ".err")
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return process
    }

    public static func collect(_ output: String, status: Int32) -> Result {
        let out = (try? String(contentsOfFile: output + ".out", encoding: .utf8)) ?? ""
        let err = (try? String(contentsOfFile: output + ".err", encoding: .utf8)) ?? ""
        unlink(output + ".out")
        unlink(output + ".err")
        return Result(status: status, stdout: out, stderr: err)
    }

    @discardableResult
    public static func run(_ args: [String], env: [String: String], cwd: String? = nil) throws -> Result {
        let output = NSTemporaryDirectory() + "/planvault-cli-\(UUID().uuidString)"
        let process = try start(args, env: env, cwd: cwd, output: output)
        process.waitUntilExit()
        return collect(output, status: process.terminationStatus)
    }
}

/// Two hosts, each with its own cache, pushing to one repository at once, round after round;
/// then `planvault audit` with the public key alone. Used on every target kind.
public enum TwoHostRace {
    public struct Outcome {
        public var failedPushes: [String]
        public var audit: CLI.Result
    }

    /// `env` reaches both pushes; `auditEnv` is the auditor's (no passphrase in it).
    public static func run(repo: String, plans: String, dir: TempDir, env: [String: String], auditEnv: [String: String],
                           rounds: Int = 5) throws -> Outcome {
        var failed = [String]()
        for round in 0..<rounds {
            try Fixture.write(plans + "/round.txt", "round \(round)")
            let runs = try ["office", "alternate"].map { host in
                (host, try CLI.start(["push", "--repo", repo, "--host", host, "--cache-dir", dir.sub("cache-\(host)"), plans],
                                     env: env, output: dir.sub("\(host)-\(round)")))
            }
            for (host, process) in runs {
                process.waitUntilExit()
                let result = CLI.collect(dir.sub("\(host)-\(round)"), status: process.terminationStatus)
                if result.status != 0 { failed.append("round \(round), \(host): exit \(result.status): \(result.stderr)") }
            }
        }
        let key = try CLI.run(["key", "export-public", "--repo", repo], env: env)
        try Fixture.write(dir.sub("audit.pub"), key.stdout)
        let audit = try CLI.run(["audit", "--repo", repo, "--public-key", dir.sub("audit.pub"), "--integrity-only"], env: auditEnv.merging(["HOME": dir.sub("auditor")]) { a, _ in a })
        return Outcome(failedPushes: failed, audit: audit)
    }
}
