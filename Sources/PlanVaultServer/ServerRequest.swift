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
    /// non-digits) is ignored and the whole object sent, as RFC 9110 §14.2 allows; only a valid
    /// range that lies past the object's end is unsatisfiable.
    static func parse(_ header: String?, size: UInt64) -> ByteRange {
        guard let header else { return .whole }
        guard header.hasPrefix("bytes="), !header.contains(",") else { return .whole }
        let pieces = header.dropFirst(6).split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard pieces.count == 2 else { return .whole }
        if pieces[0].isEmpty {
            guard let n = UInt64(pieces[1]) else { return .whole }
            guard n > 0, size > 0 else { return .unsatisfiable }
            return .part((size - min(n, size))..<size)
        }
        guard let start = UInt64(pieces[0]) else { return .whole }
        var last = UInt64.max
        if !pieces[1].isEmpty {
            guard let given = UInt64(pieces[1]), given >= start else { return .whole }
            last = given
        }
        guard start < size else { return .unsatisfiable }
        return .part(start..<(min(last, size - 1) + 1))
    }
}
