import Foundation
import Logging
import SystemIO
import SystemPackage

/// The `work/` side of the spool: claiming inbox files into `work/TOKEN/`, returning them
/// on a drain, and recovering what a dead process left there — at start, and while the
/// daemon runs. Every file-system call goes through ``FS``. The folders never change while
/// the daemon runs (a reload keeps `spool`).
struct WorkFolders: Sendable {
    /// How a claim ended.
    enum ClaimResult: Sendable {
        /// The files are in `work/TOKEN/`, whose lock the job holds.
        case claimed(Job)
        /// The first file was gone: another daemon took the job, which is left alone.
        case taken
        /// The new work folder could not be locked for this process (another process took
        /// it first): nothing was moved; the files stay in `inbox/` for a later scan.
        case busy
        /// The claim could not be made; the message goes to `last_error`.
        case failed(String, noSpace: Bool)
    }

    /// What recovery found in `work/`.
    struct Recovery: Sendable {
        /// Jobs to queue again, in token order; those found in flight have ``Job/runsAlone``.
        var jobs: [Job] = []
        /// Messages for `last_error`.
        var errors: [String] = []
        /// Jobs taken over from another run (or an earlier version) by this recovery.
        var takeovers = 0
    }

    /// A claim folder (`work/.claim-PID.TOKEN`) whose lock nobody holds was left by a
    /// process that died while claiming when that process is gone, or when it is this old
    /// (a live claim locks its folder at once and renames it within moments); recovery
    /// removes it.
    static let staleClaimAge = 30.0

    let inbox: FilePath
    let work: FilePath
    let outbox: FilePath
    let failed: FilePath
    /// `leases/`: one lease file per daemon run.
    let leases: FilePath
    /// This daemon run, named in its folders (`work/TOKEN@RUN`) and its lease.
    let me: OwnerIdentity
    let logger: Logger

    init(configuration c: DaemonConfiguration, identity: OwnerIdentity, logger: Logger) {
        inbox = c.inbox
        work = c.work
        outbox = c.outbox
        failed = c.failed
        leases = c.leases
        me = identity
        self.logger = logger
    }

    /// The folder of job `token` owned by this run.
    func folder(for token: String) -> FilePath {
        work.appending(WorkFolderName(token: token, owner: me.run).text)
    }

    /// `.owner` in a job folder: who owns it (host, boot, pid, run), since when, and how
    /// many owners it had. For people and tools; the folder's name is what counts.
    private func writeOwnerRecord(into directory: FilePath, generation: Int) throws(SpoolError) {
        let text = """
            host=\(me.host)
            boot_id=\(me.bootID)
            pid=\(me.pid)
            run=\(me.run)
            generation=\(generation)
            owned_since=\(InboxPlanner.format(Date().timeIntervalSince1970.rounded()))

            """
        try FS.replaceFile(directory.appending(".owner"), Array(text.utf8), durable: false)
    }

    /// The `generation` of a job folder's `.owner` record (0 when there is none).
    private func ownerGeneration(in directory: FilePath) -> Int {
        guard let bytes = try? FS.readFile(directory.appending(".owner"), limit: 4096) else { return 0 }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix("generation=") {
            return Int(line.dropFirst("generation=".count)) ?? 0
        }
        return 0
    }

