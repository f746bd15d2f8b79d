import ArgumentParser

extension PlanVaultCommand {
    /// Parses the command line and runs the chosen subcommand, asynchronously when it is async.
    public static func runFromCommandLine() async -> Never {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            exit()
        } catch {
            exit(withError: error)
        }
    }
}
