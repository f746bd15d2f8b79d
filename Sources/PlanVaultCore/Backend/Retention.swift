import Foundation

/// What a WORM store says about one object's retention.
public struct ObjectRetention: Sendable {
    public var retainUntil: Date?
    public var mode: String?
    public var lastModified: Date?

    public init(retainUntil: Date?, mode: String?, lastModified: Date?) {
        self.retainUntil = retainUntil
        self.mode = mode
        self.lastModified = lastModified
    }
}

/// Targets that can keep objects under a retention lock (S3 Object Lock) and report it.
public protocol RetentionInspecting: Sendable {
    func retention(_ kind: ObjectKind, name: String) async throws -> ObjectRetention
}
