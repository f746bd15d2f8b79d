import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A fault-injecting HTTP/1.1 proxy on loopback, in front of a real S3 server (rclone or moto).
/// It forwards requests unchanged (so SigV4 signatures, which cover the Host header, still hold)
/// and, when a rule matches, drops the reply, answers in S3's place, or edits the real reply.
final class FaultProxy: @unchecked Sendable {
    struct Request {
        var method: String
        var target: String
        var headers: [(String, String)]
        var body: [UInt8]

        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
        var query: String { target.split(separator: "?", maxSplits: 1).dropFirst().first.map(String.init) ?? "" }
    }

    struct Response {
        var status: Int
        var reason: String
        var headers: [(String, String)]
        var body: [UInt8]

        static func s3Error(_ status: Int, _ reason: String, code: String, extraHeaders: [(String, String)] = []) -> Response {
            let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>\(code)</Code><Message>injected by the test</Message></Error>"
            return Response(status: status, reason: reason, headers: [("Content-Type", "application/xml")] + extraHeaders, body: Array(xml.utf8))
        }
    }

    enum Action {
        /// Forward to the server, then close the connection without answering (a lost reply).
        case dropReply
        /// Answer in the server's place; the server never sees the request.
        case answer(Response)
        /// Forward, and pass the server's reply through this edit.
        case edit(@Sendable (Response) -> Response)
    }

    private struct Rule {
        var matches: (Request) -> Bool
        var remaining: Int
        var action: Action
    }

    let upstreamPort: Int
    private(set) var port = 0
    private let listener: Int32
    private let lock = NSLock()
    private var rules = [Rule]()
    private var seen = [String]()

    init(upstreamPort: Int) throws {
        self.upstreamPort = upstreamPort
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        listener = fd
        var addr = Self.loopback(port: 0)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok, listen(fd, 64) == 0 else { throw NSError(domain: "FaultProxy", code: Int(errno)) }
        port = Int(UInt16(bigEndian: addr.sin_port))
        Thread { [weak self] in
            while true {
                let client = accept(fd, nil, nil)
                guard client >= 0 else { return }
                guard let self else { close(client); return }
                Thread { self.serve(client) }.start()
            }
        }.start()
    }

