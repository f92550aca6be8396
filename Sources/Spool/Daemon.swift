import Dispatch
import Foundation
import Logging
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The spool daemon: watches `inbox/`, claims jobs into `work/`, runs them through a
/// ``JobProcessor`` on a bounded number of workers, publishes results to `outbox/` or
/// `failed/`, and keeps `status.json` current.
///
/// Concurrency: all of the daemon's state lives on one serial queue, `control`; jobs run on
/// a concurrent `jobs` queue, at most `workers` at a time, and report back to `control`.
/// The inotify thread and the signal sources only post to `control`.
public final class Daemon: @unchecked Sendable {
    // Thread-safety: every `var` below is confined to `control` (checked with
    // `dispatchPrecondition` at the entry points); the `let`s are immutable or Sendable.

    /// The version shown in the status file.
    public static let version = "0.1.0"

    private let control = DispatchQueue(label: "pixelrnnd.control")
    private let jobs = DispatchQueue(label: "pixelrnnd.jobs", attributes: .concurrent)
    private let configurationFile: FilePath?
    private let overrides: [(String, String)]
    private let loader: JobProcessorLoader
    private let logger: Logger
    private let watcher: InotifyWatcher
    private let notifier: SystemdNotifier
    private let finished = DispatchSemaphore(value: 0)
    private let folders: WorkFolders
    private let publisher: JobPublisher

    private var configuration: DaemonConfiguration
    private var processor: (any JobProcessor)?
    private var state = DaemonState.starting
    private let startedAt = Date()
    private let startedMonotonic = Daemon.monotonic()
    private var queued: [Job] = []
    private var running: [String: Job] = [:]
    private var statistics = JobStatistics()
    private var lastError: (message: String, at: Date)?
    private var exitCode: Int32 = 0

