import Completion
import Imaging
import SystemIO
public import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The daemon's settings: `etc/pixelrnnd.conf` (`key = value` lines, `#` comments), with
/// command-line flags applied on top. Every key, its meaning and its default are listed in
/// ``DaemonConfiguration/keys`` and documented in `docs/daemon.md`.
public struct DaemonConfiguration: Sendable, Equatable {
    /// Spool root holding `inbox/`, `work/`, `outbox/` and `failed/` (`spool`).
    public var spool: FilePath = "/var/spool/pixelrnnd"
    /// Folder for `status.json` (`state`).
    public var state: FilePath = "/var/lib/pixelrnnd"
    /// Model file; empty means the embedded default model (`model`).
    public var model: FilePath? = nil
    /// A label for the model shown in the status file and reports; empty means derived (`model_name`).
    public var modelName: String = ""
    /// Adaptation steps per job unless NAME.json says otherwise (`adapt_steps`; 0 = none).
    public var adaptSteps: Int = 0
    /// Most seconds one job may spend adapting, whatever NAME.json asks (`adapt_max_seconds`).
    public var adaptMaxSeconds: Double = 60
    /// More models, by name, in file order (`model.NAME = PATH` lines). With none of
    /// these and no `model`, the embedded models are served (the gray default and, when
    /// installed, the colour model).
    public var namedModels: [NamedModel] = []
    /// Jobs processed at the same time (`workers`).
    public var workers: Int = 1
    /// Threads one job may use (`threads_per_job`).
    public var threadsPerJob: Int = 1
    /// Claimed jobs waiting for a worker, beyond those in flight (`queue_capacity`).
    public var queueCapacity: Int = 16
    /// Seconds an image without alpha waits for its mask (`mask_wait`).
    public var maskWait: Double = 60
    /// The shared mask (`masks/NAME.png`) for images that carry no mask of their own: no
    /// alpha, no `NAME.mask.png`, none named in `NAME.json` (`mask`; `nil` = none).
    public var mask: String? = nil
    /// How a shared mask is laid on an image of another size unless `NAME.json` says
    /// `mask_anchor` (`mask_anchor`; `none` = the sizes must agree).
    public var maskAnchor: String = "none"
    /// Seconds since its last modification before a file found by a scan is taken (`settle`).
    public var settle: Double = 2
    /// Attempts before a job is failed as a poison job (`max_attempts`): deaths of the
    /// daemon while the job was the only one in flight, and failed publications that were
    /// not transient (see ``RetryPolicy``).
    public var maxAttempts: Int = 3
    /// Seconds before the first retry after a transient error (`transient_backoff_initial`).
    public var transientBackoffInitial: Double = 1
    /// The longest wait between retries after transient errors (`transient_backoff_max`).
    public var transientBackoffMax: Double = 300
    /// Seconds of transient errors after which a job goes to `failed/` (`transient_give_up`).
    public var transientGiveUp: Double = 86_400
    /// Seconds in-flight jobs get to finish on SIGTERM before they return to `inbox/` (`drain_timeout`).
    public var drainTimeout: Double = 30
    /// Seconds between full scans of `inbox/` (`rescan_interval`).
    public var rescanInterval: Double = 30
    /// How new inbox files are noticed (`watch`): inotify, polling, or `auto` (polling when
    /// the spool is on a shared file system, where inotify sees only this host's changes).
    public var watch: WatchMode = .auto
    /// Seconds between listings of `inbox/` when polling (`poll_interval`).
    public var pollInterval: Double = 2
    /// This host's identity in owner records and leases (`host_id`); empty = the host name.
    /// Daemons on one machine with different identities treat each other as remote hosts.
    public var hostID: String = ""
    /// Seconds a daemon's claims survive without a renewal of its lease (`lease`): another
    /// host's daemon takes over the jobs of an owner whose lease has not changed for this long.
    public var lease: Double = 30
    /// Seconds between renewals of this daemon's lease, which is also how often `work/` is
    /// examined for jobs whose owner is gone (`lease_renew`).
    public var leaseRenew: Double = 5
    /// Seconds between status file refreshes when nothing happens (`status_interval`).
    public var statusInterval: Double = 5
    /// Largest accepted image width in pixels (`max_width`).
    public var maxWidth: Int = 4096
    /// Largest accepted image height in pixels (`max_height`).
    public var maxHeight: Int = 4096
    /// Largest accepted width × height (`max_pixels`).
    public var maxPixels: Int = 4_194_304
    /// Largest accepted input file in bytes (`max_bytes`).
    public var maxBytes: Int64 = 32 << 20
    /// Claiming stops while the spool's file system has less free space than this
    /// (`min_free_bytes`); `nil` (`auto`, the default) means
    /// ``automaticMinFreeBytes(fileSystemSize:)`` of the spool's file system.
    public var minFreeBytes: Int64? = nil
    /// Prometheus textfile-collector file, rewritten with the status; empty = none (`prometheus_textfile`).
    public var prometheusTextfile: FilePath? = nil
    /// Samples per job unless the job's options say otherwise (`samples`).
    public var samples: Int = 1
    /// Proposal temperature unless the job's options say otherwise (`temperature`); `nil`
    /// (the default) leaves it to each model (its file's `proposal_temperature`, else 1).
    public var temperature: Double?
    /// Test hook, never read from the file: extra milliseconds each job takes.
    public var debugJobDelayMilliseconds: Int = 0
    /// Test hook, never read from the file: extra milliseconds each SIGHUP's load takes.
    public var debugReloadDelayMilliseconds: Int = 0
    /// Test hook, never read from the file: milliseconds a claim waits between creating its
    /// work folder and locking it.
    public var debugClaimPauseMilliseconds: Int = 0
    /// Test hook, never read from the file: milliseconds a publication waits between
    /// marking its result complete (`.done`) and renaming it into place.
    public var debugPublishPauseMilliseconds: Int = 0
    /// Test hook, never read from the file: a job of this name kills the process halfway
    /// through its ``debugJobDelayMilliseconds`` (a poison job); empty = none.
    public var debugCrashJobName: String = ""

