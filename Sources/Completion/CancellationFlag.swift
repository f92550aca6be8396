import Synchronization

/// A one-way flag that asks a running completion to stop: adaptation checks it before
/// every step and the particle filter before every row, and the completion then throws
/// ``CompletionError/cancelled``. Setting it is the only way to end a job early.
public final class CancellationFlag: Sendable, Equatable {
    private let flag = Atomic<Bool>(false)

    /// Creates a flag that is not set.
    public init() {}

    /// Asks the completion to stop; the flag stays set.
    public func cancel() { flag.store(true, ordering: .releasing) }

    /// Whether ``cancel()`` was called.
    public var isCancelled: Bool { flag.load(ordering: .acquiring) }

    /// Flags are equal when they are the same flag.
    public static func == (a: CancellationFlag, b: CancellationFlag) -> Bool { a === b }
}
