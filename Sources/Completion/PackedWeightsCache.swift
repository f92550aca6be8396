import Foundation
import PixelRNN

/// A completer's model's ``PackedWeights``, packed on first use and then shared by every
/// caller (completions on several worker threads at once).
final class PackedWeightsCache: @unchecked Sendable {
    private let model: PixelRNN
    private let lock = NSLock()
    private var packed: PackedWeights?

    init(model: PixelRNN) {
        self.model = model
    }

    /// The packing of `model`'s weights: the kept one for the completer's model, a fresh
    /// one (not kept) for any other, such as an adapted copy.
    func weights(of model: PixelRNN) -> PackedWeights {
        guard model === self.model else { return PackedWeights(model: model) }
        lock.lock()
        defer { lock.unlock() }
        if let packed { return packed }
        let fresh = PackedWeights(model: model)
        packed = fresh
        return fresh
    }
}
