import Foundation
public import Logging
import SystemIO
import SystemPackage

/// Test-only fault injection for the daemon's file input and output, configured by the
/// environment variable `PIXELRNND_FAULTS` (nothing is injected when it is unset or empty):
///
///     PIXELRNND_FAULTS="renameat2:EIO:2:outbox,fsync:ENOSPC:1"
///
/// Each comma-separated rule is `CALL:ERRNO:COUNT[:PATH-FRAGMENT]`: the next COUNT calls of
/// the system call CALL (as named in errors: `write`, `fsync`, `rename`, `renameat2`,
/// `open`, `mkdir`…; see `FaultHook.calls`) whose path contains PATH-FRAGMENT fail with
/// ERRNO (`EIO`, `ENOSPC`, `EROFS`, `ENOENT`, `EACCES`, `EDQUOT`, `ENOSYS`, `EINVAL` or a
/// number) instead of running. COUNT `*` fails every call. This type parses the rules; they
/// are armed in the SystemIO module's `FaultHook`, through which the file operations of
/// every module go — the spool's, and the image, model and job-output files of the Imaging,
/// PixelRNN and Completion modules — so the daemon sees exactly what a real failure of
/// that call would give it. Each one is logged (`msg="injected fault" call=… errno=…
/// path=…`) so that a test can tell that its fault fired. A rule that does not parse is
/// an error at start.
public enum FaultInjection {
    /// The errno names a rule may use (or a positive number).
    static let errnoNames: [String: Errno] = [
        "EIO": .ioError, "ENOSPC": .noSpace, "EROFS": .readOnlyFileSystem, "ENOENT": .noSuchFileOrDirectory,
        "EACCES": .permissionDenied, "EDQUOT": .diskQuotaExceeded, "ENOSYS": .noFunction, "EINVAL": .invalidArgument,
    ]

    /// Reads `PIXELRNND_FAULTS` and arms its rules; call once at start, after logging is set up.
    /// - Parameter logger: where each injected failure is logged.
    /// - Throws: ``SpoolError/configuration(_:)`` naming the first rule that does not parse.
    public static func configureFromEnvironment(logger: Logger) throws {
        let text = ProcessInfo.processInfo.environment["PIXELRNND_FAULTS"] ?? ""
        let parsed = try parse(text)
        FaultHook.install(parsed) { rule, path in
            logger.warning("injected fault", metadata: [
                "call": "\(rule.call)", "errno": "\(rule.errnoName)", "path": "\(path)",
            ])
        }
        if !parsed.isEmpty {
            logger.warning("fault injection enabled", metadata: ["rules": "\(text)"])
        }
    }

    /// The rules of a `PIXELRNND_FAULTS` value; empty text gives none.
    /// - Throws: ``SpoolError/configuration(_:)`` naming the first rule that does not parse.
    static func parse(_ text: String) throws -> [FaultHook.Rule] {
        guard !text.isEmpty else { return [] }
        return try text.split(separator: ",", omittingEmptySubsequences: false).enumerated().map { index, item in
            func bad(_ why: String) -> SpoolError {
                .configuration(
                    "PIXELRNND_FAULTS rule \(index + 1) '\(item)': \(why); a rule is CALL:ERRNO:COUNT[:PATH-FRAGMENT]")
            }
            let parts = item.split(separator: ":", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
            guard parts.count >= 3 else { throw bad("it has \(parts.count) of the 3 required fields") }
            let calls = FaultHook.calls
            guard calls.contains(parts[0]) else {
                throw bad("'\(parts[0])' is not a call that can fail here (\(calls.sorted().joined(separator: ", ")))")
            }
            let number = Int32(parts[1]).flatMap { $0 > 0 ? Errno(rawValue: $0) : nil }
            guard let code = errnoNames[parts[1]] ?? number else {
                let names = errnoNames.keys.sorted().joined(separator: ", ")
                throw bad("'\(parts[1])' is not an errno (\(names) or a positive number)")
            }
            let remaining: Int?
            if parts[2] == "*" {
                remaining = nil
            } else if let count = Int(parts[2]), count > 0 {
                remaining = count
            } else {
                throw bad("the count '\(parts[2])' is neither a positive integer nor *")
            }
            return FaultHook.Rule(call: parts[0], errnoName: parts[1], errno: code, remaining: remaining,
                                  fragment: parts.count > 3 ? parts[3] : "")
        }
    }
}
