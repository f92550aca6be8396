import Completion
import Foundation
import Logging
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Runs one claimed job on a worker thread and publishes its result: the processor's
/// outputs and a copy of the inputs to `outbox/NAME/`, or the inputs and `error.json` to
/// `failed/NAME/`, each built in a hidden temporary folder, fsynced, and renamed into place
/// without ever replacing anything. Every file-system call goes through ``FS``.
struct JobPublisher: Sendable {
    /// How a job's run ended, for the control loop.
    enum Outcome: Sendable {
        /// In `outbox/` under this name.
        case published(String)
        /// In `failed/` under this name, with the reason.
        case failed(String, reason: String)
        /// The drain returned the job to `inbox/` first.
        case returned
        /// A transient failure (disk full, I/O error…; ``SpoolError/isTransient``), or
        /// `failed/` could not be written: the job stays in `work/`, no attempt is charged,
        /// and it is tried again after the ``RetryPolicy`` backoff. `stage` is where it
        /// happened (`output` or `publish`), for `error.json` should the job be given up.
        case transient(String, noSpace: Bool, stage: String)
        /// Publishing failed for a reason that is not transient: one attempt was charged,
        /// and the job is tried again after the backoff (up to `max_attempts`).
        case retry(String)
        /// The job's folder is gone from under this daemon: another daemon took the job
        /// over (this one was judged gone: paused or cut off past its lease). Nothing was
        /// published by this run; the new owner publishes it.
        case lost
    }

    /// The result being built, inside the job's folder: `work/TOKEN@RUN/.result/`, renamed
    /// to `outbox/NAME` to publish it. Since it lies inside the folder that a takeover
    /// renames, a run that has lost the job can never publish it (the rename's source is gone).
    static let resultFolder = ".result"
    /// The failure being built, `work/TOKEN@RUN/.failure/`, renamed to `failed/NAME`.
    static let failureFolder = ".failure"

    let logger: Logger
    /// This process's run, named in the `.running.RUN` markers of the jobs it processes.
    let runName: String

    /// Runs one job: process, then publish to `outbox/` or `failed/`. While the processor
    /// runs, the work folder holds the marker `.running.RUN` (see ``CrashAttribution``).
    /// - Parameter processingEnded: called once, when nothing but publishing (copies,
    ///   fsyncs, renames) is left, or when the run ends without processing.
    func run(_ job: Job, processor: any JobProcessor, configuration c: DaemonConfiguration,
             processingEnded: @escaping () -> Void = {}) -> Outcome {
        var ended = false
        let endProcessing = {
            if !ended { processingEnded() }
            ended = true
        }
        defer { endProcessing() }
        if Self.wasTakenOver(job) { return .lost }
        let outcome = runOwned(job, processor: processor, configuration: c, processingEnded: endProcessing)
        switch outcome {
        case .published, .failed, .lost:
            return outcome
        case .returned, .transient, .retry:
            return Self.wasTakenOver(job) ? .lost : outcome
        }
    }

    /// Whether the job's folder is gone (taken over by another daemon); `false` when that
    /// cannot be told.
    static func wasTakenOver(_ job: Job) -> Bool {
        do { return try FS.metadata(job.directory) == nil } catch { return false }
    }

    private func runOwned(_ job: Job, processor: any JobProcessor, configuration c: DaemonConfiguration,
                          processingEnded: () -> Void) -> Outcome {
        var log = logger
        log[metadataKey: "job"] = "\(job.name)"
        log[metadataKey: "token"] = "\(job.token)"
        // A marker that vouched for an earlier, abandoned result must not vouch for this one.
        do {
            if try FS.metadata(job.directory.appending(".done")) != nil { try FS.unlink(job.directory.appending(".done")) }
        } catch {
            return .transient("\(job.name): \(error)", noSpace: error.isNoSpaceFailure, stage: "publish")
        }
        if job.presetFailure == nil, job.decidedFailure == nil, job.attempts >= c.maxAttempts {
            job.presetFailure = .tooManyAttempts(job.attempts)
        }
        var failure = job.decidedFailure ?? job.presetFailure.map { JobFailure(stage: "claim", reason: $0.description) }
        if failure == nil {
            let marker = job.directory.appending(CrashAttribution.markerPrefix + runName)
            markRunning(marker, log: log)
            let outcome = process(job, processor: processor, configuration: c, log: log) {
                // The processor is done: a death from here on is not this job's doing.
                try? FS.unlink(marker)
                processingEnded()
            }
            try? FS.unlink(marker)
            switch outcome {
            case let .finished(outcome): return outcome
            case let .failed(decided): failure = decided
            }
        }
        processingEnded()
        return publishFailure(job, failure!, processor: processor, configuration: c, log: log)
    }

