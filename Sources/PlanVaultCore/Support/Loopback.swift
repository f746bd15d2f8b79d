import Foundation

/// Decides whether a host name is this machine's loopback interface, by address, never by text
/// prefix: `127.0.0.1.attacker.test` starts like a loopback address but resolves elsewhere.
public enum Loopback {
    /// True for a literal address in 127.0.0.0/8 or `::1` (also IPv4-mapped), and for `localhost`
    /// when every address it resolves to is loopback. Anything else, including names that fail to
    /// resolve, is not loopback.
    public static func isLoopback(host: String) -> Bool {
        var host = host
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if let literal = literalIsLoopback(host) { return literal }
        guard host.lowercased() == "localhost" else { return false }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &list) == 0, let first = list else { return false }
        defer { freeaddrinfo(first) }
        var entry: UnsafeMutablePointer<addrinfo>? = first
        var sawAny = false
        while let current = entry {
            guard let address = current.pointee.ai_addr else { return false }
            switch Int32(current.pointee.ai_family) {
            case AF_INET:
                let v4 = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                guard UInt32(bigEndian: v4.s_addr) >> 24 == 127 else { return false }
            case AF_INET6:
                let v6 = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                guard isLoopback(v6) else { return false }
            default:
                return false
            }
            sawAny = true
            entry = current.pointee.ai_next
        }
        return sawAny
    }

    /// Nil when `host` is not a literal IP address.
    private static func literalIsLoopback(_ host: String) -> Bool? {
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 { return isLoopback(v6) }
        return nil
    }

    private static func isLoopback(_ address: in6_addr) -> Bool {
        let bytes = withUnsafeBytes(of: address) { Array($0) }
        if bytes[0..<15].allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return true }
        // ::ffff:127.x.y.z
        return bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xff && bytes[11] == 0xff && bytes[12] == 127
    }
}
