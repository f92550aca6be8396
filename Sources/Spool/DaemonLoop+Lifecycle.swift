import Completion
import Dispatch
import Foundation
import Logging
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Start, reload, drain and stop: the transitions of ``LoopState``.
extension DaemonLoop {
    // MARK: - Start

    /// The model could not be loaded at start: the status says why, and the daemon stops.
    func startFailed(_ error: any Error) {
        record(error: "\(error)")
        state = .stopped(exitCode: 1)
        writeStatusNow()
    }

    /// SIGTERM and SIGINT drain, SIGHUP reloads; each is delivered on the control queue.
    func installSignalHandlers() {
        for sig in [SIGTERM, SIGINT, SIGHUP] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: control.queue)
            source.setEventHandler(handler: handler { loop in
                if sig == SIGHUP { loop.reload() } else { loop.beginDrain(signal: sig) }
            })
            source.resume()
            signalSources.append(source)
        }
    }

    /// The model is loaded and the watcher runs: recover `work/`, become ready, take what is
    /// in the inbox, and start the heartbeat.
    func begin(processor: any JobProcessor) {
        self.processor = processor
        writeLease()
        let now = Self.monotonic()
        adopt(folders.recover(skipping: jobs.tokens, claimedAt: now, now: Date().timeIntervalSince1970, monotonic: now,
                              observer: &lease.observer, lease: configuration.lease))
        timing.lastWorkScan = Self.monotonic()
        readSpace()
        logger.info("free space rule", metadata: [
            "min_free_bytes": "\(disk.minimumFree)", "source": "\(disk.minimumFreeSource)",
            "free_bytes": "\(disk.available.map(String.init) ?? "unknown")",
        ])
        var pendingDrain: Int32?
        if case let .starting(signal) = state { pendingDrain = signal }
        state = .ready
        notify(["READY=1", "STATUS=ready; watching \(configuration.inbox)", "MAINPID=\(getpid())"])
        logger.info("ready", metadata: ["spool": "\(configuration.spool)", "workers": "\(configuration.workers)", "pid": "\(getpid())"])
        scan()
        startJobs()
        writeStatusNow()
        let tick = DispatchSource.makeTimerSource(queue: control.queue)
        tick.schedule(deadline: .now() + 0.25, repeating: 0.25, leeway: .milliseconds(50))
        tick.setEventHandler(handler: handler { $0.tick() })
        tick.resume()
        heartbeat = tick
        if let pendingDrain { beginDrain(signal: pendingDrain) }
    }

    /// The exit status once stopped.
    var exitCode: Int32 {
        if case let .stopped(code) = state { code } else { 0 }
    }

    // MARK: - Reload

    /// SIGHUP: re-read the configuration and load the processor on the loading queue; the
    /// control queue goes on (jobs run, the watchdog is pinged). A SIGHUP during a reload
    /// is remembered and served when it ends.
    func reload() {
        switch state {
        case .ready:
            break
        case .reloading:
            state = .reloading(again: true)
            return
        case .starting, .draining, .stopped:
            return
        }
        state = .reloading(again: false)
        notify(["RELOADING=1", "STATUS=reloading configuration and model"])
        writeStatusNow()
        logger.info("reloading")
        loading.async(execute: loadNext(current: configuration))
    }

    /// A block for the loading queue: the new configuration and processor, then back to the loop.
    private nonisolated func loadNext(current: DaemonConfiguration) -> @Sendable () -> Void {
        { [self] in
            if current.debugReloadDelayMilliseconds > 0 {
                usleep(UInt32(min(current.debugReloadDelayMilliseconds, 600_000)) * 1000)
            }
            let result = Result { () throws -> Reloaded in
                var next = try DaemonConfiguration.load(file: self.configurationFile, overrides: self.overrides)
                if next.spool != current.spool || next.state != current.state {
                    self.logger.warning("spool and state folders cannot change on reload; keeping the old ones")
                    next.spool = current.spool
                    next.state = current.state
                }
                next.debugJobDelayMilliseconds = current.debugJobDelayMilliseconds
                next.debugReloadDelayMilliseconds = current.debugReloadDelayMilliseconds
                next.debugClaimPauseMilliseconds = current.debugClaimPauseMilliseconds
                next.debugPublishPauseMilliseconds = current.debugPublishPauseMilliseconds
                next.debugCrashJobName = current.debugCrashJobName
                return Reloaded(configuration: next, processor: try self.loader(next))
            }
            self.post { $0.reloadFinished(result) }
        }
    }

    /// A configuration and the processor loaded from it.
    struct Reloaded: Sendable {
        var configuration: DaemonConfiguration
        var processor: any JobProcessor
    }

    /// The load is over: a good result replaces the configuration and processor; on any
    /// error the old ones stay and the error is logged and shown in `last_error`. Jobs in
    /// flight finish with the processor they started with.
    func reloadFinished(_ result: Result<Reloaded, any Error>) {
        guard case let .reloading(again) = state else {
            // A drain began meanwhile: the daemon is stopping and serves no new job.
            var metadata: Logger.Metadata = [:]
            if case let .failure(error) = result { metadata["error"] = "\(error)" }
            logger.info("reload finished after the drain began; not applied", metadata: metadata)
            return
        }
        switch result {
        case let .success(reloaded):
            configuration = reloaded.configuration
            processor = reloaded.processor
            for identity in reloaded.processor.modelIdentities { logger.info("reloaded", metadata: identity.logMetadata) }
        case let .failure(error):
            record(error: "reload failed, keeping the previous configuration and model: \(error)")
            logger.error("reload failed; keeping the previous configuration and model", metadata: ["error": "\(error)"])
        }
        state = .ready
        notify(["READY=1", "STATUS=ready"])
        writeStatusNow()
        requestScan()
        startJobs()
        if again { reload() }
    }

    // MARK: - Drain

    /// SIGTERM or SIGINT: stop claiming, return queued jobs to `inbox/` at once, give jobs in
    /// flight `drain_timeout` seconds. Jobs with a history — attempts charged, transient
    /// failures, a decided failure, or found in flight after a death — stay in `work/` for
    /// the next start instead, so that what was learnt about them is kept.
    func beginDrain(signal sig: Int32) {
        switch state {
        case .ready, .reloading:
            break
        case .starting:
            state = .starting(drainSignal: sig)
            return
        case .draining, .stopped:
            return
        }
        state = .draining(signal: sig, deadline: nil)
        logger.info("draining", metadata: ["signal": "\(sig)", "in_flight": "\(jobs.running.count)", "queued": "\(jobs.queued.count)"])
        notify(["STOPPING=1", "STATUS=draining \(jobs.running.count) jobs"])
        for job in jobs.queued {
            if job.attempts > 0 || job.retry != nil || job.decidedFailure != nil || !folders.returnToInbox(job) {
                jobs.parked.append(job)
            }
        }
        jobs.parked += jobs.alone
        jobs.queued.removeAll()
        jobs.alone.removeAll()
        jobs.inboxWaiting = countInbox() ?? jobs.inboxWaiting
        writeStatusNow()
        if jobs.running.isEmpty {
            finishDrain()
            return
        }
        let timer = DispatchSource.makeTimerSource(queue: control.queue)
        timer.schedule(deadline: .now() + configuration.drainTimeout)
        timer.setEventHandler(handler: handler { $0.drainDeadline() })
        timer.resume()
        state = .draining(signal: sig, deadline: timer)
    }

    /// `drain_timeout` is over: jobs still processing go back to `inbox/`; jobs already
    /// publishing finish (a few fsyncs) and report as usual.
    private func drainDeadline() {
        guard case .draining = state else { return }
        for job in jobs.running.values {
            let returned = job.phase.withLock { phase -> Bool in
                guard phase == .running else { return false }
                phase = .returned
                return true
            }
            if returned {
                job.cancellation.cancel()
                if !folders.returnToInbox(job) { jobs.parked.append(job) }
                jobs.running[job.token] = nil
                jobs.processing.remove(job.token)
            }
        }
        if jobs.running.isEmpty { finishDrain() }
    }

    func finishDrain() {
        guard case let .draining(_, deadline) = state else { return }
        deadline?.cancel()
        heartbeat?.cancel()
        watcher.stop()
        state = .stopped(exitCode: 0)
        // Jobs left in work/ (parked by the drain) may be taken by other daemons at once.
        writeLease(stopped: true)
        // The last status counts what is really there: the inbox as it is now.
        jobs.inboxWaiting = countInbox() ?? jobs.inboxWaiting
        writeStatusNow()
        logger.info("stopped", metadata: ["done": "\(statistics.done)", "failed": "\(statistics.failed)"])
        stopped.signal()
    }

    // MARK: - Status

    func record(error message: String) {
        lastError = (message, Date())
    }

    /// Writes the status file within 0.1 s (once, however many changes come meanwhile).
    func statusChanged() {
        guard !timing.statusScheduled else { return }
        timing.statusScheduled = true
        control.queue.asyncAfter(deadline: .now() + 0.1, execute: handler { loop in
            loop.timing.statusScheduled = false
            if case .stopped = loop.state { return }
            loop.writeStatusNow()
        })
    }

    func writeStatusNow() {
        let now = Date()
        let monotonic = Self.monotonic()
        timing.lastStatusWrite = monotonic
        let claimed = jobs.queued.count + jobs.alone.count
        let waiting = jobs.inboxWaiting + claimed + jobs.backoff.count + jobs.parked.count
        let onDisk = jobs.backoff.values.filter(\.waitsOnDisk)
        let snapshot = StatusSnapshot(
            pid: getpid(), version: Daemon.version, state: state.status, startedAt: startedAt, updatedAt: now,
            model: processor?.identity ?? [:], models: processor?.modelIdentities ?? [],
            waiting: waiting, queued: claimed, waitingOnDisk: onDisk.count,
            inFlight: jobs.running.count, done: statistics.done, failed: statistics.failed,
            latencyP50: statistics.percentile(0.5), latencyP95: statistics.percentile(0.95),
            throughput: statistics.throughput(now: monotonic, uptime: monotonic - startedMonotonic),
            lastError: lastError?.message, lastErrorAt: lastError?.at,
            disk: DiskStatus(
                freeBytes: disk.available, sizeBytes: disk.size, minFreeBytes: disk.minimumFree,
                minFreeBytesSource: disk.minimumFreeSource,
                claiming: !state.claims ? "off" : disk.pausedBecause == nil ? "open" : "paused", pausedBecause: disk.pausedBecause,
                waitingJobs: onDisk.sorted { ($0.retry?.since ?? 0, $0.token) < ($1.retry?.since ?? 0, $1.token) }
                    .prefix(DiskStatus.listedJobs).map { job in
                        DiskStatus.WaitingJob(
                            name: job.name, error: job.retry?.lastError ?? "", since: job.retry?.since ?? 0,
                            failures: job.retry?.failures ?? 0, nextTry: job.retry?.nextTry ?? 0,
                            givenUp: job.decidedFailure != nil)
                    }),
            fleet: FleetStatus(
                host: identity.host, bootID: identity.bootID, run: identity.run, watch: watchMode.rawValue,
                watchConfigured: configuration.watch.rawValue, fileSystem: fileSystem, pollInterval: configuration.pollInterval,
                leaseSeconds: configuration.lease, renewSeconds: configuration.leaseRenew, renewedAt: lease.renewedAtWall,
                leaseAge: lease.renewedAt.map { monotonic - $0 }, lapses: lease.lapses,
                owned: jobs.tokens.count, takeovers: lease.takeovers, lost: lease.lost,
                liveRuns: lease.liveRuns.map { ($0.owner.host, $0.owner.run, $0.owner.pid) }))
        do {
            try FS.replaceFile(configuration.state.appending("status.json"), try snapshot.json())
            if let textfile = configuration.prometheusTextfile {
                try FS.replaceFile(textfile, snapshot.prometheus())
            }
        } catch {
            logger.error("cannot write status", metadata: ["error": "\(error)"])
        }
        if state.claims {
            notify(["STATUS=ready; \(jobs.running.count) in flight, \(waiting) waiting (\(onDisk.count) on the disk), \(statistics.done) done, \(statistics.failed) failed"])
        }
    }

    func notify(_ assignments: [String]) {
        do {
            try notifier.notify(assignments)
        } catch {
            logger.warning("sd_notify failed", metadata: ["error": "\(error)"])
        }
    }
}
