internal import CKernels

/// Weight matrices packed once for the small products of incremental sampling.
///
/// While sampling, the weights are fixed and every product is small (M = the particles
/// of a run, often 1–16 rows): a general `sgemm` re-packs the weight operand on every
/// call and spends about as long packing as multiplying. Here each weight matrix
/// (`n × k`, output rows, as stored) is packed once into panels of 16 output columns,
/// and `gemm` runs a small-M kernel over the packed panels (`Sources/CKernels`, AVX2 or
/// AVX-512 chosen at run time).
///
/// Every output element is one chain of fused multiply-adds over k in order, whatever
/// M, the row's place in the batch, or the kernel path: a particle's result does not
/// depend on which other particles share its products.
///
/// The packing is a copy: build it after the last change to the weights (a sampler
/// builds one per call).
public final class PackedWeights: @unchecked Sendable {
    /// One packed matrix.
    struct Matrix {
        let pointer: UnsafePointer<Float>
        let n: Int, k: Int
    }
    private var matrices: [Int: Matrix] = [:]
    /// Single taps of a convolution, keyed by the offset of the tap's first weight.
    private var taps: [Int: Matrix] = [:]
    private var storage: [UnsafeMutablePointer<Float>] = []

    /// Packs the weights of every incremental product of `model`'s architecture (its
    /// blocks, and the input and output layers).
    public init(model: PixelRNN) {
        let w = model.parameters.values
        func pack(_ weights: UnsafePointer<Float>, n: Int, k: Int) -> Matrix {
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: pk_packed_size(Int32(n), Int32(k)))
            pk_pack(weights, Int32(n), Int32(k), buffer)
            storage.append(buffer)
            return Matrix(pointer: buffer, n: n, k: k)
        }
        func add(_ conv: ConvolutionSpec, k: Int) {
            guard matrices[conv.weightOffset] == nil else { return }
            matrices[conv.weightOffset] = pack(w + conv.weightOffset, n: conv.outFeatures, k: k)
        }
        // Every tap of `conv` on its own: columns t·inFeatures ..< (t + 1)·inFeatures.
        func addTaps(_ conv: ConvolutionSpec) {
            let n = conv.outFeatures, k = conv.inFeatures, row = conv.gatheredWidth
            var columns = [Float](repeating: 0, count: n * k)
            for t in 0..<(row / k) {
                for o in 0..<n { for i in 0..<k { columns[o * k + i] = w[conv.weightOffset + o * row + t * k + i] } }
                taps[conv.weightOffset + t * k] = columns.withUnsafeBufferPointer { pack($0.baseAddress!, n: n, k: k) }
            }
        }
        add(model.inputConvolution, k: model.inputConvolution.gatheredWidth)
        add(model.outputHidden, k: model.outputHidden.inFeatures)
        add(model.outputLogits, k: model.outputLogits.inFeatures)
        switch model.configuration.architecture {
        case .rowLSTM:
            for block in model.blocks.map(\.row) {
                add(block.inputToState, k: block.inputToState.gatheredWidth)
                add(block.stateToState, k: block.stateToState.gatheredWidth)
                add(block.outputProjection, k: block.outputProjection.inFeatures)
            }
        case .pixelCNN:
            for block in model.blocks.map(\.cnn) {
                add(block.convIn, k: block.convIn.inFeatures)
                add(block.maskedConv, k: block.maskedConv.gatheredWidth)
                add(block.convOut, k: block.convOut.inFeatures)
            }
        case .diagonalBiLSTM:
            for block in model.blocks.map(\.diagonal) {
                for direction in block.directions {
                    add(direction.inputToState, k: direction.inputToState.gatheredWidth)
                    addTaps(direction.stateToState)
                }
                add(block.outputProjection, k: block.outputProjection.inFeatures)
            }
        }
    }

    deinit { for buffer in storage { buffer.deallocate() } }

    /// The packed form of the convolution's weights (they must have been packed).
    func matrix(_ conv: ConvolutionSpec) -> Matrix {
        guard let matrix = matrices[conv.weightOffset] else { preconditionFailure("\(conv.name) is not packed") }
        return matrix
    }

    /// The packed weights of tap `tap` of the convolution alone (`outFeatures × inFeatures`;
    /// they must have been packed).
    func matrix(_ conv: ConvolutionSpec, tap: Int) -> Matrix {
        guard let matrix = taps[conv.weightOffset + tap * conv.inFeatures] else {
            preconditionFailure("tap \(tap) of \(conv.name) is not packed")
        }
        return matrix
    }

    /// `C[m×n] = A[m×k] · Wᵀ + beta · C` (beta 0 or 1) with W packed.
    @inline(__always)
    static func gemm(
        m: Int, _ w: Matrix, _ a: UnsafePointer<Float>, lda: Int, beta: Float, _ c: UnsafeMutablePointer<Float>,
        ldc: Int
    ) {
        pk_gemm_packed(Int32(m), Int32(w.n), Int32(w.k), a, Int32(lda), w.pointer, beta, c, Int32(ldc))
    }
}

