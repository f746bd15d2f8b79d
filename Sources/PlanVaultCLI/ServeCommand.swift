import ArgumentParser
import Foundation
import Logging
import PlanVaultCore
import PlanVaultServer

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the PlanVault server at the alternate site.",
        discussion: """
        Each repository is a folder under --root in the directory-target layout. Every request needs a bearer \
        token from --tokens (manage them with `planvault serve token add|list|revoke`). Stops cleanly on SIGTERM or SIGINT.
        """ + HelpLayout.examples("planvault serve --root /srv/planvault --tokens tokens.json --tls-cert cert.pem --tls-key key.pem", "planvault serve --root /srv/planvault --tokens tokens.json --append-only --listen 0.0.0.0:8443"),
        subcommands: [TokenCommand.self]
    )

    @Option(help: ArgumentHelp("Folder holding the repositories.", valueName: "DIR"))
    var root: String?

    @Option(help: ArgumentHelp("Address to listen on (port 0 picks a free port).", valueName: "HOST:PORT"))
    var listen = "127.0.0.1:8443"

    @Option(help: ArgumentHelp("Tokens file (JSON, mode 600).", valueName: "FILE"))
    var tokens: String?

    @Option(help: ArgumentHelp("TLS certificate chain (PEM).", valueName: "FILE"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("TLS private key (PEM, mode 600).", valueName: "FILE"))
    var tlsKey: String?

    @Flag(help: "Refuse every DELETE and overwrite, whatever the token (agents may still release their locks).")
    var appendOnly = false

    @Flag(help: "Allow plain HTTP on a non-loopback address (only behind a TLS-terminating proxy).")
    var insecureHttp = false

    @Option(help: "Largest object accepted, in MiB (1 to 16384).")
    var maxObjectMib = 1024

    @Option(help: "Seconds the server waits on an idle or stalled client (under 64 KiB moved) before closing it (1 to 86400).")
    var idleTimeout: Int64 = 120

    @Option(help: "Connections served at once; more wait until one closes (1 to 65536).")
    var maxConnections = 256

    @Option(help: "Seconds busy connections may finish after SIGTERM or SIGINT before they are closed (0 to 3600).")
    var drainTimeout: Int64 = 10

    @Option(help: ArgumentHelp("Largest size of one repository, in GiB; an upload past it is refused with 507 (default: no limit).", valueName: "GIB"))
    var maxRepoGib: Int?

    @Option(help: ArgumentHelp("Write the bound HOST:PORT to FILE once listening (for scripts and tests).", valueName: "FILE"))
    var portFile: String?

    @Flag(name: .shortAndLong, help: "Only errors (no access log).")
    var quiet = false

    func run() async throws {
        try await guarded {
            guard let root, let tokens else {
                throw PlanVaultError.usage("planvault serve needs --root DIR and --tokens FILE")
            }
            guard let (host, port) = ServerOptions.parseListen(listen) else {
                throw PlanVaultError.usage("--listen \(listen): expected HOST:PORT, like 0.0.0.0:8443")
            }
            var options = ServerOptions(root: root, host: host, port: port, tokensPath: tokens)
            options.tlsCertificatePath = tlsCert
            options.tlsKeyPath = tlsKey
            options.appendOnly = appendOnly
            options.allowInsecureHTTP = insecureHttp
            options.maxObjectMiB = maxObjectMib
            options.idleTimeout = idleTimeout
            options.maxConnections = maxConnections
            options.drainTimeout = drainTimeout
            options.maxRepositoryGiB = maxRepoGib
            var logger = Logger(label: "planvault-serve")
            logger.logLevel = quiet ? .error : .info
            let portFile = self.portFile
            try await PlanVaultServer.run(options, logger: logger) { address in
                if let portFile { try? FileIO.writeAtomically(Array((address + "\n").utf8), to: portFile, inDirectory: (portFile as NSString).deletingLastPathComponent, mode: 0o644) }
            }
        }
    }

    struct TokenCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "token", abstract: "Manage the server's bearer tokens.",
                                                        subcommands: [Add.self, List.self, Revoke.self])

        struct Add: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Create a token and print it once.",
                                                            discussion: "" + HelpLayout.examples("planvault serve token add --file tokens.json --role agent --repo plans --label office"))

            @Option(name: .customLong("file"), help: ArgumentHelp("Tokens file (created with mode 600 if missing).", valueName: "FILE"))
            var tokens: String

            @Option(help: "agent (read + add), auditor (read, no key files), reader (read everything, write nothing; for restores) or admin (everything).")
            var role: String = "agent"

            @Option(name: .customLong("repo"), help: ArgumentHelp("Repository name the token may reach (repeatable; * for all).", valueName: "NAME"))
            var repositories: [String] = []

            @Option(help: "Who or what the token is for.")
            var label: String?

            func run() async throws {
                try await guarded {
                    guard let role = TokenRole(rawValue: role) else {
                        throw PlanVaultError.usage("--role must be one of agent, auditor, reader, admin")
                    }
                    guard !repositories.isEmpty else { throw PlanVaultError.usage("name at least one --repo (or --repo '*')") }
                    var file = try TokenFile.loadOrEmpty(path: tokens)
                    let (token, entry) = try file.add(role: role, repositories: repositories, label: label)
                    try file.save(path: tokens)
                    Output.error("added token \(entry.id) (\(role.rawValue) for \(repositories.joined(separator: ", "))); it is shown only now:")
                    Output.line(token)
                }
            }
        }

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List tokens (IDs, roles, repositories; never the secrets).",
                                                            discussion: "" + HelpLayout.examples("planvault serve token list --file tokens.json"))

            @Option(name: .customLong("file"), help: ArgumentHelp("Tokens file (the one `serve --tokens` reads).", valueName: "FILE"))
            var tokens: String

            func run() async throws {
                try await guarded {
                    for entry in try TokenFile.load(path: tokens).tokens {
                        Output.line("\(entry.id)  \(entry.role.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0))  \(entry.repositories.joined(separator: ","))  \(entry.created)  \(entry.label ?? "")")
                    }
                }
            }
        }

        struct Revoke: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Revoke a token (a running server applies it on the next request).",
                                                            discussion: "" + HelpLayout.examples("planvault serve token revoke --file tokens.json 3f2a9c1d"))

            @Option(name: .customLong("file"), help: ArgumentHelp("Tokens file (the one `serve --tokens` reads).", valueName: "FILE"))
            var tokens: String

            @Argument(help: "Token ID (as shown by `token list`).")
            var id: String

            func run() async throws {
                try await guarded {
                    var file = try TokenFile.load(path: tokens)
                    guard file.revoke(id: id) else { throw PlanVaultError.invalidArgument("no token with ID \(id) in \(tokens)") }
                    try file.save(path: tokens)
                    Output.line("revoked token \(id)")
                }
            }
        }
    }
}