    /// How processing a job ended: an outcome for the loop, or a failure to publish.
    private enum Processed {
        case finished(Outcome)
        case failed(JobFailure)
    }

    /// Runs the processor and publishes its result to `outbox/`.
    private func process(_ job: Job, processor: any JobProcessor, configuration c: DaemonConfiguration,
                         log: Logger, processingEnded: () -> Void) -> Processed {
        let temporary = job.directory.appending(Self.resultFolder)
        let delay = UInt32(min(c.debugJobDelayMilliseconds, 600_000)) * 1000
        if !c.debugCrashJobName.isEmpty, job.name == c.debugCrashJobName {
            // A poison job for tests: halfway through the job delay (so that jobs started
            // beside it are in flight), the process dies as a crash would kill it (SIGKILL
            // rather than abort(), so that no core file is written).
            usleep(delay / 2)
            log.critical("killing the process on the job named by --debug-crash-on")
            kill(getpid(), SIGKILL)
        }
        // The test delay ends early when the drain returns the job, as a completion does.
        var slept: UInt32 = 0
        while slept < delay, !job.cancellation.isCancelled {
            usleep(min(10_000, delay - slept))
            slept += 10_000
        }
        do {
            let inputs = try Self.inputs(of: job)
            try? FS.removeTree(temporary)
            try FS.makeDirectory(temporary)
            try processor.process(inputs, outputDirectory: temporary, logger: log)
        } catch let error as SpoolError where error.isTransient {
            try? FS.removeTree(temporary)
            return .finished(.transient("\(job.name): \(error)", noSpace: error.isNoSpaceFailure, stage: "output"))
        } catch {
            try? FS.removeTree(temporary)
            // The drain returned the job and stopped its completion: nothing to charge.
            if job.phase.withLock({ $0 == .returned }) { return .finished(.returned) }
            // The run that found the input at fault counts as the job's attempt.
            job.attempts += 1
            let failure = JobFailure(stage: "input", reason: "\(error)")
            job.decidedFailure = failure
            return .failed(failure)
        }
        if job.phase.withLock({ $0 == .returned }) {
            try? FS.removeTree(temporary)
            return .finished(.returned)
        }
        processingEnded()
        do {
            try copyInputs(of: job, into: temporary)
            let published = try publish(job, temporary: temporary, into: c.outbox, marker: "outbox",
                                        pauseMilliseconds: c.debugPublishPauseMilliseconds, log: log)
            guard let published else { return .finished(.returned) }
            log.info("published", metadata: ["result": "\(c.outbox.appending(published))"])
            return .finished(.published(published))
        } catch {
            // The temporary result is about to go; so must a marker that vouches for it.
            let keep = !Self.withdrawDoneMarker(of: job)
            if !keep { try? FS.removeTree(temporary) }
            log.error("publishing failed", metadata: ["error": "\(error)", "attempts": "\(job.attempts)"])
            if error.isTransientFailure || keep {
                return .finished(.transient("\(job.name): publishing failed: \(error)", noSpace: error.isNoSpaceFailure, stage: "publish"))
            }
            job.attempts += 1
            WorkFolders.recordAttempts(of: job, log: log)
            if job.attempts < c.maxAttempts { return .finished(.retry("\(job.name): publishing failed: \(error)")) }
            let failure = JobFailure(stage: "publish", reason: "gave up after \(job.attempts) attempts: \(error)")
            job.decidedFailure = failure
            return .failed(failure)
        }
    }

