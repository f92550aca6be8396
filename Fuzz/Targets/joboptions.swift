// libFuzzer target: the sidecar NAME.json -> JobOptions(contentsOf:defaults:).
// JobOptions reads a path, so each input is written to a per-process scratch file.
import Foundation
import Spool
import SystemPackage

nonisolated(unsafe) var scratchPath: FilePath? = nil

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJobOptions(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    if scratchPath == nil {
        let dir = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        scratchPath = FilePath("\(dir)/fuzz-joboptions-\(getpid()).json")
    }
    let path = scratchPath!
    let bytes = data.map { Data(bytes: $0, count: size) } ?? Data()
    guard FileManager.default.createFile(atPath: path.string, contents: bytes) else { return 0 }
    _ = try? JobOptions(contentsOf: path, defaults: DaemonConfiguration())
    return 0
}
