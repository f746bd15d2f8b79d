import Foundation
import PlanVaultCore

/// Finds the passphrase: --passphrase-file, --passphrase-command, PLANVAULT_PASSPHRASE,
/// the keys file's passphrase_command, then its passphrase, then (on a terminal only) a prompt.
enum Secrets {
    /// Keys.example's placeholder passphrase: a copy of the example left unedited.
    static let examplePlaceholder = "replace with a long passphrase"

    static func passphrase(options: GlobalOptions, keys: KeysFile?, confirm: Bool, environmentName: String = "PLANVAULT_PASSPHRASE",
                           fileOverride: String? = nil) throws -> String {
        try sourcedPassphrase(options: options, keys: keys, confirm: confirm, environmentName: environmentName, fileOverride: fileOverride).value
    }

    /// The passphrase and where it came from, in the user's words ("PLANVAULT_PASSPHRASE",
    /// "the prompt"), so a wrong one can be traced to its source. A new passphrase (`confirm`),
    /// from any source, must have 8 characters or more and must not be Keys.example's placeholder.
    static func sourcedPassphrase(options: GlobalOptions, keys: KeysFile?, confirm: Bool, environmentName: String = "PLANVAULT_PASSPHRASE",
                                  fileOverride: String? = nil) throws -> (value: String, source: String) {
        let found = try findPassphrase(options: options, keys: keys, confirm: confirm, environmentName: environmentName, fileOverride: fileOverride)
        if confirm {
            guard found.value.count >= 8 else {
                throw PlanVaultError.invalidArgument("the new passphrase from \(found.source) is too short: it must have at least 8 characters")
            }
            guard !found.value.hasPrefix(examplePlaceholder) else {
                throw PlanVaultError.invalidArgument("the passphrase from \(found.source) is the placeholder copied from Keys.example: put the agency's own long passphrase there")
            }
        }
        return found
    }

    private static func findPassphrase(options: GlobalOptions, keys: KeysFile?, confirm: Bool, environmentName: String,
                                       fileOverride: String?) throws -> (value: String, source: String) {
        if let file = fileOverride ?? options.passphraseFile {
            let option = fileOverride == nil ? "--passphrase-file" : "--new-passphrase-file"
            try FileIO.requirePrivate(file, what: "passphrase file (\(option))")
            return (try firstLine(of: FileIO.readFile(file), source: file), "\(option) \(file)")
        }
        if fileOverride == nil, let command = options.passphraseCommand { return (try runCommand(command), "--passphrase-command") }
        if let value = ProcessInfo.processInfo.environment[environmentName], !value.isEmpty { return (value, environmentName) }
        if fileOverride == nil, environmentName == "PLANVAULT_PASSPHRASE", let keys {
            if let command = keys.passphraseCommand { return (try runCommand(command), "the passphrase_command of the keys file \(keys.path)") }
            if let value = keys.passphrase, !value.isEmpty { return (value, "the keys file \(keys.path)") }
        }
        guard isatty(STDIN_FILENO) == 1 else {
            if let keys, environmentName == "PLANVAULT_PASSPHRASE" { throw PlanVaultError.keysFileWithoutPassphrase(path: keys.path) }
            throw environmentName == "PLANVAULT_PASSPHRASE" ? PlanVaultError.noPassphrase : PlanVaultError.noNewPassphrase
        }
        if !confirm, let memo = memoLock.withLock({ memoPrompt }) { return (memo, "the prompt") }
        let first: String
        do {
            first = try prompt("Passphrase: ")
        } catch PlanVaultError.noPassphrase where environmentName != "PLANVAULT_PASSPHRASE" {
            throw PlanVaultError.noNewPassphrase
        }
        if !confirm { memoLock.withLock { memoPrompt = first } }
        if confirm {
            guard first.count >= 8 else { throw PlanVaultError.invalidArgument("the passphrase must have at least 8 characters") }
            guard try prompt("Repeat passphrase: ") == first else { throw PlanVaultError.invalidArgument("the passphrases do not match") }
        }
        return (first, "the prompt")
    }

