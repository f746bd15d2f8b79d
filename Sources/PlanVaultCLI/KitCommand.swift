import ArgumentParser
import Foundation
import PlanVaultCore

/// `planvault kit`: the recovery sheet for the continuity-plan binder. Everything someone at the
/// alternate site needs to know, and nothing they need to keep secret (unless --include-shares).
struct KitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kit",
        abstract: "Write the recovery sheet for the plan binder: targets, repository and key fingerprints, custodians and disaster-day steps.",
        discussion: """
            Writes recovery-sheet.html (print it) and recovery-sheet.txt into DIR. The sheet holds no secret: no passphrase, \
            token or share, unless --include-shares copies share blocks into it (then keep it like the shares themselves).
            """ + HelpLayout.examples("planvault kit --out /root/kit --custodian \"A. Rivera, deputy director, 555-0100\" --custodian \"J. Chen, IT lead\" --shares-location \"sealed envelopes in the EOC safe and the county clerk's vault\""))

    @OptionGroup(title: "Repository and global options") var global: GlobalOptions

    @Option(help: ArgumentHelp("Folder to write the sheet into (created if missing).", valueName: "DIR"))
    var out: String

    @Option(help: ArgumentHelp("A custodian of the passphrase or of a share, as it should appear on the sheet (repeatable).", valueName: "TEXT"))
    var custodian: [String] = []

    @Option(help: ArgumentHelp("Where the recovery shares are kept, in words.", valueName: "TEXT"))
    var sharesLocation: String?

    @Option(parsing: .upToNextOption, help: ArgumentHelp("Copy these share files into the sheet (it then holds secrets).", valueName: "FILE"))
    var includeShares: [String] = []

    struct Sheet {
        var generated: String
        var repositoryID: String
        var auditFingerprint: String
        var targets: [(name: String, url: String, steps: [String])]
        var keys: [(id: String, kind: String, label: String, created: String)]
        var custodians: [String]
        var sharesLocation: String?
        var shareBlocks: [String]
    }

    func run() async throws {
        try await guarded {
            let context = try Context(global)
            let repository = try await context.openRepository()
            // Every target of the config, even when --repo chose the one read here.
            let targets = context.config.allTargets.isEmpty ? [ConfigFile.Target(name: nil, repo: try context.repositoryURL)] : context.config.allTargets
            var keys = [(id: String, kind: String, label: String, created: String)]()
            for info in try await repository.backend.list(.key).sorted(by: { $0.name < $1.name }) where info.size <= UInt64(Limits.maxKeyFileSize) {
                // Only intact key files of this repository are listed: a planted one is not a key.
                let bytes = try await repository.backend.read(.key, name: info.name, range: nil)
                guard LibCrypto.sha256(bytes).hex == info.name, let file = try? JSONDecoder().decode(KeyFile.self, from: Data(bytes)),
                      file.repository == repository.config.id else { continue }
                keys.append((String(info.name.prefix(16)), file.recovery.map { "recovery shares: any \($0.threshold) of \($0.shares)" } ?? "passphrase",
                             file.label ?? "", String(file.created.prefix(10))))
            }
            var blocks = [String]()
            for path in includeShares {
                try FileIO.requirePrivate(path, what: "share file (--include-shares)")
                blocks.append(String(decoding: try FileIO.readFile(path), as: UTF8.self))
            }
            let fingerprint = AuditPublicKey(repository: repository.config.id, key: try repository.keys.attestationPublicKey()).fingerprint
            let sheet = Sheet(generated: Timestamps.format(Date()), repositoryID: repository.config.id, auditFingerprint: fingerprint,
                              targets: targets.map { ($0.name ?? $0.repo, $0.repo, Self.steps(for: $0.repo)) },
                              keys: keys, custodians: custodian, sharesLocation: sharesLocation, shareBlocks: blocks)
            guard mkdir(out, 0o700) == 0 || errno == EEXIST else {
                throw PlanVaultError.io(path: out, operation: "create folder", errno: errno)
            }
            // With shares inside, the sheet is a secret: only its owner may read it.
            let mode: mode_t = blocks.isEmpty ? 0o644 : 0o600
            try FileIO.writeAtomically(Array(Self.text(sheet).utf8), to: "\(out)/recovery-sheet.txt", inDirectory: out, mode: mode)
            try FileIO.writeAtomically(Array(Self.html(sheet).utf8), to: "\(out)/recovery-sheet.html", inDirectory: out, mode: mode)
            Output.line("wrote \(out)/recovery-sheet.html and recovery-sheet.txt" + (blocks.isEmpty ? " (no secrets)" : " (HOLDS \(blocks.count) SHARE(S): keep it like the shares)"))
            RunLog.done("recovery sheet for repository \(repository.config.id.prefix(8)), \(targets.count) target(s)")
        }
    }

    /// Disaster-day steps for one target, with its address filled in.
    static func steps(for url: String) -> [String] {
        var steps = ["On any Linux machine, unpack the PlanVault release: tar xzf planvault-*-linux-x86_64.tar.gz && cd planvault-*-linux-x86_64/ (no other software is needed)."]
        if url.hasPrefix("https://") || url.hasPrefix("http://") {
            steps += ["Get the reader token for this server from the sealed envelope, and the server's CA certificate file if it uses a private CA.",
                      "export PLANVAULT_SERVER_TOKEN=<the reader token>   (and, for a private CA: export PLANVAULT_CACERT=/path/to/ca.pem)"]
        } else if url.hasPrefix("s3://") {
            steps += ["Get the S3 read credentials from the sealed envelope.",
                      "export AWS_ACCESS_KEY_ID=<key id> AWS_SECRET_ACCESS_KEY=<secret>   (and PLANVAULT_S3_ENDPOINT=<endpoint URL> for a non-AWS service)"]
        } else {
            steps += ["Mount the share that holds the repository so that \(url) exists on this machine."]
        }
        steps += ["export PLANVAULT_REPO=\(url)",
                  "./planvault snapshots      (asks for the passphrase; or add --shares FILE... with the custodians' shares)",
                  "./planvault restore latest --to ./restored --first '*call*' --first '*/Contacts/*'   (prints which snapshot it restores; the call tree and contact lists come first)",
                  "Open ./restored: each plan folder is restored under its own name."]
        return steps
    }

    static func text(_ s: Sheet) -> String {
        var lines = ["PLANVAULT RECOVERY SHEET", "Generated \(s.generated)", "",
                     "Repository ID: \(s.repositoryID)", "Auditor key fingerprint: \(s.auditFingerprint)", "", "TARGETS"]
        for (i, t) in s.targets.enumerated() {
            lines += ["", "\(i + 1). \(t.name)", "   Address: \(t.url)", "   Disaster-day steps:"]
            lines += t.steps.enumerated().map { "     \($0.offset + 1). \($0.element)" }
        }
        lines += ["", "KEYS (any one passphrase, or enough shares, opens the repository)"]
        lines += s.keys.map { "  \($0.id)  \($0.kind)  created \($0.created)  \($0.label)" }
        lines += ["", "CUSTODIANS"] + (s.custodians.isEmpty ? ["  (none named: add --custodian)"] : s.custodians.map { "  - \($0)" })
        lines += ["", "SHARES ARE KEPT: \(s.sharesLocation ?? "(not stated)")"]
        if !s.shareBlocks.isEmpty { lines += ["", "SHARE BLOCKS (SECRET)", ""] + s.shareBlocks }
        return lines.joined(separator: "\n") + "\n"
    }

    static func html(_ s: Sheet) -> String {
        func e(_ text: String) -> String {
            text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        var h = """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><title>PlanVault recovery sheet</title>
            <style>body{font:11pt/1.4 system-ui,sans-serif;max-width:48rem;margin:1.5rem auto;color:#000}
            h1{font-size:1.5rem;margin:0} h2{font-size:1.1rem;border-bottom:2px solid #000;margin-top:1.5rem}
            code,pre{font:10pt ui-monospace,monospace;overflow-wrap:anywhere;white-space:pre-wrap} td,th{text-align:left;padding:.2rem .6rem .2rem 0;vertical-align:top}
            ol li{margin:.25rem 0} .secret{border:3px solid #000;padding:.5rem}
            @media print{body{margin:0;max-width:none} h2{break-after:avoid} li,tr{break-inside:avoid}}</style></head><body>
            <h1>PlanVault recovery sheet</h1><p>Generated \(e(s.generated)). Keep with the continuity plan binder.</p>
            <p>Repository ID <code>\(e(s.repositoryID))</code><br>Auditor key fingerprint <code>\(e(s.auditFingerprint))</code></p>
            <h2>Targets and disaster-day steps</h2>

            """
        for t in s.targets {
            h += "<h3>\(e(t.name))</h3><p>Address <code>\(e(t.url))</code></p><ol>"
                + t.steps.map { "<li>\(e($0))</li>" }.joined() + "</ol>\n"
        }
        h += "<h2>Keys</h2><p>Any one passphrase, or enough shares of one split, opens the repository.</p><table><tr><th>Key</th><th>Kind</th><th>Created</th><th>Label</th></tr>"
        h += s.keys.map { "<tr><td><code>\(e($0.id))</code></td><td>\(e($0.kind))</td><td>\(e($0.created))</td><td>\(e($0.label))</td></tr>" }.joined() + "</table>\n"
        h += "<h2>Custodians</h2>" + (s.custodians.isEmpty ? "<p>(none named)</p>" : "<ul>" + s.custodians.map { "<li>\(e($0))</li>" }.joined() + "</ul>") + "\n"
        h += "<h2>Where the shares are kept</h2><p>\(e(s.sharesLocation ?? "(not stated)"))</p>\n"
        if !s.shareBlocks.isEmpty {
            h += "<div class=\"secret\"><h2>Share blocks: SECRET</h2>" + s.shareBlocks.map { "<pre>\(e($0))</pre>" }.joined() + "</div>\n"
        }
        return h + "</body></html>\n"
    }
}
