internal import CKernels
import Foundation

/// Forward and backward passes over a workspace shared by the three architectures: the
/// 7×7 input layer (with the orientation embedding), the blocks in order, the output
/// layers and the softmax loss. Each block kind's own passes live in its file
/// (RowLSTM.swift, DiagonalBiLSTM.swift, PixelCNN.swift).
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
        for (l, block) in blocks.enumerated() {
            switch block {
            case .row(let row):
                rowLSTMForward(row, input: ws.stream(l), output: ws.stream(l + 1), activations: ws.activations(l), ws: ws)
            case .diagonal(let diagonal):
                diagonalForward(diagonal, input: ws.stream(l), output: ws.stream(l + 1),
                                activations: ws.diagonalActivations(l), ws: ws)
            case .cnn(let cnn):
                pixelCNNForward(cnn, input: ws.stream(l), output: ws.stream(l + 1), activations: ws.cnnActivations(l), ws: ws)
            }
        }
        outputLayersForward(ws)
    }

    func outputLayersForward(_ ws: Workspace) {
        let m = ws.positions
        let w = parameters.values
        let f = configuration.features, o = configuration.outputHidden
        let lc = configuration.outputWidth
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

    /// The negative log-likelihood of every sub-pixel under the output distribution:
    /// fills `ws.imageNLL` (nats per image) and, when `gradientScale` is given, replaces
    /// the output features by d(loss)/d(outputs) with loss = gradientScale × Σ NLL.
    /// - Parameter positionNLL: optional output, M × C nats per sub-pixel.
    func outputLoss(_ ws: Workspace, gradientScale: Float?, positionNLL: UnsafeMutablePointer<Float>? = nil) {
        switch configuration.distribution {
        case .softmax: softmaxCrossEntropy(ws, gradientScale: gradientScale, positionNLL: positionNLL)
        case .logisticMixture(let k): mixtureLoss(ws, components: k, gradientScale: gradientScale, positionNLL: positionNLL)
        }
    }

    /// Softmax cross-entropy of every sub-pixel (see ``outputLoss(_:gradientScale:positionNLL:)``).
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
                    pk_exp_shift_scale(l, Int32(levels), logSum, scale)
                    l[target] -= scale
                }
            }
            ws.imageNLL[image] += sum
        }
    }

    /// Discretized logistic mixture NLL of every sub-pixel (see
    /// ``outputLoss(_:gradientScale:positionNLL:)``).
    func mixtureLoss(_ ws: Workspace, components k: Int, gradientScale: Float?, positionNLL: UnsafeMutablePointer<Float>?) {
        let m = ws.positions, c = configuration.channels, levels = configuration.levels
        let n = ws.batch, wid = ws.width, width = configuration.outputWidth
        let mixture = LogisticMixture(components: k, levels: levels)
        let outputs = ws.logits.pointer
        let gradient = UnsafeMutablePointer<Float>.allocate(capacity: width)
        defer { gradient.deallocate() }
        var earlier = [Float](repeating: 0, count: c)
        for b in 0..<n { ws.imageNLL[b] = 0 }
        earlier.withUnsafeMutableBufferPointer { earlierBuffer in
            let earlier = earlierBuffer.baseAddress!
            for p in 0..<m {
                let image = (p / wid) % n
                let pixel = outputs + p * width
                if gradientScale != nil { gradient.update(repeating: 0, count: width) }
                var sum = 0.0
                var offset = 0
                for ch in 0..<c {
                    let target = Int(ws.targets[p * c + ch])
                    let nll = -mixture.logProbability(
                        of: target, outputs: pixel + offset, channel: ch, earlier: earlier,
                        gradient: gradientScale == nil ? nil : gradient + offset, scale: gradientScale ?? 0)
                    sum += Double(nll)
                    positionNLL?[p * c + ch] = nll
                    earlier[ch] = mixture.scaled(target)
                    offset += k * (3 + ch)
                }
                if gradientScale != nil { pixel.update(from: gradient, count: width) }
                ws.imageNLL[image] += sum
            }
        }
    }

    // MARK: Backward

    /// Back-propagates the logit gradient left in `ws.logits` and accumulates parameter
    /// gradients into `gradient` (same layout as the parameter slab).
    func backward(_ ws: Workspace, gradient g: UnsafeMutablePointer<Float>) {
        let m = ws.positions
        let w = parameters.values
        let f = configuration.features, o = configuration.outputHidden
        let lc = configuration.outputWidth
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

        for (l, block) in blocks.enumerated().reversed() {
            switch block {
            case .row(let row): rowLSTMBackward(row, activations: ws.activations(l), ws: ws, gradient: g)
            case .diagonal(let diagonal):
                diagonalBackward(diagonal, activations: ws.diagonalActivations(l), ws: ws, gradient: g)
            case .cnn(let cnn): pixelCNNBackward(cnn, activations: ws.cnnActivations(l), ws: ws, gradient: g)
            }
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

}
