/// Per-architecture residual-block state of `IncrementalState`.
///
/// Runs are particle-major: row `k · len + jj` is particle k, column `start + jj`.
/// Row buffers are `particles × W` rows: row `k · W + j`.
protocol IncrementalBlocks: AnyObject {
    /// Computes block `l`'s output for a run of row `y`. `input` holds the run's block
    /// inputs; `rowInput` the current row's block inputs (the run already written).
    func forward(
        block l: Int, row y: Int, start j0: Int, length len: Int, input x: UnsafePointer<Float>,
        rowInput: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>)
    /// Row `y` is complete (`rowInputs[l]`: its block inputs); prepare row y + 1.
    func endRow(_ y: Int, isLast: Bool, rowInputs: [FloatBuffer])
    /// Applies `permute(buffer, floatsPerParticle)` to every per-particle buffer.
    func permute(_ permute: (FloatBuffer, Int) -> Void)
}

extension PixelRNN {
    /// Copies run rows (particle-major, `length` per particle) into a `particles × rowWidth` row buffer.
    static func scatterRun(
        _ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, particles: Int, rowWidth: Int,
        start j0: Int, length len: Int, features n: Int
    ) {
        for k in 0..<particles {
            (dst + (k * rowWidth + j0) * n).update(from: src + k * len * n, count: len * n)
        }
    }

    /// The inverse of `scatterRun`.
    static func gatherRun(
        _ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, particles: Int, rowWidth: Int,
        start j0: Int, length len: Int, features n: Int
    ) {
        for k in 0..<particles {
            (dst + k * len * n).update(from: src + (k * rowWidth + j0) * n, count: len * n)
        }
    }

    /// `y = x + b + W v` for `rows` rows: a residual block's 1×1 output projection, with
    /// `W` packed.
    func residualProjection(
        _ conv: ConvolutionOffsets, input v: UnsafePointer<Float>, residual x: UnsafePointer<Float>,
        output y: UnsafeMutablePointer<Float>, rows: Int, packed: PackedWeights.Matrix
    ) {
        let f = conv.outFeatures
        let bias = parameters.values + conv.biasOffset
        for p in 0..<rows {
            let src = x + p * f, dst = y + p * f
            for i in 0..<f { dst[i] = src[i] + bias[i] }
        }
        PackedWeights.gemm(m: rows, packed, v, lda: conv.inFeatures, beta: 1, y, ldc: f)
    }
}

/// What an incremental pass needs of a convolution: where its weights and bias lie and its
/// sizes. Plain integers: the passes run once per block and run of pixels, and copying a
/// ``ConvolutionSpec`` (a name, taps and groups) there cost retains and releases.
struct ConvolutionOffsets {
    let weightOffset: Int, biasOffset: Int, outFeatures: Int, inFeatures: Int

    init(_ conv: ConvolutionSpec) {
        weightOffset = conv.weightOffset
        biasOffset = conv.biasOffset
        outFeatures = conv.outFeatures
        inFeatures = conv.inFeatures
    }
}

/// Replaces particle k's `stride` floats by a copy of particle `ancestors[k]`'s.
func permuteParticles(_ buffer: FloatBuffer, stride: Int, ancestors: [Int]) {
    copyFromAncestors(buffer.pointer, stride: stride, ancestors: ancestors)
}

/// Makes slot k of `base` (slots of `stride` elements) a copy of slot `ancestors[k]`, as
/// resampling asks. Only the slots that change are written, and only the sources that are
/// themselves overwritten are saved first: after a resampling most particles keep their
/// own state.
@inlinable
public func copyFromAncestors<Element: BitwiseCopyable>(
    _ base: UnsafeMutablePointer<Element>, stride: Int, ancestors: [Int]
) {
    var saved: [Int: Int] = [:]  // source slot → its place in `scratch`
    for (k, a) in ancestors.enumerated() where a != k && ancestors[a] != a && saved[a] == nil {
        saved[a] = saved.count
    }
    let scratch = UnsafeMutablePointer<Element>.allocate(capacity: max(1, saved.count * stride))
    defer { scratch.deallocate() }
    for (a, place) in saved { (scratch + place * stride).initialize(from: base + a * stride, count: stride) }
    for (k, a) in ancestors.enumerated() where a != k {
        let source = saved[a].map { scratch + $0 * stride } ?? base + a * stride
        (base + k * stride).update(from: source, count: stride)
    }
}