    /// Publishes a failure to `failed/NAME/`; when that cannot be done the job stays in
    /// `work/` (its temporary folder removed) and is tried again after the backoff.
    private func publishFailure(_ job: Job, _ failure: JobFailure, processor: any JobProcessor,
                                configuration c: DaemonConfiguration, log: Logger) -> Outcome {
        if job.phase.withLock({ $0 == .returned }) { return .returned }
        let temporary = job.directory.appending(Self.failureFolder)
        do {
            let published = try buildFailure(job, failure, temporary: temporary, processor: processor, configuration: c, log: log)
            guard let published else { return .returned }
            log.warning("failed", metadata: ["reason": "\(failure.reason)", "result": "\(c.failed.appending(published))"])
            return .failed(published, reason: failure.reason)
        } catch {
            if job.phase.withLock({ $0 == .returned }) { return .returned }
            if Self.withdrawDoneMarker(of: job) { Self.discardFailedTemporary(temporary, restoringInto: job.directory, log: log) }
            log.error("cannot publish failure; the job stays in work/ and is tried again",
                      metadata: ["error": "\(error)", "reason": "\(failure.reason)"])
            return .transient("\(job.name): \(failure.reason); and moving it to failed/ failed: \(error)",
                              noSpace: error.isNoSpaceFailure, stage: failure.stage)
        }
    }

    /// Creates the empty `.running.RUN` marker; without it a death during this run is not
    /// charged to the job, which is logged.
    private func markRunning(_ marker: FilePath, log: Logger) {
        do {
            try FS.writeNewFile(marker, [], sync: false)
        } catch SpoolError.system(_, _, .fileExists) {
        } catch {
            log.warning("cannot mark the job as running", metadata: ["error": "\(error)"])
        }
    }

    /// Removes `work/TOKEN/.done` before the temporary result it vouches for is removed.
    /// - Returns: `false` when it is still there (the result must then be kept: recovery
    ///   finishes its publication).
    static func withdrawDoneMarker(of job: Job) -> Bool {
        do {
            try FS.unlink(job.directory.appending(".done"))
            return true
        } catch SpoolError.system(_, _, .noSuchFileOrDirectory) {
            return true
        } catch {
            return false
        }
    }

