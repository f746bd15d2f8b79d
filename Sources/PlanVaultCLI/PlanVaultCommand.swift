import ArgumentParser
import Foundation
import Logging
import PlanVaultCore

public struct PlanVaultCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "planvault",
        abstract: "Keeps business-continuity plans safely offsite: encrypted, deduplicated, verifiable.",
        discussion: """
        Exit codes:
          0  success
          1  error
          3  push finished, but some files or sources could not be read (each is named)
          4  verify or audit found missing or damaged data
          5  the newest copy is older than --max-age (audit, status: a policy criterion is not met)
          6  the target folder or the restore destination is full
          10 no repository at the given location
          11 another run holds the lock
          12 wrong or missing passphrase
          64 bad usage
        """,
        version: "0.1.0",
        subcommands: [InitCommand.self, PushCommand.self, SnapshotsCommand.self, LsCommand.self, FindCommand.self, DumpCommand.self, DiffCommand.self, RestoreCommand.self,
                      VerifyCommand.self, HealCommand.self, RepairCommand.self, DrillCommand.self, ForgetCommand.self, PruneCommand.self, AuditCommand.self,
                      KeyCommand.self, CopyCommand.self, KitCommand.self, StatusCommand.self, ScheduleCommand.self, ServeCommand.self]
    )

    public init() {}

    static let bootstrapLogging: Void = {
        LoggingSystem.bootstrap { label in
            RunLogHandler()
        }
    }()
}

/// Runs a command body, turning PlanVault errors into a clear message and the documented exit code.
func guarded(_ body: () async throws -> Void) async throws {
    PlanVaultCommand.bootstrapLogging
    // Every way out ends with the run's summary line (RunLog), the exit code included.
    do {
        try await body()
        RunLog.finish(exitCode: 0)
    } catch var error as PlanVaultError {
        if case .repositoryNotFound(let location) = error, TargetScope.several {
            error = .noCopyAt(location: location, copyFrom: nil)
        }
        if error.isNoSpace {
            Output.error("planvault: \(error.localizedDescription). That filesystem is full: free space on it (or use another one) "
                         + "and run the command again; what was stored there before is intact")
            RunLog.finish(exitCode: ExitCodes.noSpace, failure: error.localizedDescription)
            throw ExitCode(ExitCodes.noSpace)
        }
        Output.error("planvault: \(error.localizedDescription)")
        RunLog.finish(exitCode: error.exitCode, failure: error.localizedDescription)
        throw ExitCode(error.exitCode)
    } catch let error as ExitCode {
        RunLog.finish(exitCode: error.rawValue)
        throw error
    } catch let error as CleanExit {
        RunLog.finish(exitCode: 0)
        throw error
    } catch {
        Output.error("planvault: \(error)")
        RunLog.finish(exitCode: ExitCodes.failure, failure: "\(error)")
        throw ExitCode(ExitCodes.failure)
    }
}

extension ExitCodes {
    /// A filesystem PlanVault writes to (a directory target, a restore destination) is full.
    static let noSpace: Int32 = 6
    /// strerror(3) texts of a full filesystem, as they appear in per-file restore problems.
    static let noSpaceMessages = [String(cString: strerror(ENOSPC)), String(cString: strerror(EDQUOT))]
}

extension PlanVaultError {
    var isNoSpace: Bool {
        if case .io(_, _, let code) = self { return code == ENOSPC || code == EDQUOT }
        return false
    }
}
