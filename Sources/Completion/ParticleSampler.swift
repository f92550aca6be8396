// Sequential Monte Carlo completion (DESIGN.md §3, "Sampling for completion").
//
// Every image is completed by K particles, split into islands of at most
// `particlesPerIsland`. An island is one run of a particle filter: its particles
// advance through the image in raster order on one `IncrementalState`;
// - a visible run of pixels (one `logits` call) multiplies each particle's weight by
//   the probability of the run's sub-pixels, once the first occluded sub-pixel has been
//   drawn (before it, every particle is identical and those probabilities are exact
//   factors of the evidence instead);
// - an occluded sub-pixel is drawn from q = softmax(logits / T); the weight gets p/q;
// - after a weight change the island resamples (systematically) when its effective
//   sample size falls below half its particles, up to the last occluded pixel (after
//   it nothing is drawn any more, and resampling would only duplicate particles);
// - after each row of a hole that is not exact, every particle makes a Metropolis–
//   Hastings move on the row's occluded sub-pixels (resample-move; docs/report.md).
// The island's evidence is the exact prefix probability times the product, over steps,
// of the normalised-weight average of the incremental weights: an unbiased estimate of
// p(visible). Islands are independent, so the size-weighted average of their evidences
// is unbiased too, and a particle's final weight is its island's share of that average
// times its normalised weight within the island.
//
// Reproducibility: particle k of image i draws from `RandomSource(seed:, stream: i·K + k)`
// whichever island or thread runs it, islands resample with their own streams, and the
// islands (and which islands share a state) depend only on the image count and K. The
// thread count only decides which worker runs which state.

import Dispatch
import Imaging
import PixelRNN

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Raster-order plan of one mask: per row, maximal runs of visible pixels and single
/// occluded pixels.
struct RunPlan: Sendable {
    struct Run: Sendable {
        var columns: Range<Int>
        var occluded: Bool
    }
    var rows: [[Run]]
    /// Index (y·W + x) of the first and of the last occluded pixel, if any.
    var firstOccluded: Int?
    var lastOccluded: Int?
    /// Whether a visible pixel comes after the first occluded one.
    var visibleAfterOcclusion: Bool { visibleAfterFirstOccluded > 0 }
    /// Visible pixels after the first occluded one.
    var visibleAfterFirstOccluded: Int

    init(occluded: [Bool], width: Int, height: Int) {
        rows = []
        firstOccluded = occluded.firstIndex(of: true)
        lastOccluded = occluded.lastIndex(of: true)
        if let first = firstOccluded {
            visibleAfterFirstOccluded = occluded[(first + 1)...].reduce(0) { $0 + ($1 ? 0 : 1) }
        } else {
            visibleAfterFirstOccluded = 0
        }
        for y in 0..<height {
            var runs: [Run] = []
            var x = 0
            while x < width {
                if occluded[y * width + x] {
                    runs.append(Run(columns: x..<(x + 1), occluded: true))
                    x += 1
                } else {
                    var end = x + 1
                    while end < width && !occluded[y * width + end] { end += 1 }
                    runs.append(Run(columns: x..<end, occluded: false))
                    x = end
                }
            }
            rows.append(runs)
        }
    }
}

/// What the sampler returns for one island.
struct IslandOutcome: Sendable {
    var particles: Int
    var logEvidence: Double
    var minimumEffectiveSampleSize: Double
    var resamplingSteps: Int
    var rowMovesProposed: Int
    var rowMovesAccepted: Int
}

/// Random stream numbers: particles use `image · K + particle`; the others sit far above.
enum Streams {
    static func particle(image: Int, samples: Int, particle: Int) -> UInt64 {
        UInt64(image * samples + particle)
    }
    static func island(image: Int, island: Int) -> UInt64 {
        (1 << 40) + UInt64(image) << 16 + UInt64(island)
    }
    static func selection(image: Int) -> UInt64 {
        (1 << 41) + UInt64(image)
    }
}