// MARK: - Row LSTM

/// Row LSTM: per block the hidden and cell state of the row above, the state-to-state
/// contribution for the current row (one product per row, computed as soon as the row
/// above is complete), and the current row's states.
final class RowLSTMIncremental: IncrementalBlocks {
    private let model: PixelRNN
    private let particles: Int, width: Int, h: Int, f: Int
    private let previousHidden: [FloatBuffer]
    private let previousCell: [FloatBuffer]
    private let currentHidden: [FloatBuffer]
    private let currentCell: [FloatBuffer]
    private let stateInput: [FloatBuffer]
    private let runGathered: FloatBuffer
    private let runGates: FloatBuffer
    private let runHidden: FloatBuffer
    private let runCell: FloatBuffer
    private let runTanhCell: FloatBuffer
    private let stateColumns: FloatBuffer
    /// Per block: the packed input-to-state, state-to-state and output projection weights.
    private let packedInputToState: [PackedWeights.Matrix]
    private let packedStateToState: [PackedWeights.Matrix]
    private let packedProjection: [PackedWeights.Matrix]
    /// Per block: the gates' bias and the output projection.
    private let inputToState: [ConvolutionOffsets]
    private let outputProjection: [ConvolutionOffsets]

    init(model: PixelRNN, particles: Int, width: Int, packed: PackedWeights) {
        self.model = model
        let rows = model.blocks.map(\.row)
        inputToState = rows.map { ConvolutionOffsets($0.inputToState) }
        outputProjection = rows.map { ConvolutionOffsets($0.outputProjection) }
        packedInputToState = rows.map { packed.matrix($0.inputToState) }
        packedStateToState = rows.map { packed.matrix($0.stateToState) }
        packedProjection = rows.map { packed.matrix($0.outputProjection) }
        self.particles = particles
        self.width = width
        let cfg = model.configuration
        h = cfg.hidden
        f = cfg.features
        let kw = particles * width, blocks = cfg.blocks
        previousHidden = (0..<blocks).map { _ in FloatBuffer(kw * cfg.hidden) }
        previousCell = (0..<blocks).map { _ in FloatBuffer(kw * cfg.hidden) }
        currentHidden = (0..<blocks).map { _ in FloatBuffer(kw * cfg.hidden) }
        currentCell = (0..<blocks).map { _ in FloatBuffer(kw * cfg.hidden) }
        stateInput = (0..<blocks).map { _ in FloatBuffer(kw * 4 * cfg.hidden) }
        runGathered = FloatBuffer(kw * 2 * cfg.features)
        runGates = FloatBuffer(kw * 4 * cfg.hidden)
        runHidden = FloatBuffer(kw * cfg.hidden)
        runCell = FloatBuffer(kw * cfg.hidden)
        runTanhCell = FloatBuffer(kw * cfg.hidden)
        stateColumns = FloatBuffer(kw * 3 * cfg.hidden)
        let w = model.parameters.values
        for (l, block) in model.blocks.map(\.row).enumerated() {
            for q in 0..<kw {
                (previousHidden[l].pointer + q * h).update(from: w + block.initialHiddenOffset, count: h)
                (previousCell[l].pointer + q * h).update(from: w + block.initialCellOffset, count: h)
            }
            computeStateInput(block: l)
        }
    }