    /// Removes an unpublished failure folder (`work/TOKEN@RUN/.failure/`), first moving back into the work folder
    /// (when there is one) any input that was moved rather than copied there (a refused
    /// link or FIFO), under the name `error.json` says it had.
    static func discardFailedTemporary(_ temporary: FilePath, restoringInto directory: FilePath?, log: Logger) {
        do {
            guard try FS.metadata(temporary) != nil else { return }
            if let directory {
                // error.json is written before anything is moved in, with the original names.
                var original: [String: String] = [:]
                if let bytes = try? FS.readFile(temporary.appending("error.json"), limit: 1 << 20),
                   let document = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] {
                    original = document["original_input_names"] as? [String: String] ?? [:]
                }
                for entry in try FS.list(temporary) where entry != "error.json" {
                    let name = original[entry] ?? entry
                    if try FS.metadata(temporary.appending(entry))?.kind != .regular, try FS.metadata(directory.appending(name)) == nil {
                        try FS.rename(temporary.appending(entry), to: directory.appending(name))
                    }
                }
            }
            try FS.removeTree(temporary)
        } catch {
            log.error("cannot remove an unpublished failure", metadata: ["folder": "\(temporary)", "error": "\(error)"])
        }
    }

    /// The job's inputs as the processor sees them, checked to be regular files.
    static func inputs(of job: Job) throws -> JobInputs {
        var image: FilePath?
        var mask: FilePath?
        var options: FilePath?
        var name = job.name
        for entry in try FS.list(job.directory).sorted() where !entry.hasPrefix(".") {
            let path = job.directory.appending(entry)
            guard let meta = try FS.metadata(path) else { continue }
            guard meta.kind == .regular else { throw SpoolError.notARegularFile(name: entry, kind: meta.kind.word) }
            switch SpoolNames.role(of: entry) {
            case let .image(n) where image == nil: image = path; name = n
            case .mask where mask == nil: mask = path
            case .options where options == nil: options = path
            default: throw SpoolError.unrecognisedName(entry)
            }
        }
        guard let image else {
            throw SpoolError.incompleteJob("the job has no image (NAME.png, NAME.jpg or NAME.jpeg)")
        }
        return JobInputs(name: name, image: image, mask: mask, options: options,
                         sharedMask: try SharedMaskInput.read(in: job.directory), cancellation: job.cancellation)
    }

    /// Copies the original inputs beside the outputs, each under its name made safe as
    /// output folder names are (``SpoolNames/safeFileName(_:)``: control characters become
    /// `_`); an input whose name an output already uses is copied as `input-NAME`. When a
    /// name had to change, `report.json` gets `original_input_names` (copy → original).
    private func copyInputs(of job: Job, into folder: FilePath) throws {
        let outputs = Set(try FS.list(folder))
        var renamed: [String: String] = [:]
        for entry in try FS.list(job.directory).sorted() where !entry.hasPrefix(".") {
            let safe = SpoolNames.safeFileName(entry)
            let target = outputs.contains(safe) ? "input-\(safe)" : safe
            try FS.copyFile(job.directory.appending(entry), to: folder.appending(target), sync: false)
            if safe != entry { renamed[target] = entry }
        }
        if !renamed.isEmpty { try Self.addOriginalNames(renamed, toReportIn: folder) }
    }

    /// Adds `"original_input_names": {copy: original}` to the processor's `report.json` (a
    /// JSON object), by inserting it before the closing brace so that nothing else in the
    /// report changes. Without a report, nothing is done.
    static func addOriginalNames(_ renamed: [String: String], toReportIn folder: FilePath) throws {
        let path = folder.appending("report.json")
        guard try FS.metadata(path)?.kind == .regular else { return }
        var bytes = try FS.readFile(path, limit: 64 << 20)
        guard let close = bytes.lastIndex(of: UInt8(ascii: "}")) else { return }
        // The new entry follows the last value directly (whitespace before the brace goes).
        var end = close
        while end > 0, bytes[end - 1] <= 0x20 { end -= 1 }
        guard end > 0 else { return }
        let names = try JSONSerialization.data(withJSONObject: renamed, options: [.sortedKeys, .withoutEscapingSlashes])
        let separator = bytes[end - 1] == UInt8(ascii: "{") ? "\n" : ",\n"
        let entry = Array("\(separator)  \"original_input_names\" : ".utf8) + [UInt8](names) + [10]
        bytes.replaceSubrange(end..<close, with: entry)
        try FS.unlink(path)
        try FS.writeNewFile(path, bytes, sync: false)
    }

    /// Builds `work/TOKEN@RUN/.failure/` with `error.json` and the inputs, then publishes it.
    /// Regular inputs are copied under safe names (as for `outbox/`); anything else is moved
    /// as it is, under its safe name, never followed or read. `error.json` is written
    /// first, so that an unfinished folder says what was moved into it and how it was named.
    private func buildFailure(_ job: Job, _ failure: JobFailure, temporary: FilePath, processor: any JobProcessor,
                              configuration c: DaemonConfiguration, log: Logger) throws -> String? {
        try? FS.removeTree(temporary)
        try FS.makeDirectory(temporary)
        let inputs = try FS.list(job.directory).sorted().filter { !$0.hasPrefix(".") }
        var renamed: [String: String] = [:]
        for entry in inputs where SpoolNames.safeFileName(entry) != entry { renamed[SpoolNames.safeFileName(entry)] = entry }
        var document: [String: Any] = [
            "name": job.name,
            "stage": failure.stage,
            "reason": failure.reason,
            "failed_at": Timestamp.iso8601(Date()),
            "attempts": job.attempts,
            "inputs": inputs,
            "model": processor.identity.jsonObject,
            "version": Daemon.version,
        ]
        if !renamed.isEmpty { document["original_input_names"] = renamed }
        if let retry = job.retry, retry.failures > 0 {
            document["transient_failures"] = retry.failures
            document["transient_since"] = Timestamp.iso8601(Date(timeIntervalSince1970: retry.since))
        }
        let json = try JSONSerialization.data(
            withJSONObject: document, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        try FS.writeNewFile(temporary.appending("error.json"), [UInt8](json) + [10], sync: false)
        for entry in inputs {
            let source = job.directory.appending(entry)
            let target = temporary.appending(SpoolNames.safeFileName(entry))
            if try FS.metadata(source)?.kind == .regular {
                try FS.copyFile(source, to: target, sync: false)
            } else {
                try FS.rename(source, to: target)
            }
        }
        return try publish(job, temporary: temporary, into: c.failed, marker: "failed",
                           pauseMilliseconds: c.debugPublishPauseMilliseconds, log: log)
    }

    /// Makes a finished temporary folder durable and renames it into `folder` as `NAME`,
    /// `NAME-1`, `NAME-2`… (never replacing anything), then removes the job's work folder.
    /// Once the rename is done the job is published, whatever follows: a failure to sync
    /// `folder` or to remove the work folder is logged (the `.done` marker left in `work/`
    /// tells recovery that the result is out).
    /// - Returns: the published name, or `nil` when the drain returned the job to the inbox first.
    ///
    /// The rename's source lies in the job's folder: if another daemon took the job over
    /// meanwhile, the source is gone and the rename fails (`ENOENT`), so that one run only
    /// ever publishes a job (``Outcome/lost``).
    /// - Parameter pauseMilliseconds: a test hook: a wait between `.done` and the rename.
    private func publish(_ job: Job, temporary: FilePath, into folder: FilePath, marker: String, pauseMilliseconds: Int = 0,
                         log: Logger) throws -> String? {
        try FS.syncTree(temporary)
        let proceed = job.phase.withLock { phase -> Bool in
            if phase == .returned { return false }
            phase = .publishing
            return true
        }
        guard proceed else {
            try? FS.removeTree(temporary)
            return nil
        }
        // The marker's existence is what counts (recovery looks for the temporary folder
        // itself), so only the folder entry needs to be durable.
        let done = job.directory.appending(".done")
        try? FS.unlink(done)
        try FS.writeNewFile(done, Array(marker.utf8), sync: false)
        try FS.syncDirectory(job.directory)
        if pauseMilliseconds > 0 { usleep(UInt32(min(pauseMilliseconds, 600_000)) * 1000) }
        let name = try Self.renameIntoPlace(temporary, folder: folder, name: job.name)
        do {
            try FS.syncDirectory(folder)
            try FS.removeTree(job.directory)
        } catch {
            log.error("published, but cleaning up after it failed; recovery removes the work folder",
                      metadata: ["error": "\(error)", "result": "\(folder.appending(name))"])
        }
        job.unlock()
        return name
    }

    /// Renames `temporary` into `folder` as `name`, or `name-1`, `name-2`… when taken.
    /// - Returns: the name it got.
    static func renameIntoPlace(_ temporary: FilePath, folder: FilePath, name: String) throws -> String {
        var suffix = 0
        while true {
            let candidate = suffix == 0 ? name : "\(name)-\(suffix)"
            if try FS.renameNoReplace(temporary, to: folder.appending(candidate)) { return candidate }
            suffix += 1
        }
    }
}

extension Error {
    /// Whether this is a transient failure by the one rule (``SpoolError/isTransient``);
    /// any error that is not a ``SpoolError`` is the job's.
    var isTransientFailure: Bool { (self as? SpoolError)?.isTransient ?? false }
    /// Whether this says the file system has no room (``SpoolError/isNoSpace``).
    var isNoSpaceFailure: Bool { (self as? SpoolError)?.isNoSpace ?? false }
}