/// Several islands (of one or more images) advanced together on one incremental state.
final class IslandGroup: @unchecked Sendable {
    struct Island {
        /// Particle slots in the state.
        var slots: Range<Int>
        var image: Int
        var index: Int
        /// First global particle number of the island within its image.
        var firstParticle: Int
    }

    let state: IncrementalState
    let islands: [Island]
    private var particleRandom: [RandomSource]
    private var islandRandom: [RandomSource]
    /// Per slot, float64.
    private(set) var logWeight: [Double]
    private(set) var logP: [Double]
    private(set) var logPFilled: [Double]
    /// Per slot, over the current row from its first occluded sub-pixel on: the log of
    /// the row's weight factor (p of visible sub-pixels, p/q of drawn ones), of p, and of
    /// p of the drawn sub-pixels only. The row moves compare and update them.
    private var rowLogWeight: [Double]
    private var rowLogP: [Double]
    private var rowLogPFilled: [Double]
    /// The island of each particle slot (islands hold consecutive slots, in order).
    private let islandOfSlot: [Int]
    /// Whether any island resampled since the last row moves.
    private var resampledSinceMove = false
    /// Per slot, log p of each sub-pixel along the particle (`H × W × C` floats per slot,
    /// visible and drawn alike; they follow the particle through resampling and row
    /// moves): the selected completion's NLL map without another forward pass.
    let subPixelLogP: UnsafeMutablePointer<Float>
    private let subPixelsPerImage: Int
    /// Per island: row moves proposed and accepted.
    private(set) var movesProposed: [Int]
    private(set) var movesAccepted: [Int]
    /// Per island.
    private(set) var logEvidence: [Double]
    private(set) var minimumESS: [Double]
    private(set) var resamplings: [Int]

    init(
        model: PixelRNN, islands: [Island], samples: Int, seed: UInt64, height: Int, width: Int,
        orientation: Orientation, packedWeights: PackedWeights? = nil
    ) throws(CompletionError) {
        let slots = islands.last!.slots.upperBound
        do {
            state = try IncrementalState(
                model: model, particles: slots, height: height, width: width, orientation: orientation,
                packedWeights: packedWeights)
        } catch {
            throw CompletionError(error)
        }
        self.islands = islands
        subPixelsPerImage = height * width * model.configuration.channels
        subPixelLogP = .allocate(capacity: slots * subPixelsPerImage)
        subPixelLogP.initialize(repeating: 0, count: slots * subPixelsPerImage)
        particleRandom = []
        for island in islands {
            for k in 0..<island.slots.count {
                let stream = Streams.particle(image: island.image, samples: samples, particle: island.firstParticle + k)
                particleRandom.append(RandomSource(seed: seed, stream: stream))
            }
        }
        islandOfSlot = islands.indices.flatMap { i in Array(repeating: i, count: islands[i].slots.count) }
        islandRandom = islands.map { RandomSource(seed: seed, stream: Streams.island(image: $0.image, island: $0.index)) }
        logWeight = [Double](repeating: 0, count: slots)
        logP = logWeight
        logPFilled = logWeight
        rowLogWeight = logWeight
        rowLogP = logWeight
        rowLogPFilled = logWeight
        logEvidence = [Double](repeating: 0, count: islands.count)
        minimumESS = islands.map { Double($0.slots.count) }
        resamplings = [Int](repeating: 0, count: islands.count)
        movesProposed = resamplings
        movesAccepted = resamplings
    }

    deinit { subPixelLogP.deallocate() }

    /// The slot's per-sub-pixel log-probabilities (`H × W × C`).
    func logProbabilities(slot: Int) -> [Float] {
        Array(UnsafeBufferPointer(start: subPixelLogP + slot * subPixelsPerImage, count: subPixelsPerImage))
    }