    /// Inbox names named by a close-after-write or rename-in event, with the event's time.
    private var closedNames: [String: Double] = [:]
    /// Job names whose image waits for a mask (or whose mask waits for an image), since when.
    private var waitingSince: [String: Double] = [:]
    /// What a PNG's header said about alpha, by name, valid while inode/size/mtime match.
    private var alphaCache: [String: (inode: UInt64, size: Int64, modified: Double, alpha: Bool?)] = [:]
    private var inboxWaiting = 0
    /// Jobs waiting out ``JobPublisher/retryDelay`` after a transient failure (they stay in work/).
    private var retryWaiting = 0
    private var scanScheduled = false
    private var backlog = false
    private var nextWakeup: Double?
    private var lastRescan = 0.0
    private var lastStatusWrite = 0.0
    private var lastWatchdog = 0.0
    private var statusScheduled = false
    private var lowDiskLogged = false
    private var timers: [any DispatchSourceTimer] = []
    private var signalSources: [any DispatchSourceSignal] = []
    private var tokenCounter = 0

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
        self.configuration = configuration
        self.configurationFile = configurationFile
        self.overrides = overrides
        self.watcher = watcher
        self.loader = loader
        self.logger = logger
        self.notifier = SystemdNotifier()
        folders = WorkFolders(configuration: configuration, logger: logger)
        publisher = JobPublisher(logger: logger)
    }

    /// Runs the daemon until SIGTERM or SIGINT has drained it.
    /// - Returns: the process exit status (0 after a clean drain).
    /// - Throws: a ``SpoolError`` when the daemon cannot start (folders, model, watcher).
    public func run() throws -> Int32 {
        let c = configuration
        for folder in [c.spool, c.inbox, c.work, c.outbox, c.failed, c.state] {
            try FS.makeDirectory(folder, allowExisting: true)
        }
        writeStatusNow()
        do {
            processor = try loader(c)
        } catch {
            record(error: "\(error)")
            state = .stopped
            writeStatusNow()
            throw error
        }
        for identity in processor?.modelIdentities ?? [] { logger.info("model loaded", metadata: identity.logMetadata) }
        signal(SIGPIPE, SIG_IGN)
        signal(SIGIO, SIG_IGN)  // lease breaks would otherwise kill us
        installSignalHandlers()
        try watcher.start(watching: c.inbox, logger: logger, handler: makeEventHandler())
        control.sync {
            recoverWork()
            state = .ready
            notify(["READY=1", "STATUS=ready; watching \(configuration.inbox)", "MAINPID=\(getpid())"])
            logger.info("ready", metadata: ["spool": "\(configuration.spool)", "workers": "\(configuration.workers)", "pid": "\(getpid())"])
            scan()
            schedule()
            writeStatusNow()
            startTimers()
        }
        finished.wait()
        return control.sync { exitCode }
    }

    // MARK: - Events, signals and timers (closures built here, off the main actor)

    private func makeEventHandler() -> @Sendable (InotifyEvent) -> Void {
        { [self] event in control.async { self.handle(event) } }
    }

    private func handle(_ event: InotifyEvent) {
        dispatchPrecondition(condition: .onQueue(control))
        switch event {
        case let .file(name):
            closedNames[name] = Date().timeIntervalSince1970
            requestScan()
        case .overflow:
            logger.warning("inotify queue overflowed; rescanning inbox")
            requestScan()
        case let .failed(message):
            record(error: "inbox watcher stopped: \(message); relying on periodic rescans")
            logger.error("inbox watcher stopped", metadata: ["reason": "\(message)"])
        }
    }

    private func installSignalHandlers() {
        for sig in [SIGTERM, SIGINT, SIGHUP] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: control)
            source.setEventHandler(handler: makeSignalHandler(sig))
            source.resume()
            signalSources.append(source)
        }
    }

    private func makeSignalHandler(_ sig: Int32) -> @Sendable () -> Void {
        { [self] in
            if sig == SIGHUP { self.reload() } else { self.beginDrain(signal: sig) }
        }
    }

    private func startTimers() {
        let tick = DispatchSource.makeTimerSource(queue: control)
        tick.schedule(deadline: .now() + 0.25, repeating: 0.25, leeway: .milliseconds(50))
        tick.setEventHandler(handler: makeTickHandler())
        tick.resume()
        timers.append(tick)
    }

    private func makeTickHandler() -> @Sendable () -> Void {
        { [self] in self.tick() }
    }

    /// The main loop's heartbeat: due scans, the status file, the watchdog.
    private func tick() {
        dispatchPrecondition(condition: .onQueue(control))
        let now = Daemon.monotonic()
        if state == .ready {
            let wall = Date().timeIntervalSince1970
            if now - lastRescan >= configuration.rescanInterval || (nextWakeup.map { wall >= $0 } ?? false) {
                requestScan()
            }
        }
        if now - lastStatusWrite >= configuration.statusInterval { writeStatusNow() }
        // The tick runs on the control queue, so a ping proves the main loop makes progress.
        if let interval = notifier.watchdogInterval, now - lastWatchdog >= min(interval / 4, 5) {
            lastWatchdog = now
            notify(["WATCHDOG=1"])
        }
    }

    // MARK: - Scanning and claiming

    private func requestScan() {
        guard !scanScheduled, state == .ready else { return }
        scanScheduled = true
        control.async { [self] in
            scanScheduled = false
            scan()
            schedule()
        }
    }

    private struct Group {
        var image: String?
        var mask: String?
        var options: String?
        var oldest = Double.infinity
        var unsettled = false
        var members: [String] { [image, mask, options].compactMap { $0 } }
    }

    /// One pass over `inbox/`: forms jobs from settled files and claims what fits.
    ///
    /// A file is *settled* when an `IN_CLOSE_WRITE`/`IN_MOVED_TO` event named it, or its last
    /// modification is `settle` seconds old; and, at claim time, the kernel confirms that no
    /// process has it open for writing (a read lease can be taken).
    private func scan() {
        dispatchPrecondition(condition: .onQueue(control))
        guard state == .ready else { return }
        lastRescan = Daemon.monotonic()
        let c = configuration
        let names: [String]
        do {
            names = try FS.list(c.inbox)
        } catch {
            record(error: "cannot read inbox: \(error)")
            return
        }
        let now = Date().timeIntervalSince1970
        var groups: [String: Group] = [:]
        var singles: [(name: String, failure: SpoolError, modified: Double)] = []
        var wakeup: Double?
        func wake(_ t: Double) { wakeup = min(wakeup ?? t, t) }
        let present = Set(names)
        for name in names where !SpoolNames.isIgnored(name) {
            guard let meta = try? FS.metadata(c.inbox.appending(name)) else { continue }
            let settled = closedNames[name] != nil || now - meta.modified >= c.settle
            let role = SpoolNames.role(of: name)
            if !settled {
                wake(meta.modified + c.settle)
                if let job = role.jobName { groups[job, default: Group()].unsettled = true }
                continue
            }
            if meta.kind != .regular {
                singles.append((name, .notARegularFile(name: name, kind: meta.kind.word), meta.modified))
                continue
            }
            switch role {
            case let .image(job):
                var g = groups[job, default: Group()]
                // Two images for one name: the first in this order wins; the other waits.
                if g.image == nil || name.lowercased().hasSuffix(".png") { g.image = name }
                g.oldest = min(g.oldest, meta.modified)
                groups[job] = g
                let cached = alphaCache[name]
                if cached == nil || cached!.inode != meta.inode || cached!.size != meta.size || cached!.modified != meta.modified {
                    // JPEG has no alpha; a PNG says so in its header.
                    let alpha = name.lowercased().hasSuffix(".png") ? pngHasAlpha(c.inbox.appending(name)) : false
                    alphaCache[name] = (meta.inode, meta.size, meta.modified, alpha)
                }
            case let .mask(job):
                groups[job, default: Group()].mask = name
                groups[job]!.oldest = min(groups[job]!.oldest, meta.modified)
            case let .options(job):
                groups[job, default: Group()].options = name
                groups[job]!.oldest = min(groups[job]!.oldest, meta.modified)
            case .unknown:
                singles.append((name, .unrecognisedName(name), meta.modified))
            }
        }
        closedNames = closedNames.filter { present.contains($0.key) }
        alphaCache = alphaCache.filter { present.contains($0.key) }
        waitingSince = waitingSince.filter { groups[$0.key] != nil }

        inboxWaiting = groups.count + singles.count
        // Every claim below leaves the inbox: keep the status's "waiting" count current.
        var claimedInThisScan = 0
        defer { inboxWaiting = max(0, groups.count + singles.count - claimedInThisScan) }
        if !diskHasRoom() {
            nextWakeup = now + 5
            return
        }
        for single in singles.sorted(by: { $0.modified < $1.modified }) {
            guard hasCapacity else { backlog = true; break }
            claim(InboxClaim(job: single.name, files: [single.name], failure: single.failure, kind: .refused))
            claimedInThisScan += 1
        }
        for (jobName, group) in groups.sorted(by: { ($0.value.oldest, $0.key) < ($1.value.oldest, $1.key) }) where !group.unsettled {
            var failure: SpoolError?
            if let image = group.image {
                if group.mask == nil, alphaCache[image]?.alpha == false {
                    let since = waitingSince[jobName] ?? now
                    waitingSince[jobName] = since
                    if now - since < c.maskWait { wake(since + c.maskWait); continue }
                    failure = .incompleteJob("'\(image)' has no alpha channel and no mask '\(jobName).mask.png' arrived within \(Self.format(c.maskWait)) s (mask_wait); nothing is marked as occluded")
                }
            } else {
                let since = waitingSince[jobName] ?? now
                waitingSince[jobName] = since
                if now - since < c.maskWait { wake(since + c.maskWait); continue }
                failure = .incompleteJob("\(group.members.joined(separator: " and ")) arrived but no image '\(jobName).png', '.jpg' or '.jpeg' within \(Self.format(c.maskWait)) s (mask_wait)")
            }
            guard hasCapacity else { backlog = true; break }
            if group.members.contains(where: { FS.isOpenForWriting(c.inbox.appending($0)) == true }) {
                wake(now + 0.5)
                continue
            }
            claim(InboxClaim(job: jobName, files: group.members, failure: failure, kind: .job))
            claimedInThisScan += 1
            waitingSince[jobName] = nil
        }
        nextWakeup = wakeup
    }

    private var hasCapacity: Bool {
        queued.count + running.count < configuration.workers + configuration.queueCapacity
    }

    private func diskHasRoom() -> Bool {
        guard configuration.minFreeBytes > 0 else { return true }
        guard let free = try? FS.freeBytes(configuration.spool) else { return true }
        if free < configuration.minFreeBytes {
            if !lowDiskLogged {
                lowDiskLogged = true
                let message = "only \(free) bytes free on the spool's file system (min_free_bytes = \(configuration.minFreeBytes)); not claiming new jobs"
                record(error: message)
                logger.error("low disk space; claiming paused", metadata: ["free_bytes": "\(free)"])
            }
            return false
        }
        if lowDiskLogged { logger.info("disk space recovered; claiming resumed") }
        lowDiskLogged = false
        return true
    }

    /// Whether a PNG's header declares transparency; `nil` when unreadable (the processor
    /// then reports why).
    private func pngHasAlpha(_ path: FilePath) -> Bool? {
        guard let bytes = try? FS.readFile(path, limit: configuration.maxBytes),
              let header = try? ImageHeader.parse(bytes) else { return nil }
        return header.hasAlpha
    }

    private func newToken() -> String {
        tokenCounter += 1
        let random = UInt64.random(in: 0 ... .max)
        return String(random, radix: 16) + "-" + String(tokenCounter)
    }

    /// Claims the files into a fresh `work/TOKEN/` (see ``WorkFolders/claim(_:token:claimedAt:)``).
    private func claim(_ claim: InboxClaim) {
        for file in claim.files {
            closedNames[file] = nil
            alphaCache[file] = nil
        }
        switch folders.claim(claim, token: newToken(), claimedAt: Daemon.monotonic()) {
        case let .claimed(job):
            queued.append(job)
            statusChanged()
        case .taken:
            break
        case let .failed(message):
            record(error: message)
        }
    }

    // MARK: - Running jobs

    private func schedule() {
        dispatchPrecondition(condition: .onQueue(control))
        guard state == .ready || state == .reloading else { return }
        while running.count < configuration.workers, !queued.isEmpty {
            let job = queued.removeFirst()
            running[job.token] = job
            job.phase.withLock { $0 = .running }
            let processor = self.processor!
            let configuration = self.configuration
            jobs.async(execute: makeJobRunner(job, processor: processor, configuration: configuration))
        }
        // Back-pressure: rescan once half the claim capacity is free, not after every job.
        if backlog, queued.count + running.count <= (configuration.workers + configuration.queueCapacity) / 2 {
            backlog = false
            requestScan()
        }
        statusChanged()
    }

    private func makeJobRunner(_ job: Job, processor: any JobProcessor, configuration: DaemonConfiguration) -> @Sendable () -> Void {
        { [self] in
            let outcome = self.publisher.run(job, processor: processor, configuration: configuration)
            self.control.async { self.jobFinished(job, outcome: outcome) }
        }
    }

    private func jobFinished(_ job: Job, outcome: JobPublisher.Outcome) {
        dispatchPrecondition(condition: .onQueue(control))
        running[job.token] = nil
        job.phase.withLock { if $0 != .returned { $0 = .finished } }
        let now = Daemon.monotonic()
        switch outcome {
        case .published:
            statistics.record(latency: now - job.claimedAt, at: now, failed: false)
        case let .failed(name, reason):
            statistics.record(latency: now - job.claimedAt, at: now, failed: true)
            record(error: "\(name): \(reason)")
        case .returned:
            break
        case let .stuck(message):
            record(error: message)
            job.unlock()
        case let .retry(message):
            record(error: message + " (will retry)")
            logger.warning("transient failure; the job stays in work/ and runs again", metadata: [
                "job": "\(job.name)", "attempts": "\(job.attempts)", "error": "\(message)",
            ])
            retryWaiting += 1
            control.asyncAfter(deadline: .now() + JobPublisher.retryDelay) { [self] in
                retryWaiting -= 1
                // While draining or stopped the job simply stays in work/ for the next start.
                guard state == .ready || state == .reloading else { return }
                job.phase.withLock { $0 = .queued }
                queued.append(job)
                schedule()
            }
        }
        if state == .draining {
            if running.isEmpty { finishDrain() }
            return
        }
        schedule()
        statusChanged()
    }

    // MARK: - Recovery

    /// Returns the jobs left in `work/` by a previous run to the queue (see ``WorkFolders/recover(claimedAt:)``).
    private func recoverWork() {
        let recovery = folders.recover(claimedAt: Daemon.monotonic())
        for message in recovery.errors { record(error: message) }
        queued += recovery.jobs
    }

    // MARK: - Reload and drain

    private func reload() {
        dispatchPrecondition(condition: .onQueue(control))
        guard state == .ready else { return }
        state = .reloading
        notify(["RELOADING=1", "STATUS=reloading configuration and model"])
        writeStatusNow()
        logger.info("reloading")
        do {
            var next = try DaemonConfiguration.load(file: configurationFile, overrides: overrides)
            if next.spool != configuration.spool || next.state != configuration.state {
                logger.warning("spool and state folders cannot change on reload; keeping the old ones")
                next.spool = configuration.spool
                next.state = configuration.state
            }
            next.debugJobDelayMilliseconds = configuration.debugJobDelayMilliseconds
            let loaded = try loader(next)
            configuration = next
            processor = loaded
            for identity in loaded.modelIdentities { logger.info("reloaded", metadata: identity.logMetadata) }
        } catch {
            record(error: "reload failed, keeping the previous configuration and model: \(error)")
            logger.error("reload failed; keeping the previous configuration and model", metadata: ["error": "\(error)"])
        }
        state = .ready
        notify(["READY=1", "STATUS=ready"])
        writeStatusNow()
        requestScan()
        schedule()
    }

    private func beginDrain(signal sig: Int32) {
        dispatchPrecondition(condition: .onQueue(control))
        guard state == .ready || state == .reloading else { return }
        state = .draining
        logger.info("draining", metadata: ["signal": "\(sig)", "in_flight": "\(running.count)", "queued": "\(queued.count)"])
        notify(["STOPPING=1", "STATUS=draining \(running.count) jobs"])
        for job in queued { folders.returnToInbox(job) }
        queued.removeAll()
        writeStatusNow()
        if running.isEmpty {
            finishDrain()
            return
        }
        let timer = DispatchSource.makeTimerSource(queue: control)
        timer.schedule(deadline: .now() + configuration.drainTimeout)
        timer.setEventHandler(handler: makeDrainDeadlineHandler())
        timer.resume()
        timers.append(timer)
    }

    private func makeDrainDeadlineHandler() -> @Sendable () -> Void {
        { [self] in self.drainDeadline() }
    }

    private func drainDeadline() {
        dispatchPrecondition(condition: .onQueue(control))
        guard state == .draining else { return }
        for job in running.values {
            let returned = job.phase.withLock { phase -> Bool in
                guard phase == .running else { return false }
                phase = .returned
                return true
            }
            if returned {
                folders.returnToInbox(job)
                running[job.token] = nil
            }
        }
        // Jobs already publishing finish (a few fsyncs) and call `jobFinished`.
        if running.isEmpty { finishDrain() }
    }

    private func finishDrain() {
        dispatchPrecondition(condition: .onQueue(control))
        guard state == .draining else { return }
        for timer in timers { timer.cancel() }
        watcher.stop()
        state = .stopped
        writeStatusNow()
        logger.info("stopped", metadata: ["done": "\(statistics.done)", "failed": "\(statistics.failed)"])
        exitCode = 0
        finished.signal()
    }

    // MARK: - Status

    private func record(error message: String) {
        lastError = (message, Date())
    }

    private func statusChanged() {
        guard !statusScheduled else { return }
        statusScheduled = true
        control.asyncAfter(deadline: .now() + 0.1) { [self] in
            statusScheduled = false
            if state != .stopped { writeStatusNow() }
        }
    }

    private func writeStatusNow() {
        let now = Date()
        let monotonic = Daemon.monotonic()
        lastStatusWrite = monotonic
        let snapshot = StatusSnapshot(
            pid: getpid(), version: Daemon.version, state: state, startedAt: startedAt, updatedAt: now,
            model: processor?.identity ?? [:], models: processor?.modelIdentities ?? [], waiting: inboxWaiting + queued.count + retryWaiting, queued: queued.count,
            inFlight: running.count, done: statistics.done, failed: statistics.failed,
            latencyP50: statistics.percentile(0.5), latencyP95: statistics.percentile(0.95),
            throughput: statistics.throughput(now: monotonic, uptime: monotonic - startedMonotonic),
            lastError: lastError?.message, lastErrorAt: lastError?.at)
        do {
            try FS.replaceFile(configuration.state.appending("status.json"), try snapshot.json())
            if let textfile = configuration.prometheusTextfile {
                try FS.replaceFile(textfile, snapshot.prometheus())
            }
        } catch {
            logger.error("cannot write status", metadata: ["error": "\(error)"])
        }
        if state == .ready {
            notify(["STATUS=ready; \(running.count) in flight, \(queued.count + inboxWaiting) waiting, \(statistics.done) done, \(statistics.failed) failed"])
        }
    }

    private func notify(_ assignments: [String]) {
        do {
            try notifier.notify(assignments)
        } catch {
            logger.warning("sd_notify failed", metadata: ["error": "\(error)"])
        }
    }

    static func monotonic() -> Double {
        Double(DispatchTime.now().uptimeNanoseconds) / 1e9
    }

    static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
    }
}
