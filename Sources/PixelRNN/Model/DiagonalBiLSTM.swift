/// Diagonal BiLSTM residual blocks (paper §3.2; docs/architectures.md).
///
/// Each direction is an LSTM over the skewed map (row i shifted right by i), processed
/// one skewed column at a time. In image coordinates the left-to-right state at (i, j)
/// comes from the input at (i, j) (1×1, mask B) and from the states at (i−1, j) ("up")
/// and (i, j−1) ("left"); its previous cell is the one at (i, j−1). The right-to-left
/// direction is the same LSTM on the mirrored image: "left" is (i, j+1). States outside
/// the image are the direction's learned initial hidden state and cell. The block output
/// is x + W_up (h_LR(i, j) + h_RL(i−1, j)) + b_up, with h_RL(−1, j) = 0: the
/// right-to-left stream is shifted down one row, so no position sees the future.

extension PixelRNN {
    static func addDiagonalBlock(
        prefix: String, hidden h: Int, features f: Int, channels c: Int, to params: ParameterSet
    ) -> DiagonalBiLSTMBlock {
        func groups(_ n: Int) -> [Int] { (0..<n).map { colourGroup($0, of: n, channels: c) } }
        let gateGroups = (0..<(4 * h)).map { colourGroup($0 % h, of: h, channels: c) }
        func direction(_ name: String, mirrored: Bool) -> DiagonalLSTMDirection {
            let i2s = params.addConvolution(
                ConvolutionSpec(
                    name: prefix + name + ".input_to_state", outFeatures: 4 * h, inFeatures: f,
                    kernelHeight: 1, kernelWidth: 1, centreY: 0, centreX: 0,
                    taps: [(0, 0)], mask: .b,
                    outGroups: gateGroups, inGroups: groups(f), hasBias: true))
            // Taps in skewed coordinates: the previous skewed column, rows i−1 and i.
            // PyTorch kernel [2, 1]: ky = 0 is row i−1, ky = 1 is row i.
            let s2s = params.addConvolution(
                ConvolutionSpec(
                    name: prefix + name + ".state_to_state", outFeatures: 4 * h, inFeatures: h,
                    kernelHeight: 2, kernelWidth: 1, centreY: 1, centreX: 1,
                    taps: [(-1, -1), (0, -1)], mask: .none,
                    outGroups: gateGroups, inGroups: groups(h), hasBias: false))
            let h0 = params.addTensor(name: prefix + name + ".initial_hidden", shape: [h])
            let c0 = params.addTensor(name: prefix + name + ".initial_cell", shape: [h])
            return DiagonalLSTMDirection(
                inputToState: i2s, stateToState: s2s, initialHiddenOffset: h0, initialCellOffset: c0,
                mirrored: mirrored)
        }
        let l2r = direction("left_to_right", mirrored: false)
        let r2l = direction("right_to_left", mirrored: true)
        let up = addOutputProjection(prefix: prefix, hidden: h, features: f, channels: c, to: params)
        return DiagonalBiLSTMBlock(hidden: h, leftToRight: l2r, rightToLeft: r2l, outputProjection: up)
    }
}

/// The skewed columns of a batch: skewed column s holds the positions (i, j) with
/// i + j = s (j counted from the right for the mirrored direction), rows in increasing
/// order, each row's `batch` images consecutive. "Diagonal order" numbers the positions
/// column by column in that order.
struct DiagonalGeometry {
    let height: Int
    let width: Int
    let batch: Int
    /// W + H − 1.
    let columns: Int
    /// First diagonal-order index of each column, and the total (columns + 1 entries).
    let start: [Int]

    init(height: Int, width: Int, batch: Int) {
        self.height = height
        self.width = width
        self.batch = batch
        columns = width + height - 1
        var start = [0]
        start.reserveCapacity(columns + 1)
        for s in 0..<columns {
            start.append(start[s] + (min(height - 1, s) - max(0, s - width + 1) + 1) * batch)
        }
        self.start = start
    }

    /// First and last row of skewed column s.
    @inline(__always)
    func rows(_ s: Int) -> (Int, Int) { (max(0, s - width + 1), min(height - 1, s)) }

