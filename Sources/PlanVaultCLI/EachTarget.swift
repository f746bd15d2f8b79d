import ArgumentParser
import Foundation
import PlanVaultCore

/// Whether the running command works on one of several `[[targets]]`: a target with no
/// repository is then one copy that is missing (`noCopyAt`), and `planvault init`, the fix for
/// a single repository, would make a different one.
enum TargetScope {
    @TaskLocal static var several = false
}

/// Runs a command once per configured target (`[[targets]]`), each run reporting as usual under a
/// heading, and ends with the worst outcome: any failed target makes the exit code non-zero and
/// is named.
enum EachTarget {
    static func run(_ targets: [ConfigFile.Target], command: String, quiet: Bool, _ body: (String) async throws -> Void) async throws {
        var outcomes = [(target: ConfigFile.Target, code: Int32)]()
        for target in targets {
            if !quiet { Output.line("== target \(target.display)") }
            do {
                try await TargetScope.$several.withValue(true) {
                    try await RunLog.forTarget(target.display) { try await body(target.repo) }
                }
                outcomes.append((target, 0))
            } catch let exit as ExitCode {
                outcomes.append((target, exit.rawValue))
            } catch {
                // Bodies report their own errors (`guarded`); anything else still fails the target.
                Output.error("planvault: target \(target.display): \((error as? PlanVaultError)?.localizedDescription ?? "\(error)")")
                outcomes.append((target, ExitCodes.failure))
            }
        }
        let failed = outcomes.filter { $0.code != 0 }
        guard let worst = failed.map(\.code).max() else {
            RunLog.done("all \(targets.count) targets passed")
            RunLog.finish(exitCode: 0)
            return
        }
        let summary = "\(failed.count) of \(targets.count) targets did not pass: "
            + failed.map { "\($0.target.display) (exit \($0.code))" }.joined(separator: ", ")
        Output.error("planvault: \(summary)")
        // An integrity failure outranks staleness, which outranks anything else.
        let order: [Int32] = [ExitCodes.verificationFailed, ExitCodes.stale]
        let code = order.first { code in failed.contains { $0.code == code } } ?? worst
        RunLog.finish(exitCode: code, failure: summary)
        throw ExitCode(code)
    }
}
