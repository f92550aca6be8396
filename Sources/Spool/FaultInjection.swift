import Foundation
import SystemPackage

/// Test-only fault injection for the spool's file layer, configured by the environment
/// variable `PIXELRNND_FAULTS` (ignored when unset):
///
///     PIXELRNND_FAULTS="renameat2:EIO:2:outbox,fsync:ENOSPC:1"
///
/// Each comma-separated rule is `CALL:ERRNO:COUNT[:PATH-FRAGMENT]`: the next COUNT calls of
/// the system call CALL (as named in errors: `write`, `fsync`, `rename`, `renameat2`,
/// `open`, `mkdir`…) whose path contains PATH-FRAGMENT fail with ERRNO (`EIO`, `ENOSPC`,
/// `EROFS`, `ENOENT`, `EACCES` or a number) instead of running. COUNT `*` fails every call.
/// Every failure goes through `Syscall`, so the daemon sees exactly what a real failure
/// of that call would give it.
enum FaultInjection {
    struct Rule {
        var call: String
        var errno: Errno
        var remaining: Int?  // nil = forever
        var fragment: String
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var rules: [Rule] = parse(ProcessInfo.processInfo.environment["PIXELRNND_FAULTS"] ?? "")

    static func parse(_ text: String) -> [Rule] {
        let names: [String: Errno] = [
            "EIO": .ioError, "ENOSPC": .noSpace, "EROFS": .readOnlyFileSystem, "ENOENT": .noSuchFileOrDirectory,
            "EACCES": .permissionDenied, "EDQUOT": .diskQuotaExceeded,
        ]
        return text.split(separator: ",").compactMap { item in
            let parts = item.split(separator: ":", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
            guard parts.count >= 3, !parts[0].isEmpty else { return nil }
            guard let code = names[parts[1]] ?? Int32(parts[1]).map({ Errno(rawValue: $0) }) else { return nil }
            let remaining: Int? = parts[2] == "*" ? nil : Int(parts[2])
            guard parts[2] == "*" || remaining != nil else { return nil }
            return Rule(call: parts[0], errno: code, remaining: remaining, fragment: parts.count > 3 ? parts[3] : "")
        }
    }

    /// The injected error for this call, if a rule matches (and uses up one of its count).
    static func failure(call: String, path: FilePath) -> Errno? {
        lock.lock()
        defer { lock.unlock() }
        guard !rules.isEmpty else { return nil }
        let text = path.string
        for i in rules.indices where rules[i].call == call && (rules[i].fragment.isEmpty || text.contains(rules[i].fragment)) {
            if let left = rules[i].remaining {
                guard left > 0 else { continue }
                rules[i].remaining = left - 1
            }
            return rules[i].errno
        }
        return nil
    }
}