    /// The slot's completed image (`H × W × C` bytes).
    func image(slot: Int) -> [UInt8] {
        let size = state.height * state.width * state.model.configuration.channels
        return Array(state.pixels[(slot * size)..<((slot + 1) * size)])
    }

    /// Completes every island: `images[i]` is image i's `H × W × C` bytes (occluded values ignored).
    /// - Parameter rowMoves: Metropolis–Hastings moves per row that holds occluded pixels,
    ///   when visible pixels follow the hole (see ``moveRow(_:plan:images:inverseTemperature:logits:scratch:)``).
    func run(plan: RunPlan, images: [[UInt8]], temperature: Double, rowMoves: Int = 0, prefix: SharedPrefix? = nil,
             cancellation: CancellationFlag? = nil) {
        let cfg = state.model.configuration
        let c = cfg.channels, levels = cfg.levels
        let width = state.width
        let slots = state.particles
        let inverseTemperature = Float(1 / temperature)
        let tempered = inverseTemperature != 1
        var all: [UInt8] = []
        all.reserveCapacity(slots * images[0].count)
        for island in islands {
            for _ in island.slots { all.append(contentsOf: images[island.image]) }
        }
        state.setParticleImages(all)

        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: levels)
        let logits = UnsafeMutablePointer<Float>.allocate(capacity: levels)
        defer {
            scratch.deallocate()
            logits.deallocate()
        }
        var increments = [Double](repeating: 0, count: slots)
        var started = false
        // The visible prefix, computed once per image: load it and replay its factors.
        var startRow = 0, startRun = 0
        if let prefix {
            state.load(from: (0..<slots).map { slot in prefix.source(image: islands[islandOfSlot[slot]].image) })
            for (i, island) in islands.enumerated() {
                for sum in prefix.runSums(image: island.image) {
                    for slot in island.slots { logP[slot] += sum }
                    logEvidence[i] += sum
                }
                for slot in island.slots {
                    prefix.copyLogProbabilities(image: island.image, into: subPixelLogP + slot * subPixelsPerImage)
                }
            }
            startRow = prefix.row
            startRun = prefix.run
        }
        for y in startRow..<state.height {
            if cancellation?.isCancelled == true { return }
            var rowStarted = false
            for slot in 0..<slots {
                rowLogWeight[slot] = 0
                rowLogP[slot] = 0
                rowLogPFilled[slot] = 0
            }
            for (r, run) in plan.rows[y].enumerated() where y > startRow || r >= startRun {
                // Resampling after the very last step would only add noise and hide the final weights.
                let lastRun = y == state.height - 1 && r == plan.rows[y].count - 1
                // Resampling only helps the proposals still to come: after the last occluded
                // pixel it would only duplicate particles (and add variance to the evidence),
                // so the weights just accumulate there and the K completions stay distinct.
                let afterLastOccluded = y * width + run.columns.lowerBound > (plan.lastOccluded ?? -1)
                if !run.occluded {
                    let len = run.columns.count, x0 = run.columns.lowerBound
                    state.logits(row: y, columns: run.columns)
                    for island in islands {
                        images[island.image].withUnsafeBufferPointer { image in
                            let values = image.baseAddress! + (y * width + x0) * c
                            for slot in island.slots {
                                let sum = visibleRunLogProbability(
                                    values, subPixels: len * c, slot: slot,
                                    record: subPixelLogP + slot * subPixelsPerImage + (y * width + x0) * c)
                                increments[slot] = sum
                                logP[slot] += sum
                                if rowStarted {
                                    rowLogWeight[slot] += sum
                                    rowLogP[slot] += sum
                                }
                            }
                        }
                    }
                    if started {
                        reweight(by: increments, mayResample: !lastRun && !afterLastOccluded)
                    } else {
                        for (i, island) in islands.enumerated() { logEvidence[i] += increments[island.slots.lowerBound] }
                    }
                } else {
                    let x = run.columns.lowerBound
                    rowStarted = true
                    for ch in 0..<c {
                        state.logits(row: y, columns: x..<(x + 1))
                        for slot in 0..<slots {
                            let draw = drawSubPixel(
                                slot: slot, channel: ch, levels: levels, inverseTemperature: inverseTemperature,
                                logits: logits, scratch: scratch)
                            state.setSubPixel(particle: slot, y: y, x: x, channel: ch, value: UInt8(draw.value))
                            subPixelLogP[slot * subPixelsPerImage + (y * width + x) * c + ch] = Float(draw.logP)
                            logP[slot] += draw.logP
                            logPFilled[slot] += draw.logP
                            increments[slot] = draw.logP - draw.logQ
                            rowLogWeight[slot] += draw.logP - draw.logQ
                            rowLogP[slot] += draw.logP
                            rowLogPFilled[slot] += draw.logP
                        }
                        started = true
                        if tempered { reweight(by: increments, mayResample: !(lastRun && ch == c - 1)) }
                    }
                }
            }
            // Only resampling makes particles share rows: without one since the last move
            // they are distinct already, and the move would cost two row passes for nothing.
            if rowStarted && plan.visibleAfterOcclusion && slots > 1 && resampledSinceMove {
                resampledSinceMove = false
                for _ in 0..<rowMoves {
                    moveRow(y, plan: plan, images: images, inverseTemperature: inverseTemperature,
                            logits: logits, scratch: scratch)
                }
            }
            state.endRow()
        }
    }

    /// log p of the last run's visible sub-pixels (`values`, the run's pixels in order)
    /// for particle `slot`.
    @inline(__always)
    private func visibleRunLogProbability(
        _ values: UnsafePointer<UInt8>, subPixels: Int, slot: Int, record: UnsafeMutablePointer<Float>
    ) -> Double {
        let c = state.model.configuration.channels
        var sum = 0.0
        for i in 0..<subPixels {
            let term = state.logProbability(of: values[i], particle: slot, position: i / c, channel: i % c)
            record[i] = Float(term)
            sum += term
        }
        return sum
    }

    /// Draws channel `channel` of the last one-pixel run for `slot` from the proposal at
    /// temperature T (one uniform number from the slot's stream): for the logistic
    /// mixture, the tempered mixture (weights ∝ π^{1/T}, scales times T) by inversion of
    /// its CDF; for the softmax, q = p^{1/T} from all its logits.
    @inline(__always)
    private func drawSubPixel(
        slot: Int, channel: Int, levels: Int, inverseTemperature: Float,
        logits: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>
    ) -> (value: Int, logP: Double, logQ: Double) {
        let uniform = particleRandom[slot].nextDouble()
        if let exact = state.draw(uniform: uniform, particle: slot, position: 0, channel: channel,
                                  temperature: 1 / inverseTemperature) {
            return (exact.value, exact.logP, exact.logQ)
        }
        state.logits(particle: slot, position: 0, channel: channel, into: logits)
        let draw = drawTempered(logits: logits, levels: levels, inverseTemperature: inverseTemperature,
                                uniform: uniform, scratch: scratch)
        return (draw.value, draw.logP, draw.logQ)
    }

    /// One Metropolis–Hastings move per particle on the occluded sub-pixels of row `y`
    /// (resample-move: after resampling, particles share their ancestors' rows; the move
    /// makes them differ again without changing what the weights target).
    ///
    /// Every particle proposes new values for the row's occluded sub-pixels from the same
    /// proposal as the forward pass, q(row | rows above), and accepts with probability
    /// min(1, W_new / W_old), where W is the row's weight factor from its first occluded
    /// sub-pixel on (p/q for each drawn sub-pixel, p for each visible one). This is an
    /// independence sampler for the particle system's target at the end of row y, so the
    /// weights and the evidence estimate stay as they are. The row is then recomputed
    /// once with the values kept.
    private func moveRow(
        _ y: Int, plan: RunPlan, images: [[UInt8]], inverseTemperature: Float,
        logits: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>
    ) {
        let c = state.model.configuration.channels, levels = state.model.configuration.levels
        let width = state.width, slots = state.particles
        let rowSize = width * c
        let imageSize = state.height * rowSize
        let old = (0..<slots).map { slot in
            Array(state.pixels[(slot * imageSize + y * rowSize)..<(slot * imageSize + (y + 1) * rowSize)])
        }
        var newWeight = [Double](repeating: 0, count: slots)
        var newLogP = newWeight, newLogPFilled = newWeight
        var rowStarted = false
        // The proposal's per-sub-pixel log p of the row, kept if the move is accepted.
        let proposed = UnsafeMutablePointer<Float>.allocate(capacity: slots * rowSize)
        defer { proposed.deallocate() }
        var recordedFrom = rowSize
        for run in plan.rows[y] {
            if !run.occluded {
                state.logits(row: y, columns: run.columns)
                guard rowStarted else { continue }
                let x0 = run.columns.lowerBound
                for slot in 0..<slots {
                    images[islands[islandOfSlot[slot]].image].withUnsafeBufferPointer { image in
                        let values = image.baseAddress! + (y * width + x0) * c
                        let sum = visibleRunLogProbability(
                            values, subPixels: run.columns.count * c, slot: slot,
                            record: proposed + slot * rowSize + x0 * c)
                        newWeight[slot] += sum
                        newLogP[slot] += sum
                    }
                }
            } else {
                rowStarted = true
                let x = run.columns.lowerBound
                recordedFrom = min(recordedFrom, x * c)
                for ch in 0..<c {
                    state.logits(row: y, columns: x..<(x + 1))
                    for slot in 0..<slots {
                        let draw = drawSubPixel(
                            slot: slot, channel: ch, levels: levels, inverseTemperature: inverseTemperature,
                            logits: logits, scratch: scratch)
                        state.setSubPixel(particle: slot, y: y, x: x, channel: ch, value: UInt8(draw.value))
                        proposed[slot * rowSize + x * c + ch] = Float(draw.logP)
                        newWeight[slot] += draw.logP - draw.logQ
                        newLogP[slot] += draw.logP
                        newLogPFilled[slot] += draw.logP
                    }
                }
            }
        }
        for slot in 0..<slots {
            movesProposed[islandOfSlot[slot]] += 1
            let accept = log(particleRandom[slot].nextDouble()) < newWeight[slot] - rowLogWeight[slot]
            if accept {
                movesAccepted[islandOfSlot[slot]] += 1
                logP[slot] += newLogP[slot] - rowLogP[slot]
                logPFilled[slot] += newLogPFilled[slot] - rowLogPFilled[slot]
                rowLogWeight[slot] = newWeight[slot]
                rowLogP[slot] = newLogP[slot]
                rowLogPFilled[slot] = newLogPFilled[slot]
                // The row's sub-pixels from its first occluded one on (those before it do not change).
                (subPixelLogP + slot * subPixelsPerImage + y * rowSize + recordedFrom)
                    .update(from: proposed + slot * rowSize + recordedFrom, count: rowSize - recordedFrom)
            } else {
                for x in 0..<width {
                    for ch in 0..<c {
                        state.setSubPixel(particle: slot, y: y, x: x, channel: ch, value: old[slot][x * c + ch])
                    }
                }
            }
        }
        // The block states of the row must follow the values kept.
        state.logits(row: y, columns: 0..<width)
    }

    /// Multiplies the weights by exp(increments), updates each island's evidence, and
    /// resamples the islands whose effective sample size fell below half their size
    /// (unless `mayResample` is false: after the last step).
    private func reweight(by increments: [Double], mayResample: Bool) {
        var ancestors: [Int]? = nil
        for (i, island) in islands.enumerated() {
            let slots = island.slots
            let before = logSumExp(logWeight[slots])
            for s in slots { logWeight[s] += increments[s] }
            let after = logSumExp(logWeight[slots])
            logEvidence[i] += after - before
            guard slots.count > 1 else {
                logWeight[slots.lowerBound] = 0
                continue
            }
            let ess = effectiveSampleSize(logWeight[slots])
            minimumESS[i] = min(minimumESS[i], ess)
            if mayResample && ess < Double(slots.count) / 2 {
                if ancestors == nil { ancestors = Array(0..<state.particles) }
                let picks = systematicResample(logWeights: logWeight[slots], random: &islandRandom[i])
                for (k, a) in picks.enumerated() { ancestors![slots.lowerBound + k] = slots.lowerBound + a }
                for s in slots { logWeight[s] = 0 }
                resamplings[i] += 1
                resampledSinceMove = true
            }
        }
        if let ancestors {
            state.resample(ancestors: ancestors)
            copyFromAncestors(subPixelLogP, stride: subPixelsPerImage, ancestors: ancestors)
            let p = logP, f = logPFilled, rw = rowLogWeight, rp = rowLogP, rf = rowLogPFilled
            for (k, a) in ancestors.enumerated() where a != k {
                logP[k] = p[a]
                logPFilled[k] = f[a]
                rowLogWeight[k] = rw[a]
                rowLogP[k] = rp[a]
                rowLogPFilled[k] = rf[a]
            }
        }
    }
}

