import Foundation

/// The continuity policy's three ages: the newest copy, the newest verification and the newest
/// restore drill must each be younger than these. `audit` fails, and `status` warns, when one is
/// not. The config file's `[policy]` table (`push`, `verify`, `drill`) overrides the defaults.
public struct AuditPolicy: Sendable, Equatable {
    public var push: TimeInterval
    public var verify: TimeInterval
    public var drill: TimeInterval

    public static let defaultPush: TimeInterval = 26 * 3600
    public static let defaultVerify: TimeInterval = 8 * 86400
    public static let defaultDrill: TimeInterval = 365 * 86400
    /// The longest age a criterion may allow (100 years): reports carry ages as whole seconds.
    public static let longest: TimeInterval = 100 * 365 * 86400

    public static func isAllowed(_ seconds: TimeInterval) -> Bool { seconds >= 0 && seconds <= longest }

    public init(push: TimeInterval = defaultPush, verify: TimeInterval = defaultVerify, drill: TimeInterval = defaultDrill) {
        self.push = push
        self.verify = verify
        self.drill = drill
    }
}
