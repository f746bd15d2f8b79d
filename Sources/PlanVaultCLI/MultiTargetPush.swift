import ArgumentParser
import Foundation
import PlanVaultCore

/// `push` with several `[[targets]]`: the snapshot is made once, on the first target that takes
/// it, then copied to each other target independently (`RepositoryCopy`). Each target's outcome
/// is reported; any failed target makes the exit code non-zero and is named.
struct MultiTargetPush {
    let command: PushCommand
    let targets: [ConfigFile.Target]
    private static let noRepository = "no repository there"

    func run() async throws {
        var failed = [(target: ConfigFile.Target, reason: String)]()
        var primary: ConfigFile.Target?
        var warnings = false
        for target in targets where primary == nil {
            var one = command
            one.global.repo = target.repo
            do {
                try await TargetScope.$several.withValue(true) {
                    try await RunLog.forTarget(target.display) { try await one.pushToOneTarget() }
                }
                primary = target
            } catch let exit as ExitCode where exit.rawValue == ExitCodes.partial {
                primary = target
                warnings = true
            } catch let exit as ExitCode where exit.rawValue == ExitCodes.repositoryNotFound {
                // The error (noCopyAt, see `TargetScope`) said a copy starts it; the copy command
                // is named below, once a target has taken the push.
                failed.append((target, Self.noRepository))
                if target.repo != targets.last?.repo { Output.error("planvault: target \(target.display): trying the next target") }
            } catch {
                // The error itself is already printed.
                failed.append((target, "the push failed"))
                Output.error("planvault: target \(target.display): push failed" + (target.repo != targets.last?.repo ? "; trying the next target" : ""))
            }
        }
        guard let primary else {
            var summary = "no target took the push: \(failed.map(\.target.display).joined(separator: ", "))"
            if failed.allSatisfy({ $0.reason == Self.noRepository }), let first = targets.first {
                // Each target's advice (copy from another) goes round in a circle here.
                summary += "; none holds a repository: check that each is reachable (a share mounted); on the first run, make one with "
                    + "`planvault init --repo \(first.repo)`, then run `planvault copy --repo \(first.repo) --to URL` once for each other target"
            }
            Output.error("planvault: \(summary)")
            RunLog.finish(exitCode: ExitCodes.failure, failure: summary)
            throw ExitCode(ExitCodes.failure)
        }
        if !command.global.quiet && !command.json { Output.line("target \(primary.display): snapshot saved") }
        for (target, reason) in failed where reason == Self.noRepository {
            Output.error("planvault: target \(target.display): \(PlanVaultError.noCopyAt(location: target.repo, copyFrom: primary.repo).localizedDescription)")
        }
        let skipped = Set(failed.map(\.target.repo))
        for target in targets where target.repo != primary.repo && !skipped.contains(target.repo) {
            do {
                let copied = try await replicate(from: primary, to: target)
                if !command.global.quiet && !command.json { Output.line("target \(target.display): up to date (\(copied))") }
            } catch {
                let reason = (error as? PlanVaultError)?.localizedDescription ?? "\(error)"
                failed.append((target, reason))
                Output.error("planvault: target \(target.display): not updated: \(reason)")
            }
        }
        if !failed.isEmpty {
            let summary = "\(failed.count) of \(targets.count) targets failed: \(failed.map(\.target.display).joined(separator: ", ")); the others hold this snapshot"
            Output.error("planvault: \(summary)")
            RunLog.finish(exitCode: ExitCodes.failure, failure: summary)
            throw ExitCode(ExitCodes.failure)
        }
        RunLog.done("snapshot saved on \(primary.display), all \(targets.count) targets up to date" + (warnings ? ", with problems (see above)" : ""))
        RunLog.finish(exitCode: warnings ? ExitCodes.partial : 0)
        if warnings { throw ExitCode(ExitCodes.partial) }
    }

    /// Copies what `target` lacks from `primary`, then what `primary` lacks from `target` (the
    /// snapshots made while `primary` was down), attesting the copies on each side.
    private func replicate(from primary: ConfigFile.Target, to target: ConfigFile.Target) async throws -> String {
        var summaries = [String]()
        for (from, to) in [(primary, target), (target, primary)] {
            var options = command.global
            options.repo = from.repo
            let context = try Context(options)
            let source = try await context.openRepository()
            let result = try await context.copy(source, to: to.repo, startingNew: false)
            for problem in result.mismatched + result.attestFailures { Output.error("planvault: target \(to.display): \(problem)") }
            guard result.mismatched.isEmpty else {
                throw PlanVaultError.invalidArgument("\(result.mismatched.count) object(s) at \(to.display) differ from \(from.display): run `planvault verify --read-data --repo \(to.repo)`")
            }
            let count = result.copied.values.reduce(0) { $0 + $1.count }
            let bytes = result.copied.values.reduce(UInt64(0)) { $0 + $1.bytes }
            if count > 0 || summaries.isEmpty {
                summaries.append(to.repo == target.repo ? "\(count) object(s), \(Output.bytes(bytes)) copied there"
                                                       : "\(count) object(s) it held that \(primary.display) lacked copied back")
            }
        }
        return summaries.joined(separator: "; ")
    }
}

extension Context {
    /// Makes the target at `url` hold `source`'s repository (`planvault copy`), holding shared
    /// locks on both while it copies, and attests the copied snapshots there. `source` must be
    /// the repository this context's `--repo` names. With `startingNew` false (a push's targets)
    /// a target with no repository fails instead: an empty folder there is more often a share
    /// that is not mounted than a new copy, and filling the local disk under the mount point
    /// would pass for an offsite copy.
    func copy(_ source: Repository, to url: String, startingNew: Bool = true) async throws -> RepositoryCopy.Result {
        let destination = try backend(for: url)
        guard destination.location != source.backend.location else {
            throw PlanVaultError.invalidArgument("the source and the destination are the same target (\(url))")
        }
        let copier = RepositoryCopy(source: source, destination: destination, logger: logger, concurrency: uploadConcurrency(for: destination))
        let hadConfig: Bool
        do {
            hadConfig = try await copier.prepareDestination(startingNew: startingNew)
        } catch PlanVaultError.repositoryNotFound {
            throw PlanVaultError.noCopyAt(location: url, copyFrom: options.repo ?? source.backend.location)
        }
        // Shared locks on both sides: no prune deletes what is being copied, at either end.
        let sourceLock = try await sharedLockIfPossible(source)
        do {
            let lock = try await RepositoryLock.acquire(backend: destination, repository: source.config.id, exclusive: false,
                                                        wait: try lockWaitSeconds(), logger: logger) { message in
                Output.error("planvault: \(message)")
            }
            let result = try await lock.around {
                var result = try await copier.run(hadConfig: hadConfig)
                try await copier.attestCopies(&result)
                return result
            }
            await sourceLock?.release()
            return result
        } catch {
            await sourceLock?.release()
            throw error
        }
    }
}
