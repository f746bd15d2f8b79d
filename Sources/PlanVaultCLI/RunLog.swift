import ArgumentParser
import Foundation
import Logging
import PlanVaultCore

/// Standard error fit for a log file (issue 10 item 7). When standard error is not a terminal,
/// every line starts with a UTC timestamp and the command (`2026-12-01T03:00:02Z planvault push: …`),
/// so a night can be found in `/var/log/planvault.log`; every run ends with one summary line
/// saying what was done, how long it took and the exit code.
enum RunLog {
    private static let state = State()

    /// Whether lines are dated: standard error goes to a file or pipe (cron, systemd), not a person.
    static let dated = isatty(STDERR_FILENO) != 1

    /// "planvault push", "planvault key list": set once the command line is parsed.
    static var command: String {
        get { state.locked { $0.command } }
        set { state.locked { $0.command = newValue } }
    }

    /// What the run did, in a few words, for the summary line (`snapshot 1a2b3c4d, 12 files, 3.1 MiB new`).
    static func done(_ what: String) {
        state.locked { $0.summary = what }
    }

    /// The line as written to standard error: dated and named when not on a terminal. A leading
    /// "planvault: " is replaced by the command's name, so each line says which run wrote it.
    static func format(_ text: String, now: Date = Date()) -> String {
        guard dated else { return text }
        let stamp = timestamp(now)
        let name = command
        return text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            var rest = Substring(line)
            if rest.hasPrefix("planvault: ") { rest = rest.dropFirst("planvault: ".count) }
            return "\(stamp) \(name): \(rest)"
        }.joined(separator: "\n")
    }

    /// ISO 8601 in UTC to the second: `2026-12-01T03:00:02Z`.
    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }

    /// Runs one target's part of a command that works on several `[[targets]]`: its closing
    /// line reads `target NAME: finished in …`, and the run's own closing line, with the exit
    /// code the process returns, is still to come (`finish` after the last target).
    static func forTarget<T>(_ display: String, _ body: () async throws -> T) async rethrows -> T {
        state.locked { $0.target = .init(display: display, started: Date()) }
        defer { state.locked { $0.target = nil; $0.summary = nil } }
        return try await body()
    }

    /// The closing line of every run, whatever `--quiet` says: `finished in 7 s, exit 0: …`.
    /// `failure` (the error's message) stands in when the command recorded nothing.
    static func finish(exitCode: Int32, failure: String? = nil) {
        let (what, started, already, target) = state.locked { s -> (String?, Date, Bool, String?) in
            if var target = s.target {
                defer { target.finished = true; s.target = target }
                return (s.summary, target.started, target.finished, target.display)
            }
            defer { s.finished = true }
            return (s.summary, s.started, s.finished, nil)
        }
        guard !already else { return }
        let seconds = Date().timeIntervalSince(started)
        let took = seconds < 10 ? String(format: "%.1f s", seconds) : Output.duration(seconds)
        var line = (target.map { "target \($0): " } ?? "") + "finished in \(took), exit \(exitCode)"
        if let detail = what ?? failure.map(firstLine) { line += ": \(detail)" }
        let name = command
        let text = dated ? "\(timestamp(Date())) \(name): \(line)" : "\(name): \(line)"
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    private static func firstLine(_ text: String) -> String {
        let line = text.split(separator: "\n").first.map(String.init) ?? text
        return line.hasPrefix("planvault: ") ? String(line.dropFirst("planvault: ".count)) : line
    }

    /// The full name of the parsed subcommand, found by walking the command tree.
    static func name(of command: ParsableCommand.Type, root: ParsableCommand.Type = PlanVaultCommand.self) -> String {
        func path(_ node: ParsableCommand.Type) -> [String]? {
            if ObjectIdentifier(node) == ObjectIdentifier(command) { return [node.configuration.commandName ?? node._commandName] }
            for child in node.configuration.subcommands {
                if let rest = path(child) { return [node.configuration.commandName ?? node._commandName] + rest }
            }
            return nil
        }
        return (path(root) ?? ["planvault"]).joined(separator: " ")
    }

    private final class State: @unchecked Sendable {
        struct Values {
            var command = "planvault"
            var summary: String?
            var started = Date()
            var finished = false
            /// The target being worked on, when a command runs on several (`forTarget`).
            var target: Target?
        }
        struct Target {
            var display: String
            var started: Date
            var finished = false
        }
        private let lock = NSLock()
        private var values = Values()

        func locked<T>(_ body: (inout Values) -> T) -> T {
            lock.lock()
            defer { lock.unlock() }
            return body(&values)
        }
    }
}

/// swift-log lines in the same shape as `Output.error`: `planvault: warning: …` on a terminal,
/// dated and named in a log file.
struct RunLogHandler: LogHandler {
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { _, new in new }
        let details = all.isEmpty ? "" : " (" + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ") + ")"
        let label: String
        switch event.level {
        case .trace, .debug: label = "debug: "
        case .info, .notice: label = ""
        case .warning: label = "warning: "
        case .error, .critical: label = "error: "
        }
        Output.error("planvault: \(label)\(event.message)\(details)")
    }
}
