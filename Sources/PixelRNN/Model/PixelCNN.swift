/// PixelCNN residual blocks (paper §3.4, Figure 5; docs/architectures.md):
/// a = ReLU(x); u = ReLU(W_in a + b_in) (1×1, mask B, 2h → h);
/// v = ReLU(K ⊛ u + b) (3×3, mask B, h → h); y = x + W_out v + b_out (1×1, mask B, h → 2h).

extension PixelRNN {
    static func addPixelCNNBlock(
        prefix: String, hidden h: Int, features f: Int, channels c: Int, to params: ParameterSet
    ) -> PixelCNNBlock {
        func groups(_ n: Int) -> [Int] { (0..<n).map { colourGroup($0, of: n, channels: c) } }
        let convIn = params.addConvolution(
            ConvolutionSpec(
                name: prefix + "conv_in", outFeatures: h, inFeatures: f,
                kernelHeight: 1, kernelWidth: 1, centreY: 0, centreX: 0, taps: [(0, 0)], mask: .b,
                outGroups: groups(h), inGroups: groups(f), hasBias: true))
        let masked = params.addConvolution(
            ConvolutionSpec(
                name: prefix + "masked_conv", outFeatures: h, inFeatures: h,
                kernelHeight: 3, kernelWidth: 3, centreY: 1, centreX: 1, taps: PixelCNNBlock.taps, mask: .b,
                outGroups: groups(h), inGroups: groups(h), hasBias: true))
        let convOut = params.addConvolution(
            ConvolutionSpec(
                name: prefix + "conv_out", outFeatures: f, inFeatures: h,
                kernelHeight: 1, kernelWidth: 1, centreY: 0, centreX: 0, taps: [(0, 0)], mask: .b,
                outGroups: groups(f), inGroups: groups(h), hasBias: true))
        return PixelCNNBlock(hidden: h, convIn: convIn, maskedConv: masked, convOut: convOut)
    }
}

/// Activations of one PixelCNN block (position order).
final class PixelCNNActivations: @unchecked Sendable {
    /// ReLU of the block input (M × 2h).
    let rectifiedInput: FloatBuffer
    /// ReLU of the 1×1 down-projection (M × h).
    let reduced: FloatBuffer
    /// Gathered 3×3 taps of `reduced` (M × 5h).
    let gathered: FloatBuffer
    /// ReLU of the masked 3×3 convolution (M × h).
    let convolved: FloatBuffer

    init(positions m: Int, hidden h: Int, features f: Int) {
        rectifiedInput = FloatBuffer(m * f)
        reduced = FloatBuffer(m * h)
        gathered = FloatBuffer(m * PixelCNNBlock.taps.count * h)
        convolved = FloatBuffer(m * h)
    }
}

/// Backward scratch of the PixelCNN blocks.
final class PixelCNNScratch: @unchecked Sendable {
    let gradConvolved: FloatBuffer
    let gradGathered: FloatBuffer
    let gradReduced: FloatBuffer
    let gradInput: FloatBuffer

    init(positions m: Int, hidden h: Int, features f: Int) {
        gradConvolved = FloatBuffer(m * h)
        gradGathered = FloatBuffer(m * PixelCNNBlock.taps.count * h)
        gradReduced = FloatBuffer(m * h)
        gradInput = FloatBuffer(m * f)
    }
}

/// Gathers the masked 3×3 taps of `source` (rows of `n` floats, position order
/// `(i · batch + b) · width + j`) for `rows` image rows starting at row 0, zero outside the image.
@inline(__always)
func gatherMaskedTaps(
    _ source: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>,
    height: Int, batch: Int, width: Int, n: Int
) {
    let taps = PixelCNNBlock.taps, t = taps.count
    let rowStride = batch * width
    for i in 0..<height {
        for r in 0..<rowStride {
            let p = i * rowStride + r, j = r % width
            let out = dst + p * t * n
            for (k, tap) in taps.enumerated() {
                let y = i + tap.dy, x = j + tap.dx
                if y >= 0 && x >= 0 && x < width {
                    (out + k * n).update(from: source + (p + tap.dy * rowStride + tap.dx) * n, count: n)
                } else {
                    (out + k * n).update(repeating: 0, count: n)
                }
            }
        }
    }
}

