internal import CKernels
/// The LSTM cell's pointwise work, forward and backward, shared by the Row LSTM and
/// the Diagonal BiLSTM (full passes and incremental sampling alike).
extension PixelRNN {
    /// Applies the gate nonlinearities in place and advances the cell for `count` positions.
    @inline(__always)
    func lstmPointwise(
        gates: UnsafeMutablePointer<Float>, previousCell: UnsafePointer<Float>, broadcastPrevious: Bool,
        cell: UnsafeMutablePointer<Float>, tanhCell: UnsafeMutablePointer<Float>,
        hidden: UnsafeMutablePointer<Float>, count: Int, h: Int
    ) {
        // Sources/CKernels: AVX2 or AVX-512, chosen at run time.
        pk_lstm_forward(gates, previousCell, broadcastPrevious ? 1 : 0, cell, tanhCell, hidden, count, Int32(h))
    }


    /// The backward pass of one LSTM cell (gates `o, f, i, g` after their
    /// nonlinearities, `c = f ⊙ c_prev + i ⊙ g`, `h = o ⊙ tanh c`): from the gradients
    /// of its hidden state and of its cell state, the gradients of the gate
    /// pre-activations and of the previous cell state. Shared by the Row LSTM and both
    /// Diagonal BiLSTM directions.
    /// - Parameters:
    ///   - dCell: the gradient reaching this cell state from later positions.
    ///   - dPreviousCell: where the previous cell state's gradient goes: written
    ///     (`accumulate` false; it may be `dCell` itself) or added to (`accumulate` true).
    @inline(__always)
    func lstmCellBackward(
        gates gp: UnsafePointer<Float>, tanhCell tc: UnsafePointer<Float>, previousCell cp: UnsafePointer<Float>,
        dHidden dh: UnsafePointer<Float>, dCell cc: UnsafePointer<Float>, dGates dgp: UnsafeMutablePointer<Float>,
        dPreviousCell out: UnsafeMutablePointer<Float>, accumulate: Bool, h: Int
    ) {
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
            storePartial(accumulate ? loadPartial(out + k, lanes) + dc * fg : dc * fg, out + k, lanes)
            k += 8
        }
    }
}
