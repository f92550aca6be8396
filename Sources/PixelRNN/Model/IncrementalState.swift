public import Imaging
/// Incremental evaluation of a PixelRNN in raster order, for sampling.
///
/// A batch of `particles` images is advanced together, one run of positions of the
/// current row at a time. The input and output layers are per position; each residual
/// block keeps what later positions need from earlier ones (see `RowLSTMIncremental`,
/// `DiagonalBiLSTMIncremental`, `PixelCNNIncremental`), and the current row's block
/// inputs are kept for every block. A run of positions then costs about its share of a
/// full forward pass: a whole completion costs about one forward pass, not one per pixel.
///
/// Usage: write known pixels with `setSubPixel`, call `logits(row:columns:)` for runs
/// in raster order (a run may be one pixel; for RGB call it once per channel of an
/// occluded pixel after setting the previous channels — the colour masks make the
/// earlier channels' logits unchanged), and `endRow()` after the last run of a row.
public final class IncrementalState: @unchecked Sendable {
    /// The model.
    public let model: PixelRNN
    /// Images advanced together.
    public let particles: Int
    public let height: Int
    public let width: Int
    /// Current row (rows before it are complete).
    public private(set) var row = 0
    /// Next column of the current row to compute.
    public private(set) var column = 0

    /// Particle images, `particles × H × W × C` bytes.
    public private(set) var pixels: [UInt8]

    private let f: Int, c: Int
    /// Per-architecture block state.
    private let blockState: any IncrementalBlocks
    /// Block inputs of the current row, per block (particles × W × 2h).
    private let rowStreams: [FloatBuffer]
    // Scratch for a run of up to W positions of every particle.
    private let runColumns: FloatBuffer
    private let runStreamIn: FloatBuffer
    private let runStreamOut: FloatBuffer
    private let runOutputHidden: FloatBuffer
    /// Output features of the last run: `particles × runLength × outputWidth` (for the
    /// softmax, the logits `particles × runLength × C × levels`).
    public let runLogits: UnsafeMutablePointer<Float>
    /// First column and length of the last run.
    private var runStart = 0, runLength = 0
    /// The scan orientation the pixels are in: selects the model's orientation
    /// embedding (no effect on a model without orientation support).
    public let orientation: Orientation
    /// The weights of the small products, packed once (shared by the states of one sampler).
    public let packedWeights: PackedWeights
    private let packedInput: PackedWeights.Matrix
    private let packedHidden: PackedWeights.Matrix
    private let packedLogits: PackedWeights.Matrix

    /// Creates the state for `particles` images of `height × width`; all pixels start at 0.
    /// - Parameter orientation: how the pixels given to the state were laid out from the
    ///   stored picture (the caller transforms them); it must be `.upright` for a model
    ///   without orientation support.
    /// - Parameter packedWeights: the model's weights packed for the small products; states
    ///   of one sampler share one (the weights must not change while it is in use). Nil:
    ///   the state packs its own.
    /// - Throws: `ModelError.shapeMismatch` for an empty image or no particles, or an
    ///   orientation the model was not trained for.
    public init(
        model: PixelRNN, particles: Int, height: Int, width: Int, orientation: Orientation = .upright,
        packedWeights: PackedWeights? = nil
    ) throws(ModelError) {
        guard particles >= 1, height >= 1, width >= 1 else { throw .shapeMismatch("empty image or no particles") }
        guard orientation == .upright || model.configuration.supportsOrientations else {
            throw .shapeMismatch("the model scans upright only, not \(orientation)")
        }
        self.orientation = orientation
        let packed = packedWeights ?? PackedWeights(model: model)
        self.packedWeights = packed
        packedInput = packed.matrix(model.inputConvolution)
        packedHidden = packed.matrix(model.outputHidden)
        packedLogits = packed.matrix(model.outputLogits)
        BLAS.useSingleThreadPerCall()
        self.model = model
        self.particles = particles
        self.height = height
        self.width = width
        let cfg = model.configuration
        f = cfg.features
        c = cfg.channels
        pixels = [UInt8](repeating: 0, count: particles * height * width * cfg.channels)
        let kw = particles * width
        rowStreams = (0..<cfg.blocks).map { _ in FloatBuffer(kw * cfg.features) }
        runColumns = FloatBuffer(kw * model.inputConvolution.gatheredWidth)
        runStreamIn = FloatBuffer(kw * cfg.features)
        runStreamOut = FloatBuffer(kw * cfg.features)
        runOutputHidden = FloatBuffer(kw * cfg.outputHidden)
        runLogits = .allocate(capacity: kw * cfg.outputWidth)
        switch cfg.architecture {
        case .rowLSTM:
            blockState = RowLSTMIncremental(model: model, particles: particles, width: width, packed: packed)
        case .diagonalBiLSTM:
            blockState = DiagonalBiLSTMIncremental(model: model, particles: particles, width: width, packed: packed)
        case .pixelCNN: blockState = PixelCNNIncremental(model: model, particles: particles, width: width, packed: packed)
        }
    }