    func forward(
        block l: Int, row y: Int, start j0: Int, length len: Int, input streamIn: UnsafePointer<Float>,
        rowInput rowIn: UnsafePointer<Float>, output streamOut: UnsafeMutablePointer<Float>
    ) {
        let w = model.parameters.values
        let m = particles * len
        let gathered = runGathered.pointer, gates = runGates.pointer
        let b = w + inputToState[l].biasOffset
        for k in 0..<particles {
            for jj in 0..<len {
                let j = j0 + jj, q = k * len + jj
                let dst = gathered + q * 2 * f
                if j > 0 { dst.update(from: rowIn + (k * width + j - 1) * f, count: f) }
                else { dst.update(repeating: 0, count: f) }
                (dst + f).update(from: streamIn + q * f, count: f)
                // gates start as state-to-state input + bias
                let s = stateInput[l].pointer + (k * width + j) * 4 * h
                let g = gates + q * 4 * h
                for i in 0..<(4 * h) { g[i] = s[i] + b[i] }
            }
        }
        PackedWeights.gemm(m: m, packedInputToState[l], gathered, lda: 2 * f, beta: 1, gates, ldc: 4 * h)
        // Previous cells of the run's positions, gathered.
        let prevCell = runCell.pointer
        PixelRNN.gatherRun(previousCell[l].pointer, into: prevCell, particles: particles, rowWidth: width,
                           start: j0, length: len, features: h)
        model.lstmPointwise(
            gates: gates, previousCell: prevCell, broadcastPrevious: false,
            cell: runTanhCell.pointer, tanhCell: runGathered.pointer, hidden: runHidden.pointer,
            count: m, h: h)
        // runTanhCell now holds the new cells; runGathered (reused) their tanh.
        PixelRNN.scatterRun(runTanhCell.pointer, into: currentCell[l].pointer, particles: particles,
                            rowWidth: width, start: j0, length: len, features: h)
        PixelRNN.scatterRun(runHidden.pointer, into: currentHidden[l].pointer, particles: particles,
                            rowWidth: width, start: j0, length: len, features: h)
        model.residualProjection(outputProjection[l], input: runHidden.pointer, residual: streamIn,
                                 output: streamOut, rows: m, packed: packedProjection[l])
    }

    func endRow(_ y: Int, isLast: Bool, rowInputs: [FloatBuffer]) {
        for l in 0..<model.blocks.count {
            previousHidden[l].pointer.update(from: currentHidden[l].pointer, count: particles * width * h)
            previousCell[l].pointer.update(from: currentCell[l].pointer, count: particles * width * h)
            computeStateInput(block: l)
        }
    }

    func permute(_ permute: (FloatBuffer, Int) -> Void) {
        for l in 0..<model.blocks.count {
            permute(previousHidden[l], width * h)
            permute(previousCell[l], width * h)
            permute(currentHidden[l], width * h)
            permute(currentCell[l], width * h)
            permute(stateInput[l], width * 4 * h)
        }
    }

    /// stateInput[l] = K_ss ⊛ previousHidden[l] for every particle and column.
    private func computeStateInput(block l: Int) {
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
        PackedWeights.gemm(m: kw, packedStateToState[l], sc, lda: 3 * h, beta: 0, stateInput[l].pointer, ldc: 4 * h)
    }
}

// MARK: - Diagonal BiLSTM

/// Diagonal BiLSTM. Left to right, the state at (y, j) needs the states at (y−1, j) and
/// (y, j−1): per block we keep the current row's hidden states and cells and, for the
/// whole row, the input-to-state bias plus the "up" state-to-state term from row y−1
/// (one product per row); a run then steps through its columns, one product over the
/// particles per column. Right to left, position (y, j) uses h_RL(y−1, j), which needs
/// the complete row y−1: it is computed when that row ends (one input-to-state and one
/// "up" product for the row, then one product per column from the right).
///
/// Every product runs over weights packed once, so a particle's values do not depend on
/// how many particles share the state (as with the other architectures).
final class DiagonalBiLSTMIncremental: IncrementalBlocks {
    private let model: PixelRNN
    private let particles: Int, width: Int, h: Int, f: Int
    /// Per block and direction (left to right, right to left): the packed input-to-state
    /// weights and the state-to-state weights of the row above ("up") and of the
    /// neighbour in the row ("side").
    private let packedInputToState: [[PackedWeights.Matrix]]
    private let packedUp: [[PackedWeights.Matrix]]
    private let packedSide: [[PackedWeights.Matrix]]
    private let packedProjection: [PackedWeights.Matrix]
    private let outputProjection: [ConvolutionOffsets]
    /// Current row's left-to-right hidden states and cells (particles × W × h).
    private let leftHidden: [FloatBuffer]
    private let leftCell: [FloatBuffer]
    /// Left-to-right bias + up term for the current row (particles × W × 4h).
    private let leftUp: [FloatBuffer]
    /// W_ss,left h0 of each direction (4h): the left term at the row's first column.
    private let leftInitial: [FloatBuffer]
    private let rightInitial: [FloatBuffer]
    /// Right-to-left hidden states of the row above (particles × W × h); h0 before row 0.
    private let rightAbove: [FloatBuffer]
    // Scratch.
    private let runGates: FloatBuffer
    private let runTanh: FloatBuffer
    private let runCombined: FloatBuffer
    private let rowGates: FloatBuffer
    private let rowCell: FloatBuffer

