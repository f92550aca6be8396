import Foundation
import PixelRNN

/// One model's ``PackedWeights``, packed on first use and then shared by every caller
/// (completions on several worker threads at once).
final class PackedWeightsCache: @unchecked Sendable {
    private let lock = NSLock()
    private var packed: PackedWeights?
    private var packedModel: PixelRNN?

    /// The packing of `model`'s weights; a different model than the first one asked for
    /// (an adapted copy) is packed afresh each time and not kept.
    func weights(of model: PixelRNN) -> PackedWeights {
        lock.lock()
        defer { lock.unlock() }
        if let packed, packedModel === model { return packed }
        if packedModel != nil { return PackedWeights(model: model) }
        let fresh = PackedWeights(model: model)
        packed = fresh
        packedModel = model
        return fresh
    }
}
