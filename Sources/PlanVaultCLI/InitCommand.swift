import ArgumentParser
import Foundation
import PlanVaultCore

struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "init", abstract: "Create a repository and its first key.",
                                                    discussion: "" + HelpLayout.examples("planvault init --repo /mnt/offsite/plans --label \"J. Smith\"", "planvault init --repo https://vault.example:8443/plans --cacert ca.pem"))

    @OptionGroup(title: "Repository and global options") var global: GlobalOptions

    @Option(help: "Label stored with the first key (e.g. the custodian's name).")
    var label: String?

    @Option(help: "Target bundle size in MiB.")
    var bundleSizeMib: Int = RepositoryConfig.defaultBundleSize / (1024 * 1024)

    func validate() throws {
        guard (1...512).contains(bundleSizeMib) else { throw ValidationError("--bundle-size-mib must be from 1 to 512") }
    }

    func run() async throws {
        try await guarded {
            let context = try Context(global)
            let backend = try context.backend()
            let passphrase = try context.passphrase(confirm: true)
            let repository = try await Repository.initialize(
                backend: backend, passphrase: passphrase, label: label,
                bundleSize: (context.config.bundleSizeMiB ?? bundleSizeMib) * 1024 * 1024,
                cacheRoot: context.cacheRoot, logger: context.logger)
            RunLog.done("created repository \(repository.config.id.prefix(8))")
            Output.line("created PlanVault repository \(repository.config.id.prefix(8)) at \(backend.location)")
            Output.line("Keep the passphrase safe: without it the data cannot be read, by anyone.")
        }
    }
}
