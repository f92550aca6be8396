import Dispatch
import Foundation
import Logging
import Synchronization
import SystemIO
import SystemPackage

/// The daemon's control loop: inbox events, scans, claims, the job queue, timers and the
/// life cycle (``LoopState``). An actor whose executor is the control queue, so that
/// dispatch sources and blocks posted to that queue enter it with `assumeIsolated`.
///
/// What it delegates: which files form jobs and when to claim them to ``InboxPlanner``
/// (pure); moving files into and out of `work/` to ``WorkFolders``; running and publishing
/// a job to ``JobPublisher`` on a queue of the job's own (at most `workers` processing at a
/// time; a job that is publishing lets the next one start); reading PNG
/// headers to the `probes` queue and loading a model on SIGHUP to the `loading` queue, so
/// that nothing slow runs on the control queue, whose heartbeat sends the watchdog pings.
actor DaemonLoop {
    /// Claimed jobs: waiting for a worker, running, or waiting out a retry's backoff.
    struct JobBook {
        var queued: [Job] = []
        /// Jobs whose run has not ended: processing, then publishing.
        var running: [String: Job] = [:]
        /// Tokens of the running jobs still processing. Each holds one of the `workers`
        /// places; a job that is publishing (fsyncs and renames, mostly waiting on the
        /// disk) has given its place to the next one.
        var processing: Set<String> = []
        /// Jobs found in flight after a process died: each runs alone, before any other job
        /// starts (see ``CrashAttribution``).
        var alone: [Job] = []
        /// Jobs in `work/` waiting out a ``RetryPolicy`` backoff after a transient failure or
        /// a failed publication, by token; each has its ``Job/retry``.
        var backoff: [String: Job] = [:]
        /// Jobs a drain could not return to `inbox/` (a newer file took the name); they stay
        /// in `work/` for the next start.
        var parked: [Job] = []
        /// Jobs in `inbox/` that the last scan did not claim.
        var inboxWaiting = 0
        /// A scan stopped for lack of capacity: rescan once half of it is free.
        var backlog = false

        /// Tokens of every job this process holds.
        var tokens: Set<String> {
            Set(queued.map(\.token) + running.keys + alone.map(\.token) + backoff.keys + parked.map(\.token))
        }
    }

    /// When things last happened, and what is already scheduled (so it is scheduled once).
    struct Timing {
        var lastRescan = 0.0
        var lastWorkScan = 0.0
        var lastStatusWrite = 0.0
        var lastWatchdog = 0.0
        /// Wall-clock time of the planner's next deadline (settle time, `mask_wait`).
        var nextWakeup: Double?
        var scanScheduled = false
        var statusScheduled = false
    }

    /// This run's lease (`leases/RUN`) and what it has seen of other runs.
    struct LeaseState {
        /// Writes so far (the `renewal` field).
        var renewal = 0
        /// Monotonic seconds of the last successful write; `nil` before the first.
        var renewedAt: Double?
        /// Wall-clock time of the last successful write, for the status.
        var renewedAtWall: Date?
        /// Monotonic seconds of the last failed write (tried again after a short pause).
        var failedAt: Double?
        /// The in-flight count last written, as "one or none" versus "several".
        var writtenSeveral = false
        /// Times the lease was renewed late (after `lease` seconds): this daemon was paused
        /// or cut off, and others may have taken its jobs.
        var lapses = 0
        var observer = LeaseObserver()
        /// Jobs taken over from other runs since start.
        var takeovers = 0
        /// Jobs this run lost to a takeover (nothing published by this run).
        var lost = 0
        /// Runs on the spool whose leases are alive, at the last count.
        var liveRuns: [LeaseRecord] = []
        var lastCollection = 0.0
    }

    /// The spool's file system as the last `statvfs` saw it, and why claiming pauses.
    struct DiskState {
        var size: Int64?
        var available: Int64?
        /// The `min_free_bytes` in force and where it comes from (`configured`, `auto: …`).
        var minimumFree: Int64 = 0
        var minimumFreeSource = ""
        /// Claims that failed transiently (a full disk while making the work folder…).
        var claimRetry: RetryState?
        /// Why claiming is paused now; `nil` when it is open.
        var pausedBecause: String?
    }

    nonisolated let control: ControlQueue
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
    /// Every job runner in flight, returned ones included: the process ends only after
    /// they have (a drain cancels returned jobs, which then stop within a row or a step).
    nonisolated let runners = DispatchGroup()

    var state = LoopState.starting(drainSignal: nil)
    var configuration: DaemonConfiguration
    /// `nil` only until the model has loaded at start.
    var processor: (any JobProcessor)?
    var planner: InboxPlanner
    /// The shared masks of `masks/`, each read once per change.
    var sharedMasks = SharedMaskSnapshots()
    var jobs = JobBook()
    var timing = Timing()
    var disk = DiskState()
    var lease = LeaseState()
    /// Who this daemon run is, in leases and work folder names.
    let identity: OwnerIdentity
    /// How inbox files are noticed (see ``DaemonLaunch/watchMode``).
    let watchMode: WatchMode
    let fileSystem: String
    var statistics = JobStatistics()
    var lastError: (message: String, at: Date)?
    /// SIGTERM, SIGINT and SIGHUP, delivered on the control queue.
    var signalSources: [any DispatchSourceSignal] = []
    /// The 0.25 s heartbeat (scans due, retries due, status, watchdog), from ready to stopped.
    var heartbeat: (any DispatchSourceTimer)?
    private var tokenCounter = 0

    nonisolated var unownedExecutor: UnownedSerialExecutor { control.asUnownedSerialExecutor() }

    init(launch: DaemonLaunch) {
        control = ControlQueue(label: "pixelrnnd.control")
        (configuration, configurationFile, overrides) = (launch.configuration, launch.configurationFile, launch.overrides)
        (watcher, loader, logger) = (launch.watcher, launch.loader, launch.logger)
        let configuration = launch.configuration, logger = launch.logger
        let run = "\(getpid())-\(String(UInt64.random(in: 0 ... .max), radix: 16))"
        identity = OwnerIdentity(host: configuration.hostIdentity, bootID: Host.bootID(), pid: getpid(), run: run)
        folders = WorkFolders(configuration: configuration, identity: identity, logger: logger)
        publisher = JobPublisher(logger: logger, runName: run)
        (watchMode, fileSystem) = (launch.watchMode, launch.fileSystem)
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

    /// Every 0.25 s: the file system's free space, retries and scans that are due, the
    /// status file, the watchdog.
    func tick() {
        let now = Self.monotonic()
        if state.startsJobs {
            if !jobs.backoff.isEmpty || disk.claimRetry != nil || disk.pausedBecause != nil { readSpace() }
            startDueRetries()
        }
        // Renewed in every state the heartbeat runs in, a drain included: jobs in flight
        // stay this daemon's until they are published or returned.
        if now - (lease.renewedAt ?? -.infinity) >= configuration.leaseRenew,
           now - (lease.failedAt ?? -.infinity) >= min(configuration.leaseRenew / 2, 1) {
            renewLease()
        }
        if state.claims {
            let wall = Date().timeIntervalSince1970
            if now - timing.lastWorkScan >= min(configuration.rescanInterval, configuration.leaseRenew) {
                timing.lastWorkScan = now
                recoverStrandedJobs()
            }
            let interval = watchMode == .poll ? min(configuration.pollInterval, configuration.rescanInterval) : configuration.rescanInterval
            if now - timing.lastRescan >= interval || (timing.nextWakeup.map { wall >= $0 } ?? false)
                || (disk.pausedBecause != nil && claimingPause() == nil) {
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

    /// Free places for claimed jobs: `workers` running plus `queue_capacity` waiting (jobs
    /// waiting out a backoff take places too).
    private var capacity: Int {
        let held = jobs.queued.count + jobs.running.count + jobs.alone.count + jobs.backoff.count
        return max(0, configuration.workers + configuration.queueCapacity - held)
    }

    /// What a listing of `inbox/` holds, for the planner.
    private func inboxEntries() throws -> [InboxEntry] {
        try Self.listing(of: configuration.inbox)
    }

    /// One listing of `inbox/` as a scan (or a poll) makes it: `readdir`, then `lstat` of
    /// every name that is not ignored.
    static func listing(of inbox: FilePath) throws -> [InboxEntry] {
        try FS.listWithMetadata(inbox, stat: { !SpoolNames.isIgnored($0) }).map { name, meta -> InboxEntry in
            guard let meta else { return InboxEntry(name: name, stat: nil) }
            return InboxEntry(name: name, kind: meta.kind, size: meta.size, modified: meta.modified, inode: meta.inode)
        }
    }

    /// The jobs `inbox/` holds now, as a scan would count them (claiming nothing).
    func countInbox() -> Int? {
        guard let entries = try? inboxEntries() else { return nil }
        let now = Date().timeIntervalSince1970
        var look = planner
        return look.plan(entries, now: now, claiming: .paused(until: now)).inboxJobs
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
        let entries: [InboxEntry]
        do {
            entries = try inboxEntries()
        } catch {
            record(error: "cannot read inbox: \(error)")
            return
        }
        let now = Date().timeIntervalSince1970
        readSpace()
        let pause = claimingPause()
        updatePause(pause)
        let claiming: InboxPlanner.Claiming = pause == nil ? .open(capacity: capacity) : .paused(until: now + 5)
        planner.settle = c.settle
        planner.maskWait = c.maskWait
        planner.defaultMask = c.mask
        let plan = planner.plan(entries, now: now, claiming: claiming)
        var wakeup = plan.wakeup
        var attempted = 0
        var probe: [(name: String, identity: FileIdentity)] = []
        var readOptions: [(name: String, identity: FileIdentity)] = []
        claims: for action in plan.actions {
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
                switch folders.claim(claim, token: newToken(), claimedAt: Self.monotonic(),
                                     pauseMilliseconds: c.debugClaimPauseMilliseconds, sharedMask: snapshot) {
                case let .claimed(job):
                    planner.claimed(claim)
                    disk.claimRetry = nil
                    jobs.queued.append(job)
                    statusChanged()
                case .taken:
                    planner.claimed(claim)
                case .busy:
                    // Nothing moved: the files are still there for the next scan.
                    attempted -= 1
                    wakeup = min(wakeup ?? now + 0.5, now + 0.5)
                case let .failed(message, noSpace):
                    attempted -= 1
                    record(error: message)
                    var retry = disk.claimRetry ?? RetryState(since: now)
                    retry.recordFailure(message, noSpace: noSpace, freeBytes: disk.available, at: now, policy: c.retryPolicy)
                    disk.claimRetry = retry
                    updatePause(claimingPause())
                    break claims
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

    /// Reads the spool's file system size and free space (`statvfs`) and the
    /// `min_free_bytes` in force.
    func readSpace() {
        if let space = try? FS.space(configuration.spool) {
            disk.size = space.size
            disk.available = space.available
        }
        (disk.minimumFree, disk.minimumFreeSource) = configuration.minimumFreeBytes(fileSystemSize: disk.size)
    }

    /// Why claiming must pause now, or `nil`: free space below `min_free_bytes`; a job
    /// waiting after "no space" while the space has not come back; or claims that failed
    /// transiently and whose backoff is not over.
    func claimingPause() -> String? {
        let now = Date().timeIntervalSince1970
        if disk.minimumFree > 0, let free = disk.available, free < disk.minimumFree {
            return "only \(free) bytes free on the spool's file system (min_free_bytes = \(disk.minimumFree), \(disk.minimumFreeSource))"
        }
        let full = jobs.backoff.values.compactMap(\.retry).filter { $0.noSpace && !$0.spaceRecovered(freeBytes: disk.available) }
        if let first = full.min(by: { $0.since < $1.since }) {
            return "the file system reported no space for \(full.count) job(s) waiting in work/ (\(first.lastError)); claiming resumes when space is freed"
        }
        if let retry = disk.claimRetry, !retry.isDue(at: now, freeBytes: disk.available) {
            return "claiming failed (\(retry.lastError)); next try in \(InboxPlanner.format((retry.nextTry - now).rounded(.up))) s"
        }
        return nil
    }

    /// Logs and records a change of ``DiskState/pausedBecause``.
    private func updatePause(_ reason: String?) {
        if let reason, disk.pausedBecause == nil {
            record(error: reason + "; not claiming new jobs")
            logger.error("claiming paused", metadata: ["reason": "\(reason)"])
        } else if reason == nil, disk.pausedBecause != nil {
            logger.info("claiming resumed", metadata: ["free_bytes": "\(disk.available.map(String.init) ?? "unknown")"])
        }
        if reason != disk.pausedBecause {
            disk.pausedBecause = reason
            statusChanged()
        }
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

    // MARK: - Recovering work/

    /// Takes the jobs a recovery found: those found in flight run alone first, the others
    /// are queued.
    func adopt(_ recovery: WorkFolders.Recovery) {
        for message in recovery.errors { record(error: message) }
        lease.takeovers += recovery.takeovers
        for job in recovery.jobs {
            if job.runsAlone { jobs.alone.append(job) } else { jobs.queued.append(job) }
        }
        if !recovery.jobs.isEmpty { statusChanged() }
    }

    /// While running: jobs in `work/` that no live process holds (left by a process that
    /// died beside this one, or by this one's cleanup failing after a publication) are
    /// recovered without a restart.
    func recoverStrandedJobs() {
        let now = Self.monotonic()
        let full = now - lease.lastCollection >= configuration.rescanInterval
        let recovery = folders.recover(skipping: jobs.tokens, claimedAt: now, now: Date().timeIntervalSince1970,
                                       monotonic: now, observer: &lease.observer, lease: configuration.lease, sweepResults: full)
        if full {
            lease.lastCollection = now
            lease.liveRuns = folders.collectLeases(monotonic: now, observer: &lease.observer, lease: configuration.lease)
        }
        if !recovery.jobs.isEmpty {
            logger.info("recovered jobs left in work/", metadata: ["jobs": "\(recovery.jobs.count)"])
        }
        adopt(recovery)
        startJobs()
    }

    // MARK: - Running jobs

    /// Starts queued jobs on free workers. A job found in flight after a death runs alone:
    /// nothing else starts until it is over.
    func startJobs() {
        guard state.startsJobs, let processor else { return }
        defer { statusChanged() }
        if jobs.running.values.contains(where: \.runsAlone) { return }
        if !jobs.alone.isEmpty {
            if jobs.running.isEmpty { start(jobs.alone.removeFirst(), processor: processor) }
            return
        }
        while jobs.processing.count < configuration.workers, !jobs.queued.isEmpty {
            start(jobs.queued.removeFirst(), processor: processor)
        }
        // Back-pressure: rescan once half the claim capacity is free, not after every job.
        // (Publishing jobs hold claim places too, as ``capacity`` counts them.)
        if jobs.backlog, jobs.queued.count + jobs.running.count <= (configuration.workers + configuration.queueCapacity) / 2 {
            jobs.backlog = false
            requestScan()
        }
    }

    private func start(_ job: Job, processor: any JobProcessor) {
        jobs.running[job.token] = job
        jobs.processing.insert(job.token)
        // Before the job's `.running` marker exists, the lease says that several are in
        // flight, so that a death now charges none of them (see ``CrashAttribution``).
        if jobs.processing.count >= 2, !lease.writtenSeveral { writeLease() }
        job.phase.withLock { $0 = .running }
        runners.enter()
        // A queue of its own per job: serial queues get a thread whenever they have work,
        // while a shared concurrent queue keeps to one thread per core, so that a job
        // waiting on the disk while it publishes would keep the next one from starting.
        DispatchQueue(label: "pixelrnnd.job").async(execute: runner(job, processor: processor, configuration: configuration))
    }

    private nonisolated func runner(_ job: Job, processor: any JobProcessor, configuration: DaemonConfiguration) -> @Sendable () -> Void {
        { [self] in
            defer { self.runners.leave() }
            let outcome = self.publisher.run(job, processor: processor, configuration: configuration) {
                self.post { $0.processingEnded(job) }
            }
            // A job the drain returned may have written into its folder after the drain
            // removed it; now that its run is over, nothing else will.
            if job.phase.withLock({ $0 == .returned }) { WorkFolders.removeReturnedFolder(of: job) }
            self.post { $0.jobFinished(job, outcome: outcome) }
        }
    }

    /// The job's processor is done and its result is being published: its worker place
    /// goes to the next job.
    func processingEnded(_ job: Job) {
        // After the drain the lease says "stopped"; nothing may rewrite it.
        if case .stopped = state { return }
        guard jobs.processing.remove(job.token) != nil else { return }
        if jobs.processing.count <= 1, lease.writtenSeveral { writeLease() }
        startJobs()
    }

    func jobFinished(_ job: Job, outcome: JobPublisher.Outcome) {
        // After the drain only the jobs it returned (and cancelled) still end: the drain
        // accounted for them, and the lease already says that this run has stopped.
        if case .stopped = state { return }
        jobs.running[job.token] = nil
        jobs.processing.remove(job.token)
        if jobs.processing.count <= 1, lease.writtenSeveral { writeLease() }
        job.runsAlone = false
        job.phase.withLock { if $0 != .returned { $0 = .finished } }
        let now = Self.monotonic()
        switch outcome {
        case .published:
            statistics.record(latency: now - job.claimedAt, at: now, failed: false)
            disk.claimRetry = nil
        case let .failed(name, reason):
            statistics.record(latency: now - job.claimedAt, at: now, failed: true)
            record(error: "\(name): \(reason)")
        case .returned:
            break
        case .lost:
            lease.lost += 1
            job.unlock()
            record(error: "\(job.name): another daemon took this job over while this one was paused or cut off past its lease; that daemon publishes it")
            logger.warning("lost a job to a takeover; nothing published by this daemon", metadata: [
                "job": "\(job.name)", "token": "\(job.token)",
            ])
        case let .transient(message, noSpace, stage):
            wait(job, message, noSpace: noSpace, transientStage: stage)
        case let .retry(message):
            wait(job, "\(message) (attempt \(job.attempts) of \(configuration.maxAttempts))", noSpace: false, transientStage: nil)
        }
        if case .draining = state {
            if jobs.running.isEmpty { finishDrain() }
            return
        }
        startJobs()
    }

    /// Puts a job that met a transient failure (`transientStage` set) or a failed
    /// publication in backoff: it stays in `work/` and runs again when
    /// ``RetryState/isDue(at:freeBytes:)``. Transient failures past `transient_give_up`
    /// decide the job's failure, published at the next try.
    private func wait(_ job: Job, _ message: String, noSpace: Bool, transientStage: String?) {
        let policy = configuration.retryPolicy
        let wall = Date().timeIntervalSince1970
        if noSpace { readSpace() }
        var retry = job.retry ?? RetryState(since: wall)
        if let stage = transientStage {
            if retry.failures == 0 { folders.noteTransientSince(job, since: retry.since) }
            if job.decidedFailure == nil, job.presetFailure == nil, retry.givesUp(at: wall, policy: policy) {
                let reason = "gave up after \(InboxPlanner.format((wall - retry.since).rounded())) s of transient errors (transient_give_up = \(InboxPlanner.format(policy.giveUpAfter)) s): \(message)"
                job.decidedFailure = JobFailure(stage: stage, reason: reason)
                logger.error("transient errors lasted past transient_give_up; the job goes to failed/ once that is possible",
                             metadata: ["job": "\(job.name)", "since": "\(retry.since)"])
            }
        }
        retry.recordFailure(message, noSpace: noSpace, freeBytes: disk.available, at: wall, policy: policy)
        job.retry = retry
        job.waitsOnDisk = transientStage != nil
        jobs.backoff[job.token] = job
        let delay = InboxPlanner.format(((retry.nextTry - wall) * 100).rounded() / 100)
        record(error: "\(message) (will retry in \(delay) s)")
        logger.warning(transientStage == nil ? "publishing failed; the job stays in work/ and runs again"
                                              : "transient failure; the job stays in work/ and runs again", metadata: [
            "job": "\(job.name)", "attempts": "\(job.attempts)", "failures": "\(retry.failures)",
            "retry_in": "\(delay)", "error": "\(message)",
        ])
        if noSpace { updatePause(claimingPause()) }
    }

    /// Moves jobs whose backoff is over (or whose "no space" is gone) back to the queue.
    private func startDueRetries() {
        guard !jobs.backoff.isEmpty else { return }
        let wall = Date().timeIntervalSince1970
        let due = jobs.backoff.values.filter { $0.retry?.isDue(at: wall, freeBytes: disk.available) ?? true }
        guard !due.isEmpty else { return }
        for job in due.sorted(by: { $0.token < $1.token }) {
            jobs.backoff[job.token] = nil
            job.phase.withLock { $0 = .queued }
            jobs.queued.append(job)
        }
        startJobs()
    }

    // MARK: - The lease

    /// Writes this run's lease file (`leases/RUN`): identity, a new renewal number, the
    /// state and the jobs in flight. A late renewal (more than `lease` seconds after the
    /// last) means others may have taken this daemon's jobs: each is checked, and those
    /// whose folder is gone are dropped (a job running now finds out when it publishes).
    func writeLease(stopped: Bool = false) {
        let now = Self.monotonic()
        lease.renewal += 1
        let content = LeaseRecord(owner: identity, renewal: lease.renewal, state: stopped ? "stopped" : "running",
                                  inFlight: jobs.processing.count, leaseSeconds: configuration.lease)
        do {
            try FS.rewriteInPlace(configuration.leases.appending(identity.run), Array(content.text.utf8))
        } catch {
            record(error: "cannot renew the lease: \(error)")
            logger.error("cannot renew the lease", metadata: ["error": "\(error)"])
            lease.failedAt = now
            return
        }
        lease.failedAt = nil
        lease.writtenSeveral = jobs.processing.count >= 2
        if let last = lease.renewedAt, now - last >= configuration.lease {
            lease.lapses += 1
            logger.warning("the lease was renewed late; other daemons may have taken over this daemon's jobs", metadata: [
                "late_by": "\(InboxPlanner.format(((now - last - configuration.lease) * 10).rounded() / 10))",
            ])
            dropLostJobs()
        }
        lease.renewedAt = now
        lease.renewedAtWall = Date()
    }

    func renewLease() { writeLease() }

    /// Drops the jobs waiting in this daemon whose folder another daemon has taken.
    private func dropLostJobs() {
        func kept(_ job: Job) -> Bool {
            guard JobPublisher.wasTakenOver(job) else { return true }
            lease.lost += 1
            job.unlock()
            logger.warning("lost a job to a takeover; nothing published by this daemon", metadata: [
                "job": "\(job.name)", "token": "\(job.token)",
            ])
            return false
        }
        jobs.queued = jobs.queued.filter(kept)
        jobs.alone = jobs.alone.filter(kept)
        jobs.parked = jobs.parked.filter(kept)
        jobs.backoff = jobs.backoff.filter { kept($0.value) }
        statusChanged()
    }

    static func monotonic() -> Double {
        Double(DispatchTime.now().uptimeNanoseconds) / 1e9
    }
}
