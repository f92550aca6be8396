public import Completion
public import Logging
public import SystemPackage

/// The input files of one claimed job; every path lies inside the job's work folder.
public struct JobInputs: Sendable {
    /// The job's name (`NAME` of `NAME.png`), as the user wrote it.
    public var name: String
    /// The image: `NAME.png`, `NAME.jpg` or `NAME.jpeg`.
    public var image: FilePath
    /// `NAME.mask.png`, when one was dropped.
    public var mask: FilePath?
    /// `NAME.json` with per-job options, when one was dropped (see ``JobOptions``).
    public var options: FilePath?
    /// The shared mask (`masks/NAME.png`) as it was when the job was claimed, when the job
    /// uses one. `NAME.mask.png` takes precedence over it, and it over the image's alpha.
    public var sharedMask: SharedMaskInput?
    /// Set by the daemon when it stops the job (a drain past `drain_timeout` returned it to
    /// `inbox/`): a processor should stop soon after and may throw; nothing is published.
    public var cancellation: CancellationFlag?

    /// Creates a job description.
    public init(name: String, image: FilePath, mask: FilePath? = nil, options: FilePath? = nil,
                sharedMask: SharedMaskInput? = nil, cancellation: CancellationFlag? = nil) {
        self.cancellation = cancellation
        self.name = name
        self.image = image
        self.mask = mask
        self.options = options
        self.sharedMask = sharedMask
    }
}

/// One field of a processor's identity: text, or a number that the status file and
/// `error.json` show as a JSON number.
public enum IdentityValue: Sendable, Equatable, CustomStringConvertible {
    case text(String)
    case integer(Int)
    case number(Double)

    /// The value as `JSONSerialization` takes it.
    var jsonValue: Any {
        switch self {
        case let .text(text): text
        case let .integer(value): value
        case let .number(value): value
        }
    }

    /// The value as the log shows it.
    public var description: String {
        switch self {
        case let .text(text): text
        case let .integer(value): String(value)
        case let .number(value): String(value)
        }
    }
}

extension [String: IdentityValue] {
    /// The identity as a JSON object.
    var jsonObject: [String: Any] { mapValues(\.jsonValue) }

    /// The identity as flat log fields, each key prefixed with `model_`
    /// (`model_name=tiny model_channels=1 …`).
    var logMetadata: Logger.Metadata {
        Logger.Metadata(uniqueKeysWithValues: map { ("model_\($0.key)", .string($0.value.description)) })
    }
}

/// What turns one job's inputs into its outputs. The daemon knows nothing else about models.
public protocol JobProcessor: Sendable {
    /// What the status file shows as the model identity (name, sha256, architecture...).
    var identity: [String: IdentityValue] { get }
    /// Every model the processor serves (the status file's `models`); `[identity]` by default.
    var modelIdentities: [[String: IdentityValue]] { get }
    /// Processes one claimed job, writing every output file into `outputDirectory` (which
    /// exists and is empty). The daemon fsyncs the whole folder before publishing it, so
    /// outputs need not be fsynced here; it may be called on several threads at once.
    /// - Parameters:
    ///   - job: the inputs, inside the claimed work folder; read them, never change them.
    ///   - outputDirectory: where `completed.png`, `report.json`… go.
    ///   - logger: the daemon's logger, with the job's name in its metadata.
    /// - Throws: an error whose description is a clear reason for `error.json` when the input is bad.
    func process(_ job: JobInputs, outputDirectory: FilePath, logger: Logger) throws
}

extension JobProcessor {
    public var modelIdentities: [[String: IdentityValue]] { [identity] }
}

/// Loads a processor from configuration (used at start and on SIGHUP); throws on a bad model.
public typealias JobProcessorLoader = @Sendable (DaemonConfiguration) throws -> any JobProcessor
