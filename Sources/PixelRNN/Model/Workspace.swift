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
    /// The scan orientation (``Orientation`` raw value) of each image of the pass, for a
    /// model with orientation support; empty means all upright.
    var orientations: [Int] = []

    let inputColumns: FloatBuffer
    let inputColumnWidth: Int
    /// Target sub-pixels in position order (M × C).
    let targets: UnsafeMutablePointer<UInt8>
    /// Whether activations are kept for a backward pass. Without, the blocks share one
    /// set of activation buffers and the residual stream alternates between two.
    let forTraining: Bool
    /// Residual stream before each block and after the last (blocks + 1 buffers, M × 2h).
    private let streams: [FloatBuffer]
    private let blocks: [RowLSTMActivations]
    private let diagonalBlocks: [DiagonalActivations]
    private let cnnBlocks: [PixelCNNActivations]
    /// ReLU of the last stream (M × 2h), the hidden output layer after its ReLU (M × o),
    /// and the output features (M × outputWidth: logits or mixture parameters; replaced
    /// by their gradient when training).
    let outputInput: FloatBuffer
    let outputHidden: FloatBuffer
    let logits: FloatBuffer

    /// The residual stream entering block `l` (`l == blocks`: after the last block).
    @inline(__always)
    func stream(_ l: Int) -> UnsafeMutablePointer<Float> { streams[forTraining ? l : l % 2].pointer }

    /// Block `l`'s activations.
    @inline(__always)
    func activations(_ l: Int) -> RowLSTMActivations { blocks[forTraining ? l : 0] }

    /// Diagonal BiLSTM block `l`'s activations.
    @inline(__always)
    func diagonalActivations(_ l: Int) -> DiagonalActivations { diagonalBlocks[forTraining ? l : 0] }

    /// PixelCNN block `l`'s activations.
    @inline(__always)
    func cnnActivations(_ l: Int) -> PixelCNNActivations { cnnBlocks[forTraining ? l : 0] }

    // Backward scratch (empty when not training).
    let gradStream: FloatBuffer
    let gradHidden: FloatBuffer
    let gradGates: FloatBuffer
    let gradGathered: FloatBuffer
    let gradStateColumns: FloatBuffer
    let cellCarry: FloatBuffer
    let gradOutputHidden: FloatBuffer
    /// Backward scratch of the other architectures (nil unless training that architecture).
    let diagonalScratch: DiagonalScratch?
    let cnnScratch: PixelCNNScratch?

    /// Negative log-likelihood of each image of the last forward pass, in nats.
    var imageNLL: [Double]

    init(model: PixelRNN, capacity: Int, height: Int, width: Int, forTraining: Bool = true) {
        self.forTraining = forTraining
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
        streams = (0..<(forTraining ? cfg.blocks + 1 : 2)).map { _ in FloatBuffer(m * f) }
        let kept = forTraining ? cfg.blocks : min(1, cfg.blocks)
        let arch = cfg.architecture
        blocks = (0..<(arch == .rowLSTM ? kept : 0)).map { _ in
            RowLSTMActivations(positions: m, hidden: h, features: f)
        }
        diagonalBlocks = (0..<(arch == .diagonalBiLSTM ? kept : 0)).map { _ in
            DiagonalActivations(positions: m, hidden: h, features: f)
        }
        cnnBlocks = (0..<(arch == .pixelCNN ? kept : 0)).map { _ in
            PixelCNNActivations(positions: m, hidden: h, features: f)
        }
        outputInput = FloatBuffer(m * f)
        outputHidden = FloatBuffer(m * cfg.outputHidden)
        logits = FloatBuffer(m * cfg.outputWidth)
        let g = forTraining ? 1 : 0
        let gr = forTraining && arch == .rowLSTM ? 1 : 0
        gradStream = FloatBuffer(g * m * f)
        gradHidden = FloatBuffer(gr * m * h)
        gradGates = FloatBuffer(gr * m * 4 * h)
        gradGathered = FloatBuffer(gr * m * 2 * f)
        gradStateColumns = FloatBuffer(gr * rowMax * 3 * h)
        cellCarry = FloatBuffer(gr * rowMax * h)
        diagonalScratch = forTraining && arch == .diagonalBiLSTM ? DiagonalScratch(positions: m, hidden: h, features: f) : nil
        cnnScratch = forTraining && arch == .pixelCNN ? PixelCNNScratch(positions: m, hidden: h, features: f) : nil
        gradOutputHidden = FloatBuffer(g * m * cfg.outputHidden)
        imageNLL = [Double](repeating: 0, count: capacity)
    }

    deinit { targets.deallocate() }

    /// Positions in the current pass.
    var positions: Int { batch * height * width }
}