    deinit {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    var endpoint: String { "http://127.0.0.1:\(port)" }

    /// The next `times` requests matching `when` get `action`; others are forwarded untouched.
    func inject(times: Int = 1, when: @escaping (Request) -> Bool, _ action: Action) {
        lock.lock()
        defer { lock.unlock() }
        rules.append(Rule(matches: when, remaining: times, action: action))
    }

    /// "METHOD target" of every request seen, in order.
    var requests: [String] {
        lock.lock()
        defer { lock.unlock() }
        return seen
    }

    private func action(for request: Request) -> Action? {
        lock.lock()
        defer { lock.unlock() }
        seen.append("\(request.method) \(request.target)")
        guard let i = rules.firstIndex(where: { $0.remaining > 0 && $0.matches(request) }) else { return nil }
        rules[i].remaining -= 1
        return rules[i].action
    }

    // MARK: Connections

    private func serve(_ client: Int32) {
        defer { close(client) }
        var buffer = [UInt8]()
        while let request = Self.readRequest(client, &buffer) {
            let chosen = action(for: request)
            if case .answer(let response)? = chosen {
                guard Self.writeAll(client, Self.encode(response, forHead: request.method == "HEAD")) else { return }
                continue
            }
            guard var response = forward(request) else { return }
            switch chosen {
            case .dropReply?:
                return
            case .edit(let change)?:
                response = change(response)
            default:
                break
            }
            guard Self.writeAll(client, Self.encode(response, forHead: request.method == "HEAD")) else { return }
        }
    }

    /// Sends the request upstream on a fresh connection ("Connection: close") and reads the whole reply.
    private func forward(_ request: Request) -> Response? {
        let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(upstream) }
        var addr = Self.loopback(port: upstreamPort)
        let connected = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard connected else { return nil }
        var head = "\(request.method) \(request.target) HTTP/1.1\r\n"
        for (name, value) in request.headers where name.lowercased() != "connection" { head += "\(name): \(value)\r\n" }
        head += "Connection: close\r\n\r\n"
        guard Self.writeAll(upstream, Array(head.utf8) + request.body) else { return nil }
        var raw = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(upstream, &chunk, chunk.count, 0)
            if n <= 0 { break }
            raw += chunk[0..<n]
        }
        guard let end = Self.find(raw, Array("\r\n\r\n".utf8)) else { return nil }
        let lines = String(decoding: raw[0..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let status = lines[0].split(separator: " ", maxSplits: 2)
        guard status.count >= 2, let code = Int(status[1]) else { return nil }
        let headers = Self.parseHeaders(lines.dropFirst())
        var body = Array(raw[(end + 4)...])
        if headers.contains(where: { $0.0.lowercased() == "transfer-encoding" && $0.1.lowercased().contains("chunked") }) {
            body = Self.dechunk(body)
        }
        return Response(status: code, reason: status.count > 2 ? String(status[2]) : "", headers: headers, body: body)
    }

    // MARK: HTTP/1.1 framing

    static func encode(_ response: Response, forHead: Bool) -> [UInt8] {
        var head = "HTTP/1.1 \(response.status) \(response.reason)\r\n"
        for (name, value) in response.headers {
            let lower = name.lowercased()
            if lower == "connection" || lower == "transfer-encoding" || (lower == "content-length" && !forHead) { continue }
            head += "\(name): \(value)\r\n"
        }
        // A HEAD reply keeps the object's Content-Length and carries no body.
        if !forHead { head += "Content-Length: \(response.body.count)\r\n" }
        head += "\r\n"
        return Array(head.utf8) + (forHead ? [] : response.body)
    }

    static func readRequest(_ fd: Int32, _ buffer: inout [UInt8]) -> Request? {
        var chunk = [UInt8](repeating: 0, count: 65536)
        func fill() -> Bool {
            let n = recv(fd, &chunk, chunk.count, 0)
            guard n > 0 else { return false }
            buffer += chunk[0..<n]
            return true
        }
        var end = find(buffer, Array("\r\n\r\n".utf8))
        while end == nil {
            guard fill() else { return nil }
            end = find(buffer, Array("\r\n\r\n".utf8))
        }
        guard let end else { return nil }
        let lines = String(decoding: buffer[0..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let first = lines[0].split(separator: " ")
        guard first.count >= 2 else { return nil }
        let headers = parseHeaders(lines.dropFirst())
        let length = headers.first { $0.0.lowercased() == "content-length" }.flatMap { Int($0.1) } ?? 0
        while buffer.count < end + 4 + length {
            guard fill() else { return nil }
        }
        let body = Array(buffer[(end + 4)..<(end + 4 + length)])
        buffer.removeFirst(end + 4 + length)
        return Request(method: String(first[0]), target: String(first[1]), headers: headers, body: body)
    }

    static func parseHeaders(_ lines: ArraySlice<String>) -> [(String, String)] {
        lines.compactMap { line in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
    }

    static func dechunk(_ data: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        var i = 0
        while let lineEnd = find(data, Array("\r\n".utf8), from: i) {
            let sizeText = String(decoding: data[i..<lineEnd], as: UTF8.self).split(separator: ";").first.map(String.init) ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16), size > 0,
                  lineEnd + 2 + size <= data.count else { break }
            out += data[(lineEnd + 2)..<(lineEnd + 2 + size)]
            i = lineEnd + 2 + size + 2
            guard i < data.count else { break }
        }
        return out
    }

    static func find(_ haystack: [UInt8], _ needle: [UInt8], from start: Int = 0) -> Int? {
        guard haystack.count >= start + needle.count else { return nil }
        for i in start...(haystack.count - needle.count) where haystack[i] == needle[0] && haystack[i..<(i + needle.count)].elementsEqual(needle) {
            return i
        }
        return nil
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { return false }
            sent += n
        }
        return true
    }

    static func loopback(port: Int) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        return addr
    }
}