    /// A configuration with every default.
    public init() {}

    /// The configuration keys, in file order, with their documentation.
    public static let keys: [(key: String, help: String)] = [
        ("spool", "spool root holding inbox/, work/, outbox/ and failed/"),
        ("state", "folder for status.json"),
        ("model", "model file (safetensors); empty = embedded default model"),
        ("model_name", "label for the model in status and reports; empty = derived from the model"),
        ("model.NAME", "another model served under NAME (repeatable); jobs go to the model with their channel count unless NAME.json names one"),
        ("workers", "jobs processed at the same time"),
        ("threads_per_job", "threads one job may use"),
        ("queue_capacity", "claimed jobs waiting for a worker, beyond those in flight"),
        ("mask_wait", "seconds an image without alpha waits for its NAME.mask.png"),
        ("mask", "shared mask (masks/NAME.png) for images with no alpha, no NAME.mask.png and no mask named in NAME.json; empty = none"),
        ("mask_anchor", "how a shared mask is laid on an image of another size: none, a corner or edge (bottom-right...), centre or scale"),
        ("settle", "seconds since last modification before a file found by a scan is taken"),
        ("max_attempts", "attempts (deaths while the job ran alone, failed publications) before a job is failed as a poison job"),
        ("transient_backoff_initial", "seconds before the first retry after a transient error (disk full, I/O error)"),
        ("transient_backoff_max", "longest wait between retries after transient errors"),
        ("transient_give_up", "seconds of transient errors after which a job goes to failed/"),
        ("drain_timeout", "seconds in-flight jobs get on SIGTERM before returning to inbox/"),
        ("rescan_interval", "seconds between full scans of inbox/"),
        ("status_interval", "seconds between status refreshes when idle"),
        ("watch", "how new inbox files are noticed: inotify, poll, or auto (poll on NFS, CIFS, Ceph, 9p, FUSE)"),
        ("poll_interval", "seconds between listings of inbox/ when polling"),
        ("host_id", "this host's identity in owner records and leases; empty = the host name"),
        ("lease", "seconds a daemon's claims survive without a lease renewal before another host takes them over"),
        ("lease_renew", "seconds between lease renewals and examinations of work/ for jobs whose owner is gone"),
        ("max_width", "largest image width in pixels"),
        ("max_height", "largest image height in pixels"),
        ("max_pixels", "largest width x height"),
        ("max_bytes", "largest input file in bytes"),
        ("min_free_bytes", "claiming pauses below this much free space on the spool's file system; auto = 2% of its size, at most 256 MiB"),
        ("prometheus_textfile", "Prometheus textfile-collector output; empty = none"),
        ("samples", "samples per job unless NAME.json says otherwise"),
        ("temperature", "proposal temperature for every model unless NAME.json says otherwise (default: each model file's proposal_temperature, else 1)"),
        ("adapt_steps", "steps of fine-tuning on the job's visible pixels before sampling, unless NAME.json says otherwise; 0 = none"),
        ("adapt_max_seconds", "most seconds one job may spend adapting, whatever NAME.json asks"),
    ]

