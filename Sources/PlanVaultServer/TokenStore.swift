import Foundation
import Logging
import PlanVaultCore

/// The tokens file as the server sees it: reloaded when the file changes, so
/// `planvault serve token revoke` takes effect on the next request without a restart.
/// "Changes" includes its mode and owner (ctime), so a file refused for loose permissions
/// is accepted again as soon as it is fixed with `chmod 600`.
final class TokenStore: @unchecked Sendable {
    private let path: String
    private let logger: Logger
    private let lock = NSLock()
    private var file: TokenFile
    private var stamp: [Int64]

    init(path: String, logger: Logger) throws {
        self.path = path
        self.logger = logger
        file = try TokenFile.load(path: path)
        stamp = Self.stamp(path)
    }

    private static func stamp(_ path: String) -> [Int64] {
        var st = stat()
        guard stat(path, &st) == 0 else { return [] }
        return [Int64(st.st_ino), Int64(st.st_size), Int64(st.st_mode), Int64(st.st_uid),
                st.mtimeNs,
                st.ctimeNs]
    }

    var current: TokenFile {
        lock.lock()
        defer { lock.unlock() }
        let now = Self.stamp(path)
        if now != stamp {
            do {
                file = try TokenFile.load(path: path)
                stamp = now
                logger.notice("reloaded tokens file \(path): \(file.tokens.count) token(s)")
            } catch {
                // Fail closed: an unreadable tokens file admits nobody until it is fixed.
                file = TokenFile()
                stamp = now
                logger.error("tokens file \(path) could not be reloaded (\(error)); refusing every request until it is fixed")
            }
        }
        return file
    }
}
