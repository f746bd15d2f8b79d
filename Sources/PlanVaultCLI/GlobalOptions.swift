import ArgumentParser
import Foundation
import Logging
import PlanVaultCore
import PlanVaultHTTP

struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Repository: a folder path, file:// URL, or https://HOST:PORT/NAME of a PlanVault server. Default: PLANVAULT_REPO, then `repo` in the config file.", valueName: "URL"))
    var repo: String?

    @Option(name: .long, help: ArgumentHelp("PEM file of the CA that signed the server's certificate (for a private CA). Default: PLANVAULT_CACERT.", valueName: "FILE"))
    var cacert: String?

    @Option(name: .long, help: ArgumentHelp("TOML config file (default: planvault.toml in the current folder, if present).", valueName: "FILE"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp("Private TOML file holding secrets (see Keys.example). Default: PLANVAULT_KEYS_FILE.", valueName: "FILE"))
    var keys: String?

    @Option(name: .long, help: ArgumentHelp("Read the passphrase from the first line of FILE (must be mode 600).", valueName: "FILE"))
    var passphraseFile: String?

    @Option(name: .long, help: ArgumentHelp("Run CMD through /bin/sh; its first output line is the passphrase.", valueName: "CMD"))
    var passphraseCommand: String?

    @Option(name: .long, help: ArgumentHelp("Local cache folder (safe to delete). Default: PLANVAULT_CACHE_DIR, then ~/.cache/planvault.", valueName: "DIR"))
    var cacheDir: String?

    @Flag(name: .long, help: "Do not use a local cache.")
    var noCache = false

    @Flag(name: .shortAndLong, help: "More log output (repeat for debug).")
    var verbose: Int

    @Flag(name: .shortAndLong, help: "Only errors.")
    var quiet = false
}

/// Everything a command needs, resolved once from options, config file, keys file and environment.
struct Context {
    let options: GlobalOptions
    let config: ConfigFile
    let keys: KeysFile?
    let logger: Logger
    let environment = ProcessInfo.processInfo.environment

    init(_ options: GlobalOptions) throws {
        self.options = options
        var logger = Logger(label: "planvault")
        logger.logLevel = options.quiet ? .error : options.verbose >= 2 ? .debug : options.verbose == 1 ? .info : .notice
        self.logger = logger
        if let path = options.config {
            config = try ConfigFile.load(path: path)
        } else if FileManager.default.fileExists(atPath: ConfigFile.defaultName) {
            config = try ConfigFile.load(path: ConfigFile.defaultName)
        } else {
            config = ConfigFile()
        }
        if let path = options.keys ?? ProcessInfo.processInfo.environment["PLANVAULT_KEYS_FILE"] ?? config.keys {
            keys = try KeysFile.load(path: path)
        } else {
            keys = nil
        }
    }

    var repositoryURL: String {
        get throws {
            guard let url = options.repo ?? environment["PLANVAULT_REPO"] ?? config.repo, !url.isEmpty else {
                throw PlanVaultError.invalidArgument("no repository given: use --repo URL, set PLANVAULT_REPO, or set `repo` in planvault.toml")
            }
            return url
        }
    }

    func backend() throws -> any Backend {
        let url = try repositoryURL
        if url.hasPrefix("https://") || url.hasPrefix("http://") {
            let token = environment["PLANVAULT_SERVER_TOKEN"].flatMap { $0.isEmpty ? nil : $0 } ?? keys?.serverToken
            return try HTTPBackend(url: url, token: token, caCertificatePath: options.cacert ?? environment["PLANVAULT_CACERT"], logger: logger)
        }
        return try BackendFactory.make(url)
    }

    /// Remote targets have latency to hide: more uploads in flight.
    func uploadConcurrency(for backend: any Backend) -> Int {
        backend is DirectoryBackend ? 2 : 4
    }

    var cacheRoot: String? {
        if options.noCache { return nil }
        if let dir = options.cacheDir ?? environment["PLANVAULT_CACHE_DIR"] ?? config.cacheDir { return dir }
        if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty { return "\(xdg)/planvault" }
        return "\(NSHomeDirectory())/.cache/planvault"
    }

    func passphrase(confirm: Bool = false) throws -> String {
        try Secrets.passphrase(options: options, keys: keys, confirm: confirm)
    }

    func openRepository() async throws -> Repository {
        let backend = try backend()
        let pass = try passphrase()
        return try await Repository.open(backend: backend, passphrase: pass, cacheRoot: cacheRoot, logger: logger)
    }

    func openWriter() async throws -> RepositoryWriter {
        let backend = try backend()
        let pass = try passphrase()
        let repository = try await Repository.open(backend: backend, passphrase: pass, cacheRoot: cacheRoot, logger: logger)
        return RepositoryWriter(repository: repository, backend: backend)
    }

    /// A lock per repository and host; lives in the cache folder (or /tmp with --no-cache).
    func lock(repositoryID: String) throws -> LocalLock {
        let runtime = environment["XDG_RUNTIME_DIR"].flatMap { $0.isEmpty ? nil : $0 }
        let root = cacheRoot ?? runtime.map { "\($0)/planvault" } ?? "/tmp/planvault-\(getuid())"
        return try LocalLock(path: "\(root)/\(repositoryID)/push.lock")
    }
}

enum BackendFactory {
    static func make(_ url: String) throws -> any Backend {
        if url.hasPrefix("file://") {
            return DirectoryBackend(root: String(url.dropFirst("file://".count)))
        }
        if let scheme = url.range(of: "://").map({ String(url[..<$0.lowerBound]) }) {
            throw PlanVaultError.invalidArgument("repository URL scheme \"\(scheme)://\" is not supported: use a folder path, file:// URL or https://HOST:PORT/NAME")
        }
        return DirectoryBackend(root: URL(fileURLWithPath: url).standardizedFileURL.path)
    }
}
