import Foundation
import PlanVaultCore

/// AWS credentials. Never printed.
public struct S3Credentials: Sendable {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }
}

/// AWS Signature Version 4 for S3 (header-based signing), as specified in
/// "Signature Version 4 signing process" and "Authenticating Requests (AWS Signature Version 4)".
public struct SigV4: Sendable {
    public let credentials: S3Credentials
    public let region: String
    public let service = "s3"

    public init(credentials: S3Credentials, region: String) {
        self.credentials = credentials
        self.region = region
    }

    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// RFC 3986 percent-encoding of everything but unreserved characters; "/" is kept when `keepSlash`.
    public static func uriEncode(_ s: String, keepSlash: Bool) -> String {
        var out = ""
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(UnicodeScalar(byte))
            case UInt8(ascii: "/") where keepSlash:
                out.append("/")
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    public static func amzDate(_ date: Date) -> (dateTime: String, day: String) {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        let dateTime = f.string(from: date)
        return (dateTime, String(dateTime.prefix(8)))
    }

    /// The canonical query string: parameters sorted by name, names and values encoded.
    public static func canonicalQuery(_ query: [(String, String)]) -> String {
        let encoded: [(name: String, value: String)] = query.map { pair in
            (uriEncode(pair.0, keepSlash: false), uriEncode(pair.1, keepSlash: false))
        }
        let sorted = encoded.sorted { a, b in a.name == b.name ? a.value < b.value : a.name < b.name }
        return sorted.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
    }

    /// Signs a request. `path` is the unencoded absolute path ("/bucket/key" or "/key");
    /// `headers` must include `host`; `x-amz-date`, `x-amz-content-sha256` and the session
    /// token are added. Returns every header to send, Authorization included.
    public func sign(method: String, path: String, query: [(String, String)], headers: [String: String],
                     payloadHash: String, date: Date) -> [String: String] {
        let (dateTime, day) = Self.amzDate(date)
        var all = [String: String]()
        for (k, v) in headers { all[k.lowercased()] = v }
        all["x-amz-date"] = dateTime
        all["x-amz-content-sha256"] = payloadHash
        if let token = credentials.sessionToken { all["x-amz-security-token"] = token }
        let names = all.keys.sorted()
        let canonicalHeaders = names.map { "\($0):\(Self.trim(all[$0] ?? ""))\n" }.joined()
        let signedHeaders = names.joined(separator: ";")
        let canonicalRequest = [method, Self.uriEncode(path, keepSlash: true), Self.canonicalQuery(query),
                                canonicalHeaders, signedHeaders, payloadHash].joined(separator: "\n")
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = ["AWS4-HMAC-SHA256", dateTime, scope, LibCrypto.sha256(Array(canonicalRequest.utf8)).hex].joined(separator: "\n")
        let signature = Hex.encode(hmac(signingKey(day: day), stringToSign))
        all["authorization"] = "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
        return all
    }

    func signingKey(day: String) -> [UInt8] {
        let kDate = hmac(Array("AWS4\(credentials.secretAccessKey)".utf8), day)
        let kRegion = hmac(kDate, region)
        let kService = hmac(kRegion, service)
        return hmac(kService, "aws4_request")
    }

    private func hmac(_ key: [UInt8], _ message: String) -> [UInt8] {
        LibCrypto.hmacSHA256(key: SecretKey(bytes: key), Array(message.utf8)).bytes
    }

    /// Header values: leading and trailing spaces removed, inner runs of spaces folded to one.
    static func trim(_ value: String) -> String {
        value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
    }
}