    init(model: PixelRNN, particles: Int, width: Int, packed: PackedWeights) {
        self.model = model
        let blocks = model.blocks.map(\.diagonal)
        packedInputToState = blocks.map { $0.directions.map { packed.matrix($0.inputToState) } }
        packedUp = blocks.map { $0.directions.map { packed.matrix($0.stateToState, tap: 0) } }
        packedSide = blocks.map { $0.directions.map { packed.matrix($0.stateToState, tap: 1) } }
        packedProjection = blocks.map { packed.matrix($0.outputProjection) }
        outputProjection = blocks.map { ConvolutionOffsets($0.outputProjection) }
        self.particles = particles
        self.width = width
        let cfg = model.configuration
        h = cfg.hidden
        f = cfg.features
        let kw = particles * width
        leftHidden = blocks.map { _ in FloatBuffer(kw * cfg.hidden) }
        leftCell = blocks.map { _ in FloatBuffer(kw * cfg.hidden) }
        leftUp = blocks.map { _ in FloatBuffer(kw * 4 * cfg.hidden) }
        leftInitial = blocks.map { _ in FloatBuffer(4 * cfg.hidden) }
        rightInitial = blocks.map { _ in FloatBuffer(4 * cfg.hidden) }
        rightAbove = blocks.map { _ in FloatBuffer(kw * cfg.hidden) }
        runGates = FloatBuffer(kw * 4 * cfg.hidden)
        runTanh = FloatBuffer(particles * cfg.hidden)
        runCombined = FloatBuffer(kw * cfg.hidden)
        rowGates = FloatBuffer(kw * 4 * cfg.hidden)
        rowCell = FloatBuffer(kw * cfg.hidden)
        let w = model.parameters.values
        for (l, block) in blocks.enumerated() {
            for (d, (dir, out)) in [(block.leftToRight, leftInitial[l]), (block.rightToLeft, rightInitial[l])].enumerated() {
                PackedWeights.gemm(m: 1, packedSide[l][d], w + dir.initialHiddenOffset, lda: h, beta: 0, out.pointer,
                                   ldc: 4 * h)
            }
            for q in 0..<kw {
                (leftHidden[l].pointer + q * h).update(from: w + block.leftToRight.initialHiddenOffset, count: h)
                (rightAbove[l].pointer + q * h).update(from: w + block.rightToLeft.initialHiddenOffset, count: h)
            }
            computeLeftUp(block: l)
        }
    }

    /// leftUp[l] = b_is + W_ss,up · leftHidden[l] (the row just finished, or h0).
    private func computeLeftUp(block l: Int) {
        let dir = model.blocks[l].diagonal.leftToRight
        let w = model.parameters.values, kw = particles * width
        broadcastRows(w + dir.inputToState.biasOffset, rows: kw, n: 4 * h, into: leftUp[l].pointer)
        PackedWeights.gemm(m: kw, packedUp[l][0], leftHidden[l].pointer, lda: h, beta: 1, leftUp[l].pointer,
                           ldc: 4 * h)
    }

