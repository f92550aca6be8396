import Synchronization

/// A memo shared by threads that never grows past `limit` entries: when full it is
/// emptied, so whatever keys come, it stays small. For figure work that repeats from job
/// to job (text measurements, wrapped captions).
final class BoundedCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private let entries = Mutex<[Key: Value]>([:])
    /// The most entries kept.
    let limit: Int

    init(limit: Int) {
        self.limit = limit
    }

    /// The value remembered for `key`, or `compute()`'s, remembered. `compute` runs
    /// outside the lock, so two threads may both compute a missing value once.
    func value(for key: Key, compute: () -> Value) -> Value {
        if let known = entries.withLock({ $0[key] }) { return known }
        let value = compute()
        entries.withLock {
            if $0.count >= limit { $0.removeAll(keepingCapacity: true) }
            $0[key] = value
        }
        return value
    }
}
