public import Imaging
import Foundation

/// Whole-image evaluation entry points.
extension PixelRNN {
    /// The output features of every pixel of one image, image-major:
    /// `[H][W][outputWidth]` (for the softmax, the logits `[H][W][C][levels]`).
    /// Slow path for tests and tools (one full forward pass).
    func outputs(of pixels: [UInt8], height: Int, width: Int, orientation: Orientation = .upright) -> [Float] {
        let c = configuration.channels
        precondition(pixels.count == height * width * c)
        let ws = Workspace(model: self, capacity: 1, height: height, width: width, forTraining: false)
        ws.batch = 1
        ws.orientations = [orientation.rawValue]
        pixels.withUnsafeBufferPointer { gatherInput($0.baseAddress!, into: ws) }
        forwardNetwork(ws)
        return Array(UnsafeBufferPointer(start: ws.logits.pointer, count: height * width * configuration.outputWidth))
    }

    /// The logits of every sub-pixel's distribution given the pixels before it, image-major:
    /// `[H][W][C][levels]` (normalised log-probabilities for a mixture model).
    /// Slow path for tests and tools (one full forward pass).
    func logits(of pixels: [UInt8], height: Int, width: Int, orientation: Orientation = .upright) -> [Float] {
        let out = outputs(of: pixels, height: height, width: width, orientation: orientation)
        if configuration.distribution == .softmax { return out }
        let c = configuration.channels, levels = configuration.levels, w = configuration.outputWidth
        var logits = [Float](repeating: 0, count: height * width * c * levels)
        out.withUnsafeBufferPointer { o in
            pixels.withUnsafeBufferPointer { px in
                logits.withUnsafeMutableBufferPointer { l in
                    for p in 0..<(height * width) {
                        for ch in 0..<c {
                            subPixelLogits(pixelOutputs: o.baseAddress! + p * w, channel: ch,
                                           pixelValues: px.baseAddress! + p * c,
                                           into: l.baseAddress! + (p * c + ch) * levels)
                        }
                    }
                }
            }
        }
        return logits
    }

    /// Negative log-likelihood of each image, in nats (natural log).
    /// - Parameters:
    ///   - pixels: `count × height × width × channels` bytes, images back to back.
    ///   - workers: threads to spread the images over.
    ///   - positionNLL: optional output of per-sub-pixel NLL in nats, the same layout as `pixels`.
    ///   - orientation: the scan orientation the pixels are already laid out in (selects
    ///     the orientation embedding; must be `.upright` for a model without one).
    /// - Throws: `ModelError.shapeMismatch` when the buffer does not match the geometry.
    public func negativeLogLikelihoods(
        of pixels: [UInt8], count: Int, height: Int, width: Int, workers: Int = 1,
        positionNLL: UnsafeMutablePointer<Float>? = nil, orientation: Orientation = .upright
    ) throws(ModelError) -> [Double] {
        let c = configuration.channels
        guard orientation == .upright || configuration.supportsOrientations else {
            throw .shapeMismatch("the model scans upright only, not \(orientation)")
        }
        guard count > 0, height > 0, width > 0, pixels.count == count * height * width * c else {
            throw .shapeMismatch(
                "expected \(count) × \(height) × \(width) × \(c) bytes, got \(pixels.count)")
        }
        let engine = evaluationEngines.checkOut(model: self, workers: max(1, min(workers, count)), images: count)
        defer { evaluationEngines.checkIn(engine) }
        return pixels.withUnsafeBufferPointer {
            engine.run(pixels: $0.baseAddress!, count: count, height: height, width: width,
                       gradientScale: nil, positionNLL: positionNLL,
                       orientations: orientation == .upright ? [] : Array(repeating: orientation.rawValue, count: count))
        }
    }
}

extension PixelRNN {
    /// Multiply-accumulates of one forward pass over an image of `height × width`,
    /// counting only live (unmasked) connections and ignoring zero padding at borders.
    public func multiplyAccumulates(height: Int, width: Int) -> Int {
        multiplyAccumulatesPerPixelByLayer().reduce(0) { $0 + $1.count } * height * width
    }

    /// Live multiply-accumulates per pixel of each layer, for showing the arithmetic.
    public func multiplyAccumulatesPerPixelByLayer() -> [(name: String, count: Int)] {
        parameters.entries.compactMap { entry in
            guard entry.convolution != nil else { return nil }
            var n = 0
            for i in entry.offset..<(entry.offset + entry.count) where parameters.mask[i] != 0 { n += 1 }
            return (String(entry.name.dropLast(".weight".count)), n)
        }
    }
}

/// Evaluation engines kept for reuse (their workspaces are large); an engine is used
/// by one caller at a time.
final class EnginePool: @unchecked Sendable {
    private let lock = NSLock()
    private var idle: [Engine] = []
    /// Images per worker pass: small enough to stay cache-friendly.
    static let microBatch = 8

    /// An engine for `images` images on `workers` threads: its workspaces hold at most
    /// ``microBatch`` images each, and no more than one worker's share, so that scoring
    /// one large image does not allocate room for eight.
    func checkOut(model: PixelRNN, workers: Int, images: Int) -> Engine {
        let perWorker = min(EnginePool.microBatch, max(1, (images + workers - 1) / workers))
        lock.lock()
        defer { lock.unlock() }
        if let index = idle.firstIndex(where: { $0.workers == workers && $0.microBatch == perWorker }) {
            return idle.remove(at: index)
        }
        return Engine(model: model, workers: workers, microBatch: perWorker, forTraining: false)
    }

    func checkIn(_ engine: Engine) {
        lock.lock()
        defer { lock.unlock() }
        idle.append(engine)
        if idle.count > 4 { idle.removeFirst() }
    }
}

extension PixelRNN {
    /// Negative log-likelihood of one image (nats), computed row by row with the
    /// incremental state: memory grows with the image's width only, whereas a full
    /// forward pass keeps activations for every position. Use it for large images.
    /// - Parameters:
    ///   - pixels: `height × width × channels` bytes.
    ///   - subPixelNLL: optional output, nats per sub-pixel in the layout of `pixels`.
    /// - Throws: `ModelError.shapeMismatch` when the buffer does not match the geometry.
    public func streamingNegativeLogLikelihood(
        of pixels: [UInt8], height: Int, width: Int, subPixelNLL: UnsafeMutablePointer<Float>? = nil,
        orientation: Orientation = .upright
    ) throws(ModelError) -> Double {
        let c = configuration.channels
        guard height > 0, width > 0, pixels.count == height * width * c else {
            throw .shapeMismatch("expected \(height) × \(width) × \(c) bytes, got \(pixels.count)")
        }
        let state = try IncrementalState(model: self, particles: 1, height: height, width: width, orientation: orientation)
        state.setAllParticles(to: pixels)
        var total = 0.0
        for y in 0..<height {
            state.logits(row: y, columns: 0..<width)
            for x in 0..<width {
                for ch in 0..<c {
                    let index = (y * width + x) * c + ch
                    let nll = -state.logProbability(of: pixels[index], particle: 0, position: x, channel: ch)
                    total += nll
                    subPixelNLL?[index] = Float(nll)
                }
            }
            state.endRow()
        }
        return total
    }
}