    func forward(
        block l: Int, row y: Int, start j0: Int, length len: Int, input x: UnsafePointer<Float>,
        rowInput: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>
    ) {
        let block = model.blocks[l].diagonal, dir = block.leftToRight
        let w = model.parameters.values
        let m = particles * len
        let gates = runGates.pointer, hidden = leftHidden[l].pointer, cell = leftCell[l].pointer
        PixelRNN.gatherRun(leftUp[l].pointer, into: gates, particles: particles, rowWidth: width,
                           start: j0, length: len, features: 4 * h)
        PackedWeights.gemm(m: m, packedInputToState[l][0], x, lda: f, beta: 1, gates, ldc: 4 * h)
        let c0 = w + dir.initialCellOffset
        for jj in 0..<len {
            let j = j0 + jj
            if j > 0 {
                PackedWeights.gemm(m: particles, packedSide[l][0], hidden + (j - 1) * h, lda: width * h, beta: 1,
                                   gates + jj * 4 * h, ldc: len * 4 * h)
            } else {
                for k in 0..<particles { addInPlace(leftInitial[l].pointer, into: gates + k * len * 4 * h, count: 4 * h) }
            }
            for k in 0..<particles {
                let r = k * width + j
                model.lstmPointwise(
                    gates: gates + (k * len + jj) * 4 * h, previousCell: j > 0 ? cell + (r - 1) * h : c0,
                    broadcastPrevious: false, cell: cell + r * h, tanhCell: runTanh.pointer + k * h,
                    hidden: hidden + r * h, count: 1, h: h)
            }
        }
        // h_LR + h_RL of the row above (the right-to-left stream shifted down one row).
        let combined = runCombined.pointer
        PixelRNN.gatherRun(hidden, into: combined, particles: particles, rowWidth: width,
                           start: j0, length: len, features: h)
        if y > 0 {
            for k in 0..<particles {
                addInPlace(rightAbove[l].pointer + (k * width + j0) * h, into: combined + k * len * h, count: len * h)
            }
        }
        model.residualProjection(outputProjection[l], input: combined, residual: x, output: output, rows: m,
                                 packed: packedProjection[l])
    }

    func endRow(_ y: Int, isLast: Bool, rowInputs: [FloatBuffer]) {
        guard !isLast else { return }
        let w = model.parameters.values, kw = particles * width
        for (l, block) in model.blocks.map(\.diagonal).enumerated() {
            // Right to left over the finished row: input and up terms for the whole row,
            // then one product per column, from the right.
            let dir = block.rightToLeft
            let gates = rowGates.pointer, cell = rowCell.pointer, above = rightAbove[l].pointer
            broadcastRows(w + dir.inputToState.biasOffset, rows: kw, n: 4 * h, into: gates)
            PackedWeights.gemm(m: kw, packedInputToState[l][1], rowInputs[l].pointer, lda: f, beta: 1, gates,
                               ldc: 4 * h)
            PackedWeights.gemm(m: kw, packedUp[l][1], above, lda: h, beta: 1, gates, ldc: 4 * h)
            // The new states overwrite `above` column by column: column j's up term is
            // already in the gates, and column j + 1 is the new row's.
            let c0 = w + dir.initialCellOffset
            for j in stride(from: width - 1, through: 0, by: -1) {
                if j < width - 1 {
                    PackedWeights.gemm(m: particles, packedSide[l][1], above + (j + 1) * h, lda: width * h, beta: 1,
                                       gates + j * 4 * h, ldc: width * 4 * h)
                } else {
                    for k in 0..<particles {
                        addInPlace(rightInitial[l].pointer, into: gates + (k * width + j) * 4 * h, count: 4 * h)
                    }
                }
                for k in 0..<particles {
                    let r = k * width + j
                    model.lstmPointwise(
                        gates: gates + r * 4 * h, previousCell: j < width - 1 ? cell + (r + 1) * h : c0,
                        broadcastPrevious: false, cell: cell + r * h, tanhCell: runTanh.pointer + k * h,
                        hidden: above + r * h, count: 1, h: h)
                }
            }
            computeLeftUp(block: l)
        }
    }

    func permute(_ permute: (FloatBuffer, Int) -> Void) {
        for l in 0..<model.blocks.count {
            permute(leftHidden[l], width * h)
            permute(leftCell[l], width * h)
            permute(leftUp[l], width * 4 * h)
            permute(rightAbove[l], width * h)
        }
    }
}

// MARK: - PixelCNN

/// PixelCNN: per block, the ReLU'd 1×1 down-projection of the row above and of the
/// current row, the only inputs of the masked 3×3 convolution that are not the position's own.
final class PixelCNNIncremental: IncrementalBlocks {
    private let model: PixelRNN
    private let particles: Int, width: Int, h: Int, f: Int
    private let previousReduced: [FloatBuffer]
    private let currentReduced: [FloatBuffer]
    private let runRectified: FloatBuffer
    private let runReduced: FloatBuffer
    private let runGathered: FloatBuffer
    private let runConvolved: FloatBuffer
    /// Per block: the 1×1 down-projection, the masked 3×3 convolution and the 1×1 up-projection.
    private let convIn: [ConvolutionOffsets]
    private let maskedConv: [ConvolutionOffsets]
    private let convOut: [ConvolutionOffsets]
    /// Per block: the three products' packed weights.
    private let packedConvIn: [PackedWeights.Matrix]
    private let packedMaskedConv: [PackedWeights.Matrix]
    private let packedConvOut: [PackedWeights.Matrix]