/// The visible prefix of a batch of images: every pixel before the first occluded one,
/// computed once per image (not once per particle) on states of at most `capacity`
/// images; the particles' states are then loaded from it (``IncrementalState/load(from:)``).
/// Before the first occluded pixel every particle of an image is the same, so this
/// changes nothing but the cost: K = 16 pays for the prefix once, not 16 times.
final class SharedPrefix: @unchecked Sendable {
    /// Where the particles resume: the first occluded pixel's row and run.
    let row: Int, run: Int
    /// Sub-pixels before the first occluded pixel.
    let prefixSubPixels: Int
    private let states: [IncrementalState]
    /// Per state, per image in it: the log-probability of each visible run of the prefix,
    /// in order (one box per state: states are computed in parallel).
    private final class Sums {
        var perImage: [[Double]] = []
        /// Per image, log p of each prefix sub-pixel (`H × W × C`, the prefix part filled).
        var logProbabilities: [[Float]] = []
    }
    private let sums: [Sums]
    private let capacity: Int

    /// Nil when there is nothing to share (no occluded pixel, or it is the first pixel).
    init?(
        model: PixelRNN, plan: RunPlan, imageCount: Int, capacity: Int, height: Int, width: Int,
        orientation: Orientation, packedWeights: PackedWeights
    ) throws(CompletionError) {
        guard let first = plan.firstOccluded, first > 0 else { return nil }
        prefixSubPixels = first * model.configuration.channels
        row = first / width
        run = plan.rows[row].firstIndex { $0.occluded }!
        self.capacity = capacity
        var states: [IncrementalState] = []
        for start in stride(from: 0, to: imageCount, by: capacity) {
            do {
                states.append(try IncrementalState(
                    model: model, particles: min(capacity, imageCount - start), height: height, width: width,
                    orientation: orientation, packedWeights: packedWeights))
            } catch {
                throw CompletionError(error)
            }
        }
        self.states = states
        sums = states.map { _ in Sums() }
    }