    /// Workspace position (row, image, column order) of row i, image b of skewed column s.
    @inline(__always)
    func position(column s: Int, row i: Int, image b: Int, mirrored: Bool) -> Int {
        let jj = s - i
        return (i * batch + b) * width + (mirrored ? width - 1 - jj : jj)
    }
}

/// Activations of one direction of a Diagonal BiLSTM block, in diagonal order.
final class DiagonalDirectionActivations: @unchecked Sendable {
    /// Block input (M × 2h).
    let input: FloatBuffer
    /// Gathered states [up, left] (M × 2h).
    let stateColumns: FloatBuffer
    /// Gates o, f, i, g after their nonlinearity (M × 4h).
    let gates: FloatBuffer
    /// Previous cell, cell, its tanh and the hidden state (M × h each).
    let previousCell: FloatBuffer
    let cell: FloatBuffer
    let tanhCell: FloatBuffer
    let hidden: FloatBuffer

    init(positions m: Int, hidden h: Int, features f: Int) {
        input = FloatBuffer(m * f)
        stateColumns = FloatBuffer(m * 2 * h)
        gates = FloatBuffer(m * 4 * h)
        previousCell = FloatBuffer(m * h)
        cell = FloatBuffer(m * h)
        tanhCell = FloatBuffer(m * h)
        hidden = FloatBuffer(m * h)
    }
}

/// Activations of one Diagonal BiLSTM block.
final class DiagonalActivations: @unchecked Sendable {
    let directions: [DiagonalDirectionActivations]
    /// h_LR + shifted h_RL in position order (M × h): the up-projection's input.
    let combined: FloatBuffer

    init(positions m: Int, hidden h: Int, features f: Int) {
        directions = (0..<2).map { _ in DiagonalDirectionActivations(positions: m, hidden: h, features: f) }
        combined = FloatBuffer(m * h)
    }
}

/// Backward scratch of the Diagonal BiLSTM (position or diagonal order, M rows).
final class DiagonalScratch: @unchecked Sendable {
    let gradCombined: FloatBuffer
    let gradHidden: FloatBuffer
    let gradCell: FloatBuffer
    let gradGates: FloatBuffer
    let gradStateColumns: FloatBuffer
    let gradInput: FloatBuffer

    init(positions m: Int, hidden h: Int, features f: Int) {
        gradCombined = FloatBuffer(m * h)
        gradHidden = FloatBuffer(m * h)
        gradCell = FloatBuffer(m * h)
        gradGates = FloatBuffer(m * 4 * h)
        gradStateColumns = FloatBuffer(m * 2 * h)
        gradInput = FloatBuffer(m * f)
    }
}

extension PixelRNN {
    // MARK: Forward