extension PixelRNN {
    func pixelCNNForward(
        _ block: PixelCNNBlock, input x: UnsafeMutablePointer<Float>, output y: UnsafeMutablePointer<Float>,
        activations act: PixelCNNActivations, ws: Workspace
    ) {
        let m = ws.positions, h = block.hidden, f = configuration.features
        let w = parameters.values
        let t = PixelCNNBlock.taps.count
        let a = act.rectifiedInput.pointer, u = act.reduced.pointer
        let gathered = act.gathered.pointer, v = act.convolved.pointer
        relu(x, count: m * f, into: a)
        broadcastRows(w + block.convIn.biasOffset, rows: m, n: h, into: u)
        BLAS.gemm(transB: true, m: m, n: h, k: f, a, lda: f, w + block.convIn.weightOffset, ldb: f,
                  beta: 1, u, ldc: h)
        relu(u, count: m * h, into: u)
        gatherMaskedTaps(u, into: gathered, height: ws.height, batch: ws.batch, width: ws.width, n: h)
        broadcastRows(w + block.maskedConv.biasOffset, rows: m, n: h, into: v)
        BLAS.gemm(transB: true, m: m, n: h, k: t * h, gathered, lda: t * h, w + block.maskedConv.weightOffset,
                  ldb: t * h, beta: 1, v, ldc: h)
        relu(v, count: m * h, into: v)
        let bias = w + block.convOut.biasOffset
        for p in 0..<m {
            let src = x + p * f, dst = y + p * f
            for k in 0..<f { dst[k] = src[k] + bias[k] }
        }
        BLAS.gemm(transB: true, m: m, n: f, k: h, v, lda: h, w + block.convOut.weightOffset, ldb: h,
                  beta: 1, y, ldc: f)
    }

    /// Turns `ws.gradStream` from d/d(block output) into d/d(block input).
    func pixelCNNBackward(
        _ block: PixelCNNBlock, activations act: PixelCNNActivations, ws: Workspace,
        gradient g: UnsafeMutablePointer<Float>
    ) {
        let m = ws.positions, h = block.hidden, f = configuration.features
        let w = parameters.values
        let taps = PixelCNNBlock.taps, t = taps.count
        let scratch = ws.cnnScratch!
        let dY = ws.gradStream.pointer
        let dV = scratch.gradConvolved.pointer, dGathered = scratch.gradGathered.pointer
        let dU = scratch.gradReduced.pointer, dA = scratch.gradInput.pointer

        BLAS.gemm(m: m, n: h, k: f, dY, lda: f, w + block.convOut.weightOffset, ldb: h, beta: 0, dV, ldc: h)
        BLAS.gemm(transA: true, m: f, n: h, k: m, dY, lda: f, act.convolved.pointer, ldb: h,
                  beta: 1, g + block.convOut.weightOffset, ldc: h)
        accumulateColumnSums(dY, rows: m, n: f, into: g + block.convOut.biasOffset)
        reluBackward(output: act.convolved.pointer, gradient: dV, count: m * h)

        BLAS.gemm(transA: true, m: h, n: t * h, k: m, dV, lda: h, act.gathered.pointer, ldb: t * h,
                  beta: 1, g + block.maskedConv.weightOffset, ldc: t * h)
        accumulateColumnSums(dV, rows: m, n: h, into: g + block.maskedConv.biasOffset)
        BLAS.gemm(m: m, n: t * h, k: h, dV, lda: h, w + block.maskedConv.weightOffset, ldb: t * h,
                  beta: 0, dGathered, ldc: t * h)
        dU.update(repeating: 0, count: m * h)
        let wid = ws.width, rowStride = ws.batch * wid
        for p in 0..<m {
            let i = p / rowStride, j = p % wid
            let src = dGathered + p * t * h
            for (k, tap) in taps.enumerated() {
                let yy = i + tap.dy, xx = j + tap.dx
                if yy >= 0 && xx >= 0 && xx < wid {
                    addInPlace(src + k * h, into: dU + (p + tap.dy * rowStride + tap.dx) * h, count: h)
                }
            }
        }
        reluBackward(output: act.reduced.pointer, gradient: dU, count: m * h)

        BLAS.gemm(transA: true, m: h, n: f, k: m, dU, lda: h, act.rectifiedInput.pointer, ldb: f,
                  beta: 1, g + block.convIn.weightOffset, ldc: f)
        accumulateColumnSums(dU, rows: m, n: h, into: g + block.convIn.biasOffset)
        BLAS.gemm(m: m, n: f, k: h, dU, lda: h, w + block.convIn.weightOffset, ldb: f, beta: 0, dA, ldc: f)
        reluBackward(output: act.rectifiedInput.pointer, gradient: dA, count: m * f)
        addInPlace(dA, into: dY, count: m * f)
    }
}
