// The server's parsers of outside bytes: the tokens file, request paths and Range headers.
import Foundation
import PlanVaultCore
@testable import PlanVaultServer

enum ServerTargets {
    typealias Target = @Sendable ([UInt8]) -> Void

    static let all: [String: Target] = [
        "tokens": tokens,
        "request": request,
    ]

    static func tokens(_ data: [UInt8]) {
        guard let file = try? TokenFile.decode(data, path: "fuzz") else { return }
        for entry in file.tokens {
            _ = file.authenticate("pvt_\(entry.id)_secret")
            _ = entry.allows(repository: "plans")
        }
        _ = file.authenticate("pvt_x_y")
    }

    /// Input: the request path, then optionally "\n" and a Range header value.
    static func request(_ data: [UInt8]) {
        let split = data.firstIndex(of: 10)
        let path = String(decoding: data[..<(split ?? data.count)], as: UTF8.self)
        let header = split.map { String(decoding: data[($0 + 1)...], as: UTF8.self) }
        if let target = ServerTarget.parse(path) {
            precondition(ServerTarget.isValidRepositoryName(target.repository), "accepted an invalid repository name")
        }
        for size: UInt64 in [0, 1, 100, UInt64.max] {
            if case .part(let range) = ByteRange.parse(header, size: size) {
                precondition(!range.isEmpty && range.upperBound <= size, "range \(range) outside \(size) bytes")
            }
        }
    }

    static func writeSeeds(to dir: String) throws {
        var file = TokenFile()
        _ = try file.add(role: .agent, repositories: ["plans"], label: "nightly")
        _ = try file.add(role: .auditor, repositories: ["*"], label: nil)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let seeds: [String: [[UInt8]]] = [
            "tokens": [Array(try encoder.encode(file))],
            "request": ["/plans/index/\(String(repeating: "0f", count: 32))\nbytes=0-99", "/plans/config\nbytes=-10",
                        "/plans/bundles/\n", "/plans\nbytes=5-", "/plans/snapshots/\(String(repeating: "a1", count: 32))"].map { Array($0.utf8) },
        ]
        for (target, inputs) in seeds {
            let folder = "\(dir)/\(target)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for (i, seed) in inputs.enumerated() { try Data(seed).write(to: URL(fileURLWithPath: "\(folder)/seed-\(i)")) }
        }
    }
}