    func diagonalForward(
        _ block: DiagonalBiLSTMBlock, input x: UnsafeMutablePointer<Float>, output y: UnsafeMutablePointer<Float>,
        activations act: DiagonalActivations, ws: Workspace
    ) {
        let n = ws.batch, wid = ws.width, m = ws.positions
        let h = block.hidden, f = configuration.features
        let w = parameters.values
        let geo = DiagonalGeometry(height: ws.height, width: wid, batch: n)
        let combined = act.combined.pointer
        let shift = rightToLeftShift

        for (d, dir) in block.directions.enumerated() {
            let a = act.directions[d]
            let xd = a.input.pointer, sc = a.stateColumns.pointer, gates = a.gates.pointer
            let prevCell = a.previousCell.pointer, hidden = a.hidden.pointer
            // Block input in diagonal order; input-to-state for the whole map in one product.
            for s in 0..<geo.columns {
                let (lo, hi) = geo.rows(s)
                var q = geo.start[s]
                for i in lo...hi {
                    for b in 0..<n {
                        let p = geo.position(column: s, row: i, image: b, mirrored: dir.mirrored)
                        (xd + q * f).update(from: x + p * f, count: f)
                        q += 1
                    }
                }
            }
            let i2s = dir.inputToState
            broadcastRows(w + i2s.biasOffset, rows: m, n: 4 * h, into: gates)
            BLAS.gemm(transB: true, m: m, n: 4 * h, k: f, xd, lda: f, w + i2s.weightOffset, ldb: f,
                      beta: 1, gates, ldc: 4 * h)

            // Recurrence over skewed columns: one product per column for the whole batch.
            let h0 = w + dir.initialHiddenOffset, c0 = w + dir.initialCellOffset
            for s in 0..<geo.columns {
                let (lo, hi) = geo.rows(s)
                let q0 = geo.start[s], count = (hi - lo + 1) * n
                let previousLow = s > 0 ? geo.rows(s - 1).0 : 0
                let pq0 = s > 0 ? geo.start[s - 1] : 0
                for i in lo...hi {
                    for b in 0..<n {
                        let q = q0 + (i - lo) * n + b
                        let dst = sc + q * 2 * h
                        if i >= 1 {
                            dst.update(from: hidden + (pq0 + (i - 1 - previousLow) * n + b) * h, count: h)
                        } else {
                            dst.update(from: h0, count: h)
                        }
                        if i <= s - 1 {
                            let ql = pq0 + (i - previousLow) * n + b
                            (dst + h).update(from: hidden + ql * h, count: h)
                            (prevCell + q * h).update(from: a.cell.pointer + ql * h, count: h)
                        } else {
                            (dst + h).update(from: h0, count: h)
                            (prevCell + q * h).update(from: c0, count: h)
                        }
                    }
                }
                BLAS.gemm(transB: true, m: count, n: 4 * h, k: 2 * h, sc + q0 * 2 * h, lda: 2 * h,
                          w + dir.stateToState.weightOffset, ldb: 2 * h, beta: 1, gates + q0 * 4 * h, ldc: 4 * h)
                lstmPointwise(
                    gates: gates + q0 * 4 * h, previousCell: prevCell + q0 * h, broadcastPrevious: false,
                    cell: a.cell.pointer + q0 * h, tanhCell: a.tanhCell.pointer + q0 * h,
                    hidden: hidden + q0 * h, count: count, h: h)
            }

            // Back to position order: h_LR at (i, j); h_RL of (i, j) goes to (i + shift, j).
            if d == 0 { combined.update(repeating: 0, count: m * h) }
            let rowStride = n * wid
            for s in 0..<geo.columns {
                let (lo, hi) = geo.rows(s)
                var q = geo.start[s]
                for i in lo...hi {
                    for b in 0..<n {
                        defer { q += 1 }
                        let p = geo.position(column: s, row: i, image: b, mirrored: dir.mirrored)
                        let shiftRows = dir.mirrored ? shift : 0
                        guard i + shiftRows < geo.height else { continue }
                        addInPlace(hidden + q * h, into: combined + (p + shiftRows * rowStride) * h, count: h)
                    }
                }
            }
        }

        // Residual output: y = x + b_up + W_up (h_LR + shifted h_RL).
        let up = block.outputProjection
        let bias = w + up.biasOffset
        for p in 0..<m {
            let src = x + p * f, dst = y + p * f
            for k in 0..<f { dst[k] = src[k] + bias[k] }
        }
        BLAS.gemm(transB: true, m: m, n: f, k: h, combined, lda: h, w + up.weightOffset, ldb: h,
                  beta: 1, y, ldc: f)
    }

    // MARK: Backward