    deinit { runLogits.deallocate() }

    /// Sets sub-pixel (`y`, `x`, `channel`) of particle `particle`.
    @inline(__always)
    public func setSubPixel(particle: Int, y: Int, x: Int, channel: Int, value: UInt8) {
        pixels[((particle * height + y) * width + x) * c + channel] = value
    }

    /// Copies one image into every particle (`H × W × C` bytes).
    public func setAllParticles(to image: [UInt8]) {
        precondition(image.count == height * width * c)
        for k in 0..<particles {
            pixels.replaceSubrange((k * image.count)..<((k + 1) * image.count), with: image)
        }
    }

    /// Copies one image per particle (`particles × H × W × C` bytes).
    public func setParticleImages(_ images: [UInt8]) {
        precondition(images.count == pixels.count)
        pixels = images
    }

    /// Computes the output features of the run `columns` of the current row for every
    /// particle; read each sub-pixel's distribution with
    /// ``logProbability(of:particle:position:channel:)`` or ``logits(particle:position:channel:into:)``.
    ///
    /// The run must start at `column` (or restart the last run, to redo an RGB pixel after
    /// setting a channel). Pixels of the run must be set, except sub-pixels whose own
    /// logits are being asked for (and later ones, which cannot influence them).
    /// - Returns: a pointer to `particles × runLength × outputWidth` output features
    ///   (valid until the next call), particle-major.
    @discardableResult
    public func logits(row y: Int, columns: Range<Int>) -> UnsafeMutablePointer<Float> {
        precondition(y == row, "rows must be advanced in order")
        precondition(columns.lowerBound <= column && columns.upperBound <= width && !columns.isEmpty)
        let cfg = model.configuration
        let w = model.parameters.values
        let len = columns.count, m = particles * len
        let j0 = columns.lowerBound
        let conv = model.inputConvolution
        let k0 = conv.gatheredWidth
        let scale: Float = 1.0 / 255.0

        // 7×7 mask-A input convolution.
        let cols = runColumns.pointer
        pixels.withUnsafeBufferPointer { px in
            for k in 0..<particles {
                let image = px.baseAddress! + k * height * width * c
                for jj in 0..<len {
                    let j = j0 + jj
                    let dst = cols + (k * len + jj) * k0
                    for (t, tap) in conv.taps.enumerated() {
                        let yy = y + tap.dy, xx = j + tap.dx
                        if yy >= 0 && xx >= 0 && xx < width {
                            let src = image + (yy * width + xx) * c
                            for ch in 0..<c { dst[t * c + ch] = Float(src[ch]) * scale }
                        } else {
                            for ch in 0..<c { dst[t * c + ch] = 0 }
                        }
                    }
                }
            }
        }
        var streamIn = runStreamIn.pointer
        var streamOut = runStreamOut.pointer
        broadcastRows(w + conv.biasOffset, rows: m, n: f, into: streamIn)
        PackedWeights.gemm(m: m, packedInput, cols, lda: k0, beta: 1, streamIn, ldc: f)
        if let embedding = model.orientationEmbeddingOffset {
            let row = w + embedding + f * orientation.rawValue
            for p in 0..<m { addInPlace(row, into: streamIn + p * f, count: f) }
        }
        for l in 0..<cfg.blocks {
            scatterRun(streamIn, into: rowStreams[l].pointer, j0: j0, len: len, width: f)
            blockState.forward(
                block: l, row: y, start: j0, length: len, input: streamIn, rowInput: rowStreams[l].pointer,
                output: streamOut)
            swap(&streamIn, &streamOut)
        }

        // Output layers.
        let o = cfg.outputHidden, lc = cfg.outputWidth
        relu(streamIn, count: m * f, into: streamOut)
        let hid = runOutputHidden.pointer
        broadcastRows(w + model.outputHidden.biasOffset, rows: m, n: o, into: hid)
        PackedWeights.gemm(m: m, packedHidden, streamOut, lda: f, beta: 1, hid, ldc: o)
        relu(hid, count: m * o, into: hid)
        broadcastRows(w + model.outputLogits.biasOffset, rows: m, n: lc, into: runLogits)
        PackedWeights.gemm(m: m, packedLogits, hid, lda: o, beta: 1, runLogits, ldc: lc)
        column = columns.upperBound
        runStart = j0
        runLength = len
        return runLogits
    }

    /// log p(value) of sub-pixel `channel` at `position` (0-based within the last run) of
    /// particle `particle`, given everything before it: the particle's earlier channels
    /// of that pixel must be set.
    public func logProbability(of value: UInt8, particle: Int, position: Int, channel: Int) -> Double {
        let outputs = runLogits + (particle * runLength + position) * model.configuration.outputWidth
        let index = ((particle * height + row) * width + runStart + position) * c
        return pixels.withUnsafeBufferPointer {
            model.subPixelLogProbability(of: Int(value), pixelOutputs: outputs, channel: channel,
                                         pixelValues: $0.baseAddress! + index)
        }
    }

