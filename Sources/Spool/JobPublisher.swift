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
        /// Neither `outbox/` nor `failed/` could be written: the job stays in `work/` for
        /// the next start.
        case stuck(String)
        /// A transient failure (disk full, I/O error): the job stays in `work/` and runs again
        /// after ``JobPublisher/retryDelay``, up to `max_attempts` starts.
        case retry(String)
    }

    /// Seconds before a job that met a transient failure runs again.
    static let retryDelay = 2.0

    let logger: Logger

    /// Runs one job: process, then publish to `outbox/` or `failed/`.
    func run(_ job: Job, processor: any JobProcessor, configuration c: DaemonConfiguration) -> Outcome {
        var log = logger
        log[metadataKey: "job"] = "\(job.name)"
        log[metadataKey: "token"] = "\(job.token)"
        let temporary = c.outbox.appending(".tmp-\(job.token)")
        var failure: (stage: String, reason: String)?
        if job.presetFailure == nil {
            // Counted before the work starts, so a job that kills the daemon is bounded.
            if job.attempts >= c.maxAttempts {
                job.presetFailure = .tooManyAttempts(job.attempts)
            } else {
                job.attempts += 1
                do {
                    // Not fsynced: it survives kill -9 (page cache); a power cut costs at most an extra attempt.
                    try FS.replaceFile(job.directory.appending(".attempts"), Array("\(job.attempts)\n".utf8), durable: false)
                } catch {
                    log.error("cannot record the attempt", metadata: ["error": "\(error)"])
                }
            }
        }
        if let preset = job.presetFailure {
            failure = ("claim", preset.description)
        } else {
            if c.debugJobDelayMilliseconds > 0 { usleep(UInt32(min(c.debugJobDelayMilliseconds, 600_000)) * 1000) }
            do {
                let inputs = try Self.inputs(of: job)
                try? FS.removeTree(temporary)
                try FS.makeDirectory(temporary)
                try processor.process(inputs, outputDirectory: temporary, logger: log)
            } catch let error as SpoolError where error.isTransient {
                try? FS.removeTree(temporary)
                if job.attempts < c.maxAttempts { return .retry("\(job.name): \(error)") }
                failure = ("output", "gave up after \(job.attempts) attempts: \(error)")
            } catch {
                failure = ("input", "\(error)")
            }
        }
        if job.phase.withLock({ $0 == .returned }) {
            try? FS.removeTree(temporary)
            return .returned
        }
        if failure == nil {
            do {
                try copyInputs(of: job, into: temporary)
                let published = try publish(job, temporary: temporary, into: c.outbox, marker: "outbox")
                guard let published else { return .returned }
                log.info("published", metadata: ["result": "\(c.outbox.appending(published))"])
                return .published(published)
            } catch {
                // The temporary result is about to go; so must a marker that vouches for it.
                try? FS.unlink(job.directory.appending(".done"))
                log.error("publishing failed", metadata: ["error": "\(error)", "attempt": "\(job.attempts)"])
                if job.attempts < c.maxAttempts {
                    try? FS.removeTree(temporary)
                    return .retry("\(job.name): publishing failed: \(error)")
                }
                failure = ("publish", "gave up after \(job.attempts) attempts: \(error)")
            }
        }
        try? FS.removeTree(temporary)
        let (stage, reason) = failure!
        if job.phase.withLock({ $0 == .returned }) { return .returned }
        do {
            let published = try publishFailure(job, stage: stage, reason: reason, processor: processor, configuration: c)
            guard let published else { return .returned }
            log.warning("failed", metadata: ["reason": "\(reason)", "result": "\(c.failed.appending(published))"])
            return .failed(published, reason: reason)
        } catch {
            if job.phase.withLock({ $0 == .returned }) { return .returned }
            log.error("cannot publish failure; job stays in work/ for the next start", metadata: ["error": "\(error)", "reason": "\(reason)"])
            return .stuck("\(job.name): \(reason); and moving it to failed/ failed: \(error)")
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
                         sharedMask: try SharedMaskInput.read(in: job.directory))
    }

    /// Copies the original inputs beside the outputs; an input whose name an output already
    /// uses is copied as `input-NAME`.
    private func copyInputs(of job: Job, into folder: FilePath) throws {
        let outputs = Set(try FS.list(folder))
        for entry in try FS.list(job.directory) where !entry.hasPrefix(".") {
            let target = outputs.contains(entry) ? "input-\(entry)" : entry
            try FS.copyFile(job.directory.appending(entry), to: folder.appending(target), sync: false)
        }
    }

    /// Builds `failed/.tmp-TOKEN/` with the untouched inputs and `error.json`, then publishes it.
    private func publishFailure(_ job: Job, stage: String, reason: String, processor: any JobProcessor,
                                configuration c: DaemonConfiguration) throws -> String? {
        let temporary = c.failed.appending(".tmp-\(job.token)")
        try? FS.removeTree(temporary)
        try FS.makeDirectory(temporary)
        var inputs: [String] = []
        for entry in try FS.list(job.directory).sorted() where !entry.hasPrefix(".") {
            let source = job.directory.appending(entry)
            if try FS.metadata(source)?.kind == .regular {
                try FS.copyFile(source, to: temporary.appending(entry), sync: false)
            } else {
                // Never followed or read: the entry itself is moved (recovery moves it back
                // if the daemon dies before the failure is published).
                try FS.rename(source, to: temporary.appending(entry))
            }
            inputs.append(entry)
        }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let document: [String: Any] = [
            "name": job.name,
            "stage": stage,
            "reason": reason,
            "failed_at": formatter.string(from: Date()),
            "attempts": job.attempts,
            "inputs": inputs,
            "model": processor.identity.jsonObject,
            "version": Daemon.version,
        ]
        let json = try JSONSerialization.data(
            withJSONObject: document, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        try FS.writeNewFile(temporary.appending("error.json"), [UInt8](json) + [10], sync: false)
        return try publish(job, temporary: temporary, into: c.failed, marker: "failed")
    }

    /// Makes a finished temporary folder durable and renames it into `folder` as `NAME`,
    /// `NAME-1`, `NAME-2`… (never replacing anything), then removes the job's work folder.
    /// - Returns: the published name, or `nil` when the drain returned the job to the inbox first.
    private func publish(_ job: Job, temporary: FilePath, into folder: FilePath, marker: String) throws -> String? {
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
        let name = try Self.renameIntoPlace(temporary, folder: folder, name: job.name)
        try FS.syncDirectory(folder)
        try FS.removeTree(job.directory)
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
