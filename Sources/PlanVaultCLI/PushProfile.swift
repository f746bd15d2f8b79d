import Foundation
import PlanVaultCore

/// The `push --profile` table: busy time per stage beside the push's wall time.
enum PushProfile {
    static func print(_ times: StageTimes, wall: Swift.Duration) {
        let wallSeconds = Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18
        Output.error("push profile: \(String(format: "%.2f", wallSeconds)) s wall on \(ProcessInfo.processInfo.activeProcessorCount) core(s); busy time per stage, summed over tasks running at once")
        var table = Table(["stage", "seconds", "of wall", "data", "rate"], rightAligned: [1, 2, 3, 4])
        for (stage, seconds, bytes) in times.report {
            let share = wallSeconds > 0 ? String(format: "%.0f%%", 100 * seconds / wallSeconds) : "-"
            let rate = bytes > 0 && seconds > 0 ? "\(Output.bytes(UInt64(Double(bytes) / seconds)))/s" : ""
            table.add([stage.rawValue, String(format: "%.2f", seconds), share, bytes > 0 ? Output.bytes(bytes) : "", rate])
        }
        for line in table.lines() { Output.error("  \(line)") }
        let marks = times.memoryMarks
        if !marks.isEmpty {
            Output.error("resident memory: " + marks.map { "\($0.label) \(Output.bytes($0.residentBytes))" }.joined(separator: ", "))
        }
    }
}
