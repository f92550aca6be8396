import Foundation

/// Forward and backward passes over a workspace: input and output layers, the loss,
/// and the Row LSTM blocks (the other block kinds live in their own files).
///
/// Row LSTM block (paper §3.1): gates [o, f, i, g] = σ,σ,σ,tanh of
/// K_is ⊛ x (1×3, mask B: taps left and centre) + K_ss ⊛ h_{row−1} (1×3, unmasked);
/// c = f ⊙ c_{row−1} + i ⊙ g; h = o ⊙ tanh(c); output x + W_up h (1×1, mask B).
/// The input-to-state product runs once for the whole map; the state-to-state
/// product runs once per row over the whole batch row; the weight gradients of both
/// run once per block after the row loop, as single large products.
extension PixelRNN {
    // MARK: Forward

    /// Gathers the 7×7 mask-A input taps and the targets for `batch` images.
    /// - Parameter pixels: `batch × H × W × C` bytes, images back to back.
    func gatherInput(_ pixels: UnsafePointer<UInt8>, into ws: Workspace) {
        let n = ws.batch, hgt = ws.height, wid = ws.width, c = configuration.channels
        let k0 = ws.inputColumnWidth
        let taps = inputConvolution.taps
        let cols = ws.inputColumns.pointer
        let targets = ws.targets
        let scale: Float = 1.0 / 255.0
        for i in 0..<hgt {
            for b in 0..<n {
                let image = pixels + b * hgt * wid * c
                for j in 0..<wid {
                    let p = (i * n + b) * wid + j
                    let row = cols + p * k0
                    for (t, tap) in taps.enumerated() {
                        let y = i + tap.dy, x = j + tap.dx
                        if y >= 0 && x >= 0 && x < wid {
                            let src = image + (y * wid + x) * c
                            for ch in 0..<c { row[t * c + ch] = Float(src[ch]) * scale }
                        } else {
                            for ch in 0..<c { row[t * c + ch] = 0 }
                        }
                    }
                    let src = image + (i * wid + j) * c
                    for ch in 0..<c { targets[p * c + ch] = src[ch] }
                }
            }
        }
    }

    /// Runs the network on the gathered input; leaves logits in `ws.logits`.
    func forwardNetwork(_ ws: Workspace) {
        let m = ws.positions
        let w = parameters.values
        let f = configuration.features
        let conv = inputConvolution
        let x0 = ws.stream(0)
        broadcastRows(w + conv.biasOffset, rows: m, n: f, into: x0)
        BLAS.gemm(
            transB: true, m: m, n: f, k: conv.gatheredWidth,
            ws.inputColumns.pointer, lda: conv.gatheredWidth, w + conv.weightOffset, ldb: conv.gatheredWidth,
            beta: 1, x0, ldc: f)
        if let embedding = orientationEmbeddingOffset {
            let n = ws.batch, wid = ws.width
            for i in 0..<ws.height {
                for b in 0..<n {
                    let row = w + embedding + f * orientation(ofImage: b, in: ws)
                    let start = x0 + (i * n + b) * wid * f
                    for j in 0..<wid { addInPlace(row, into: start + j * f, count: f) }
                }
            }
        }
        for (l, block) in rowBlocks.enumerated() {
            rowLSTMForward(block, input: ws.stream(l), output: ws.stream(l + 1),
                           activations: ws.activations(l), ws: ws)
        }
        for (l, block) in diagonalBlocks.enumerated() {
            diagonalForward(block, input: ws.stream(l), output: ws.stream(l + 1),
                            activations: ws.diagonalActivations(l), ws: ws)
        }
        for (l, block) in cnnBlocks.enumerated() {
            pixelCNNForward(block, input: ws.stream(l), output: ws.stream(l + 1),
                            activations: ws.cnnActivations(l), ws: ws)
        }
        outputLayersForward(ws)
    }

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

