import Foundation

/// The repository's `config` object: plain JSON, no secrets. Its only
/// job is to say "this is a PlanVault repository", which format, and which ID.
public struct RepositoryConfig: Codable, Sendable {
    /// Version 2: snapshots are headers over content-addressed directory trees (FORMAT.md §9).
    public static let currentVersion = 2
    public static let defaultBundleSize = 16 * 1024 * 1024

    public var format: String = "planvault"
    public var version: Int = currentVersion
    /// 64 hex digits, random; binds key files to this repository.
    public var id: String
    public var created: String
    public var chunker: ChunkerParameters
    /// Target size of a bundle in bytes.
    public var bundleSize: Int

    enum CodingKeys: String, CodingKey {
        case format, version, id, created, chunker, bundleSize = "bundle_size"
    }

    public static func decode(_ bytes: [UInt8], location: String) throws -> RepositoryConfig {
        guard let config = try? JSONDecoder().decode(RepositoryConfig.self, from: Data(bytes)), config.format == "planvault" else {
            throw PlanVaultError.objectDamaged(kind: .config, name: "\(location)/config", reason: "not a PlanVault config")
        }
        guard config.version == currentVersion else {
            throw PlanVaultError.unsupportedFormat("repository version \(config.version); this planvault reads version \(currentVersion)")
        }
        guard config.chunker.isValid, config.bundleSize >= 1024 * 1024, config.bundleSize <= 512 * 1024 * 1024 else {
            throw PlanVaultError.objectDamaged(kind: .config, name: "\(location)/config", reason: "chunker or bundle parameters out of range")
        }
        return config
    }

    /// Reports an unsupported version as such (a newer planvault's repository is not damaged).
    static func decodeVersionOnly(_ bytes: [UInt8], location: String) throws -> Int? {
        struct Header: Decodable { var format: String; var version: Int }
        guard let header = try? JSONDecoder().decode(Header.self, from: Data(bytes)), header.format == "planvault" else { return nil }
        guard header.version == currentVersion else {
            throw PlanVaultError.unsupportedFormat("repository version \(header.version); this planvault reads version \(currentVersion)")
        }
        return header.version
    }

    public func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return Array(try encoder.encode(self))
    }
}
