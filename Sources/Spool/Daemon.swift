import Dispatch
import Foundation
import SystemIO
public import Logging
public import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The spool daemon: watches `inbox/`, claims jobs into `work/`, runs them through a
/// ``JobProcessor`` on a bounded number of workers, publishes results to `outbox/` or
/// `failed/`, and keeps `status.json` current.
///
/// The work is split by concern: ``InboxPlanner`` decides from a listing of `inbox/` what to
/// claim (no I/O); ``WorkFolders`` claims, returns and recovers jobs in `work/`;
/// ``JobPublisher`` runs a job and publishes its result; ``DaemonLoop`` is the event loop
/// on the control queue, with its life cycle in one ``LoopState``.
public final class Daemon: Sendable {
    /// The version shown in the status file.
    public static let version = "0.1.0"
    /// Seconds the process waits, after a drain, for cancelled jobs' processing to stop.
    static let runnerGrace = 10.0

    private let launch: DaemonLaunch

    /// Creates a daemon; nothing happens until ``run()``.
    /// - Parameters:
    ///   - configuration: the loaded configuration.
    ///   - configurationFile: the file it came from, re-read on SIGHUP (`nil`: defaults only).
    ///   - overrides: the command-line `(key, value)` pairs, re-applied on SIGHUP.
    ///   - watcher: the process's inotify owner (initialised first thing in `main`).
    ///   - loader: builds the job processor from configuration, at start and on SIGHUP.
    ///   - logger: where every event is logged.
    public init(configuration: DaemonConfiguration, configurationFile: FilePath?, overrides: [(String, String)],
                watcher: InotifyWatcher, loader: @escaping JobProcessorLoader, logger: Logger) {
        launch = DaemonLaunch(configuration: configuration, configurationFile: configurationFile, overrides: overrides,
                              watcher: watcher, loader: loader, logger: logger)
    }

    /// Runs the daemon until SIGTERM or SIGINT has drained it.
    /// - Returns: the process exit status (0 after a clean drain).
    /// - Throws: a ``SpoolError`` when the daemon cannot start (folders, model, watcher).
    public func run() throws -> Int32 {
        let c = launch.configuration, loader = launch.loader, logger = launch.logger
        for folder in [c.spool, c.inbox, c.work, c.outbox, c.failed, c.masks, c.leases, c.state] {
            try FS.makeDirectory(folder, allowExisting: true)
        }
        // inotify sees only this kernel's changes: on a file system that other hosts
        // write, new files are found by listing inbox/ every poll_interval.
        var launch = launch
        let kind = try? Host.fileSystemKind(c.inbox)
        launch.fileSystem = kind?.name ?? "unknown"
        launch.watchMode = c.watch.resolved(sharedFileSystem: kind?.isShared ?? false)
        logger.info("watching inbox", metadata: [
            "watch": "\(launch.watchMode.rawValue)", "configured": "\(c.watch.rawValue)", "file_system": "\(launch.fileSystem)",
            "poll_interval": "\(launch.watchMode == .poll ? InboxPlanner.format(c.pollInterval) : "none")",
        ])
        let loop = DaemonLoop(launch: launch)
        loop.sync { $0.writeStatusNow() }
        // The model loads on this thread, not on the control queue (which has nothing to do
        // yet); a SIGHUP's load runs on the loop's loading queue.
        let processor: any JobProcessor
        do {
            processor = try loader(c)
        } catch {
            loop.sync { $0.startFailed(error) }
            throw error
        }
        for identity in processor.modelIdentities { logger.info("model loaded", metadata: identity.logMetadata) }
        signal(SIGPIPE, SIG_IGN)
        signal(SIGIO, SIG_IGN)  // lease breaks would otherwise kill us
        loop.sync { $0.installSignalHandlers() }
        if launch.watchMode == .inotify {
            try launch.watcher.start(watching: c.inbox, logger: logger, handler: loop.eventHandler())
        }
        loop.sync { $0.begin(processor: processor) }
        loop.stopped.wait()
        // Runners of jobs the drain returned were cancelled; the process must not end
        // under them (exit tears down state they still use).
        if loop.runners.wait(timeout: .now() + Self.runnerGrace) == .timedOut {
            logger.warning("a returned job's processing did not stop in time; exiting anyway",
                           metadata: ["grace_seconds": "\(Self.runnerGrace)"])
        }
        return loop.sync { $0.exitCode }
    }
}

extension Daemon {
    /// What one poll of `inbox/` costs: the listing (`readdir` and an `lstat` per name) and
    /// the planner's pass over it, claiming nothing, `repetitions` times.
    /// - Returns: the number of names listed, and for each repetition the seconds the
    ///   listing took and the seconds the planning took.
    public static func measureInboxListing(configuration c: DaemonConfiguration, repetitions: Int)
        throws -> (names: Int, listing: [Double], planning: [Double]) {
        var planner = InboxPlanner(settle: c.settle, maskWait: c.maskWait, defaultMask: c.mask)
        var listing: [Double] = [], planning: [Double] = []
        var names = 0
        for _ in 0..<max(1, repetitions) {
            let start = DaemonLoop.monotonic()
            let entries = try DaemonLoop.listing(of: c.inbox)
            let listed = DaemonLoop.monotonic()
            let now = Date().timeIntervalSince1970
            _ = planner.plan(entries, now: now, claiming: .paused(until: now + 5))
            listing.append(listed - start)
            planning.append(DaemonLoop.monotonic() - listed)
            names = entries.count
        }
        return (names, listing, planning)
    }
}

/// What a daemon is started with, handed from ``Daemon`` to its ``DaemonLoop``.
struct DaemonLaunch: Sendable {
    var configuration: DaemonConfiguration
    var configurationFile: FilePath?
    var overrides: [(String, String)]
    var watcher: InotifyWatcher
    var loader: JobProcessorLoader
    var logger: Logger
    /// How new inbox files are noticed, decided at start (`watch`, resolved for the spool's
    /// file system).
    var watchMode = WatchMode.inotify
    /// The spool's file system, as `statfs` names it.
    var fileSystem = "unknown"
}