    init(model: PixelRNN, particles: Int, width: Int, packed: PackedWeights) {
        self.model = model
        let blocks = model.blocks.map(\.cnn)
        precondition(blocks.allSatisfy { $0.maskedConv.gatheredWidth == PixelCNNBlock.taps.count * $0.hidden })
        packedConvIn = blocks.map { packed.matrix($0.convIn) }
        packedMaskedConv = blocks.map { packed.matrix($0.maskedConv) }
        packedConvOut = blocks.map { packed.matrix($0.convOut) }
        convIn = blocks.map { ConvolutionOffsets($0.convIn) }
        maskedConv = blocks.map { ConvolutionOffsets($0.maskedConv) }
        convOut = blocks.map { ConvolutionOffsets($0.convOut) }
        self.particles = particles
        self.width = width
        let cfg = model.configuration
        h = cfg.hidden
        f = cfg.features
        let kw = particles * width
        previousReduced = (0..<cfg.blocks).map { _ in FloatBuffer(kw * cfg.hidden) }
        currentReduced = (0..<cfg.blocks).map { _ in FloatBuffer(kw * cfg.hidden) }
        runRectified = FloatBuffer(kw * cfg.features)
        runReduced = FloatBuffer(kw * cfg.hidden)
        runGathered = FloatBuffer(kw * PixelCNNBlock.taps.count * cfg.hidden)
        runConvolved = FloatBuffer(kw * cfg.hidden)
    }

    func forward(
        block l: Int, row y: Int, start j0: Int, length len: Int, input x: UnsafePointer<Float>,
        rowInput: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>
    ) {
        let convIn = convIn[l], maskedConv = maskedConv[l]
        let w = model.parameters.values
        let m = particles * len, taps = PixelCNNBlock.taps, t = taps.count
        let a = runRectified.pointer, u = runReduced.pointer, g = runGathered.pointer, v = runConvolved.pointer
        relu(x, count: m * f, into: a)
        broadcastRows(w + convIn.biasOffset, rows: m, n: h, into: u)
        PackedWeights.gemm(m: m, packedConvIn[l], a, lda: f, beta: 1, u, ldc: h)
        relu(u, count: m * h, into: u)
        let current = currentReduced[l].pointer, previous = previousReduced[l].pointer
        PixelRNN.scatterRun(u, into: current, particles: particles, rowWidth: width, start: j0, length: len, features: h)
        for k in 0..<particles {
            for jj in 0..<len {
                let j = j0 + jj
                let dst = g + (k * len + jj) * t * h
                for (i, tap) in taps.enumerated() {
                    let xx = j + tap.dx
                    let out = dst + i * h
                    if xx < 0 || xx >= width || y + tap.dy < 0 {
                        out.update(repeating: 0, count: h)
                    } else {
                        let src = tap.dy < 0 ? previous : current
                        out.update(from: src + (k * width + xx) * h, count: h)
                    }
                }
            }
        }
        broadcastRows(w + maskedConv.biasOffset, rows: m, n: h, into: v)
        PackedWeights.gemm(m: m, packedMaskedConv[l], g, lda: t * h, beta: 1, v, ldc: h)
        relu(v, count: m * h, into: v)
        model.residualProjection(convOut[l], input: v, residual: x, output: output, rows: m, packed: packedConvOut[l])
    }

    func endRow(_ y: Int, isLast: Bool, rowInputs: [FloatBuffer]) {
        for l in 0..<model.blocks.count {
            previousReduced[l].pointer.update(from: currentReduced[l].pointer, count: particles * width * h)
        }
    }

    func permute(_ permute: (FloatBuffer, Int) -> Void) {
        for l in 0..<model.blocks.count {
            permute(previousReduced[l], width * h)
            permute(currentReduced[l], width * h)
        }
    }
}
