import Foundation

/// Renders an audit report as one self-contained HTML page (inline CSS and SVG, no external
/// assets) that an auditor can file.
public enum AuditHTML {
    public static func render(_ report: AuditReport) -> String {
        let color = report.passed ? "#1b7f3b" : "#b3261e"
        var html = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <title>PlanVault audit: \(escape(report.verdict)) — \(escape(report.target))</title>
        <style>
        body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem;color:#1c1b1f;max-width:1100px}
        h1{font-size:1.5rem;margin:0 0 .5rem} h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.3rem}
        h3{font-size:1rem;margin:1.2rem 0 .4rem}
        .verdict{display:inline-block;padding:.6rem 1.4rem;border-radius:.4rem;color:#fff;font-size:1.6rem;font-weight:700;background:\(color);border:3px solid \(color)}
        table{border-collapse:collapse;width:100%;font-size:.9rem} th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
        th{background:#f3f3f3} td.num{text-align:right;font-variant-numeric:tabular-nums} .mono{font-family:ui-monospace,monospace;overflow-wrap:anywhere}
        .met{color:#1b7f3b;font-weight:600} .notmet{color:#b3261e;font-weight:700}
        ul.findings li{color:#b3261e;margin:.2rem 0} dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem} dt{font-weight:600} dd{margin:0;overflow-wrap:anywhere}
        .controls{font-size:.8rem;color:#555} #timeline{max-width:100%;height:auto}
        /* Printed without background graphics, in black and white, on A4 or Letter: the verdict
           keeps its meaning as black text in a heavy frame, and everything scales to the page. */
        @page{margin:12mm}
        @media print{
          body{margin:0;max-width:none;color:#000;font-size:9.5pt}
          .verdict{background:none!important;color:#000!important;border:4px solid #000;font-size:20pt}
          .verdict.fail{border-style:double;border-width:6px}
          .met,.notmet,ul.findings li{color:#000!important} .notmet{text-decoration:underline}
          th{background:none!important;border-bottom:2px solid #000} th,td{border-color:#777}
          h2{break-after:avoid} tr,svg,dl,.verdict{break-inside:avoid} table{font-size:8.5pt}
          #timeline{width:100%;height:auto} #timeline rect.bar{fill:#555} #timeline rect.gap{fill:#000} .controls{color:#000}
        }
        </style></head><body>
        <h1>PlanVault offsite-copy audit</h1>
        <p><span class="verdict \(report.passed ? "pass" : "fail")" id="verdict">\(escape(report.verdict))</span></p>
        <dl>
        <dt>Repository</dt><dd class="mono">\(escape(report.repository))</dd>
        <dt>Target</dt><dd class="mono">\(escape(report.target))</dd>
        <dt>Public key fingerprint</dt><dd class="mono">\(escape(report.fingerprint))</dd>
        <dt>Checked at</dt><dd>\(escape(report.checkedAt))</dd>
        <dt>PlanVault version</dt><dd>\(escape(report.planvaultVersion))</dd>
        <dt>Command line</dt><dd class="mono">\(escape(report.commandLine.joined(separator: " ")))</dd>
        <dt>Chain head</dt><dd class="mono">\(report.chainHead.map { "record \($0.sequence) (\(escape($0.time))) \(escape($0.name))" } ?? "none")</dd>
        </dl>

        """
        html += criteria(report)
        html += "<h2>Findings</h2>\n"
        if report.findings.isEmpty {
            html += "<p>None: every signature verifies, the chain is unbroken, every object the retained snapshots need is present\(report.criteria.isEmpty ? "" : ", and every policy criterion is met").</p>\n"
        } else {
            html += "<ul class=\"findings\">\n" + report.findings.map { "<li>\(escape($0.message))</li>" }.joined(separator: "\n") + "\n</ul>\n"
        }
        html += evidence(report)
        html += controls(report)
        if !report.notices.isEmpty {
            html += "<h2>Notices</h2>\n<p>Not failures: records and objects that are not part of the evidence, and checks this credential could not make.</p>\n"
            html += "<ul>\n" + report.notices.map { "<li>\(escape($0.message))</li>" }.joined(separator: "\n") + "\n</ul>\n"
        }
        html += "<h2>Replications per day</h2>\n" + chart(report.replicationsPerDay, until: String(report.checkedAt.prefix(10))) + "\n"
        html += "<h2>Snapshots</h2>\n<table><tr><th>Snapshot</th><th>Time (UTC)</th><th>Host</th><th>Sources</th><th>Files</th><th>Bytes</th><th>Retained</th></tr>\n"
        for row in report.snapshots.reversed() {
            html += "<tr><td class=\"mono\">\(escape(String(row.id.prefix(12))))</td><td>\(escape(row.time))</td><td>\(escape(row.host))</td><td>\(escape(row.sourceSet))</td>"
            html += "<td class=\"num\">\(row.files)</td><td class=\"num\">\(row.bytes)</td><td>\(row.retained ? "yes" : "forgotten")</td></tr>\n"
        }
        html += "</table>\n<h2>Verification and drill history</h2>\n"
        if report.checks.isEmpty {
            html += "<p>No verification or restore drill has been recorded.</p>\n"
        } else {
            html += "<table><tr><th>Time (UTC)</th><th>Type</th><th>Host</th><th>What</th><th>Result</th><th>Problems found</th></tr>\n"
            for row in report.checks.reversed() {
                html += "<tr><td>\(escape(row.time))</td><td>\(escape(row.type))</td><td>\(escape(row.host))</td><td>\(escape(row.what))</td>"
                html += "<td>\(escape(row.result))</td><td class=\"num\">\(row.findings)</td></tr>\n"
            }
            html += "</table>\n"
        }
        html += "<h2>Retention records</h2>\n"
        if report.retention.isEmpty {
            html += "<p>No snapshot has been removed under a retention policy.</p>\n"
        } else {
            html += "<table><tr><th>Time (UTC)</th><th>Host</th><th>Policy</th><th>Snapshots removed</th></tr>\n"
            for row in report.retention.reversed() {
                html += "<tr><td>\(escape(row.time))</td><td>\(escape(row.host))</td><td>\(escape(row.policy))</td>"
                html += "<td class=\"mono\">\(row.removed.count): \(escape(row.removed.map { String($0.prefix(8)) }.joined(separator: ", ")))</td></tr>\n"
            }
            html += "</table>\n"
        }
        html += "<p style=\"color:#666;font-size:.8rem\">Produced by planvault audit with the repository's public key only; no plan was readable to produce it.</p>\n</body></html>\n"
        return html
    }

    static func controlList(_ ids: [String]) -> String {
        "<span class=\"controls\">NIST SP 800-53 Rev. 5: \(escape(ids.joined(separator: ", ")))</span>"
    }

    static func age(_ seconds: Int?) -> String { seconds.map { DurationWords.text(Double($0)) } ?? "—" }

    static func criteria(_ report: AuditReport) -> String {
        guard !report.criteria.isEmpty else { return "<h2>Criteria applied</h2>\n<p>None: integrity only.</p>\n" }
        var html = "<h2>Criteria applied</h2>\n<table id=\"criteria\"><tr><th>Criterion</th><th>Newest record (UTC)</th><th>Age</th><th>Result</th><th>Controls</th></tr>\n"
        for c in report.criteria {
            html += "<tr><td>\(escape(c.requirement))</td><td>\(escape(c.last ?? "none"))</td><td>\(age(c.ageSeconds))</td>"
            html += "<td class=\"\(c.met ? "met" : "notmet")\">\(c.met ? "met" : "NOT MET")</td><td>\(escape(c.controls.joined(separator: ", ")))</td></tr>\n"
        }
        return html + "</table>\n"
    }

    static func evidence(_ r: AuditReport) -> String {
        let s = r.remoteStorage, t = r.annualTest, k = r.keptCurrent
        var html = "<h2>Evidence per policy item</h2>\n<h3>Remote storage</h3>\n<p>\(controlList(s.controls))</p>\n<dl>\n"
        html += "<dt>Target</dt><dd class=\"mono\">\(escape(s.target))</dd>\n"
        html += "<dt>Objects</dt><dd>\(s.objectsPresent) of \(s.objectsNeeded) needed present with their signed sizes\(r.readData ? "; \(s.objectsHashed) hashed to their names" : "")</dd>\n"
        html += "<dt>Object Lock / append-only</dt><dd>\(escape(s.immutability))</dd>\n<dt>Encryption</dt><dd>\(escape(s.encryption))</dd>\n</dl>\n"
        html += "<h3>Annual test</h3>\n<p>\(controlList(t.controls))</p>\n<dl>\n"
        html += "<dt>Last restore drill</dt><dd>\(escape(t.lastDrill ?? "never"))\(t.drillResult.map { ": \(escape($0))" } ?? "")\(t.drillAgeSeconds.map { " (\(age($0)) ago)" } ?? "")</dd>\n"
        if let detail = t.drillDetail, !detail.isEmpty { html += "<dt>Drill</dt><dd>\(escape(detail))</dd>\n" }
        if let compared = t.compared {
            html += "<dt>Sample</dt><dd>\(t.sampled ?? 0) file(s) drawn at random; \(compared) compared with their sources at the primary site; \(t.matched ?? 0) matched</dd>\n"
        }
        html += "<dt>Drills recorded</dt><dd>\(t.drills)</dd>\n"
        html += "<dt>Last verification</dt><dd>\(escape(t.lastVerification ?? "never"))\(t.verificationResult.map { ": \(escape($0))" } ?? "")\(t.verificationAgeSeconds.map { " (\(age($0)) ago)" } ?? "")</dd>\n</dl>\n"
        html += "<h3>Kept current</h3>\n<p>\(controlList(k.controls))</p>\n<dl>\n"
        html += "<dt>Newest copy</dt><dd>\(escape(k.newestCopy ?? "none"))\(k.ageSeconds.map { " (\(age($0)) old)" } ?? "")</dd>\n</dl>\n"
        if !k.sourceSets.isEmpty {
            html += "<table><tr><th>Sources</th><th>Files</th><th>Bytes</th><th>Plans last changed (UTC)</th><th>Changes in 365 days</th><th>Pushes</th></tr>\n"
            for row in k.sourceSets {
                html += "<tr><td>\(escape(row.sourceSet))</td><td class=\"num\">\(row.files)</td><td class=\"num\">\(row.bytes)</td><td>\(escape(row.lastChanged))</td>"
                html += "<td class=\"num\">\(row.changesLastYear)</td><td class=\"num\">\(row.pushes)</td></tr>\n"
            }
            html += "</table>\n<p class=\"controls\">A change is a push whose file or byte count differs from the push before it (the records name no file).</p>\n"
        }
        if let previous = r.previousReport {
            html += "<h3>Rollback evidence</h3>\n<p>The report of \(escape(previous.checkedAt)) (\(escape(previous.file))) saw record \(previous.head.sequence) (\(escape(previous.head.time))): "
            html += previous.extended ? "today's chain extends it.</p>\n" : "<span class=\"notmet\">today's chain does not extend it</span>.</p>\n"
        }
        return html
    }

    static func controls(_ r: AuditReport) -> String {
        var html = "<h2>NIST SP 800-53 Rev. 5 controls</h2>\n<table id=\"controls\"><tr><th>Control</th><th>Evidence</th><th>Status</th></tr>\n"
        for c in r.controls {
            html += "<tr><td><b>\(escape(c.id))</b> \(escape(c.title))</td><td>\(escape(c.evidence))</td>"
            html += "<td class=\"\(c.satisfied ? "met" : "notmet")\">\(c.satisfied ? "satisfied" : "NOT SATISFIED")</td></tr>\n"
        }
        return html + "</table>\n"
    }

    /// A bar chart of pushes per day from the first attested copy to the audit day (at least two
    /// weeks, at most the last 92 days). Days without a copy since the first one are marked red.
    static func chart(_ perDay: [(day: String, count: Int)], until auditDay: String) -> String {
        let width = 1000, height = 220, left = 40, bottom = 30
        guard let firstDay = perDay.first.flatMap({ day($0.day) }), let lastPush = perDay.last.flatMap({ day($0.day) }) else {
            return "<svg id=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"60\"><text x=\"10\" y=\"35\">No replications attested.</text></svg>"
        }
        let lastDay = max(lastPush, day(auditDay) ?? lastPush)
        let start = max(min(firstDay, lastDay.addingTimeInterval(-13 * 86400)), lastDay.addingTimeInterval(-91 * 86400))
        let days = Int((lastDay.timeIntervalSince(start) / 86400).rounded()) + 1
        let counts = Dictionary(perDay.map { ($0.day, $0.count) }, uniquingKeysWith: +)
        let peak = max(1, counts.values.max() ?? 1)
        let slot = Double(width - left - 10) / Double(days)
        var svg = "<svg id=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" preserveAspectRatio=\"xMinYMin meet\" role=\"img\" aria-label=\"Replications per day\">"
        svg += "<line x1=\"\(left)\" y1=\"\(height - bottom)\" x2=\"\(width - 5)\" y2=\"\(height - bottom)\" stroke=\"#888\"/>"
        svg += "<text x=\"4\" y=\"20\" font-size=\"12\">\(peak)</text><text x=\"4\" y=\"\(height - bottom)\" font-size=\"12\">0</text>"
        for i in 0..<days {
            let date = start.addingTimeInterval(Double(i) * 86400)
            let key = label(date)
            let count = counts[key] ?? 0
            let barHeight = Double(height - bottom - 20) * Double(count) / Double(peak)
            let x = Double(left) + Double(i) * slot + 1
            if count > 0 {
                svg += String(format: "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#1f6feb\"><title>%@: %d</title></rect>",
                              x, Double(height - bottom) - barHeight, max(1, slot - 2), barHeight, key, count)
            } else if date >= firstDay {
                svg += String(format: "<rect class=\"gap\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"3\" fill=\"#d93025\"><title>%@: none</title></rect>",
                              x, height - bottom - 3, max(1, slot - 2), key)
            }
            if i == 0 || i == days - 1 || (days > 14 && i % 7 == 0) {
                svg += String(format: "<text x=\"%.1f\" y=\"%d\" font-size=\"11\">%@</text>", x, height - 10, String(key.suffix(5)))
            }
        }
        return svg + "</svg>"
    }

    private static func day(_ text: String) -> Date? {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd"
        return f.date(from: text)
    }

    private static func label(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd"
        return f.string(from: date)
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
