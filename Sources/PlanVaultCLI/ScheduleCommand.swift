import ArgumentParser
import Foundation
import PlanVaultCore

/// `planvault schedule --print`: the crontab block and systemd units that keep the policy: a
/// nightly push, a weekly verification reading a tenth of the data, a monthly drill, and a
/// status check every 15 minutes for monitoring.
struct ScheduleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Print the crontab block and systemd units that run push, verify, drill and status on a schedule that meets the policy.",
        discussion: "Nothing is installed: copy what it prints (crontab -e, or the units into /etc/systemd/system)."
            + HelpLayout.examples("planvault schedule --print --config /etc/planvault/planvault.toml",
                                  "planvault schedule --print --format systemd --user planvault"))

    @Flag(help: "Print the schedule (required: nothing is installed).")
    var print = false

    @Option(help: "cron, systemd or both (default both).")
    var format = "both"

    @Option(help: ArgumentHelp("The config file the scheduled runs use.", valueName: "FILE"))
    var config = "/etc/planvault/planvault.toml"

    @Option(help: ArgumentHelp("The keys file the scheduled runs use.", valueName: "FILE"))
    var keys = "/etc/planvault/keys.toml"

    @Option(help: "The account the runs use (systemd User=).")
    var user = "planvault"

    @Option(help: ArgumentHelp("Where the log goes (cron).", valueName: "FILE"))
    var log = "/var/log/planvault.log"

    @Option(help: ArgumentHelp("The node_exporter textfile for `status --prometheus`.", valueName: "FILE"))
    var prometheus = "/var/lib/prometheus/node-exporter/planvault.prom"

    struct Job {
        var name: String
        var what: String
        var arguments: String
        var cron: String
        var calendar: String
    }

    /// Push and verify at the times of the README's crontab and of the Debian package's timers,
    /// so the three never disagree.
    var jobs: [Job] {
        [Job(name: "push", what: "nightly push of the plan folders", arguments: "push --quiet", cron: "30 1 * * *", calendar: "*-*-* 01:30:00"),
         Job(name: "verify", what: "weekly verification (reads a fifth of the stored data)", arguments: "verify --read-data-subset 20 --max-age 26h --quiet",
             cron: "15 6 * * 1", calendar: "Mon *-*-* 06:15:00"),
         Job(name: "drill", what: "monthly restore drill", arguments: "drill --quiet", cron: "0 5 1 * *", calendar: "*-*-01 05:00:00"),
         Job(name: "status", what: "policy status for monitoring", arguments: "status --quiet --prometheus \(prometheus)",
             cron: "*/15 * * * *", calendar: "*:0/15")]
    }

    func validate() throws {
        guard print else { throw ValidationError("add --print: `schedule` only prints what to install") }
        guard ["cron", "systemd", "both"].contains(format) else { throw ValidationError("--format is cron, systemd or both") }
    }

    func run() throws {
        // The running binary, wherever PATH found it (argv[0] may be a bare name).
        let binary = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path
        let common = "--config \(config) --keys \(keys)"
        var out = [String]()
        if format != "systemd" {
            out.append("# crontab for the \(user) account (crontab -e -u \(user)); the policy: push within 26h, verify within 8d, drill within 365d")
            for job in jobs {
                out.append("# \(job.what)")
                out.append("\(job.cron)  \(binary) \(job.arguments) \(common) >> \(log) 2>&1")
            }
            out.append("")
        }
        if format != "cron" {
            for job in jobs {
                out.append("# /etc/systemd/system/planvault-\(job.name).service")
                out.append("""
                    [Unit]
                    Description=PlanVault \(job.what)
                    Wants=network-online.target
                    After=network-online.target

                    [Service]
                    Type=oneshot
                    User=\(user)
                    ExecStart=\(binary) \(job.arguments) \(common)
                    Nice=10
                    IOSchedulingClass=idle
                    """)
                out.append("")
                out.append("# /etc/systemd/system/planvault-\(job.name).timer")
                out.append("""
                    [Unit]
                    Description=PlanVault \(job.what): schedule

                    [Timer]
                    OnCalendar=\(job.calendar)
                    Persistent=true
                    RandomizedDelaySec=\(job.name == "status" ? "1min" : "15min")

                    [Install]
                    WantedBy=timers.target
                    """)
                out.append("")
            }
            out.append("# then: systemctl daemon-reload && systemctl enable --now " + jobs.map { "planvault-\($0.name).timer" }.joined(separator: " "))
        }
        Output.line(out.joined(separator: "\n"))
    }
}
