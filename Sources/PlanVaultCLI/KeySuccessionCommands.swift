import ArgumentParser
import Foundation
import PlanVaultCore

/// `key passwd` and `key split`: handing the key to a successor, and to a group of custodians.
extension KeyCommand {
    struct Passwd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "passwd",
            abstract: "Change the passphrase: add a key file for the new one, then remove the one the old passphrase opened.",
            discussion: """
                The new key file is written before the old one is removed, so the repository is never without a key.
                """ + HelpLayout.examples("planvault key passwd   (asks for the new passphrase twice)",
                                          "planvault key passwd --new-passphrase-file new-passphrase.txt"))

        @OptionGroup(title: "Repository and global options") var global: GlobalOptions

        @Option(help: ArgumentHelp("Read the new passphrase from FILE (mode 600). Default: PLANVAULT_NEW_PASSPHRASE, then a prompt.", valueName: "FILE"))
        var newPassphraseFile: String?

        func run() async throws {
            try await guarded {
                guard global.shares.isEmpty else {
                    throw PlanVaultError.invalidArgument("`key passwd` replaces the passphrase it was opened with; with recovery shares, use `planvault key add` to give a successor a passphrase")
                }
                let context = try Context(global)
                let writer = try await context.openWriter()
                let newPassphrase = try Secrets.newPassphrase(options: global, file: newPassphraseFile)
                let old = writer.repository.keyName
                let label = try? await JSONDecoder().decode(KeyFile.self, from: Data(writer.backend.read(.key, name: old, range: nil))).label
                let name = try await writer.addKey(passphrase: newPassphrase, label: label ?? nil)
                // The new key must open the repository before the old one goes.
                let reopened = try await Repository.open(backend: writer.backend, passphrase: newPassphrase, cacheRoot: nil, logger: context.logger)
                try await writer.backend.delete(.key, name: old)
                // Push records name the key file a restore needs: attest again those that named the old one.
                let reattested = try await AttestationLog.reattestStale(writer: RepositoryWriter(repository: reopened, backend: writer.backend))
                Output.line("passphrase changed: key \(name.prefix(8)) replaces \(old.prefix(8))"
                            + (reattested.isEmpty ? "" : "; \(reattested.count) snapshot(s) attested again with the new key file"))
                Output.error("planvault: note: scheduled runs still give the old passphrase until you change it where they read it (PLANVAULT_PASSPHRASE, the keys file, or the passphrase command)")
            }
        }
    }

    struct Split: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "split",
            abstract: "Make recovery shares: any THRESHOLD of the SHARES custodians together can open the repository without a passphrase.",
            discussion: """
                Here --shares N is the number of shares to make (2-255), not share files as for other commands. \
                Writes one file per share (share-1-of-5.txt, ...; mode 600) into a new folder. Print each one, \
                give it to its custodian, and delete the files.

                The shares open a recovery key file stored in the repository: `planvault key remove` of that key \
                file revokes every share of this split at once.
                """ + HelpLayout.examples("planvault key split --shares 5 --threshold 3 --out /root/shares",
                                          "planvault restore latest --to /srv/restored --shares share-1-of-5.txt share-4-of-5.txt share-5-of-5.txt"))

        @OptionGroup(title: "Repository and global options") var global: GlobalOptions

        @Option(help: ArgumentHelp("Number of shares that together open the repository (2-N).", valueName: "K"))
        var threshold: Int

        @Option(help: ArgumentHelp("New folder for the share files.", valueName: "DIR"))
        var out: String

        @Option(help: "Label for the recovery key file (e.g. \"custodians 2026\").")
        var label: String?

        func run() async throws {
            try await guarded {
                // Here the shared --shares option is the number of shares to make, not share files.
                guard global.shares.count == 1, let count = Int(global.shares[0]) else {
                    throw PlanVaultError.usage("give the number of shares to make with --shares N (e.g. --shares 5 --threshold 3)")
                }
                var global = global
                global.shares = []
                guard (2...255).contains(threshold), (threshold...255).contains(count) else {
                    throw PlanVaultError.usage("--threshold must be at least 2 and at most --shares, which is at most 255 (got \(threshold) of \(count))")
                }
                guard mkdir(out, 0o700) == 0 else {
                    throw PlanVaultError.invalidArgument("cannot create \(out) (\(String(cString: strerror(errno)))): give a new folder for the share files")
                }
                let context = try Context(global)
                let writer = try await context.openWriter()
                let made = try await writer.addRecoveryKey(shares: count, threshold: threshold, label: label)
                let when = "\(Timestamps.format(Date()).prefix(10)) by \(HostInfo.username)@\(HostInfo.hostname)"
                for share in made.shares {
                    let path = "\(out)/share-\(share.share.x)-of-\(count).txt"
                    let text = share.text(of: count, repository: writer.repository.config.id, keyFile: made.keyFile, made: when)
                    try FileIO.writeAtomically(Array(text.utf8), to: path, inDirectory: out, mode: 0o600)
                }
                Output.line("made \(count) recovery shares (any \(threshold) open the repository) for key \(made.keyFile.prefix(8)) in \(out)")
                Output.line("print each share-N-of-\(count).txt for its custodian, then delete the files; `planvault key remove \(made.keyFile.prefix(8))` revokes them")
            }
        }
    }
}
