import Dispatch

/// Runs forward (and backward) passes of one model over batches, spreading the images
/// of a batch across `workers` threads. Each worker owns a workspace and a gradient
/// slab and calls BLAS single-threaded; gradients are summed afterwards in a fixed
/// order, so results do not depend on scheduling.
final class Engine: @unchecked Sendable {
    unowned let model: PixelRNN
    let workers: Int
    let microBatch: Int
    private(set) var height = 0
    private(set) var width = 0
    private var workspaces: [Workspace] = []
    let gradients: [FloatBuffer]

    /// Whether the engine computes gradients (otherwise it keeps no activations for them).
    let forTraining: Bool
    /// Whether the workers' shares run on several threads at once; when false they run
    /// one after the other on the calling thread. The shares and the order in which
    /// their gradients are summed are the same either way, so results are too.
    var parallel = true

    init(model: PixelRNN, workers: Int, microBatch: Int, forTraining: Bool = true) {
        precondition(workers >= 1 && microBatch >= 1)
        BLAS.useSingleThreadPerCall()
        self.forTraining = forTraining
        self.model = model
        self.workers = workers
        self.microBatch = microBatch
        gradients = (0..<workers).map { _ in FloatBuffer(forTraining ? model.parameters.count : 0) }
    }

    private func prepare(height: Int, width: Int) {
        if height != self.height || width != self.width || workspaces.isEmpty {
            self.height = height
            self.width = width
            workspaces = []  // free the old ones first
            workspaces = (0..<workers).map { _ in
                Workspace(model: model, capacity: microBatch, height: height, width: width, forTraining: forTraining)
            }
        }
    }

    /// The images each worker takes: contiguous, as even as possible.
    private func share(_ count: Int, worker: Int) -> Range<Int> {
        let base = count / workers, extra = count % workers
        let start = worker * base + min(worker, extra)
        return start..<(start + base + (worker < extra ? 1 : 0))
    }

    /// Negative log-likelihood of each image, in nats; with `gradientScale`, also
    /// accumulates gradients of `gradientScale × Σ NLL` into `gradients[0]`.
    /// - Parameters:
    ///   - pixels: `count × H × W × C` bytes.
    ///   - positionNLL: optional `count × H × W × C` output of per-sub-pixel NLL (nats), image-major.
    ///   - orientations: the scan orientation index of each image (empty: all upright).
    func run(
        pixels: UnsafePointer<UInt8>, count: Int, height: Int, width: Int,
        gradientScale: Float?, positionNLL: UnsafeMutablePointer<Float>? = nil, orientations: [Int] = []
    ) -> [Double] {
        precondition(orientations.isEmpty || orientations.count == count, "one orientation per image")
        prepare(height: height, width: width)
        let c = model.configuration.channels
        let imageSize = height * width * c
        let results = UnsafeMutablePointer<Double>.allocate(capacity: max(count, 1))
        defer { results.deallocate() }
        nonisolated(unsafe) let out = results
        nonisolated(unsafe) let input = pixels
        nonisolated(unsafe) let nllOut = positionNLL
        let training = gradientScale != nil
        precondition(!training || forTraining, "an evaluation engine cannot compute gradients")
        if training { for g in gradients { g.zero() } }
        let body: @Sendable (Int) -> Void = { [self] worker in
            let ws = workspaces[worker]
            let range = share(count, worker: worker)
            var start = range.lowerBound
            let scratch = nllOut == nil ? nil : UnsafeMutablePointer<Float>.allocate(capacity: microBatch * imageSize)
            defer { scratch?.deallocate() }
            while start < range.upperBound {
                let n = min(microBatch, range.upperBound - start)
                ws.batch = n
                ws.orientations = orientations.isEmpty ? [] : Array(orientations[start..<(start + n)])
                model.gatherInput(input + start * imageSize, into: ws)
                model.forwardNetwork(ws)
                model.outputLoss(ws, gradientScale: gradientScale, positionNLL: scratch)
                if training { model.backward(ws, gradient: gradients[worker].pointer) }
                for b in 0..<n { out[start + b] = ws.imageNLL[b] }
                if let scratch, let nllOut {
                    // Position order (i, b, j) back to image-major.
                    for i in 0..<height {
                        for b in 0..<n {
                            for j in 0..<width {
                                let p = (i * n + b) * width + j
                                let dst = nllOut + (start + b) * imageSize + (i * width + j) * c
                                for ch in 0..<c { dst[ch] = scratch[p * c + ch] }
                            }
                        }
                    }
                }
                start += n
            }
        }
        if workers == 1 || !parallel {
            for worker in 0..<workers { body(worker) }
        } else {
            DispatchQueue.concurrentPerform(iterations: workers, execute: body)
        }
        if training {
            let total = gradients[0].pointer, n = model.parameters.count
            for worker in 1..<workers { addInPlace(gradients[worker].pointer, into: total, count: n) }
            model.parameters.applyMask(to: total)
        }
        return Array(UnsafeBufferPointer(start: results, count: count))
    }
}