    /// Claims the files by renaming them from `inbox/` into a fresh `work/TOKEN/`.
    ///
    /// The folder is made as `work/.claim-PID.TOKEN` (a dot-name, which recovery never takes
    /// for a job), locked, and only then renamed to `work/TOKEN`: a job folder is never
    /// visible without its lock. If the lock cannot be had, the claim backs off and nothing
    /// moves. Then the first file's rename decides: if another daemon took it first, the
    /// job is left alone.
    /// - Parameters:
    ///   - claim: the planner's claim (files, output name, a failure decided in advance).
    ///   - token: a new, unique work folder name.
    ///   - claimedAt: monotonic seconds, for latency.
    ///   - pauseMilliseconds: a test hook: a wait between making the folder and locking it.
    ///   - sharedMask: the shared mask's snapshot, written into the folder before it becomes
    ///     visible as `work/TOKEN/` and before the inputs move.
    func claim(_ claim: InboxClaim, token: String, claimedAt: Double, pauseMilliseconds: Int = 0,
               sharedMask: SharedMaskSnapshot? = nil) -> ClaimResult {
        let name = claim.outputName
        let files = claim.files
        let staging = work.appending(".claim-\(getpid()).\(token)@\(me.run)")
        let directory = folder(for: token)
        var lock: FileDescriptor?
        func abandon() {
            try? lock?.close()
            try? FS.removeTree(directory)
            try? FS.removeTree(staging)
        }
        do {
            try FS.makeDirectory(staging, mode: 0o750)
            if pauseMilliseconds > 0 { usleep(UInt32(min(pauseMilliseconds, 600_000)) * 1000) }
            do {
                lock = try FS.lockDirectory(staging)
                if lock != nil {
                    // For people and tools; the folder's name is what counts, so a full
                    // disk (the record needs a block) does not stop the claim.
                    do {
                        try writeOwnerRecord(into: staging, generation: 1)
                    } catch {
                        logger.warning("cannot write the owner record; the folder's name still says who owns the job",
                                       metadata: ["job": "\(name)", "error": "\(error)"])
                    }
                    try sharedMask?.write(into: staging)
                    try FS.rename(staging, to: directory)
                }
            } catch SpoolError.system(_, _, .noSuchFileOrDirectory) {
                lock = nil  // another process's recovery removed it
            }
            guard lock != nil else {
                abandon()
                logger.warning("claim backed off: its work folder was locked or removed by another process",
                               metadata: ["job": "\(name)", "token": "\(token)"])
                return .busy
            }
            var moved = 0
            for (index, file) in files.enumerated() {
                do {
                    try FS.rename(inbox.appending(file), to: directory.appending(file))
                    moved += 1
                } catch SpoolError.system(_, _, .noSuchFileOrDirectory) {
                    if index == 0 { break }  // someone else claimed it
                }
            }
            if moved == 0 {
                abandon()
                return .taken
            }
        } catch {
            abandon()
            logger.error("claim failed", metadata: ["job": "\(name)", "error": "\(error)"])
            return .failed("cannot claim \(files.joined(separator: ", ")): \(error)", noSpace: error.isNoSpaceFailure)
        }
        let job = Job(token: token, directory: directory, name: name, attempts: 0, claimedAt: claimedAt, lock: lock)
        job.presetFailure = claim.failure
        var metadata: Logger.Metadata = ["job": "\(name)", "token": "\(token)", "files": "\(files.joined(separator: ","))"]
        if let sharedMask { metadata["shared_mask"] = "\(sharedMask.name)" }
        logger.info("claimed", metadata: metadata)
        return .claimed(job)
    }

    /// Moves a job's inputs back to `inbox/` (never replacing a newer file of the same name,
    /// which keeps the input in `work/` for the next start) and removes its work folder.
    /// - Returns: `false` when an input had to stay in `work/`.
    @discardableResult
    func returnToInbox(_ job: Job) -> Bool {
        var kept = false
        for entry in (try? FS.list(job.directory)) ?? [] where !entry.hasPrefix(".") {
            do {
                if try !FS.renameNoReplace(job.directory.appending(entry), to: inbox.appending(entry)) { kept = true }
            } catch {
                kept = true
                logger.error("cannot return input to inbox", metadata: ["file": "\(entry)", "error": "\(error)"])
            }
        }
        if !kept { try? FS.removeTree(job.directory) }
        job.unlock()
        logger.info("returned to inbox", metadata: ["job": "\(job.name)", "token": "\(job.token)"])
        return !kept
    }

    /// Removes what is left of a returned job's folder once its run has ended (a cancelled
    /// run may write there after ``returnToInbox(_:)`` removed it); a folder that still
    /// holds an input (one that could not go back to `inbox/`) stays.
    static func removeReturnedFolder(of job: Job) {
        guard let entries = try? FS.list(job.directory), !entries.contains(where: { !$0.hasPrefix(".") }) else { return }
        try? FS.removeTree(job.directory)
    }

    /// Writes the job's charged attempts to `.attempts` (not fsynced: it survives `kill -9`;
    /// a power cut may lose one). A failure is logged; the count stays in memory.
    static func recordAttempts(of job: Job, log: Logger) {
        do {
            try FS.replaceFile(job.directory.appending(".attempts"), Array("\(job.attempts)\n".utf8), durable: false)
        } catch {
            log.error("cannot record the attempt", metadata: ["error": "\(error)"])
        }
    }

    /// Marks, by an empty file `.transient-since.SECONDS`, since when the job has met
    /// transient errors, so that `transient_give_up` counts from then across restarts. An
    /// empty file needs no data block, so this usually works on a full disk too.
    func noteTransientSince(_ job: Job, since: Double) {
        let name = ".transient-since.\(Int(since.rounded(.down)))"
        do {
            try FS.writeNewFile(job.directory.appending(name), [], sync: false)
        } catch SpoolError.system(_, _, .fileExists) {
        } catch {
            logger.warning("cannot mark since when the job waits", metadata: ["job": "\(job.name)", "error": "\(error)"])
        }
    }