    /// Turns `ws.gradStream` from d/d(block output) into d/d(block input).
    func diagonalBackward(
        _ block: DiagonalBiLSTMBlock, activations act: DiagonalActivations, ws: Workspace,
        gradient g: UnsafeMutablePointer<Float>
    ) {
        let n = ws.batch, wid = ws.width, m = ws.positions
        let h = block.hidden, f = configuration.features
        let w = parameters.values
        let scratch = ws.diagonalScratch!
        let geo = DiagonalGeometry(height: ws.height, width: wid, batch: n)
        let dY = ws.gradStream.pointer, dComb = scratch.gradCombined.pointer
        let dH = scratch.gradHidden.pointer, dC = scratch.gradCell.pointer
        let dG = scratch.gradGates.pointer, dS = scratch.gradStateColumns.pointer
        let dX = scratch.gradInput.pointer
        let up = block.outputProjection
        let shift = rightToLeftShift
        let rowStride = n * wid

        BLAS.gemm(m: m, n: h, k: f, dY, lda: f, w + up.weightOffset, ldb: h, beta: 0, dComb, ldc: h)
        BLAS.gemm(transA: true, m: f, n: h, k: m, dY, lda: f, act.combined.pointer, ldb: h,
                  beta: 1, g + up.weightOffset, ldc: h)
        accumulateColumnSums(dY, rows: m, n: f, into: g + up.biasOffset)

        for (d, dir) in block.directions.enumerated() {
            let a = act.directions[d]
            let gates = a.gates.pointer, tanhCell = a.tanhCell.pointer, prevCell = a.previousCell.pointer
            // d/d(hidden) from the up-projection, in diagonal order.
            for s in 0..<geo.columns {
                let (lo, hi) = geo.rows(s)
                var q = geo.start[s]
                for i in lo...hi {
                    for b in 0..<n {
                        let p = geo.position(column: s, row: i, image: b, mirrored: dir.mirrored)
                        let shiftRows = dir.mirrored ? shift : 0
                        if i + shiftRows < geo.height {
                            (dH + q * h).update(from: dComb + (p + shiftRows * rowStride) * h, count: h)
                        } else {
                            (dH + q * h).update(repeating: 0, count: h)
                        }
                        q += 1
                    }
                }
            }
            dC.update(repeating: 0, count: m * h)
            let dh0 = g + dir.initialHiddenOffset, dc0 = g + dir.initialCellOffset
            for s in stride(from: geo.columns - 1, through: 0, by: -1) {
                let (lo, hi) = geo.rows(s)
                let q0 = geo.start[s], count = (hi - lo + 1) * n
                let previousLow = s > 0 ? geo.rows(s - 1).0 : 0
                let pq0 = s > 0 ? geo.start[s - 1] : 0
                for i in lo...hi {
                    for b in 0..<n {
                        let q = q0 + (i - lo) * n + b
                        let hasLeft = i <= s - 1
                        let ql = pq0 + (i - previousLow) * n + b
                        let cellOut = hasLeft ? dC + ql * h : dc0
                        lstmCellBackward(
                            gates: gates + q * 4 * h, tanhCell: tanhCell + q * h, previousCell: prevCell + q * h,
                            dHidden: dH + q * h, dCell: dC + q * h, dGates: dG + q * 4 * h,
                            dPreviousCell: cellOut, accumulate: true, h: h)
                    }
                }
                BLAS.gemm(m: count, n: 2 * h, k: 4 * h, dG + q0 * 4 * h, lda: 4 * h,
                          w + dir.stateToState.weightOffset, ldb: 2 * h, beta: 0, dS, ldc: 2 * h)
                for i in lo...hi {
                    for b in 0..<n {
                        let r = (i - lo) * n + b
                        let src = dS + r * 2 * h
                        if i >= 1 {
                            addInPlace(src, into: dH + (pq0 + (i - 1 - previousLow) * n + b) * h, count: h)
                        } else {
                            addInPlace(src, into: dh0, count: h)
                        }
                        if i <= s - 1 {
                            addInPlace(src + h, into: dH + (pq0 + (i - previousLow) * n + b) * h, count: h)
                        } else {
                            addInPlace(src + h, into: dh0, count: h)
                        }
                    }
                }
            }
            // Weight gradients as single products; input gradient back to position order.
            let i2s = dir.inputToState
            BLAS.gemm(transA: true, m: 4 * h, n: 2 * h, k: m, dG, lda: 4 * h, a.stateColumns.pointer, ldb: 2 * h,
                      beta: 1, g + dir.stateToState.weightOffset, ldc: 2 * h)
            BLAS.gemm(transA: true, m: 4 * h, n: f, k: m, dG, lda: 4 * h, a.input.pointer, ldb: f,
                      beta: 1, g + i2s.weightOffset, ldc: f)
            accumulateColumnSums(dG, rows: m, n: 4 * h, into: g + i2s.biasOffset)
            BLAS.gemm(m: m, n: f, k: 4 * h, dG, lda: 4 * h, w + i2s.weightOffset, ldb: f, beta: 0, dX, ldc: f)
            for s in 0..<geo.columns {
                let (lo, hi) = geo.rows(s)
                var q = geo.start[s]
                for i in lo...hi {
                    for b in 0..<n {
                        let p = geo.position(column: s, row: i, image: b, mirrored: dir.mirrored)
                        addInPlace(dX + q * f, into: dY + p * f, count: f)
                        q += 1
                    }
                }
            }
        }
    }
}