    /// Image `image`'s run log-probabilities (after `compute`).
    func runSums(image: Int) -> [Double] { sums[image / capacity].perImage[image % capacity] }

    /// Copies image `image`'s prefix log-probabilities into `record` (`H × W × C` floats).
    func copyLogProbabilities(image: Int, into record: UnsafeMutablePointer<Float>) {
        let values = sums[image / capacity].logProbabilities[image % capacity]
        values.withUnsafeBufferPointer { record.update(from: $0.baseAddress!, count: prefixSubPixels) }
    }

    /// States of the prefix (each runs on its own; the split depends only on the image count).
    var stateCount: Int { states.count }

    func source(image: Int) -> (state: IncrementalState, particle: Int) {
        (states[image / capacity], image % capacity)
    }

    /// Computes state `index`'s images up to the first occluded pixel.
    func compute(state index: Int, plan: RunPlan, images: [[UInt8]]) {
        let state = states[index]
        let c = state.model.configuration.channels, width = state.width
        let first = index * capacity
        var all: [UInt8] = []
        all.reserveCapacity(state.particles * images[first].count)
        for k in 0..<state.particles { all.append(contentsOf: images[first + k]) }
        state.setParticleImages(all)
        var sums = [[Double]](repeating: [], count: state.particles)
        let size = state.height * width * c
        var record = [Float](repeating: 0, count: state.particles * size)
        for y in 0...row {
            for run in plan.rows[y][..<(y == row ? self.run : plan.rows[y].count)] {
                let len = run.columns.count, x0 = run.columns.lowerBound
                state.logits(row: y, columns: run.columns)
                for k in 0..<state.particles {
                    images[first + k].withUnsafeBufferPointer { image in
                        let values = image.baseAddress! + (y * width + x0) * c
                        var sum = 0.0
                        for i in 0..<(len * c) {
                            let term = state.logProbability(of: values[i], particle: k, position: i / c, channel: i % c)
                            record[k * size + (y * width + x0) * c + i] = Float(term)
                            sum += term
                        }
                        sums[k].append(sum)
                    }
                }
            }
            if y < row { state.endRow() }
        }
        self.sums[index].perImage = sums
        self.sums[index].logProbabilities = (0..<state.particles).map { Array(record[($0 * size)..<(($0 + 1) * size)]) }
    }
}