    /// Applies the gate nonlinearities in place and advances the cell for `count` positions.
    @inline(__always)
    func lstmPointwise(
        gates: UnsafeMutablePointer<Float>, previousCell: UnsafePointer<Float>, broadcastPrevious: Bool,
        cell: UnsafeMutablePointer<Float>, tanhCell: UnsafeMutablePointer<Float>,
        hidden: UnsafeMutablePointer<Float>, count: Int, h: Int
    ) {
        for r in 0..<count {
            let g = gates + r * 4 * h
            let cp = broadcastPrevious ? previousCell : previousCell + r * h
            var k = 0
            while k < h {
                let lanes = min(8, h - k)
                let o = fastSigmoid(loadPartial(g + k, lanes))
                let fg = fastSigmoid(loadPartial(g + h + k, lanes))
                let ig = fastSigmoid(loadPartial(g + 2 * h + k, lanes))
                let gg = fastTanh(loadPartial(g + 3 * h + k, lanes))
                let c = fg * loadPartial(cp + k, lanes) + ig * gg
                let tc = fastTanh(c)
                storePartial(o, g + k, lanes)
                storePartial(fg, g + h + k, lanes)
                storePartial(ig, g + 2 * h + k, lanes)
                storePartial(gg, g + 3 * h + k, lanes)
                storePartial(c, cell + r * h + k, lanes)
                storePartial(tc, tanhCell + r * h + k, lanes)
                storePartial(o * tc, hidden + r * h + k, lanes)
                k += 8
            }
        }
    }

    func outputLayersForward(_ ws: Workspace) {
        let m = ws.positions
        let w = parameters.values
        let f = configuration.features, o = configuration.outputHidden
        let lc = configuration.levels * configuration.channels
        let r1 = ws.outputInput.pointer, r2 = ws.outputHidden.pointer, logits = ws.logits.pointer
        relu(ws.stream(configuration.blocks), count: m * f, into: r1)
        broadcastRows(w + outputHidden.biasOffset, rows: m, n: o, into: r2)
        BLAS.gemm(transB: true, m: m, n: o, k: f, r1, lda: f, w + outputHidden.weightOffset, ldb: f,
                  beta: 1, r2, ldc: o)
        relu(r2, count: m * o, into: r2)
        broadcastRows(w + outputLogits.biasOffset, rows: m, n: lc, into: logits)
        BLAS.gemm(transB: true, m: m, n: lc, k: o, r2, lda: o, w + outputLogits.weightOffset, ldb: o,
                  beta: 1, logits, ldc: lc)
    }

    // MARK: Loss

    /// Softmax cross-entropy of every sub-pixel: fills `ws.imageNLL` (nats per image) and,
    /// when `gradientScale` is given, replaces the logits by d(loss)/d(logits) with
    /// loss = gradientScale × Σ NLL.
    /// - Parameter positionNLL: optional output, M × C nats per sub-pixel.
    func softmaxCrossEntropy(_ ws: Workspace, gradientScale: Float?, positionNLL: UnsafeMutablePointer<Float>? = nil) {
        let m = ws.positions, c = configuration.channels, levels = configuration.levels
        let n = ws.batch, wid = ws.width
        let logits = ws.logits.pointer
        for b in 0..<n { ws.imageNLL[b] = 0 }
        for p in 0..<m {
            let image = (p / wid) % n
            var sum = 0.0
            for ch in 0..<c {
                let l = logits + (p * c + ch) * levels
                let target = Int(ws.targets[p * c + ch])
                let logSum = logSumExp(l, count: levels)
                let nll = logSum - l[target]
                sum += Double(nll)
                positionNLL?[p * c + ch] = nll
                if let scale = gradientScale {
                    var k = 0
                    while k < levels {
                        let lanes = min(8, levels - k)
                        storePartial(fastExp(loadPartial(l + k, lanes) - logSum) * scale, l + k, lanes)
                        k += 8
                    }
                    l[target] -= scale
                }
            }
            ws.imageNLL[image] += sum
        }
    }

    // MARK: Backward

