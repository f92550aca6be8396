import Dispatch
import Foundation
import Logging
import Synchronization
import SystemPackage

/// The daemon's control loop: inbox events, scans, claims, the job queue, timers and the
/// life cycle (``LoopState``). An actor whose executor is the control queue, so that
/// dispatch sources and blocks posted to that queue enter it with `assumeIsolated`.
///
/// What it delegates: which files form jobs and when to claim them to ``InboxPlanner``
/// (pure); moving files into and out of `work/` to ``WorkFolders``; running and publishing
/// a job to ``JobPublisher`` on the `jobs` queue (at most `workers` at a time); reading PNG
/// headers to the `probes` queue and loading a model on SIGHUP to the `loading` queue, so
/// that nothing slow runs on the control queue, whose heartbeat sends the watchdog pings.
actor DaemonLoop {
    /// Claimed jobs: waiting for a worker, running, or waiting out a retry delay.
    struct JobBook {
        var queued: [Job] = []
        var running: [String: Job] = [:]
        /// Jobs waiting out ``JobPublisher/retryDelay`` after a transient failure (they stay in work/).
        var retryWaiting = 0
        /// Jobs in `inbox/` that the last scan did not claim.
        var inboxWaiting = 0
        /// A scan stopped for lack of capacity: rescan once half of it is free.
        var backlog = false
    }

    /// When things last happened, and what is already scheduled (so it is scheduled once).
    struct Timing {
        var lastRescan = 0.0
        var lastStatusWrite = 0.0
        var lastWatchdog = 0.0
        /// Wall-clock time of the planner's next deadline (settle time, `mask_wait`).
        var nextWakeup: Double?
        var scanScheduled = false
        var statusScheduled = false
    }

    nonisolated let control: ControlQueue
    private nonisolated let jobsQueue = DispatchQueue(label: "pixelrnnd.jobs", attributes: .concurrent)
    nonisolated let probeQueue = DispatchQueue(label: "pixelrnnd.probes")
    nonisolated let loading = DispatchQueue(label: "pixelrnnd.loading")

    let configurationFile: FilePath?
    let overrides: [(String, String)]
    let loader: JobProcessorLoader
    let logger: Logger
    let watcher: InotifyWatcher
    let notifier = SystemdNotifier()
    let folders: WorkFolders
    let publisher: JobPublisher
    let startedAt = Date()
    let startedMonotonic = DaemonLoop.monotonic()
    /// Signalled once the loop reaches ``LoopState/stopped(exitCode:)``.
    nonisolated let stopped = DispatchSemaphore(value: 0)

    var state = LoopState.starting(drainSignal: nil)
    var configuration: DaemonConfiguration
    /// `nil` only until the model has loaded at start.
    var processor: (any JobProcessor)?
    var planner: InboxPlanner
    /// The shared masks of `masks/`, each read once per change.
    var sharedMasks = SharedMaskSnapshots()
    var jobs = JobBook()
    var timing = Timing()
    var statistics = JobStatistics()
    var lastError: (message: String, at: Date)?
    var lowDiskLogged = false
    /// SIGTERM, SIGINT and SIGHUP, delivered on the control queue.
    var signalSources: [any DispatchSourceSignal] = []
    /// The 0.25 s heartbeat (scans due, status, watchdog), from ready to stopped.
    var heartbeat: (any DispatchSourceTimer)?
    private var tokenCounter = 0

    nonisolated var unownedExecutor: UnownedSerialExecutor { control.asUnownedSerialExecutor() }

    init(launch: DaemonLaunch) {
        control = ControlQueue(label: "pixelrnnd.control")
        (configuration, configurationFile, overrides) = (launch.configuration, launch.configurationFile, launch.overrides)
        (watcher, loader, logger) = (launch.watcher, launch.loader, launch.logger)
        let configuration = launch.configuration, logger = launch.logger
        folders = WorkFolders(configuration: configuration, logger: logger)
        publisher = JobPublisher(logger: logger)
        planner = InboxPlanner(settle: configuration.settle, maskWait: configuration.maskWait, defaultMask: configuration.mask)
    }

    // MARK: - Entering the loop from other threads

    /// Runs `body` on the control queue and waits for it; never call it on that queue.
    nonisolated func sync<T: Sendable>(_ body: @Sendable (isolated DaemonLoop) throws -> T) rethrows -> T {
        try control.queue.sync { try self.assumeIsolated(body) }
    }

    /// Runs `body` on the control queue later.
    nonisolated func post(_ body: @escaping @Sendable (isolated DaemonLoop) -> Void) {
        control.queue.async(execute: handler(body))
    }

    /// A block for a dispatch source or `asyncAfter` on the control queue that enters the loop.
    nonisolated func handler(_ body: @escaping @Sendable (isolated DaemonLoop) -> Void) -> @Sendable () -> Void {
        { [self] in self.assumeIsolated(body) }
    }

    /// What the inotify thread calls for each event: it only posts to the control queue.
    nonisolated func eventHandler() -> @Sendable (InotifyEvent) -> Void {
        { [self] event in self.post { $0.handle(event) } }
    }

    // MARK: - Events and the heartbeat

    func handle(_ event: InotifyEvent) {
        switch event {
        case let .file(name):
            planner.noteClosed(name, at: Date().timeIntervalSince1970)
            requestScan()
        case .overflow:
            logger.warning("inotify queue overflowed; rescanning inbox")
            requestScan()
        case let .failed(message):
            record(error: "inbox watcher stopped: \(message); relying on periodic rescans")
            logger.error("inbox watcher stopped", metadata: ["reason": "\(message)"])
        }
    }

    /// Every 0.25 s: due scans, the status file, the watchdog.
    func tick() {
        let now = Self.monotonic()
        if state.claims {
            let wall = Date().timeIntervalSince1970
            if now - timing.lastRescan >= configuration.rescanInterval || (timing.nextWakeup.map { wall >= $0 } ?? false) {
                requestScan()
            }
        }
        if now - timing.lastStatusWrite >= configuration.statusInterval { writeStatusNow() }
        // The tick runs on the control queue, so a ping proves the loop makes progress.
        if let interval = notifier.watchdogInterval, now - timing.lastWatchdog >= min(interval / 4, 5) {
            timing.lastWatchdog = now
            notify(["WATCHDOG=1"])
        }
    }

    // MARK: - Scanning and claiming

    func requestScan() {
        guard !timing.scanScheduled, state.claims else { return }
        timing.scanScheduled = true
        post { loop in
            loop.timing.scanScheduled = false
            loop.scan()
            loop.startJobs()
        }
    }

    /// Free places for claimed jobs: `workers` running plus `queue_capacity` waiting.
    private var capacity: Int {
        max(0, configuration.workers + configuration.queueCapacity - jobs.queued.count - jobs.running.count)
    }

    /// One pass over `inbox/`: lists it, lets the planner decide, and carries out its
    /// claims and probes.
    ///
    /// At claim time the kernel must also confirm that no process has a job's file open for
    /// writing (a read lease can be taken); a busy job is looked at again in 0.5 s.
    func scan() {
        guard state.claims else { return }
        timing.lastRescan = Self.monotonic()
        let c = configuration
        let names: [String]
        do {
            names = try FS.list(c.inbox)
        } catch {
            record(error: "cannot read inbox: \(error)")
            return
        }
        let now = Date().timeIntervalSince1970
        let entries = names.map { name -> InboxEntry in
            guard !SpoolNames.isIgnored(name), let meta = try? FS.metadata(c.inbox.appending(name)) else {
                return InboxEntry(name: name, stat: nil)
            }
            return InboxEntry(name: name, kind: meta.kind, size: meta.size, modified: meta.modified, inode: meta.inode)
        }
        let claiming: InboxPlanner.Claiming = diskHasRoom() ? .open(capacity: capacity) : .paused(until: now + 5)
        planner.settle = c.settle
        planner.maskWait = c.maskWait
        planner.defaultMask = c.mask
        let plan = planner.plan(entries, now: now, claiming: claiming)
        var wakeup = plan.wakeup
        var attempted = 0
        var probe: [(name: String, identity: FileIdentity)] = []
        var readOptions: [(name: String, identity: FileIdentity)] = []
        for action in plan.actions {
            switch action {
            case var .claim(claim):
                if claim.kind == .job, claim.files.contains(where: { FS.isOpenForWriting(c.inbox.appending($0)) == true }) {
                    wakeup = min(wakeup ?? now + 0.5, now + 0.5)
                    continue
                }
                // The shared mask is pinned now: replacing it later never changes this job.
                var snapshot: SharedMaskSnapshot?
                if let name = claim.sharedMask, claim.failure == nil {
                    switch sharedMasks.resolve(name, configuration: c) {
                    case let .ready(ready, readNow):
                        snapshot = ready
                        if readNow {
                            logger.info("shared mask read", metadata: [
                                "mask": "\(ready.name)", "sha256": "\(ready.sha256)", "width": "\(ready.width)", "height": "\(ready.height)",
                            ])
                        }
                    case .busy:
                        wakeup = min(wakeup ?? now + 0.5, now + 0.5)
                        continue
                    case let .refused(reason): claim.failure = reason
                    }
                }
                attempted += 1
                planner.claimed(claim)
                switch folders.claim(claim, token: newToken(), claimedAt: Self.monotonic(), sharedMask: snapshot) {
                case let .claimed(job):
                    jobs.queued.append(job)
                    statusChanged()
                case .taken:
                    break
                case let .failed(message):
                    record(error: message)
                }
            case let .probe(name, identity):
                probe.append((name, identity))
            case let .readOptions(name, identity):
                readOptions.append((name, identity))
            case .ignore, .wait:
                break
            }
        }
        // Every claim left the inbox: keep the status's "waiting" count current.
        jobs.inboxWaiting = max(0, plan.inboxJobs - attempted)
        if plan.backlog { jobs.backlog = true }
        timing.nextWakeup = wakeup
        if !probe.isEmpty || !readOptions.isEmpty { startProbes(probe, options: readOptions, inbox: c.inbox, limit: c.maxBytes) }
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

    private func newToken() -> String {
        tokenCounter += 1
        let random = UInt64.random(in: 0 ... .max)
        return String(random, radix: 16) + "-" + String(tokenCounter)
    }

    /// The answers of PNG header reads (see ``startProbes(_:inbox:limit:)``): a scan acts on
    /// them. With no room to claim, only an image without alpha needs one now (its
    /// `mask_wait` starts); the rest wait for the rescan that follows when room frees.
    func probed(_ results: [ImageProbe.Result], options: [ImageProbe.OptionsResult] = []) {
        for result in results {
            planner.recordProbe(result.name, identity: result.identity, alpha: result.alpha)
        }
        for result in options {
            planner.recordOptions(result.name, identity: result.identity, choice: result.choice)
        }
        if capacity > 0 || results.contains(where: { $0.alpha == false }) {
            requestScan()
        } else {
            jobs.backlog = true
        }
    }

    // MARK: - Running jobs

    /// Starts queued jobs on free workers.
    func startJobs() {
        guard state.startsJobs, let processor else { return }
        while jobs.running.count < configuration.workers, !jobs.queued.isEmpty {
            let job = jobs.queued.removeFirst()
            jobs.running[job.token] = job
            job.phase.withLock { $0 = .running }
            jobsQueue.async(execute: runner(job, processor: processor, configuration: configuration))
        }
        // Back-pressure: rescan once half the claim capacity is free, not after every job.
        if jobs.backlog, jobs.queued.count + jobs.running.count <= (configuration.workers + configuration.queueCapacity) / 2 {
            jobs.backlog = false
            requestScan()
        }
        statusChanged()
    }

    private nonisolated func runner(_ job: Job, processor: any JobProcessor, configuration: DaemonConfiguration) -> @Sendable () -> Void {
        { [self] in
            let outcome = self.publisher.run(job, processor: processor, configuration: configuration)
            self.post { $0.jobFinished(job, outcome: outcome) }
        }
    }

    func jobFinished(_ job: Job, outcome: JobPublisher.Outcome) {
        jobs.running[job.token] = nil
        job.phase.withLock { if $0 != .returned { $0 = .finished } }
        let now = Self.monotonic()
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
            jobs.retryWaiting += 1
            control.queue.asyncAfter(deadline: .now() + JobPublisher.retryDelay, execute: handler { $0.retryDue(job) })
        }
        if case .draining = state {
            if jobs.running.isEmpty { finishDrain() }
            return
        }
        startJobs()
        statusChanged()
    }

    private func retryDue(_ job: Job) {
        jobs.retryWaiting -= 1
        // While draining or stopped the job simply stays in work/ for the next start.
        guard state.startsJobs else { return }
        job.phase.withLock { $0 = .queued }
        jobs.queued.append(job)
        startJobs()
    }

    static func monotonic() -> Double {
        Double(DispatchTime.now().uptimeNanoseconds) / 1e9
    }
}
