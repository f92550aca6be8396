/// Row LSTM block (paper §3.1): gates [o, f, i, g] = σ,σ,σ,tanh of
/// K_is ⊛ x (1×3, mask B: taps left and centre) + K_ss ⊛ h_{row−1} (1×3, unmasked);
/// c = f ⊙ c_{row−1} + i ⊙ g; h = o ⊙ tanh(c); output x + W_up h (1×1, mask B).
/// The input-to-state product runs once for the whole map; the state-to-state
/// product runs once per row over the whole batch row; the weight gradients of both
/// run once per block after the row loop, as single large products.
extension PixelRNN {
    func rowLSTMForward(
        _ block: RowLSTMBlock, input x: UnsafeMutablePointer<Float>, output y: UnsafeMutablePointer<Float>,
        activations act: RowLSTMActivations, ws: Workspace
    ) {
        let n = ws.batch, hgt = ws.height, wid = ws.width
        let m = ws.positions, rowLen = n * wid
        let h = block.hidden, f = configuration.features
        let w = parameters.values
        let gathered = act.gathered.pointer, gates = act.gates.pointer
        let sc = act.stateColumns.pointer
        let cell = act.cell.pointer, tanhCell = act.tanhCell.pointer, hidden = act.hidden.pointer

        // Input-to-state for the whole map: gather [left, centre], one product.
        for q in 0..<(m / wid) {
            let base = q * wid
            for j in 0..<wid {
                let p = base + j
                let dst = gathered + p * 2 * f
                if j > 0 { dst.update(from: x + (p - 1) * f, count: f) } else { dst.update(repeating: 0, count: f) }
                (dst + f).update(from: x + p * f, count: f)
            }
        }
        let i2s = block.inputToState
        broadcastRows(w + i2s.biasOffset, rows: m, n: 4 * h, into: gates)
        BLAS.gemm(
            transB: true, m: m, n: 4 * h, k: 2 * f, gathered, lda: 2 * f,
            w + i2s.weightOffset, ldb: 2 * f, beta: 1, gates, ldc: 4 * h)

        let h0 = w + block.initialHiddenOffset, c0 = w + block.initialCellOffset
        let s2s = block.stateToState
        for i in 0..<hgt {
            let rowStart = i * rowLen
            // Gather the previous row's hidden state [left, centre, right].
            for r in 0..<rowLen {
                let p = rowStart + r, j = r % wid
                let dst = sc + p * 3 * h
                for (t, dx) in [-1, 0, 1].enumerated() {
                    let jj = j + dx
                    let out = dst + t * h
                    if jj < 0 || jj >= wid {
                        out.update(repeating: 0, count: h)
                    } else if i == 0 {
                        out.update(from: h0, count: h)
                    } else {
                        out.update(from: hidden + (p - rowLen + dx) * h, count: h)
                    }
                }
            }
            BLAS.gemm(
                transB: true, m: rowLen, n: 4 * h, k: 3 * h, sc + rowStart * 3 * h, lda: 3 * h,
                w + s2s.weightOffset, ldb: 3 * h, beta: 1, gates + rowStart * 4 * h, ldc: 4 * h)
            lstmPointwise(
                gates: gates + rowStart * 4 * h, previousCell: i == 0 ? c0 : cell + (rowStart - rowLen) * h,
                broadcastPrevious: i == 0, cell: cell + rowStart * h, tanhCell: tanhCell + rowStart * h,
                hidden: hidden + rowStart * h, count: rowLen, h: h)
        }

        // Residual output: y = x + b_up + W_up h.
        let up = block.outputProjection
        let bias = w + up.biasOffset
        for p in 0..<m {
            let src = x + p * f, dst = y + p * f
            for k in 0..<f { dst[k] = src[k] + bias[k] }
        }
        BLAS.gemm(
            transB: true, m: m, n: f, k: h, hidden, lda: h, w + up.weightOffset, ldb: h,
            beta: 1, y, ldc: f)
    }


