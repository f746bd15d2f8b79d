import ArgumentParser
import Foundation
import PlanVaultCore

struct KeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key",
        abstract: "Manage the passphrases that open the repository (e.g. to hand custody to a successor).",
        subcommands: [Add.self, List.self, Remove.self, Passwd.self, Split.self, ExportPublicKeyCommand.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a key file for another passphrase.",
                                                        discussion: "" + HelpLayout.examples("planvault key add --label \"deputy\"", "planvault key add --new-passphrase-file deputy.txt"))

        @OptionGroup(title: "Repository and global options") var global: GlobalOptions

        @Option(help: ArgumentHelp("Read the new passphrase from FILE (mode 600). Default: PLANVAULT_NEW_PASSPHRASE, then a prompt.", valueName: "FILE"))
        var newPassphraseFile: String?

        @Option(help: "Label for the new key (e.g. the new custodian's name).")
        var label: String?

        func run() async throws {
            try await guarded {
                let context = try Context(global)
                let writer = try await context.openWriter()
                let newPassphrase = try Secrets.newPassphrase(options: global, file: newPassphraseFile)
                let name = try await writer.addKey(passphrase: newPassphrase, label: label)
                Output.line("added key \(name.prefix(8))")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List key files.", discussion: "" + HelpLayout.examples("planvault key list"))

        @OptionGroup(title: "Repository and global options") var global: GlobalOptions

        func run() async throws {
            try await guarded {
                let context = try Context(global)
                let repository = try await context.openRepository()
                // Cost is the scrypt work in units of the default: a key file far above 1x was not made
                // by `planvault init` or `key add` and may have been planted to slow every open.
                var table = Table(["", "ID", "Cost", "Created", "Host", "User", "Label"], rightAligned: [2])
                for info in try await repository.backend.list(.key).sorted(by: { $0.name < $1.name }) {
                    let bytes = try await repository.backend.read(.key, name: info.name, range: nil)
                    guard let key = try? JSONDecoder().decode(KeyFile.self, from: Data(bytes)) else {
                        table.add([" ", String(info.name.prefix(8)), "", "(unreadable key file)"])
                        continue
                    }
                    table.add([info.name == repository.keyName ? "*" : " ", String(info.name.prefix(8)), "\(key.workUnits)x", key.created,
                               key.host, key.username,
                               (key.label ?? "") + (key.recovery.map { " [recovery shares: any \($0.threshold) of \($0.shares)]" } ?? "")])
                }
                table.print()
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a key file (not the one in use, not the last one).",
                                                        discussion: "" + HelpLayout.examples("planvault key remove 1a2b3c4d"))

        @OptionGroup(title: "Repository and global options") var global: GlobalOptions

        @Argument(help: "Key ID or unique prefix.")
        var key: String

        func run() async throws {
            try await guarded {
                let context = try Context(global)
                let writer = try await context.openWriter()
                let names = try await writer.backend.list(.key).map(\.name)
                let matches = names.filter { $0.hasPrefix(key.lowercased()) }
                guard matches.count == 1, let name = matches.first else {
                    throw PlanVaultError.invalidArgument(matches.isEmpty ? "no key matches \"\(key)\": see `planvault key list`" : "\"\(key)\" matches \(matches.count) keys: give more digits")
                }
                guard name != writer.repository.keyName else {
                    throw PlanVaultError.invalidArgument("refusing to remove the key this passphrase opened; open with another passphrase to remove it")
                }
                try await writer.backend.delete(.key, name: name)
                // Push records that named the removed key file are attested again, so the audit's
                // completeness check describes the repository as it now is.
                let reattested = try await AttestationLog.reattestStale(writer: writer)
                Output.line("removed key \(name.prefix(8))" + (reattested.isEmpty ? "" : "; \(reattested.count) snapshot(s) attested again"))
            }
        }
    }
}