    /// Sets one key from its text value.
    /// - Throws: ``SpoolError/configuration(_:)`` for an unknown key or a bad value.
    public mutating func set(_ key: String, _ value: String, origin: String = "") throws {
        let at = origin.isEmpty ? "" : "\(origin): "
        func bad(_ expected: String) -> SpoolError {
            SpoolError.configuration("\(at)\(key) = '\(value)': expected \(expected)")
        }
        func int(_ range: ClosedRange<Int>) throws -> Int {
            guard let v = Int(value), range.contains(v) else { throw bad("an integer in \(range.lowerBound)...\(range.upperBound)") }
            return v
        }
        func bytes() throws -> Int64 {
            guard let v = Int64(value), v >= 0 else { throw bad("a byte count ≥ 0") }
            return v
        }
        func seconds(_ minimum: Double = 0) throws -> Double {
            guard let v = Double(value), v.isFinite, v >= minimum, v <= 86_400 * 365 else { throw bad("seconds ≥ \(minimum)") }
            return v
        }
        func path() throws -> FilePath {
            guard !value.isEmpty, !value.contains("\0") else { throw bad("a path") }
            return Self.absolute(FilePath(value))
        }
        switch key {
        case "spool": spool = try path()
        case "state": state = try path()
        case "model": model = value.isEmpty ? nil : try path()
        case _ where key.hasPrefix("model."):
            let name = String(key.dropFirst("model.".count))
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
                throw SpoolError.configuration("\(at)\(key): a model name is letters, digits, '-', '_' or '.'")
            }
            namedModels.removeAll { $0.name == name }
            if !value.isEmpty { namedModels.append(NamedModel(name: name, path: try path())) }
        case "model_name": modelName = value
        case "workers": workers = try int(1...256)
        case "threads_per_job": threadsPerJob = try int(1...256)
        case "queue_capacity": queueCapacity = try int(0...100_000)
        case "mask_wait": maskWait = try seconds()
        case "mask":
            guard value.isEmpty || SharedMaskName.validate(value) != nil else {
                throw bad("a mask name: letters, digits, '-', '_' or '.', not starting with '.'")
            }
            mask = value.isEmpty ? nil : SharedMaskName.validate(value)
        case "mask_anchor":
            guard let anchor = MaskAnchor(name: value) else { throw bad("one of " + MaskAnchor.names.joined(separator: ", ")) }
            maskAnchor = anchor.rawValue
        case "settle": settle = try seconds()
        case "max_attempts": maxAttempts = try int(1...1000)
        case "transient_backoff_initial": transientBackoffInitial = try seconds(0.01)
        case "transient_backoff_max": transientBackoffMax = try seconds(0.01)
        case "transient_give_up": transientGiveUp = try seconds()
        case "drain_timeout": drainTimeout = try seconds()
        case "rescan_interval": rescanInterval = try seconds(0.1)
        case "status_interval": statusInterval = try seconds(0.1)
        case "watch":
            guard let mode = WatchMode(rawValue: value) else { throw bad("inotify, poll or auto") }
            watch = mode
        case "poll_interval": pollInterval = try seconds(0.05)
        case "host_id":
            guard value.count <= 200, value.allSatisfy({ $0.isLetter || $0.isNumber || "-_.:".contains($0) }) else {
                throw bad("a host name: letters, digits, '-', '_', '.' or ':'")
            }
            hostID = value
        case "lease": lease = try seconds(0.2)
        case "lease_renew": leaseRenew = try seconds(0.05)
        case "max_width": maxWidth = try int(1...1 << 24)
        case "max_height": maxHeight = try int(1...1 << 24)
        case "max_pixels": maxPixels = try int(1...1 << 40)
        case "max_bytes": maxBytes = try bytes()
        case "min_free_bytes": minFreeBytes = value == "auto" ? nil : try bytes()
        case "prometheus_textfile": prometheusTextfile = value.isEmpty ? nil : try path()
        case "samples": samples = try int(1...1024)
        case "adapt_steps": adaptSteps = try int(0...100_000)
        case "adapt_max_seconds": adaptMaxSeconds = try seconds()
        case "temperature":
            guard let v = Double(value), CompletionOptions.isAcceptedTemperature(v) else { throw bad("a number in (0, 100]") }
            temperature = v
        default:
            throw SpoolError.configuration("\(at)unknown key '\(key)' (known keys: \(Self.keys.map(\.key).joined(separator: ", ")))")
        }
    }

    /// Parses configuration text over the current values.
    /// - Parameters:
    ///   - text: `key = value` lines; `#` starts a comment; blank lines are ignored.
    ///   - origin: the file name, for error messages.
    /// - Throws: ``SpoolError/configuration(_:)`` naming the line.
    public mutating func apply(text: String, origin: String) throws {
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = Substring(rawLine)
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            let trimmed = line.trimmingSpaces
            if trimmed.isEmpty { continue }
            guard let eq = trimmed.firstIndex(of: "=") else {
                throw SpoolError.configuration("\(origin):\(index + 1): expected 'key = value', found '\(trimmed)'")
            }
            let key = trimmed[..<eq].trimmingSpaces
            let value = trimmed[trimmed.index(after: eq)...].trimmingSpaces
            try set(String(key), String(value), origin: "\(origin):\(index + 1)")
        }
    }

    /// Loads the configuration: defaults, then the file (if any), then the overrides in order.
    /// - Parameters:
    ///   - file: the configuration file; `nil` means defaults only.
    ///   - overrides: `(key, value)` pairs from command-line flags.
    /// - Throws: ``SpoolError/configuration(_:)`` or a system error reading the file.
    public static func load(file: FilePath?, overrides: [(String, String)]) throws -> DaemonConfiguration {
        var configuration = DaemonConfiguration()
        if let file {
            let bytes = try FS.readFile(file, limit: 1 << 20)
            try configuration.apply(text: String(decoding: bytes, as: UTF8.self), origin: file.string)
        }
        for (key, value) in overrides { try configuration.set(key, value, origin: "--\(key.replacingUnderscores)") }
        try configuration.validate()
        return configuration
    }

    /// `path` made absolute against the current folder.
    static func absolute(_ path: FilePath) -> FilePath {
        if path.isAbsolute { return path.lexicallyNormalized() }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return path }
        let cwd = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        return FilePath(cwd).pushing(path).lexicallyNormalized()
    }

    /// This host's identity: `host_id`, or the host name.
    public var hostIdentity: String { hostID.isEmpty ? Host.name() : hostID }

    /// Checks what single keys cannot: the lease must outlast several renewals.
    /// - Throws: ``SpoolError/configuration(_:)``.
    public func validate() throws {
        guard leaseRenew * 2 <= lease else {
            throw SpoolError.configuration("lease_renew = \(leaseRenew) must be at most half of lease = \(lease), so that one late renewal does not lose the lease")
        }
    }

    /// The schedule of retries after transient errors.
    public var retryPolicy: RetryPolicy {
        RetryPolicy(initialDelay: transientBackoffInitial, maximumDelay: max(transientBackoffMax, transientBackoffInitial),
                    giveUpAfter: transientGiveUp)
    }

    /// `min_free_bytes = auto`: 2% of the spool's file system, at most 256 MiB, so that a
    /// small file system (a test mount, a container volume) still claims jobs while a large
    /// one keeps the 256 MiB of headroom results need.
    public static func automaticMinFreeBytes(fileSystemSize: Int64) -> Int64 {
        min(256 << 20, max(0, fileSystemSize) / 50)
    }

    /// The free space below which claiming pauses, for a file system of `fileSystemSize`
    /// bytes, with a phrase saying where the figure comes from (status file, log).
    public func minimumFreeBytes(fileSystemSize: Int64?) -> (bytes: Int64, source: String) {
        if let minFreeBytes { return (minFreeBytes, "configured") }
        guard let fileSystemSize else { return (256 << 20, "auto: 256 MiB (the file system's size is unknown)") }
        return (Self.automaticMinFreeBytes(fileSystemSize: fileSystemSize),
                "auto: 2% of the file system's \(fileSystemSize) bytes, at most 268435456")
    }

    /// Derived spool folders.
    var inbox: FilePath { spool.appending("inbox") }
    var work: FilePath { spool.appending("work") }
    var outbox: FilePath { spool.appending("outbox") }
    var failed: FilePath { spool.appending("failed") }
    /// Shared masks, `masks/NAME.png`.
    var masks: FilePath { spool.appending("masks") }
    /// `leases/`: one lease file per daemon run on the spool.
    var leases: FilePath { spool.appending("leases") }
}

extension Substring {
    var trimmingSpaces: Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" || f == "\r" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s.removeLast() }
        return s
    }
}

extension String {
    var replacingUnderscores: String { String(map { $0 == "_" ? "-" : $0 }) }
}

/// A model the configuration names (`model.NAME = PATH`).
public struct NamedModel: Sendable, Equatable {
    public var name: String
    public var path: FilePath
}

/// How the daemon notices new files in `inbox/` (`watch`).
public enum WatchMode: String, Sendable, Equatable {
    /// inotify events (`IN_CLOSE_WRITE`, `IN_MOVED_TO`), with a full scan every `rescan_interval`.
    case inotify
    /// A listing of `inbox/` every `poll_interval`: what a daemon must do when other hosts
    /// write the spool, since inotify sees only this kernel's changes.
    case poll
    /// `poll` when `statfs` says the spool is on NFS, SMB/CIFS, Ceph, 9p or FUSE, `inotify`
    /// otherwise.
    case auto

    /// The mode to use for a spool on a shared file system (one other machines write) or not.
    public func resolved(sharedFileSystem: Bool) -> WatchMode {
        switch self {
        case .inotify, .poll: return self
        case .auto: return sharedFileSystem ? .poll : .inotify
        }
    }
}