/// Systematic resampling: n ancestors (indices into the slice, ascending) for the
/// weights exp(logWeights), from one uniform number.
func systematicResample(logWeights: ArraySlice<Double>, random: inout RandomSource) -> [Int] {
    let n = logWeights.count
    let total = logSumExp(logWeights)
    let weights = logWeights.map { exp($0 - total) }
    let start = random.nextDouble() / Double(n)
    var ancestors: [Int] = []
    ancestors.reserveCapacity(n)
    var cumulative = weights[0]
    var j = 0
    for i in 0..<n {
        let target = start + Double(i) / Double(n)
        while cumulative < target && j < n - 1 {
            j += 1
            cumulative += weights[j]
        }
        ancestors.append(j)
    }
    return ancestors
}

/// Runs the particle filter for a batch of images that share a geometry and a mask.
///
/// - Parameters:
///   - images: model-ready `H × W × C` bytes per image.
///   - packedWeights: `model`'s weights already packed (``PackedWeights``); packed here when `nil`.
/// - Returns: per image, its islands (in order) and the groups holding them.
func runParticleFilter(
    model: PixelRNN, images: [[UInt8]], occluded: [Bool], height: Int, width: Int, options: CompletionOptions,
    orientation: Orientation = .upright, sharePrefix: Bool = true, packedWeights: PackedWeights? = nil
) throws(CompletionError) -> [ImageParticles] {
    let plan = RunPlan(occluded: occluded, width: width, height: height)
    let sizes = options.islandSizes
    let capacity = options.particlesPerIsland
    // Pack islands, image by image, into states of at most `capacity` particles.
    var groups: [[IslandGroup.Island]] = []
    var current: [IslandGroup.Island] = []
    var used = 0
    for image in images.indices {
        var first = 0
        for (index, size) in sizes.enumerated() {
            if used + size > capacity && !current.isEmpty {
                groups.append(current)
                current = []
                used = 0
            }
            current.append(.init(slots: used..<(used + size), image: image, index: index, firstParticle: first))
            used += size
            first += size
        }
    }
    if !current.isEmpty { groups.append(current) }
    // The weights are fixed from here on: pack them once for every state's small products
    // (or take the completer's packing of them).
    let packed = packedWeights ?? PackedWeights(model: model)
    let built = try groups.map { (islands) throws(CompletionError) in
        try IslandGroup(model: model, islands: islands, samples: options.samples, seed: options.seed,
                        height: height, width: width, orientation: orientation, packedWeights: packed)
    }
    BLAS.setThreads(1)
    let temperature = options.temperature
    // With several particles per image, the visible prefix is computed once per image.
    let prefix = sharePrefix && options.samples > 1
        ? try SharedPrefix(model: model, plan: plan, imageCount: images.count, capacity: capacity,
                           height: height, width: width, orientation: orientation, packedWeights: packed)
        : nil
    if let prefix {
        let threads = min(options.threads, prefix.stateCount)
        DispatchQueue.concurrentPerform(iterations: threads) { worker in
            for index in stride(from: worker, to: prefix.stateCount, by: threads) {
                prefix.compute(state: index, plan: plan, images: images)
            }
        }
    }
    let threads = min(options.threads, built.count)
    DispatchQueue.concurrentPerform(iterations: threads) { worker in
        var g = worker
        while g < built.count {
            built[g].run(plan: plan, images: images, temperature: temperature, rowMoves: options.rowMoves,
                         prefix: prefix, cancellation: options.cancellation)
            g += threads
        }
    }
    if options.cancellation?.isCancelled == true { throw .cancelled }

    // Gather per image.
    var results: [ImageParticles] = []
    for image in images.indices {
        var outcome = ImageParticles()
        var islandLogShares: [Double] = []
        for group in built {
            for (i, island) in group.islands.enumerated() where island.image == image {
                let share = log(Double(island.slots.count) / Double(options.samples)) + group.logEvidence[i]
                islandLogShares.append(share)
                let within = logSumExp(group.logWeight[island.slots])
                for slot in island.slots {
                    outcome.pixels.append(group.image(slot: slot))
                    outcome.logWeights.append(share + group.logWeight[slot] - within)
                    outcome.logP.append(group.logP[slot])
                    outcome.logPFilled.append(group.logPFilled[slot])
                    outcome.sources.append((group, slot))
                }
                outcome.islands.append(
                    IslandOutcome(
                        particles: island.slots.count, logEvidence: group.logEvidence[i],
                        minimumEffectiveSampleSize: group.minimumESS[i], resamplingSteps: group.resamplings[i],
                        rowMovesProposed: group.movesProposed[i], rowMovesAccepted: group.movesAccepted[i]))
            }
        }
        outcome.logEvidence = logSumExp(islandLogShares)
        results.append(outcome)
    }
    return results
}

/// The particles of one image after the filter.
struct ImageParticles: Sendable {
    /// K completed images, `H × W × C` bytes each.
    var pixels: [[UInt8]] = []
    /// Final log-weights (unnormalised; their log-sum-exp is `logEvidence`).
    var logWeights: [Double] = []
    /// log p(completed image) along each particle, nats.
    var logP: [Double] = []
    /// Σ over occluded sub-pixels of log p(x_t | x_<t), nats.
    var logPFilled: [Double] = []
    /// Per particle, its group and slot (for ``logProbabilities(particle:)``).
    fileprivate var sources: [(group: IslandGroup, slot: Int)] = []
    /// Particle `k`'s log p of each sub-pixel (`H × W × C`), nats: copied on demand
    /// (only the selected particle's is wanted).
    func logProbabilities(particle k: Int) -> [Float] { sources[k].group.logProbabilities(slot: sources[k].slot) }
    /// Estimate of log p(visible), nats.
    var logEvidence: Double = 0
    var islands: [IslandOutcome] = []
}