    /// Examines the job folders in `work/` whose owner is gone — a process that died, at
    /// start or while this daemon runs, on this host or another — and takes them over:
    /// finishes any publication that was complete but not yet renamed, deletes partial
    /// results, and returns the rest to be queued again. Jobs found in flight (a
    /// `.running.RUN` marker) are marked to run alone, and charged an attempt when they were
    /// the only job in flight of their run (``CrashAttribution``; the dead run's lease says
    /// how many it had, else the markers found are counted). Then removes claim folders
    /// left by a death while claiming, and leftovers of earlier versions.
    ///
    /// Who is gone (``LeaseObserver/verdict(run:record:unchangedFor:me:lease:processExists:)``):
    /// on this host (same `host_id` and boot), a run whose process no longer exists; on any
    /// host, a run whose lease has not changed for `lease` seconds, or that stopped. A
    /// folder of an earlier version (`work/TOKEN`) is taken when its `flock` is free. The
    /// takeover itself is the rename of `work/TOKEN@OLD` to `work/TOKEN@NEW`: of several
    /// daemons trying, one wins; the others find nothing to rename and leave the job alone.
    /// - Parameters:
    ///   - known: tokens of this process's own jobs, left alone.
    ///   - claimedAt: monotonic seconds, the recovered jobs' claim time.
    ///   - now: wall-clock seconds, to tell a stale claim folder.
    ///   - monotonic: this daemon's monotonic clock, for the leases.
    ///   - observer: the leases as last read.
    ///   - lease: the lease length (`lease`).
    ///   - sweepResults: also list `outbox/` and `failed/` for leftovers (at start and every
    ///     `rescan_interval`, not at every examination: they may hold many results).
    func recover(skipping known: Set<String> = [], claimedAt: Double, now: Double, monotonic: Double,
                 observer: inout LeaseObserver, lease: Double, sweepResults: Bool = true) -> Recovery {
        var recovery = Recovery()
        // Temporaries of earlier versions (outbox/.tmp-TOKEN) are listed before work/: a
        // job's work folder exists before its temporary, so one whose token is missing from
        // the later listing is an orphan.
        let results = sweepResults ? [outbox, failed].map { folder in (folder, (try? FS.list(folder)) ?? []) } : []
        let temporaries = results.flatMap { folder, names in names.filter { $0.hasPrefix(".tmp-") }.map { (folder, $0) } }
        let entries = (try? FS.list(work)) ?? []
        var verdicts: [String: (OwnerVerdict, LeaseRecord?)] = [:]
        func verdict(of run: String) -> (OwnerVerdict, LeaseRecord?) {
            if let known = verdicts[run] { return known }
            let bytes = try? FS.readFile(leases.appending(run), limit: 4096)
            let record = bytes.flatMap { LeaseRecord(text: String(decoding: $0, as: UTF8.self)) }
            let unchanged = observer.observe(run, content: bytes, now: monotonic)
            let result = (LeaseObserver.verdict(run: run, record: record, unchangedFor: unchanged, me: me, lease: lease,
                                                processExists: Host.processExists), record)
            verdicts[run] = result
            return result
        }
        // Markers of dead runs, by token, counted over every folder of theirs found here
        // (taken by this daemon or by another at the same moment).
        var markers: [String: [String]] = [:]
        var taken: [(job: Job, runs: [String])] = []
        for entry in entries.sorted() {
            let directory = work.appending(entry)
            if entry.hasPrefix(".claim-") {
                removeIfStaleClaim(directory, now: now)
                continue
            }
            guard let name = WorkFolderName(parsing: entry), !known.contains(name.token) else { continue }
            var lock: FileDescriptor?
            var reason: String
            var generation = 1
            switch name.owner {
            case nil:
                // An earlier version's folder: its owner holds the flock while it lives.
                guard let held = try? FS.lockDirectory(directory) else { continue }
                lock = held
                reason = "its folder's lock is free"
            case me.run?:
                reason = "this daemon left it (a cleanup that failed after a publication)"
            case let run?:
                guard case let (.gone(why), _) = verdict(of: run) else { continue }
                reason = "owner \(run): \(why)"
            }
            // A folder (not a stray file), whose owner is gone: examined now, and only now.
            guard (try? FS.metadata(directory))??.kind == .directory else {
                try? lock?.close()
                continue
            }
            if name.owner != me.run {
                let runsHere = ((try? FS.list(directory)) ?? []).compactMap(CrashAttribution.run(ofMarker:))
                if !runsHere.isEmpty { markers[name.token] = runsHere }
                generation = ownerGeneration(in: directory) + 1
            }
            let target = folder(for: name.token)
            if name.owner != me.run {
                do {
                    try FS.rename(directory, to: target)
                } catch SpoolError.system(_, _, .noSuchFileOrDirectory) {
                    try? lock?.close()
                    continue  // another daemon took it over first
                } catch {
                    try? lock?.close()
                    recovery.errors.append("cannot take over work/\(entry): \(error)")
                    logger.error("takeover failed", metadata: ["folder": "\(entry)", "error": "\(error)"])
                    continue
                }
            }
            if lock == nil { lock = try? FS.lockDirectory(target) }
            if lock == nil {
                // The old owner still holds the lock: a paused process on this machine, or
                // a dead host's lock that the file server has not yet released. The rename
                // has fenced it off; the job goes on without the lock.
                logger.warning("took over a job whose folder is still locked by its old owner", metadata: ["token": "\(name.token)"])
            }
            if name.owner != me.run {
                try? writeOwnerRecord(into: target, generation: generation)
                logger.info("took over a job", metadata: [
                    "token": "\(name.token)", "from": "\(name.owner ?? "an earlier version")", "reason": "\(reason)",
                    "generation": "\(generation)",
                ])
                recovery.takeovers += 1
            }
            do {
                if let (job, runs) = try recover(token: name.token, directory: target, lock: lock, claimedAt: claimedAt) {
                    taken.append((job, runs))
                }
            } catch {
                try? lock?.close()
                recovery.errors.append("cannot recover work/\(entry): \(error)")
                logger.error("recovery failed", metadata: ["token": "\(name.token)", "error": "\(error)"])
            }
        }
        // Charged when the dead run had this job alone in flight: its lease says how many it
        // had (counted across every daemon taking its jobs over), and the markers found
        // here must not say otherwise (a lease write that failed).
        let counted = CrashAttribution.charged(markers)
        for (job, runs) in taken {
            recovery.jobs.append(job)
            guard !runs.isEmpty else { continue }
            let alone = counted.contains(job.token) && runs.allSatisfy { run in (verdicts[run]?.1?.inFlight ?? 1) <= 1 }
            job.runsAlone = true
            if alone {
                job.attempts += 1
                Self.recordAttempts(of: job, log: logger)
            }
            for run in runs { try? FS.unlink(job.directory.appending(CrashAttribution.markerPrefix + run)) }
            let beside = runs.map { run in markers.values.filter { $0.contains(run) }.count - 1 }.max() ?? 0
            logger.warning("the job was in flight when a process died; it runs again alone", metadata: [
                "job": "\(job.name)", "token": "\(job.token)", "attempts": "\(job.attempts)",
                "charged": "\(alone)", "in_flight_beside_it": "\(beside)",
            ])
        }
        let live = Set(entries.compactMap { WorkFolderName(parsing: $0)?.token }).union(known)
        for (folder, entry) in temporaries where !live.contains(String(entry.dropFirst(5))) {
            if folder == failed {
                JobPublisher.discardFailedTemporary(folder.appending(entry), restoringInto: nil, log: logger)
            } else {
                try? FS.removeTree(folder.appending(entry))
            }
        }
        for (folder, names) in results where names.contains(where: { $0.hasSuffix(".naming") }) {
            for marker in FS.removeStaleNamingMarkers(in: folder, olderThan: Self.staleClaimAge, now: now) {
                logger.info("removed a naming marker left by a dead process", metadata: ["marker": "\(folder.appending(marker))"])
            }
        }
        return recovery
    }

