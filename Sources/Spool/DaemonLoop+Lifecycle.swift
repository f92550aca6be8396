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
        let recovery = folders.recover(claimedAt: Self.monotonic())
        for message in recovery.errors { record(error: message) }
        jobs.queued += recovery.jobs
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

    /// SIGHUP: re-read the configuration and reload the processor through the loader. On
    /// any error the old configuration and processor stay, and the error is logged and shown
    /// in `last_error`. Jobs in flight finish with the processor they started with.
    func reload() {
        guard case .ready = state else { return }
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
        startJobs()
    }

    // MARK: - Drain

    /// SIGTERM or SIGINT: stop claiming, return queued jobs to `inbox/` at once, give jobs in
    /// flight `drain_timeout` seconds.
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
        for job in jobs.queued { folders.returnToInbox(job) }
        jobs.queued.removeAll()
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
                folders.returnToInbox(job)
                jobs.running[job.token] = nil
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
        let waiting = jobs.inboxWaiting + jobs.queued.count
        let snapshot = StatusSnapshot(
            pid: getpid(), version: Daemon.version, state: state.status, startedAt: startedAt, updatedAt: now,
            model: processor?.identity ?? [:], models: processor?.modelIdentities ?? [],
            waiting: waiting + jobs.retryWaiting, queued: jobs.queued.count,
            inFlight: jobs.running.count, done: statistics.done, failed: statistics.failed,
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
        if state.claims {
            notify(["STATUS=ready; \(jobs.running.count) in flight, \(waiting) waiting, \(statistics.done) done, \(statistics.failed) failed"])
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
