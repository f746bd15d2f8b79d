import ArgumentParser

extension PlanVaultCommand {
    /// Parses the command line and runs the chosen subcommand, asynchronously when it is async.
    public static func runFromCommandLine() async -> Never {
        do {
            var command = try parseAsRoot()
            RunLog.command = RunLog.name(of: type(of: command))
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            exit()
        } catch let error as ExitCode {
            exit(withError: error)
        } catch {
            let code = exitCode(for: error)
            if code.isSuccess {
                // Help (or the version): the command's own options first, the shared ones after them.
                let message = fullMessage(for: error)
                print(message.contains("\n\(HelpLayout.globalHeader)\n") ? HelpLayout.ownOptionsFirst(message) : message)
                exit()
            }
            // Bad usage: the message, then the summary line a log file expects of every run,
            // naming the command and what was wrong (the usage text is for the terminal).
            if let named = subcommandNamed(in: Array(CommandLine.arguments.dropFirst())) { RunLog.command = RunLog.name(of: named) }
            Output.error(fullMessage(for: error))
            let reason = message(for: error).split(separator: "\n").first.map(String.init) ?? ""
            RunLog.finish(exitCode: code.rawValue, failure: reason.isEmpty ? "bad usage" : "bad usage: \(reason)")
            exit(withError: code)
        }
    }
}

extension PlanVaultCommand {
    /// The deepest subcommand the leading words of `arguments` name (`key split`), if any.
    static func subcommandNamed(in arguments: [String]) -> ParsableCommand.Type? {
        var node: ParsableCommand.Type = PlanVaultCommand.self
        var found: ParsableCommand.Type?
        for word in arguments {
            guard let next = node.configuration.subcommands.first(where: { ($0.configuration.commandName ?? $0._commandName) == word }) else { break }
            node = next
            found = next
        }
        return found
    }
}

/// argument-parser prints titled option groups before the untitled OPTIONS section; a
/// subcommand's help should lead with its own options, so the shared group is moved last.
enum HelpLayout {
    static let globalHeader = "REPOSITORY AND GLOBAL OPTIONS:"

    static func ownOptionsFirst(_ help: String) -> String {
        var blocks = help.components(separatedBy: "\n\n")
        guard let at = blocks.firstIndex(where: { $0.hasPrefix(globalHeader) }) else { return help }
        let global = blocks.remove(at: at)
        // After OPTIONS (the command's own), before anything that follows it.
        let options = blocks.lastIndex { $0.hasPrefix("OPTIONS:") }
        blocks.insert(global, at: options.map { $0 + 1 } ?? blocks.count)
        // Examples (from the discussion) right after the command's own options.
        if let at = blocks.firstIndex(where: { $0.hasPrefix("Examples:") }), let own = blocks.lastIndex(where: { $0.hasPrefix("OPTIONS:") }), at < own {
            let examples = blocks.remove(at: at)
            blocks.insert("EXAMPLES:" + examples.dropFirst("Examples:".count), at: own)
        }
        return blocks.joined(separator: "\n\n")
    }

    /// The examples a subcommand's help shows, appended to its discussion.
    static func examples(_ lines: String...) -> String {
        "\n\nExamples:\n" + lines.map { "  " + $0 }.joined(separator: "\n")
    }
}
