import Foundation
import PlanVaultCore

public struct ServerOptions: Sendable {
    /// Folder holding one sub-folder per repository, each in the directory-target layout.
    public var root: String
    public var host: String
    public var port: Int
    public var tokensPath: String
    public var tlsCertificatePath: String?
    public var tlsKeyPath: String?
    /// Refuse DELETE and overwrite for every token.
    public var appendOnly = false
    public var allowInsecureHTTP = false
    /// Largest object accepted, in MiB (1…`maxObjectMiBLimit`).
    public var maxObjectMiB = 1024
    /// Seconds the server waits on a client (idle, or moving under 64 KiB) before closing (1…86400).
    public var idleTimeout: Int64 = 120
    /// Connections served at once; more wait in the listen backlog (1…65536).
    public var maxConnections = 256
    /// Seconds busy connections may finish after SIGTERM/SIGINT before they are closed (0…3600).
    public var drainTimeout: Int64 = 10
    /// Largest size of one repository, in GiB; nil for no limit.
    public var maxRepositoryGiB: Int?

    public static let maxObjectMiBLimit = 16384
    public static let maxRepositoryGiBLimit = 1 << 20

    public var maxObjectSize: Int { maxObjectMiB * 1024 * 1024 }
    public var maxRepositorySize: Int64? { maxRepositoryGiB.map { Int64($0) << 30 } }

    public init(root: String, host: String, port: Int, tokensPath: String) {
        self.root = root
        self.host = host
        self.port = port
        self.tokensPath = tokensPath
    }

    /// Parses "HOST:PORT", "[IPv6]:PORT" or ":PORT".
    public static func parseListen(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }

    public var isLoopback: Bool { Loopback.isLoopback(host: host) }

    public func validate() throws {
        guard (1...Self.maxObjectMiBLimit).contains(maxObjectMiB) else {
            throw PlanVaultError.usage("--max-object-mib \(maxObjectMiB) is out of range: give 1 to \(Self.maxObjectMiBLimit) (MiB)")
        }
        guard (1...86400).contains(idleTimeout) else {
            throw PlanVaultError.usage("--idle-timeout \(idleTimeout) is out of range: give 1 to 86400 seconds")
        }
        guard (1...65536).contains(maxConnections) else {
            throw PlanVaultError.usage("--max-connections \(maxConnections) is out of range: give 1 to 65536")
        }
        guard (0...3600).contains(drainTimeout) else {
            throw PlanVaultError.usage("--drain-timeout \(drainTimeout) is out of range: give 0 to 3600 seconds")
        }
        if let gib = maxRepositoryGiB, !(1...Self.maxRepositoryGiBLimit).contains(gib) {
            throw PlanVaultError.usage("--max-repo-gib \(gib) is out of range: give 1 to \(Self.maxRepositoryGiBLimit) (GiB), or leave it out for no limit")
        }
        if (tlsCertificatePath == nil) != (tlsKeyPath == nil) {
            throw PlanVaultError.usage("give both --tls-cert and --tls-key, or neither")
        }
        if tlsCertificatePath == nil && !isLoopback && !allowInsecureHTTP {
            throw PlanVaultError.usage("refusing to listen on \(host) without TLS: give --tls-cert and --tls-key (or --insecure-http if something else terminates TLS)")
        }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDir), isDir.boolValue else {
            throw PlanVaultError.invalidArgument("--root \(root) is not a folder: create it first")
        }
        if let key = tlsKeyPath { try FileIO.requirePrivate(key, what: "TLS private key (--tls-key)") }
    }
}
