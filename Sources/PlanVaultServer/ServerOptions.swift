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
    /// Largest object accepted, in bytes.
    public var maxObjectSize = 1 << 30
    /// Seconds a connection may sit idle (or a client stall mid-upload) before it is closed.
    public var idleTimeout: Int64 = 120

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

    public var isLoopback: Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    public func validate() throws {
        if (tlsCertificatePath == nil) != (tlsKeyPath == nil) {
            throw PlanVaultError.invalidArgument("give both --tls-cert and --tls-key, or neither")
        }
        if tlsCertificatePath == nil && !isLoopback && !allowInsecureHTTP {
            throw PlanVaultError.invalidArgument("refusing to listen on \(host) without TLS: give --tls-cert and --tls-key (or --insecure-http if something else terminates TLS)")
        }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDir), isDir.boolValue else {
            throw PlanVaultError.invalidArgument("--root \(root) is not a folder: create it first")
        }
        if let key = tlsKeyPath { try FileIO.requirePrivate(key) }
    }
}
