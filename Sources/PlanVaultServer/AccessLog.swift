import Foundation
import Hummingbird
import Logging

/// Requests in Common Log Format, with the token's public ID in the user field
/// (never the token) and the duration appended:
/// `127.0.0.1 - 3fa2c1d0 [23/Nov/2026:13:20:01 +0000] "PUT /plans/bundles/ab… HTTP/1.1" 201 - 12ms`
struct AccessLog: Sendable {
    let logger: Logger

    func record(request: Request, context: ServerContext, tokenID: String, response: Response, started: Date) {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "dd/MMM/yyyy:HH:mm:ss Z"
        let length = response.headers[.contentLength] ?? "-"
        let ms = Int(Date().timeIntervalSince(started) * 1000)
        let method = Self.escape(request.method.rawValue), path = Self.escape(request.uri.path)
        logger.info("\(context.remoteAddress) - \(tokenID) [\(formatter.string(from: started))] \"\(method) \(path) HTTP/1.1\" \(response.status.code) \(length) \(ms)ms")
    }

    /// Client-chosen text cannot end a quoted field or start a new line: `"` and `\` are
    /// backslash-escaped, control and non-ASCII bytes written as `\xHH` (as Apache does).
    static func escape(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out += "\\\""
            case UInt8(ascii: "\\"): out += "\\\\"
            case 0x20...0x7e: out.unicodeScalars.append(Unicode.Scalar(byte))
            default: out += "\\x" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
            }
        }
        return out
    }
}
