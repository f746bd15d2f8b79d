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
          3  push finished, but some files could not be read
          4  verify or audit found missing or damaged data
          5  the newest copy is older than --max-age
          10 no repository at the given location
          11 another run holds the lock
          12 wrong or missing passphrase
          64 bad usage
        """,
        version: "0.1.0",
        subcommands: [InitCommand.self, PushCommand.self, SnapshotsCommand.self, LsCommand.self, RestoreCommand.self,
                      VerifyCommand.self, HealCommand.self, RepairCommand.self, DrillCommand.self, ForgetCommand.self, PruneCommand.self, AuditCommand.self, KeyCommand.self, ServeCommand.self]
    )

    public init() {}

    static let bootstrapLogging: Void = {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .trace
            return handler
        }
    }()
}

/// Runs a command body, turning PlanVault errors into a clear message and the documented exit code.
func guarded(_ body: () async throws -> Void) async throws {
    PlanVaultCommand.bootstrapLogging
    do {
        try await body()
    } catch let error as PlanVaultError {
        Output.error("planvault: \(error.localizedDescription)")
        throw ExitCode(error.exitCode)
    } catch let error as ExitCode {
        throw error
    } catch let error as CleanExit {
        throw error
    } catch {
        Output.error("planvault: \(error)")
        throw ExitCode(ExitCodes.failure)
    }
}