    /// A new passphrase (`key add`, `key passwd`): --new-passphrase-file, PLANVAULT_NEW_PASSPHRASE,
    /// then a prompt asked twice; never the current passphrase's sources.
    static func newPassphrase(options: GlobalOptions, file: String?) throws -> String {
        var newOptions = options
        newOptions.passphraseFile = nil
        newOptions.passphraseCommand = nil
        return try passphrase(options: newOptions, keys: nil, confirm: true, environmentName: "PLANVAULT_NEW_PASSPHRASE", fileOverride: file)
    }

    /// Share blocks from files (which must be private, like every secrets file) or, for `-`, from
    /// standard input: pasted or typed at a terminal, ending once enough shares are read.
    static func recoveryShares(_ sources: [String]) throws -> [RecoveryShare] {
        var shares = [RecoveryShare]()
        for source in sources {
            if source == "-" {
                shares += try sharesFromStandardInput()
                continue
            }
            try FileIO.requirePrivate(source, what: "share file (--shares; `planvault key split` names them share-N-of-M.txt)")
            let found = try RecoveryShare.parseAll(String(decoding: try FileIO.readFile(source), as: UTF8.self), source: source)
            guard !found.isEmpty else { throw PlanVaultError.invalidArgument("\(source) holds no recovery share block (BEGIN PLANVAULT RECOVERY SHARE ... END)") }
            shares += found
        }
        return shares
    }

    /// What was read from standard input or a prompt, kept for the run: a command that opens
    /// several targets reads the shares (or asks for the passphrase) once.
    private static let memoLock = NSLock()
    nonisolated(unsafe) private static var memoShares: [RecoveryShare]?
    nonisolated(unsafe) private static var memoPrompt: String?

    private static func sharesFromStandardInput() throws -> [RecoveryShare] {
        if let memo = memoLock.withLock({ memoShares }) { return memo }
        let shares = try readSharesFromStandardInput()
        memoLock.withLock { memoShares = shares }
        return shares
    }

    private static func readSharesFromStandardInput() throws -> [RecoveryShare] {
        let terminal = isatty(STDIN_FILENO) == 1
        if terminal { FileHandle.standardError.write(Data("Paste or type each share block, from its BEGIN line to its END line:\n".utf8)) }
        var text = ""
        var shares = [RecoveryShare]()
        while let line = readLine(strippingNewline: false) {
            text += line
            guard line.contains("END PLANVAULT RECOVERY SHARE") else { continue }
            shares = try RecoveryShare.parseAll(text, source: "the shares typed in")
            if let needed = shares.first?.threshold, Set(shares.map(\.share.x)).count >= needed { break }
            if terminal { FileHandle.standardError.write(Data("Share read (\(shares.count) so far). Next share:\n".utf8)) }
        }
        guard !shares.isEmpty else { throw PlanVaultError.invalidArgument("no recovery share block was read from standard input") }
        return shares
    }

    private static func prompt(_ text: String) throws -> String {
        guard let raw = getpass(text) else { throw PlanVaultError.noPassphrase }
        let value = String(cString: raw)
        guard !value.isEmpty else { throw PlanVaultError.noPassphrase }
        return value
    }

    private static func firstLine(of bytes: [UInt8], source: String) throws -> String {
        let text = String(decoding: bytes, as: UTF8.self)
        let line = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        let trimmed = line.hasSuffix("\r") ? String(line.dropLast()) : line
        guard !trimmed.isEmpty else { throw PlanVaultError.invalidArgument("\(source): the first line (the passphrase) is empty") }
        return trimmed
    }

    /// Runs a secret-manager command through /bin/sh; its first output line is the passphrase.
    static func runCommand(_ command: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        let out = Pipe()
        process.standardOutput = out
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            throw PlanVaultError.invalidArgument("--passphrase-command could not start: \(error.localizedDescription)")
        }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw PlanVaultError.invalidArgument("--passphrase-command exited with status \(process.terminationStatus)")
        }
        return try firstLine(of: Array(data), source: "--passphrase-command output")
    }
}
