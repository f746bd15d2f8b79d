// libFuzzer entry for the parsers in PlanVaultHTTP. PLANVAULT_FUZZ_TARGET picks the parser
// (see HTTPTargets.all); PLANVAULT_FUZZ_SEEDS=DIR writes seed inputs made by the real writers
// into DIR/<target>/ and exits. Built only by scripts/fuzz.sh (debug, --sanitize=fuzzer).
import Foundation


nonisolated(unsafe) private var selected: HTTPTargets.Target?

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    let environment = ProcessInfo.processInfo.environment
    if let dir = environment["PLANVAULT_FUZZ_SEEDS"] {
        do {
            try HTTPTargets.writeSeeds(to: dir)
            exit(0)
        } catch {
            FileHandle.standardError.write(Data("PlanVaultHTTPFuzz: writing seeds failed: \(error)\n".utf8))
            exit(1)
        }
    }
    let name = environment["PLANVAULT_FUZZ_TARGET"] ?? ""
    guard let target = HTTPTargets.all[name] else {
        FileHandle.standardError.write(Data("PlanVaultHTTPFuzz: set PLANVAULT_FUZZ_TARGET to one of: \(HTTPTargets.all.keys.sorted().joined(separator: ", "))\n".utf8))
        exit(2)
    }
    selected = target
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    selected?(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
