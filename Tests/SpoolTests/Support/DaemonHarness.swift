import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A `pixelrnnd` binary run on a temporary spool, with helpers to drop files and poll.
final class DaemonHarness: @unchecked Sendable {
    let directory: TemporaryDirectory
    var root: URL { directory.url }
    var spool: URL { sharedSpool.map { URL(fileURLWithPath: $0) } ?? root.appendingPathComponent("spool") }
    var inbox: URL { spool.appendingPathComponent("inbox") }
    var outbox: URL { spool.appendingPathComponent("outbox") }
    var failed: URL { spool.appendingPathComponent("failed") }
    var work: URL { spool.appendingPathComponent("work") }
    var state: URL { root.appendingPathComponent("state") }
    var configFile: URL { root.appendingPathComponent("pixelrnnd.conf") }
    var logFile: URL { root.appendingPathComponent("daemon.log") }
    private(set) var process: Process?
    /// Set by `init(sharingSpoolOf:)`: the other daemon's spool, which this one's config names.
    private var sharedSpool: String?
    /// Extra environment variables for the daemon.
    var environment: [String: String] = [:]
    /// The job processor: `validate` (fast, checks inputs only) or `pixelrnn` (the model).
    var processor = "validate"

    /// Settings that make tests fast; override per test.
    static let fastSettings: [String: String] = [
        "settle": "0.3", "rescan_interval": "0.5", "status_interval": "0.5", "mask_wait": "1",
        "drain_timeout": "10", "min_free_bytes": "0", "max_attempts": "3",
        "transient_backoff_initial": "0.1", "transient_backoff_max": "1",
    ]

    init(settings: [String: String] = [:]) throws {
        directory = try TemporaryDirectory(prefix: "pixelrnnd-spool")
        try writeConfig(settings)
    }

    /// A second daemon on `other`'s spool, with a state folder and log of its own.
    init(sharingSpoolOf other: DaemonHarness, settings: [String: String] = [:]) throws {
        directory = try TemporaryDirectory(prefix: "pixelrnnd-second")
        sharedSpool = other.spool.path
        try writeConfig(settings)
    }

    /// The built `pixelrnnd`, next to the test bundle in the build products folder.
    static var binary: URL {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var folder = bundle.deletingLastPathComponent()
        // On some runners the test binary sits inside an `.xctest` folder.
        while folder.pathExtension == "xctest" || folder.lastPathComponent == "MacOS" || folder.lastPathComponent == "Contents" {
            folder.deleteLastPathComponent()
        }
        return folder.appendingPathComponent("pixelrnnd")
    }

    func writeConfig(_ settings: [String: String]) throws {
        var all = Self.fastSettings
        all["spool"] = spool.path
        all["state"] = state.path
        for (k, v) in settings { all[k] = v }
        let text = "# test configuration\n" + all.sorted { $0.key < $1.key }.map { "\($0.key) = \($0.value)" }.joined(separator: "\n") + "\n"
        try text.write(to: configFile, atomically: true, encoding: .utf8)
    }

    /// Starts the daemon and waits until its status says `ready`.
    func start(_ extraArguments: [String] = [], waitForReady: Bool = true) throws {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = ["--config", configFile.path, "--processor", processor] + extraArguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        if !FileManager.default.fileExists(atPath: logFile.path) {
            _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        }
        let log = try FileHandle(forWritingTo: logFile)
        log.seekToEndOfFile()
        process.standardError = log
        process.standardOutput = log
        try process.run()
        self.process = process
        if waitForReady {
            try eventually(30, "daemon ready") { (try? status())?["state"] as? String == "ready" && (try? status())?["pid"] as? Int == Int(process.processIdentifier) }
        }
    }

    /// Sends a signal to the daemon.
    func signal(_ sig: Int32) {
        guard let process else { return }
        kill(process.processIdentifier, sig)
    }

    /// The daemon's pid, while it runs.
    var pid: Int? { process.map { Int($0.processIdentifier) } }

    /// Whether the daemon process is alive.
    var isRunning: Bool { process?.isRunning ?? false }

    /// Forgets a daemon that has exited on its own (it died), returning its termination status.
    func reap() -> Int32? {
        guard let process, !process.isRunning else { return nil }
        self.process = nil
        return process.terminationStatus
    }

    /// Waits for the daemon to exit and returns its status.
    func waitForExit(timeout: Double) throws -> Int32 {
        guard let process else { return -1 }
        try eventually(timeout, "daemon exit") { !process.isRunning }
        self.process = nil
        return process.terminationStatus
    }

    func stop() {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    deinit { stop() }

    // MARK: Files

    /// Writes a file into the inbox directly (creates, writes, closes: `IN_CLOSE_WRITE`).
    func drop(_ name: String, _ bytes: [UInt8]) throws {
        try Data(bytes).write(to: inbox.appendingPathComponent(name))
    }

    /// Writes a dot-file and renames it in (`IN_MOVED_TO`).
    func dropAtomically(_ name: String, _ bytes: [UInt8]) throws {
        let temporary = inbox.appendingPathComponent(".\(name).tmp")
        try Data(bytes).write(to: temporary)
        #expect(rename(temporary.path, inbox.appendingPathComponent(name).path) == 0)
    }

    func names(_ folder: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    func hiddenNames(_ folder: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { $0.hasPrefix(".") }.sorted()
    }

    func status() throws -> [String: Any] {
        let data = try Data(contentsOf: state.appendingPathComponent("status.json"))
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw HarnessError.failed("status.json is not a JSON object")
        }
        return object
    }

    func jobs() -> [String: Int] {
        ((try? status())?["jobs"] as? [String: Any])?.compactMapValues { $0 as? Int } ?? [:]
    }

    func errorReason(_ name: String) throws -> String {
        let data = try Data(contentsOf: failed.appendingPathComponent(name).appendingPathComponent("error.json"))
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        return object?["reason"] as? String ?? ""
    }

    var log: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    // MARK: Polling

    /// Polls `condition` every 50 ms until it holds; fails the test after `timeout` seconds.
    func eventually(_ timeout: Double, _ what: String, sourceLocation: SourceLocation = #_sourceLocation,
                    _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return }
            usleep(50_000)
        }
        if try condition() { return }
        let tail = log.split(separator: "\n").suffix(15).joined(separator: "\n")
        Issue.record("timed out after \(timeout) s waiting for: \(what)\ninbox=\(names(inbox)) work=\(names(work)) outbox=\(names(outbox).count) failed=\(names(failed))\nlog tail:\n\(tail)", sourceLocation: sourceLocation)
        throw HarnessError.failed("timed out waiting for \(what)")
    }
}

enum HarnessError: Error {
    case failed(String)
}
