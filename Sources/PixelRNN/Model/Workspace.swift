/// Activations of one Row LSTM block, kept for the backward pass.
final class RowLSTMActivations: @unchecked Sendable {
    /// Gathered block input `[left, centre]` per position (M × 2·2h).
    let gathered: FloatBuffer
    /// Gathered previous-row hidden state `[left, centre, right]` (M × 3h).
    let stateColumns: FloatBuffer
    /// Gate activations `o, f, i, g` after their nonlinearity (M × 4h).
    let gates: FloatBuffer
    /// Cell state, its tanh, and the hidden state (M × h each).
    let cell: FloatBuffer
    let tanhCell: FloatBuffer
    let hidden: FloatBuffer

    init(positions m: Int, hidden h: Int, features f: Int) {
        gathered = FloatBuffer(m * 2 * f)
        stateColumns = FloatBuffer(m * 3 * h)
        gates = FloatBuffer(m * 4 * h)
        cell = FloatBuffer(m * h)
        tanhCell = FloatBuffer(m * h)
        hidden = FloatBuffer(m * h)
    }
}

/// Every buffer a forward and backward pass needs for up to `capacity` images of
/// `height × width`, allocated once. Positions are ordered row, image, column:
/// `p = (i · batch + b) · width + j`, so that one image row of the whole batch is
/// contiguous (the Row LSTM processes a batch row by row).
final class Workspace: @unchecked Sendable {
    let capacity: Int
    let height: Int
    let width: Int
    let configuration: ModelConfiguration
    /// Images in the current pass (≤ capacity).
    var batch = 0

    let inputColumns: FloatBuffer
    let inputColumnWidth: Int
    /// Target sub-pixels in position order (M × C).
    let targets: UnsafeMutablePointer<UInt8>
    /// Residual stream before each block and after the last (blocks + 1 buffers, M × 2h).
    let streams: [FloatBuffer]
    let blocks: [RowLSTMActivations]
    /// ReLU of the last stream (M × 2h), the hidden output layer after its ReLU (M × o),
    /// and the logits (M × levels·C; replaced by their gradient when training).
    let outputInput: FloatBuffer
    let outputHidden: FloatBuffer
    let logits: FloatBuffer

    // Backward scratch.
    let gradStream: FloatBuffer
    let gradHidden: FloatBuffer
    let gradGates: FloatBuffer
    let gradGathered: FloatBuffer
    let gradStateColumns: FloatBuffer
    let cellCarry: FloatBuffer
    let gradOutputHidden: FloatBuffer

    /// Negative log-likelihood of each image of the last forward pass, in nats.
    var imageNLL: [Double]

    init(model: PixelRNN, capacity: Int, height: Int, width: Int) {
        let cfg = model.configuration
        configuration = cfg
        self.capacity = capacity
        self.height = height
        self.width = width
        let m = capacity * height * width
        let rowMax = capacity * width
        let h = cfg.hidden, f = cfg.features, c = cfg.channels
        inputColumnWidth = model.inputConvolution.gatheredWidth
        inputColumns = FloatBuffer(m * inputColumnWidth)
        targets = .allocate(capacity: m * c)
        targets.initialize(repeating: 0, count: m * c)
        streams = (0...cfg.blocks).map { _ in FloatBuffer(m * f) }
        blocks = (0..<cfg.blocks).map { _ in RowLSTMActivations(positions: m, hidden: h, features: f) }
        outputInput = FloatBuffer(m * f)
        outputHidden = FloatBuffer(m * cfg.outputHidden)
        logits = FloatBuffer(m * cfg.levels * c)
        gradStream = FloatBuffer(m * f)
        gradHidden = FloatBuffer(m * h)
        gradGates = FloatBuffer(m * 4 * h)
        gradGathered = FloatBuffer(m * 2 * f)
        gradStateColumns = FloatBuffer(rowMax * 3 * h)
        cellCarry = FloatBuffer(rowMax * h)
        gradOutputHidden = FloatBuffer(m * cfg.outputHidden)
        imageNLL = [Double](repeating: 0, count: capacity)
    }

    deinit { targets.deallocate() }

    /// Positions in the current pass.
    var positions: Int { batch * height * width }
}
