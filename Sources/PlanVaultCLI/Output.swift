import Foundation
import PlanVaultCore

enum Output {
    static func json<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        FileHandle.standardOutput.write(data)
        FileHandle.standardOutput.write(Data("\n".utf8))
    }

    /// A `--json` result as docs/json.md describes it: snake_case keys everywhere and a
    /// `"schema": "planvault.COMMAND/VERSION"` field first among equals (keys are sorted).
    static func json<T: Encodable>(_ value: T, schema: String) throws {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        var object = try JSONSerialization.jsonObject(with: encoder.encode(value)) as? [String: Any] ?? [:]
        object["schema"] = schema
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        FileHandle.standardOutput.write(data)
        FileHandle.standardOutput.write(Data("\n".utf8))
    }

    static func line(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    /// A line on standard error; dated and named for a log file when it is not a terminal (RunLog).
    static func error(_ text: String) {
        FileHandle.standardError.write(Data((RunLog.format(text) + "\n").utf8))
    }

    static func bytes(_ n: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(n)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(n) B" : String(format: "%.1f %@", value, units[unit])
    }

    /// An age or a wait in words that cannot be read as a clock time: "48 s", "13 min 48 s",
    /// "4 h 45 min", "9 days".
    static func duration(_ seconds: Double) -> String {
        DurationWords.text(seconds)
    }
}

/// A one-line progress bar with rate and ETA, drawn on standard error only when it is a terminal.
final class TerminalProgress: @unchecked Sendable {
    private let lock = NSLock()
    private let started = Date()
    private var lastDraw = Date.distantPast
    private var drawn = false

    static func ifTerminal(enabled: Bool) -> TerminalProgress? {
        enabled && isatty(STDERR_FILENO) == 1 ? TerminalProgress() : nil
    }

    func update(_ p: PushProgress) {
        update(done: p.bytesDone, total: p.bytesTotal)
    }

    /// Bytes done of bytes total, with rate and time left.
    func update(done: UInt64, total: UInt64) {
        let p = (bytesDone: done, bytesTotal: total)
        lock.lock()
        defer { lock.unlock() }
        let now = Date()
        guard now.timeIntervalSince(lastDraw) >= 0.1 || p.bytesDone == p.bytesTotal else { return }
        lastDraw = now
        let elapsed = max(now.timeIntervalSince(started), 0.001)
        let fraction = p.bytesTotal == 0 ? 1 : min(1, Double(p.bytesDone) / Double(p.bytesTotal))
        let rate = Double(p.bytesDone) / elapsed
        let eta = rate > 0 ? Double(p.bytesTotal - min(p.bytesDone, p.bytesTotal)) / rate : 0
        let width = 24
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let text = String(format: "\r[%@] %3d%%  %@/%@  %@/s  ETA %@  ", bar, Int(fraction * 100),
                          Output.bytes(p.bytesDone), Output.bytes(p.bytesTotal), Output.bytes(UInt64(rate)), Output.duration(eta))
        FileHandle.standardError.write(Data(text.utf8))
        drawn = true
    }

    /// Clears the bar so a line can be printed; the next update draws it again.
    func clearLine() {
        lock.lock()
        defer { lock.unlock() }
        if drawn { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        lastDraw = .distantPast
    }

    func finish() {
        lock.lock()
        defer { lock.unlock() }
        if drawn { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}
