import Foundation

/// An age or a wait in words that cannot be read as a clock time: "48 s", "13 min 48 s",
/// "4 h 45 min", "9 days". (Core messages, such as a lock holder's age, use it too.)
public enum DurationWords {
    public static func text(_ seconds: Double) -> String {
        let s = Int(max(0, seconds).rounded())
        if s >= 2 * 86400 { return "\(s / 86400) days" }
        if s >= 86400 { return "1 day \((s % 86400) / 3600) h" }
        if s >= 3600 { return s % 3600 / 60 == 0 ? "\(s / 3600) h" : "\(s / 3600) h \((s % 3600) / 60) min" }
        if s >= 60 { return s % 60 == 0 ? "\(s / 60) min" : "\(s / 60) min \(s % 60) s" }
        return "\(s) s"
    }

    /// "since 2026-12-01T03:00:02Z (13 min 48 s ago)"; the time as the holder wrote it when unreadable.
    public static func since(_ timestamp: String, now: Date = Date()) -> String {
        guard let date = Timestamps.parse(timestamp) else { return "since \(timestamp)" }
        return "since \(timestamp) (\(text(now.timeIntervalSince(date))) ago)"
    }
}
