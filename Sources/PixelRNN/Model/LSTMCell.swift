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
