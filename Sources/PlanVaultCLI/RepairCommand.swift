import ArgumentParser
import Foundation
import PlanVaultCore

struct RepairCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repair-index",
        abstract: "Rebuild the index from the bundles' own headers.",
        discussion: """
        Writes a new index file for every bundle that no readable index file names (after a damaged or lost \
        index file, or a push killed before its index). With --remove-damaged, index files that fail \
        authentication are deleted afterwards (needs a credential that may delete).
        """ + HelpLayout.examples("planvault repair-index", "planvault repair-index --remove-damaged"))

    @OptionGroup(title: "Repository and global options") var global: GlobalOptions

    @Flag(help: "Delete index files that are damaged, once the new index covers their bundles.")
    var removeDamaged = false

    func run() async throws {
        try await guarded {
            let context = try Context(global)
            // A cached intact copy would hide the damaged index file at the target.
            let writer = try await context.openWriter(cached: false)
            let load = try await writer.repository.loadIndex()
            let missing = try await writer.repository.unindexedBundles(index: load.index)
            if missing.isEmpty {
                Output.line("every bundle is indexed")
            } else {
                let saved = try await writer.saveIndexFiles(missing)
                Output.line("indexed \(missing.count) bundle(s) (\(missing.reduce(0) { $0 + $1.entries.count }) chunks) in index file\(saved.count == 1 ? "" : "s") \(saved.map { String($0.prefix(8)) }.joined(separator: ", "))")
            }
            for (name, _) in load.damaged {
                if removeDamaged {
                    try await writer.backend.delete(.index, name: name)
                    Output.line("removed damaged index file \(name.prefix(8))")
                } else {
                    Output.line("damaged index file \(name.prefix(8)) left in place (its bundles are now indexed again; --remove-damaged deletes it)")
                }
            }
            for id in try await AttestationLog.reattestStale(writer: writer) {
                Output.line("re-attested snapshot \(id.prefix(8)) with the index files it now uses")
            }
        }
    }
}
