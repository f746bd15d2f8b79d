import PlanVaultCore

/// A request path, parsed and validated: `/REPO`, `/REPO/config`, `/REPO/TYPE/` or `/REPO/TYPE/NAME`.
enum ServerTarget: Equatable {
    case repository(String)
    case listing(repository: String, kind: ObjectKind)
    case object(repository: String, kind: ObjectKind, name: String)

    var repository: String {
        switch self {
        case .repository(let r), .listing(let r, _), .object(let r, _, _): return r
        }
    }

    /// Nil for anything that is not exactly one of the shapes above with valid names.
    static func parse(_ path: String) -> ServerTarget? {
        guard path.hasPrefix("/"), !path.contains("%"), !path.contains("\\") else { return nil }
        let trailingSlash = path.hasSuffix("/") && path.count > 1
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().filter { !$0.isEmpty }.map(String.init)
        guard let repo = parts.first, isValidRepositoryName(repo) else { return nil }
        switch parts.count {
        case 1:
            return .repository(repo)
        case 2:
            if parts[1] == "config" && !trailingSlash { return .object(repository: repo, kind: .config, name: ObjectName.config) }
            guard trailingSlash, let kind = ObjectKind(rawValue: parts[1]), kind != .config else { return nil }
            return .listing(repository: repo, kind: kind)
        case 3:
            guard !trailingSlash, let kind = ObjectKind(rawValue: parts[1]), kind != .config, ObjectName.isValid(parts[2]) else { return nil }
            return .object(repository: repo, kind: kind, name: parts[2])
        default:
            return nil
        }
    }

    /// Letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64 characters.
    static func isValidRepositoryName(_ name: String) -> Bool {
        let u = Array(name.utf8)
        guard (1...64).contains(u.count), let first = u.first, isAlnum(first) else { return false }
        return u.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    private static func isAlnum(_ c: UInt8) -> Bool {
        (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
    }
}

/// A single byte range from a Range header: `bytes=A-B`, `bytes=A-` or `bytes=-N`.
enum ByteRange: Equatable {
    case whole
    case part(Range<UInt64>)
    case unsatisfiable

    /// A header that is not a valid single range (other units, several ranges, `bytes=5-3`,
    /// anything but digits around the dash) is ignored and the whole object sent, as RFC 9110
    /// §14.2 allows; only a valid range that lies past the object's end is unsatisfiable. The
    /// unit is matched whatever its case (§14.1); a position too large for 64 bits is past any end.
    static func parse(_ header: String?, size: UInt64) -> ByteRange {
        guard let header else { return .whole }
        let bytes = Array(header.utf8)
        let unit = Array("bytes=".utf8)
        guard bytes.count > unit.count, zip(bytes, unit).allSatisfy({ lowercased($0) == $1 }) else { return .whole }
        let spec = bytes[unit.count...]
        guard let dash = spec.firstIndex(of: UInt8(ascii: "-")) else { return .whole }
        let first = spec[..<dash], second = spec[(dash + 1)...]
        guard first.allSatisfy(isDigit), second.allSatisfy(isDigit), !(first.isEmpty && second.isEmpty) else { return .whole }
        if first.isEmpty {
            let n = number(second)
            guard n > 0, size > 0 else { return .unsatisfiable }
            return .part((size - min(n, size))..<size)
        }
        let start = number(first)
        let last = second.isEmpty ? UInt64.max : number(second)
        guard last >= start else { return .whole }
        guard start < size else { return .unsatisfiable }
        return .part(start..<(min(last, size - 1) + 1))
    }

    private static func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }

    private static func lowercased(_ c: UInt8) -> UInt8 { c >= 65 && c <= 90 ? c + 32 : c }

    /// The value of a run of ASCII digits, saturating at `UInt64.max`.
    private static func number(_ digits: ArraySlice<UInt8>) -> UInt64 {
        var value: UInt64 = 0
        for d in digits {
            let (times, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times.addingReportingOverflow(UInt64(d - 48))
            if o1 || o2 { return .max }
            value = sum
        }
        return value
    }
}