    /// Turns `ws.gradStream` from d/d(block output) into d/d(block input).
    func rowLSTMBackward(
        _ block: RowLSTMBlock, activations act: RowLSTMActivations, ws: Workspace,
        gradient g: UnsafeMutablePointer<Float>
    ) {
        let n = ws.batch, hgt = ws.height, wid = ws.width
        let m = ws.positions, rowLen = n * wid
        let h = block.hidden, f = configuration.features
        let w = parameters.values
        let dY = ws.gradStream.pointer, dH = ws.gradHidden.pointer, dG = ws.gradGates.pointer
        let gates = act.gates.pointer, cell = act.cell.pointer, tanhCell = act.tanhCell.pointer
        let carry = ws.cellCarry.pointer, dSC = ws.gradStateColumns.pointer
        let up = block.outputProjection, s2s = block.stateToState, i2s = block.inputToState

        // Output projection.
        BLAS.gemm(m: m, n: h, k: f, dY, lda: f, w + up.weightOffset, ldb: h, beta: 0, dH, ldc: h)
        BLAS.gemm(transA: true, m: f, n: h, k: m, dY, lda: f, act.hidden.pointer, ldb: h,
                  beta: 1, g + up.weightOffset, ldc: h)
        accumulateColumnSums(dY, rows: m, n: f, into: g + up.biasOffset)

        // Recurrence, bottom row first.
        carry.update(repeating: 0, count: rowLen * h)
        let c0 = w + block.initialCellOffset
        for i in stride(from: hgt - 1, through: 0, by: -1) {
            let rowStart = i * rowLen
            for r in 0..<rowLen {
                let p = rowStart + r
                let cc = carry + r * h
                lstmCellBackward(
                    gates: gates + p * 4 * h, tanhCell: tanhCell + p * h,
                    previousCell: i == 0 ? c0 : cell + (p - rowLen) * h, dHidden: dH + p * h, dCell: cc,
                    dGates: dG + p * 4 * h, dPreviousCell: cc, accumulate: false, h: h)
            }
            BLAS.gemm(m: rowLen, n: 3 * h, k: 4 * h, dG + rowStart * 4 * h, lda: 4 * h,
                      w + s2s.weightOffset, ldb: 3 * h, beta: 0, dSC, ldc: 3 * h)
            if i > 0 {
                for r in 0..<rowLen {
                    let j = r % wid, prev = rowStart - rowLen + r
                    let src = dSC + r * 3 * h
                    if j > 0 { addInPlace(src, into: dH + (prev - 1) * h, count: h) }
                    addInPlace(src + h, into: dH + prev * h, count: h)
                    if j < wid - 1 { addInPlace(src + 2 * h, into: dH + (prev + 1) * h, count: h) }
                }
            } else {
                let dh0 = g + block.initialHiddenOffset, dc0 = g + block.initialCellOffset
                for r in 0..<rowLen {
                    let j = r % wid
                    let src = dSC + r * 3 * h
                    if j > 0 { addInPlace(src, into: dh0, count: h) }
                    addInPlace(src + h, into: dh0, count: h)
                    if j < wid - 1 { addInPlace(src + 2 * h, into: dh0, count: h) }
                    addInPlace(carry + r * h, into: dc0, count: h)
                }
            }
        }

        // Weight gradients of both convolutions as single products; input gradient.
        BLAS.gemm(transA: true, m: 4 * h, n: 3 * h, k: m, dG, lda: 4 * h, act.stateColumns.pointer, ldb: 3 * h,
                  beta: 1, g + s2s.weightOffset, ldc: 3 * h)
        BLAS.gemm(transA: true, m: 4 * h, n: 2 * f, k: m, dG, lda: 4 * h, act.gathered.pointer, ldb: 2 * f,
                  beta: 1, g + i2s.weightOffset, ldc: 2 * f)
        accumulateColumnSums(dG, rows: m, n: 4 * h, into: g + i2s.biasOffset)
        let dGathered = ws.gradGathered.pointer
        BLAS.gemm(m: m, n: 2 * f, k: 4 * h, dG, lda: 4 * h, w + i2s.weightOffset, ldb: 2 * f,
                  beta: 0, dGathered, ldc: 2 * f)
        for p in 0..<m {
            let src = dGathered + p * 2 * f
            addInPlace(src + f, into: dY + p * f, count: f)
            if p % wid > 0 { addInPlace(src, into: dY + (p - 1) * f, count: f) }
        }
    }
}