    /// Lease files in `leases/` of runs that are gone and own no folder in `work/` are
    /// removed; the others are counted.
    /// - Returns: the runs whose leases are alive, this one included.
    func collectLeases(monotonic: Double, observer: inout LeaseObserver, lease: Double) -> [LeaseRecord] {
        let owners = Set(((try? FS.list(work)) ?? []).compactMap { WorkFolderName(parsing: $0)?.owner })
        var alive: [LeaseRecord] = []
        var runs = Set<String>()
        for run in (try? FS.list(leases)) ?? [] where !run.hasPrefix(".") {
            runs.insert(run)
            let bytes = try? FS.readFile(leases.appending(run), limit: 4096)
            let record = bytes.flatMap { LeaseRecord(text: String(decoding: $0, as: UTF8.self)) }
            let unchanged = observer.observe(run, content: bytes, now: monotonic)
            if run == me.run {
                if let record { alive.append(record) }
                continue
            }
            let verdict = LeaseObserver.verdict(run: run, record: record, unchangedFor: unchanged, me: me, lease: lease,
                                                processExists: Host.processExists)
            if !verdict.isGone {
                if let record { alive.append(record) }
            } else if !owners.contains(run) {
                try? FS.unlink(leases.appending(run))
            }
        }
        observer.keepOnly(runs)
        return alive
    }