    /// Back-propagates the logit gradient left in `ws.logits` and accumulates parameter
    /// gradients into `gradient` (same layout as the parameter slab).
    func backward(_ ws: Workspace, gradient g: UnsafeMutablePointer<Float>) {
        let m = ws.positions
        let w = parameters.values
        let f = configuration.features, o = configuration.outputHidden
        let lc = configuration.levels * configuration.channels
        let dLogits = ws.logits.pointer
        let r1 = ws.outputInput.pointer, r2 = ws.outputHidden.pointer
        let dR2 = ws.gradOutputHidden.pointer, dStream = ws.gradStream.pointer

        BLAS.gemm(transA: true, m: lc, n: o, k: m, dLogits, lda: lc, r2, ldb: o,
                  beta: 1, g + outputLogits.weightOffset, ldc: o)
        accumulateColumnSums(dLogits, rows: m, n: lc, into: g + outputLogits.biasOffset)
        BLAS.gemm(m: m, n: o, k: lc, dLogits, lda: lc, w + outputLogits.weightOffset, ldb: o,
                  beta: 0, dR2, ldc: o)
        reluBackward(output: r2, gradient: dR2, count: m * o)
        BLAS.gemm(transA: true, m: o, n: f, k: m, dR2, lda: o, r1, ldb: f,
                  beta: 1, g + outputHidden.weightOffset, ldc: f)
        accumulateColumnSums(dR2, rows: m, n: o, into: g + outputHidden.biasOffset)
        BLAS.gemm(m: m, n: f, k: o, dR2, lda: o, w + outputHidden.weightOffset, ldb: f,
                  beta: 0, dStream, ldc: f)
        reluBackward(output: r1, gradient: dStream, count: m * f)

        for l in stride(from: rowBlocks.count - 1, through: 0, by: -1) {
            rowLSTMBackward(rowBlocks[l], activations: ws.activations(l), ws: ws, gradient: g)
        }
        for l in stride(from: diagonalBlocks.count - 1, through: 0, by: -1) {
            diagonalBackward(diagonalBlocks[l], activations: ws.diagonalActivations(l), ws: ws, gradient: g)
        }
        for l in stride(from: cnnBlocks.count - 1, through: 0, by: -1) {
            pixelCNNBackward(cnnBlocks[l], activations: ws.cnnActivations(l), ws: ws, gradient: g)
        }

        let conv = inputConvolution
        BLAS.gemm(transA: true, m: f, n: conv.gatheredWidth, k: m, dStream, lda: f,
                  ws.inputColumns.pointer, ldb: conv.gatheredWidth,
                  beta: 1, g + conv.weightOffset, ldc: conv.gatheredWidth)
        accumulateColumnSums(dStream, rows: m, n: f, into: g + conv.biasOffset)
        if let embedding = orientationEmbeddingOffset {
            let n = ws.batch, wid = ws.width
            for i in 0..<ws.height {
                for b in 0..<n {
                    accumulateColumnSums(dStream + (i * n + b) * wid * f, rows: wid, n: f,
                                         into: g + embedding + f * orientation(ofImage: b, in: ws))
                }
            }
        }
    }

    /// The orientation index of image `b` of the pass (0, upright, when none was given).
    @inline(__always)
    func orientation(ofImage b: Int, in ws: Workspace) -> Int {
        ws.orientations.isEmpty ? 0 : ws.orientations[b]
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
                let gp = gates + p * 4 * h, dgp = dG + p * 4 * h
                let cp = i == 0 ? c0 : cell + (p - rowLen) * h
                let dh = dH + p * h, tc = tanhCell + p * h, cc = carry + r * h
                var k = 0
                while k < h {
                    let lanes = min(8, h - k)
                    let og = loadPartial(gp + k, lanes), fg = loadPartial(gp + h + k, lanes)
                    let ig = loadPartial(gp + 2 * h + k, lanes), gg = loadPartial(gp + 3 * h + k, lanes)
                    let t = loadPartial(tc + k, lanes), dhv = loadPartial(dh + k, lanes)
                    let dc = dhv * og * (1 - t * t) + loadPartial(cc + k, lanes)
                    storePartial(dhv * t * og * (1 - og), dgp + k, lanes)
                    storePartial(dc * loadPartial(cp + k, lanes) * fg * (1 - fg), dgp + h + k, lanes)
                    storePartial(dc * gg * ig * (1 - ig), dgp + 2 * h + k, lanes)
                    storePartial(dc * ig * (1 - gg * gg), dgp + 3 * h + k, lanes)
                    storePartial(dc * fg, cc + k, lanes)
                    k += 8
                }
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