/// The instruction-set paths of the hand-written kernels (`Sources/CKernels`).
public enum KernelPath: Int, CaseIterable, Sendable, CustomStringConvertible {
    case portable = 0, avx2 = 1, avx512 = 2

    /// Whether this CPU can run the path.
    public var isAvailable: Bool { pk_path_available(Int32(rawValue)) != 0 }
    /// The path in use (the best available unless one is forced).
    public static var active: KernelPath { KernelPath(rawValue: Int(pk_active_path())) ?? .portable }
    /// Forces a path for the whole process (nil: the best available again). Returns false
    /// if the CPU cannot run it. For tests and benchmarks.
    @discardableResult
    public static func force(_ path: KernelPath?) -> Bool { pk_set_path(Int32(path?.rawValue ?? -1)) != 0 }

    public var description: String {
        switch self {
        case .portable: "portable C"
        case .avx2: "AVX2+FMA"
        case .avx512: "AVX-512"
        }
    }
}

// MARK: - Entry points for tests and benchmarks

/// Floats of a packed `n × k` weight matrix.
func packedSize(n: Int, k: Int) -> Int { pk_packed_size(Int32(n), Int32(k)) }

/// Packs `w` (`n × k`, row-major) into `packed` (``packedSize(n:k:)`` floats).
func packWeights(_ w: [Float], n: Int, k: Int, into packed: UnsafeMutablePointer<Float>) {
    w.withUnsafeBufferPointer { pk_pack($0.baseAddress!, Int32(n), Int32(k), packed) }
}

/// `C = A·Wᵀ + beta·C` with W packed, on the given path.
func packedGemm(
    path: KernelPath, m: Int, n: Int, k: Int, _ a: UnsafePointer<Float>, lda: Int, _ packed: UnsafePointer<Float>,
    beta: Float, _ c: UnsafeMutablePointer<Float>, ldc: Int
) {
    precondition(path.isAvailable)
    pk_gemm_packed_path(Int32(path.rawValue), Int32(m), Int32(n), Int32(k), a, Int32(lda), packed, beta, c, Int32(ldc))
}

/// The element-wise kernels on a given path: 0 exp, 1 sigmoid, 2 tanh.
func elementwise(path: KernelPath, kernel: Int, _ x: [Float]) -> [Float] {
    precondition(path.isAvailable)
    var out = [Float](repeating: 0, count: x.count)
    x.withUnsafeBufferPointer { x in
        out.withUnsafeMutableBufferPointer { pk_unary_path(Int32(path.rawValue), Int32(kernel), x.baseAddress!, x.count, $0.baseAddress!) }
    }
    return out
}

/// The LSTM cell forward on a given path: (gates after their nonlinearities, cell, tanh cell, hidden).
func lstmForward(path: KernelPath, gates: [Float], previousCell: [Float], broadcast: Bool, count: Int, h: Int)
    -> ([Float], [Float], [Float], [Float])
{
    var g = gates
    var cell = [Float](repeating: 0, count: count * h), tanhCell = cell, hidden = cell
    g.withUnsafeMutableBufferPointer { g in
        previousCell.withUnsafeBufferPointer { p in
            cell.withUnsafeMutableBufferPointer { c in
                tanhCell.withUnsafeMutableBufferPointer { t in
                    hidden.withUnsafeMutableBufferPointer { hd in
                        pk_lstm_forward_path(Int32(path.rawValue), g.baseAddress!, p.baseAddress!, broadcast ? 1 : 0,
                                             c.baseAddress!, t.baseAddress!, hd.baseAddress!, count, Int32(h))
                    }
                }
            }
        }
    }
    return (g, cell, tanhCell, hidden)
}

/// log Σ exp on a given path.
func logSumExp(path: KernelPath, _ x: [Float]) -> Float {
    x.withUnsafeBufferPointer { pk_log_sum_exp_path(Int32(path.rawValue), $0.baseAddress!, Int32(x.count)) }
}

/// One Adam step on a given path: (values, m, v) after it.
func adamStep(path: KernelPath, values: [Float], gradient: [Float], m: [Float], v: [Float], scale: Float, b1: Float,
              b2: Float, stepSize: Float, eps: Float) -> ([Float], [Float], [Float])
{
    var values = values, m = m, v = v
    values.withUnsafeMutableBufferPointer { x in
        gradient.withUnsafeBufferPointer { g in
            m.withUnsafeMutableBufferPointer { mm in
                v.withUnsafeMutableBufferPointer { vv in
                    pk_adam_path(Int32(path.rawValue), x.baseAddress!, g.baseAddress!, mm.baseAddress!, vv.baseAddress!,
                                 x.count, scale, b1, b2, stepSize, eps)
                }
            }
        }
    }
    return (values, m, v)
}
