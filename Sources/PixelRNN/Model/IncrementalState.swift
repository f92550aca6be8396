/// Incremental evaluation of a Row LSTM PixelRNN in raster order, for sampling.
///
/// A batch of `particles` images is advanced together, one run of positions of the
/// current row at a time. Each block keeps the hidden and cell state of the row above,
/// the state-to-state contribution for the current row (one product per row, computed
/// as soon as the row above is complete), and the current row's block inputs (for the
/// input-to-state left tap). A run of positions then costs exactly its share of a full
/// forward pass: a whole completion costs about one forward pass, not one per pixel.
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

    private let f: Int, h: Int, c: Int, levels: Int
    // Per block: previous-row hidden/cell, current-row hidden/cell (particles × W × h),
    // state-to-state input for the current row (particles × W × 4h).
    private let previousHidden: [FloatBuffer]
    private let previousCell: [FloatBuffer]
    private let currentHidden: [FloatBuffer]
    private let currentCell: [FloatBuffer]
    private let stateInput: [FloatBuffer]
    /// Block inputs of the current row, per block and after the last (particles × W × 2h).
    private let rowStreams: [FloatBuffer]
    // Scratch for a run of up to W positions of every particle.
    private let runColumns: FloatBuffer
    private let runStreamIn: FloatBuffer
    private let runStreamOut: FloatBuffer
    private let runGathered: FloatBuffer
    private let runGates: FloatBuffer
    private let runHidden: FloatBuffer
    private let runCell: FloatBuffer
    private let runTanhCell: FloatBuffer
    private let runOutputHidden: FloatBuffer
    /// Logits of the last run: `particles × runLength × C × levels`.
    public let runLogits: UnsafeMutablePointer<Float>
    private let stateColumns: FloatBuffer

    /// Creates the state for `particles` images of `height × width`; all pixels start at 0.
    /// - Throws: `ModelError.invalidConfiguration` for architectures without incremental support.
    public init(model: PixelRNN, particles: Int, height: Int, width: Int) throws(ModelError) {
        guard model.configuration.architecture == .rowLSTM else {
            throw .invalidConfiguration("incremental sampling is not available for \(model.configuration.architecture)")
        }
        guard particles >= 1, height >= 1, width >= 1 else { throw .shapeMismatch("empty image or no particles") }
        BLAS.useSingleThreadPerCall()
        self.model = model
        self.particles = particles
        self.height = height
        self.width = width
        let cfg = model.configuration
        f = cfg.features
        h = cfg.hidden
        c = cfg.channels
        levels = cfg.levels
        pixels = [UInt8](repeating: 0, count: particles * height * width * cfg.channels)
        let kw = particles * width
        let blocks = cfg.blocks
        previousHidden = (0..<blocks).map { _ in FloatBuffer(kw * cfg.hidden) }
        previousCell = (0..<blocks).map { _ in FloatBuffer(kw * cfg.hidden) }
        currentHidden = (0..<blocks).map { _ in FloatBuffer(kw * cfg.hidden) }
        currentCell = (0..<blocks).map { _ in FloatBuffer(kw * cfg.hidden) }
        stateInput = (0..<blocks).map { _ in FloatBuffer(kw * 4 * cfg.hidden) }
        rowStreams = (0...blocks).map { _ in FloatBuffer(kw * cfg.features) }
        runColumns = FloatBuffer(kw * model.inputConvolution.gatheredWidth)
        runStreamIn = FloatBuffer(kw * cfg.features)
        runStreamOut = FloatBuffer(kw * cfg.features)
        runGathered = FloatBuffer(kw * 2 * cfg.features)
        runGates = FloatBuffer(kw * 4 * cfg.hidden)
        runHidden = FloatBuffer(kw * cfg.hidden)
        runCell = FloatBuffer(kw * cfg.hidden)
        runTanhCell = FloatBuffer(kw * cfg.hidden)
        runOutputHidden = FloatBuffer(kw * cfg.outputHidden)
        runLogits = .allocate(capacity: kw * cfg.levels * cfg.channels)
        stateColumns = FloatBuffer(kw * 3 * cfg.hidden)
        let w = model.parameters.values
        for (l, block) in model.rowBlocks.enumerated() {
            for q in 0..<kw {
                (previousHidden[l].pointer + q * h).update(from: w + block.initialHiddenOffset, count: h)
                (previousCell[l].pointer + q * h).update(from: w + block.initialCellOffset, count: h)
            }
            computeStateInput(block: l)
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

    /// Computes the logits of the run `columns` of the current row for every particle.
    ///
    /// The run must start at `column` (or restart the last run, to redo an RGB pixel after
    /// setting a channel). Pixels of the run must be set, except sub-pixels whose own
    /// logits are being asked for (and later ones, which cannot influence them).
    /// - Returns: a pointer to `particles × runLength × C × levels` logits (valid until
    ///   the next call), particle-major.
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
        BLAS.gemm(transB: true, m: m, n: f, k: k0, cols, lda: k0, w + conv.weightOffset, ldb: k0,
                  beta: 1, streamIn, ldc: f)
        scatterRun(streamIn, into: rowStreams[0].pointer, j0: j0, len: len, width: f)

        for (l, block) in model.rowBlocks.enumerated() {
            let rowIn = rowStreams[l].pointer
            let gathered = runGathered.pointer, gates = runGates.pointer
            for k in 0..<particles {
                for jj in 0..<len {
                    let j = j0 + jj, q = k * len + jj
                    let dst = gathered + q * 2 * f
                    if j > 0 { dst.update(from: rowIn + (k * width + j - 1) * f, count: f) }
                    else { dst.update(repeating: 0, count: f) }
                    (dst + f).update(from: streamIn + q * f, count: f)
                    // gates start as state-to-state input + bias
                    let s = stateInput[l].pointer + (k * width + j) * 4 * h
                    let b = w + block.inputToState.biasOffset
                    let g = gates + q * 4 * h
                    for i in 0..<(4 * h) { g[i] = s[i] + b[i] }
                }
            }
            BLAS.gemm(transB: true, m: m, n: 4 * h, k: 2 * f, gathered, lda: 2 * f,
                      w + block.inputToState.weightOffset, ldb: 2 * f, beta: 1, gates, ldc: 4 * h)
            // Previous cells of the run's positions, gathered.
            let prevCell = runCell.pointer
            gatherRun(previousCell[l].pointer, into: prevCell, j0: j0, len: len, width: h)
            model.lstmPointwise(
                gates: gates, previousCell: prevCell, broadcastPrevious: false,
                cell: runTanhCell.pointer, tanhCell: runGathered.pointer, hidden: runHidden.pointer,
                count: m, h: h)
            // runTanhCell now holds the new cells; runGathered (reused) their tanh.
            scatterRun(runTanhCell.pointer, into: currentCell[l].pointer, j0: j0, len: len, width: h)
            scatterRun(runHidden.pointer, into: currentHidden[l].pointer, j0: j0, len: len, width: h)
            let up = block.outputProjection
            let bias = w + up.biasOffset
            for q in 0..<m {
                let src = streamIn + q * f, dst = streamOut + q * f
                for i in 0..<f { dst[i] = src[i] + bias[i] }
            }
            BLAS.gemm(transB: true, m: m, n: f, k: h, runHidden.pointer, lda: h, w + up.weightOffset, ldb: h,
                      beta: 1, streamOut, ldc: f)
            scatterRun(streamOut, into: rowStreams[l + 1].pointer, j0: j0, len: len, width: f)
            swap(&streamIn, &streamOut)
        }

        // Output layers.
        let o = cfg.outputHidden, lc = levels * c
        relu(streamIn, count: m * f, into: streamOut)
        let hid = runOutputHidden.pointer
        broadcastRows(w + model.outputHidden.biasOffset, rows: m, n: o, into: hid)
        BLAS.gemm(transB: true, m: m, n: o, k: f, streamOut, lda: f, w + model.outputHidden.weightOffset, ldb: f,
                  beta: 1, hid, ldc: o)
        relu(hid, count: m * o, into: hid)
        broadcastRows(w + model.outputLogits.biasOffset, rows: m, n: lc, into: runLogits)
        BLAS.gemm(transB: true, m: m, n: lc, k: o, hid, lda: o, w + model.outputLogits.weightOffset, ldb: o,
                  beta: 1, runLogits, ldc: lc)
        column = columns.upperBound
        return runLogits
    }

    /// Finishes the current row (all its columns must have been computed) and prepares
    /// the next: one state-to-state product per block for the whole batch row.
    public func endRow() {
        precondition(column == width, "row \(row) is not complete")
        for l in 0..<model.rowBlocks.count {
            previousHidden[l].pointer.update(from: currentHidden[l].pointer, count: particles * width * h)
            previousCell[l].pointer.update(from: currentCell[l].pointer, count: particles * width * h)
            computeStateInput(block: l)
        }
        row += 1
        column = 0
    }

    /// Replaces every particle's state by a copy of particle `ancestors[k]`'s (resampling).
    public func resample(ancestors: [Int]) {
        precondition(ancestors.count == particles)
        let imageSize = height * width * c
        let oldPixels = pixels
        for k in 0..<particles where ancestors[k] != k {
            let a = ancestors[k]
            pixels.replaceSubrange((k * imageSize)..<((k + 1) * imageSize),
                                   with: oldPixels[(a * imageSize)..<((a + 1) * imageSize)])
        }
        func permute(_ buffer: FloatBuffer, stride: Int) {
            let copy = FloatBuffer(buffer.count)
            copy.pointer.update(from: buffer.pointer, count: buffer.count)
            for k in 0..<particles where ancestors[k] != k {
                (buffer.pointer + k * stride).update(from: copy.pointer + ancestors[k] * stride, count: stride)
            }
        }
        for l in 0..<model.rowBlocks.count {
            permute(previousHidden[l], stride: width * h)
            permute(previousCell[l], stride: width * h)
            permute(currentHidden[l], stride: width * h)
            permute(currentCell[l], stride: width * h)
            permute(stateInput[l], stride: width * 4 * h)
        }
        for buffer in rowStreams { permute(buffer, stride: width * f) }
    }

    // MARK: Helpers

    /// stateInput[l] = K_ss ⊛ previousHidden[l] for every particle and column.
    private func computeStateInput(block l: Int) {
        let block = model.rowBlocks[l]
        let w = model.parameters.values
        let kw = particles * width
        let sc = stateColumns.pointer, prev = previousHidden[l].pointer
        for q in 0..<kw {
            let j = q % width
            let dst = sc + q * 3 * h
            if j > 0 { dst.update(from: prev + (q - 1) * h, count: h) } else { dst.update(repeating: 0, count: h) }
            (dst + h).update(from: prev + q * h, count: h)
            if j < width - 1 { (dst + 2 * h).update(from: prev + (q + 1) * h, count: h) }
            else { (dst + 2 * h).update(repeating: 0, count: h) }
        }
        BLAS.gemm(transB: true, m: kw, n: 4 * h, k: 3 * h, sc, lda: 3 * h,
                  w + block.stateToState.weightOffset, ldb: 3 * h, beta: 0, stateInput[l].pointer, ldc: 4 * h)
    }

    /// Copies run rows (particle-major, `len` per particle) into a `particles × W` row buffer.
    private func scatterRun(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, j0: Int, len: Int, width n: Int) {
        for k in 0..<particles {
            (dst + (k * width + j0) * n).update(from: src + k * len * n, count: len * n)
        }
    }

    /// The inverse of `scatterRun`.
    private func gatherRun(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, j0: Int, len: Int, width n: Int) {
        for k in 0..<particles {
            (dst + k * len * n).update(from: src + (k * width + j0) * n, count: len * n)
        }
    }
}