    /// A draw for sub-pixel `channel` at `position` of the last run by inversion with
    /// `uniform` ∈ [0, 1), from the model's distribution tempered by `temperature` (the
    /// logistic mixture's weights ∝ π^{1/T} and scales times T), with its log-probability
    /// under the model (logP) and under the tempered distribution (logQ), when the
    /// distribution can be inverted without listing every level (the logistic mixture);
    /// nil otherwise (use ``logits(particle:position:channel:into:)``).
    public func draw(
        uniform: Double, particle: Int, position: Int, channel: Int, temperature: Float = 1
    ) -> (value: Int, logP: Double, logQ: Double)? {
        let outputs = runLogits + (particle * runLength + position) * model.configuration.outputWidth
        let index = ((particle * height + row) * width + runStart + position) * c
        return pixels.withUnsafeBufferPointer {
            model.subPixelDraw(uniform: uniform, pixelOutputs: outputs, channel: channel,
                               pixelValues: $0.baseAddress! + index, temperature: temperature)
        }
    }

    /// The `levels` logits of sub-pixel `channel` at `position` of the last run (see
    /// ``logProbability(of:particle:position:channel:)``), for drawing from it.
    public func logits(particle: Int, position: Int, channel: Int, into logits: UnsafeMutablePointer<Float>) {
        let outputs = runLogits + (particle * runLength + position) * model.configuration.outputWidth
        let index = ((particle * height + row) * width + runStart + position) * c
        pixels.withUnsafeBufferPointer {
            model.subPixelLogits(pixelOutputs: outputs, channel: channel, pixelValues: $0.baseAddress! + index, into: logits)
        }
    }

    /// Finishes the current row (all its columns must have been computed) and prepares
    /// the next (Row LSTM: one state-to-state product per block for the whole batch row;
    /// Diagonal BiLSTM: the right-to-left stream of the finished row; PixelCNN: keeps the
    /// row's features for the 3×3 taps).
    public func endRow() {
        precondition(column == width, "row \(row) is not complete")
        blockState.endRow(row, isLast: row == height - 1, rowInputs: rowStreams)
        row += 1
        column = 0
    }

    /// Replaces every particle's state by a copy of particle `ancestors[k]`'s (resampling).
    public func resample(ancestors: [Int]) {
        precondition(ancestors.count == particles)
        let imageSize = height * width * c
        pixels.withUnsafeMutableBufferPointer {
            copyFromAncestors($0.baseAddress!, stride: imageSize, ancestors: ancestors)
        }
        let permute = { (buffer: FloatBuffer, stride: Int) in
            permuteParticles(buffer, stride: stride, ancestors: ancestors)
        }
        blockState.permute(permute)
        for buffer in rowStreams { permute(buffer, width * f) }
    }

    /// Makes every particle a copy of a particle of another state that has advanced
    /// through the same positions: slot `k` takes particle `sources[k].particle` of
    /// `sources[k].state` (pixels, block states and the current row's block inputs), and
    /// this state moves to their row and column.
    ///
    /// Particles that share a visible prefix (the pixels before the first occluded one)
    /// compute it once, on one particle per image, and are then loaded from it. The
    /// sources must have this state's model, size and orientation, and stand at one
    /// position. The last run's outputs are not copied: call `logits(row:columns:)` next.
    public func load(from sources: [(state: IncrementalState, particle: Int)]) {
        precondition(sources.count == particles)
        guard let first = sources.first?.state else { return }
        let imageSize = height * width * c
        let mine = stateBuffers()
        var theirs: [ObjectIdentifier: [(FloatBuffer, Int)]] = [:]
        pixels.withUnsafeMutableBufferPointer { dst in
            for (k, source) in sources.enumerated() {
                let s = source.state
                precondition(s.model === model && s.height == height && s.width == width
                             && s.orientation == orientation && source.particle < s.particles)
                precondition(s.row == first.row && s.column == first.column, "sources at different positions")
                s.pixels.withUnsafeBufferPointer { src in
                    (dst.baseAddress! + k * imageSize).update(from: src.baseAddress! + source.particle * imageSize,
                                                               count: imageSize)
                }
                let id = ObjectIdentifier(s)
                if theirs[id] == nil { theirs[id] = s.stateBuffers() }
                for ((to, stride), (from, _)) in zip(mine, theirs[id]!) {
                    (to.pointer + k * stride).update(from: from.pointer + source.particle * stride, count: stride)
                }
            }
        }
        row = first.row
        column = first.column
        runStart = column
        runLength = 0
    }

    /// Every per-particle buffer, with its floats per particle, in a fixed order.
    private func stateBuffers() -> [(FloatBuffer, Int)] {
        var list: [(FloatBuffer, Int)] = []
        blockState.permute { list.append(($0, $1)) }
        for buffer in rowStreams { list.append((buffer, width * f)) }
        return list
    }

    // MARK: Helpers

    private func scatterRun(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, j0: Int, len: Int, width n: Int) {
        PixelRNN.scatterRun(src, into: dst, particles: particles, rowWidth: width, start: j0, length: len, features: n)
    }
}
