import Foundation
public import Imaging

/// Unconditional sampling in raster order with the incremental state.
public enum UnconditionalSampler {
    /// Draws `count` images of `height × width` from the model.
    /// - Parameters:
    ///   - seed: the same seed gives the same images.
    ///   - temperature: logits are divided by it before the softmax.
    public static func sample(model: PixelRNN, count: Int, height: Int, width: Int,
                              seed: UInt64, temperature: Double = 1) throws(ModelError) -> [Image] {
        let state = try IncrementalState(model: model, particles: count, height: height, width: width)
        let c = model.configuration.channels, levels = model.configuration.levels
        var random = RandomSource(seed: seed)
        var probabilities = [Double](repeating: 0, count: levels)
        let l = UnsafeMutablePointer<Float>.allocate(capacity: levels)
        defer { l.deallocate() }
        for y in 0..<height {
            for x in 0..<width {
                for ch in 0..<c {
                    state.logits(row: y, columns: x..<(x + 1))
                    for k in 0..<count {
                        state.logits(particle: k, position: 0, channel: ch, into: l)
                        var mx = -Double.infinity
                        for v in 0..<levels { mx = max(mx, Double(l[v]) / temperature) }
                        var sum = 0.0
                        for v in 0..<levels {
                            probabilities[v] = Foundation.exp(Double(l[v]) / temperature - mx)
                            sum += probabilities[v]
                        }
                        var u = random.nextDouble() * sum
                        var value = levels - 1
                        for v in 0..<levels {
                            u -= probabilities[v]
                            if u < 0 { value = v; break }
                        }
                        state.setSubPixel(particle: k, y: y, x: x, channel: ch, value: UInt8(value))
                    }
                }
            }
            state.endRow()
        }
        let size = height * width * c
        return (0..<count).map { k in
            Image(width: width, height: height, channels: c, pixels: Array(state.pixels[(k * size)..<((k + 1) * size)]))
        }
    }
}
