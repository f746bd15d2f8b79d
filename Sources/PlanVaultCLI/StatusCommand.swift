import ArgumentParser
import Foundation
import PlanVaultCore
import Prometheus

/// `planvault status`: for monitoring. Per target, the age of the last push, verification and
/// drill (from its signed chain) against the policy; exit 0 when every target meets it, 5 when
/// one does not, 1 when a target could not be read.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show, per target, how old the last push, verification and restore drill are, against the policy.",
        discussion: """
            The policy (defaults: push 26h, verify 8d, drill 365d) comes from the options, then the config file's [policy] \
            table. Exit 0 when every target meets it, 5 when one does not (or its last check failed), 1 when a target could \
            not be read. --prometheus writes node_exporter textfile metrics (written whole, then renamed into place).
            """ + HelpLayout.examples("planvault status",
                                      "planvault status --quiet --prometheus /var/lib/prometheus/node-exporter/planvault.prom"))

    @OptionGroup(title: "Repository and global options") var global: GlobalOptions

    @Option(help: ArgumentHelp("Newest push allowed age (default 26h, or [policy] push).", valueName: "DURATION"))
    var maxPushAge: String?

    @Option(help: ArgumentHelp("Newest verification allowed age (default 8d, or [policy] verify).", valueName: "DURATION"))
    var maxVerifyAge: String?

    @Option(help: ArgumentHelp("Newest restore drill allowed age (default 365d, or [policy] drill).", valueName: "DURATION"))
    var maxDrillAge: String?

    /// Checked as the line is parsed: a mistyped age is a usage error (exit 64), not "a target
    /// could not be read" (exit 1).
    func validate() throws {
        for (name, value) in [("--max-push-age", maxPushAge), ("--max-verify-age", maxVerifyAge), ("--max-drill-age", maxDrillAge)] {
            if let value, !(Duration.parse(value).map(AuditPolicy.isAllowed) ?? false) {
                throw ValidationError("\(name) \(value): use a number and unit, like 26h or 7d (at most 100 years)")
            }
        }
    }

    @Option(help: ArgumentHelp("Also write Prometheus textfile metrics to FILE.", valueName: "FILE"))
    var prometheus: String?

    @Flag(help: "Print the result as JSON.")
    var json = false

    struct Check: Encodable {
        var check: String
        var time: String?
        var ageSeconds: Double?
        var result: String?
        var allowedSeconds: Double
        var met: Bool
    }

    struct TargetStatus: Encodable {
        var target: String
        var repo: String
        var readable: Bool
        var error: String?
        var snapshots: Int?
        var checks: [Check]
    }

    struct Report: Encodable {
        var targets: [TargetStatus]
        var policyMet: Bool
    }

    func run() async throws {
        try await guarded {
            let context = try Context(global)
            var policy = context.config.policy ?? AuditPolicy()
            for (text, keyPath, name) in [(maxPushAge, \AuditPolicy.push, "--max-push-age"), (maxVerifyAge, \AuditPolicy.verify, "--max-verify-age"),
                                          (maxDrillAge, \AuditPolicy.drill, "--max-drill-age")] {
                guard let text else { continue }
                guard let seconds = Duration.parse(text) else { throw PlanVaultError.usage("\(name) \(text) is not a duration (examples: 26h, 8d, 365d)") }
                policy[keyPath: keyPath] = seconds
            }
            let targets = context.pushTargets.isEmpty ? [ConfigFile.Target(name: nil, repo: try context.repositoryURL)] : context.pushTargets
            let now = Date()
            var statuses = [TargetStatus]()
            for target in targets {
                statuses.append(await status(of: target, policy: policy, context: context, now: now))
            }
            let met = statuses.allSatisfy { $0.readable && $0.checks.allSatisfy(\.met) }
            if let prometheus { try writeMetrics(statuses, to: prometheus, now: now) }
            if json {
                try Output.json(Report(targets: statuses, policyMet: met), schema: "planvault.status/1")
            } else if !global.quiet || !met {
                print(statuses)
            }
            let unreadable = statuses.filter { !$0.readable }
            let unmet = statuses.flatMap { s in s.checks.filter { !$0.met }.map { "\($0.check) at \(s.target)" } }
            RunLog.done(met ? "policy met at \(statuses.count) target(s)"
                            : "policy not met: " + (unreadable.map { "\($0.target) unreadable" } + unmet).joined(separator: ", "))
            if !unreadable.isEmpty { throw ExitCode(ExitCodes.failure) }
            if !unmet.isEmpty { throw ExitCode(ExitCodes.stale) }
        }
    }

    private func status(of target: ConfigFile.Target, policy: AuditPolicy, context: Context, now: Date) async -> TargetStatus {
        do {
            var options = global
            options.repo = target.repo
            let repository = try await Context(options).openRepository()
            let chain = ChainStatus(try await AttestationLog.trusted(repository))
            func check(_ name: String, _ event: ChainStatus.Event?, allowed: TimeInterval) -> Check {
                let age = event.map { now.timeIntervalSince($0.time) }
                let passed = event?.result.map { $0 == "ok" } ?? true
                return Check(check: name, time: event.map { Timestamps.format($0.time) }, ageSeconds: age, result: event?.result,
                             allowedSeconds: allowed, met: (age.map { $0 <= allowed } ?? false) && passed)
            }
            return TargetStatus(target: target.name ?? target.repo, repo: target.repo, readable: true, error: nil, snapshots: chain.snapshots,
                                checks: [check("push", chain.lastPush, allowed: policy.push), check("verify", chain.lastVerify, allowed: policy.verify),
                                         check("drill", chain.lastDrill, allowed: policy.drill)])
        } catch {
            let message = (error as? PlanVaultError)?.localizedDescription ?? "\(error)"
            Output.error("planvault: target \(target.display) could not be read: \(message)")
            return TargetStatus(target: target.name ?? target.repo, repo: target.repo, readable: false, error: message, snapshots: nil, checks: [])
        }
    }

    private func print(_ statuses: [TargetStatus]) {
        var table = Table(["TARGET", "CHECK", "LAST", "AGE", "RESULT", "POLICY", "STATUS"])
        for s in statuses {
            guard s.readable else {
                table.add([s.target, "-", "-", "-", "-", "-", "UNREADABLE"])
                continue
            }
            for c in s.checks {
                table.add([s.target, c.check, c.time.map { String($0.prefix(19)) + "Z" } ?? "never", c.ageSeconds.map { Output.duration($0) } ?? "-",
                           c.result ?? (c.time == nil ? "-" : "saved"), "within \(Output.duration(c.allowedSeconds))",
                           c.met ? "ok" : (c.time == nil ? "NEVER DONE" : (c.result.map { $0 != "ok" } ?? false) ? "FAILED" : "OVERDUE")])
            }
        }
        table.print()
    }

    /// node_exporter's textfile collector reads every *.prom file: write it whole, then rename.
    private func writeMetrics(_ statuses: [TargetStatus], to path: String, now: Date) throws {
        let registry = PrometheusCollectorRegistry()
        for s in statuses {
            let target = [("target", s.target)]
            registry.makeGauge(name: "planvault_target_readable", labels: target, help: "1 when the target's attestation chain could be read").set(Double(s.readable ? 1 : 0))
            if let snapshots = s.snapshots {
                registry.makeGauge(name: "planvault_snapshots", labels: target, help: "Snapshots the target's chain records as retained").set(Double(snapshots))
            }
            for c in s.checks {
                let labels = target + [("check", c.check)]
                if let time = c.time.flatMap(Timestamps.parse) {
                    registry.makeGauge(name: "planvault_last_timestamp_seconds", labels: labels, help: "Time of the newest push, verification or drill").set(time.timeIntervalSince1970)
                }
                if let result = c.result {
                    registry.makeGauge(name: "planvault_last_success", labels: labels, help: "1 when the newest verification or drill passed").set(Double(result == "ok" ? 1 : 0))
                }
                registry.makeGauge(name: "planvault_policy_max_age_seconds", labels: labels, help: "Allowed age under the policy").set(c.allowedSeconds)
                registry.makeGauge(name: "planvault_policy_met", labels: labels, help: "1 when the check is within the policy").set(Double(c.met ? 1 : 0))
            }
        }
        registry.makeGauge(name: "planvault_status_timestamp_seconds", help: "When planvault status wrote this file").set(now.timeIntervalSince1970)
        let directory = (path as NSString).deletingLastPathComponent
        try FileIO.writeAtomically(registry.emitToBuffer(), to: path, inDirectory: directory.isEmpty ? "." : directory, mode: 0o644)
    }
}