    /// Removes `work/.claim-PID.TOKEN` when no process holds its lock and either process
    /// PID no longer exists or the folder is older than ``staleClaimAge``.
    private func removeIfStaleClaim(_ directory: FilePath, now: Double) {
        guard let meta = try? FS.metadata(directory), meta.kind == .directory else { return }
        let name = directory.lastComponent?.string ?? ""
        let pid = name.dropFirst(".claim-".count).split(separator: ".").first.flatMap { Int32($0) }
        // The pid means something only on the claiming host: a claim folder names its run
        // (`@RUN`), whose lease says which host that is.
        var sameHost = true
        if let at = name.lastIndex(of: "@"),
           let bytes = try? FS.readFile(leases.appending(String(name[name.index(after: at)...])), limit: 4096),
           let record = LeaseRecord(text: String(decoding: bytes, as: UTF8.self)) {
            sameHost = record.owner.host == me.host && record.owner.bootID == me.bootID
        }
        let ownerGone = sameHost && (pid.map { !Host.processExists($0) } ?? false)
        guard ownerGone || now - meta.modified >= Self.staleClaimAge,
              let lock = try? FS.lockDirectory(directory) else { return }
        try? FS.removeTree(directory)
        try? lock.close()
        logger.info("removed a claim folder left by a dead process", metadata: ["folder": "\(directory)"])
    }

    /// Recovers one locked work folder.
    /// - Returns: the job to queue again with the runs whose `.running` marker it held, or
    ///   `nil` when the job was finished (its folder is removed).
    private func recover(token: String, directory: FilePath, lock: FileDescriptor?,
                         claimedAt: Double) throws -> (Job, [String])? {
        let entries = try FS.list(directory)
        let inputs = entries.filter { !$0.hasPrefix(".") }
        let name = SpoolNames.outputName(for: inputs.map(SpoolNames.role(of:)).compactMap { role -> String? in
            if case let .image(n) = role { return n } else { return nil }
        }.first ?? inputs.sorted().first.map(SpoolNames.jobName(of:)) ?? token)
        if entries.contains(".done") {
            // The result was complete: finish its rename if it has not happened (the
            // temporary folder disappears only by that rename).
            for (folder, temporary) in [(outbox, directory.appending(JobPublisher.resultFolder)),
                                        (failed, directory.appending(JobPublisher.failureFolder)),
                                        (outbox, outbox.appending(".tmp-\(token)")), (failed, failed.appending(".tmp-\(token)"))] {
                guard try FS.metadata(temporary) != nil else { continue }
                let published = try JobPublisher.renameIntoPlace(temporary, folder: folder, name: name)
                try FS.syncDirectory(folder)
                logger.info("finished an interrupted publication", metadata: ["job": "\(name)", "result": "\(folder.appending(published))"])
            }
            try FS.removeTree(directory)
            try? lock?.close()
            return nil
        }
        try FS.removeTree(directory.appending(JobPublisher.resultFolder))
        JobPublisher.discardFailedTemporary(directory.appending(JobPublisher.failureFolder), restoringInto: directory, log: logger)
        try FS.removeTree(outbox.appending(".tmp-\(token)"))
        JobPublisher.discardFailedTemporary(failed.appending(".tmp-\(token)"), restoringInto: directory, log: logger)
        if try FS.list(directory).filter({ !$0.hasPrefix(".") }).isEmpty {
            try FS.removeTree(directory)
            try? lock?.close()
            return nil
        }
        var attempts = 0
        if entries.contains(".attempts"), let bytes = try? FS.readFile(directory.appending(".attempts"), limit: 64) {
            attempts = Int(String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        }
        let job = Job(token: token, directory: directory, name: name, attempts: attempts, claimedAt: claimedAt, lock: lock)
        if let since = entries.compactMap({ $0.hasPrefix(".transient-since.") ? Double($0.dropFirst(17)) : nil }).min() {
            job.retry = RetryState(since: since)
        }
        logger.info("re-queued a job left in work/", metadata: ["job": "\(name)", "token": "\(token)", "attempts": "\(attempts)"])
        return (job, entries.compactMap(CrashAttribution.run(ofMarker:)))
    }
}
