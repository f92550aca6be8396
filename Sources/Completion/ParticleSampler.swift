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
//   sample size falls below half its particles.
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
    /// Index (y·W + x) of the first occluded pixel, if any.
    var firstOccluded: Int?
    /// Whether a visible pixel comes after the first occluded one.
    var visibleAfterOcclusion: Bool { visibleAfterFirstOccluded > 0 }
    /// Visible pixels after the first occluded one.
    var visibleAfterFirstOccluded: Int

    init(occluded: [Bool], width: Int, height: Int) {
        rows = []
        firstOccluded = occluded.firstIndex(of: true)
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
    /// Per island.
    private(set) var logEvidence: [Double]
    private(set) var minimumESS: [Double]
    private(set) var resamplings: [Int]

    init(
        model: PixelRNN, islands: [Island], samples: Int, seed: UInt64, height: Int, width: Int,
        orientation: Orientation
    ) throws(CompletionError) {
        let slots = islands.last!.slots.upperBound
        do {
            state = try IncrementalState(
                model: model, particles: slots, height: height, width: width, orientation: orientation)
        } catch {
            throw CompletionError(error)
        }
        self.islands = islands
        particleRandom = []
        for island in islands {
            for k in 0..<island.slots.count {
                let stream = Streams.particle(image: island.image, samples: samples, particle: island.firstParticle + k)
                particleRandom.append(RandomSource(seed: seed, stream: stream))
            }
        }
        islandRandom = islands.map { RandomSource(seed: seed, stream: Streams.island(image: $0.image, island: $0.index)) }
        logWeight = [Double](repeating: 0, count: slots)
        logP = logWeight
        logPFilled = logWeight
        logEvidence = [Double](repeating: 0, count: islands.count)
        minimumESS = islands.map { Double($0.slots.count) }
        resamplings = [Int](repeating: 0, count: islands.count)
    }

    /// The slot's completed image (`H × W × C` bytes).
    func image(slot: Int) -> [UInt8] {
        let size = state.height * state.width * state.model.configuration.channels
        return Array(state.pixels[(slot * size)..<((slot + 1) * size)])
    }

    /// Completes every island: `images[i]` is image i's `H × W × C` bytes (occluded values ignored).
    func run(plan: RunPlan, images: [[UInt8]], temperature: Double) {
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
        for y in 0..<state.height {
            for (r, run) in plan.rows[y].enumerated() {
                // Resampling after the very last step would only add noise and hide the final weights.
                let lastRun = y == state.height - 1 && r == plan.rows[y].count - 1
                if !run.occluded {
                    let len = run.columns.count, x0 = run.columns.lowerBound
                    state.logits(row: y, columns: run.columns)
                    for island in islands {
                        images[island.image].withUnsafeBufferPointer { image in
                            let values = image.baseAddress! + (y * width + x0) * c
                            for slot in island.slots {
                                var sum = 0.0
                                for i in 0..<(len * c) {
                                    sum += state.logProbability(of: values[i], particle: slot, position: i / c, channel: i % c)
                                }
                                increments[slot] = sum
                                logP[slot] += sum
                            }
                        }
                    }
                    if started {
                        reweight(by: increments, mayResample: !lastRun)
                    } else {
                        for (i, island) in islands.enumerated() { logEvidence[i] += increments[island.slots.lowerBound] }
                    }
                } else {
                    let x = run.columns.lowerBound
                    for ch in 0..<c {
                        state.logits(row: y, columns: x..<(x + 1))
                        for slot in 0..<slots {
                            state.logits(particle: slot, position: 0, channel: ch, into: logits)
                            let draw = drawTempered(
                                logits: logits, levels: levels,
                                inverseTemperature: inverseTemperature, uniform: particleRandom[slot].nextDouble(),
                                scratch: scratch)
                            state.setSubPixel(particle: slot, y: y, x: x, channel: ch, value: UInt8(draw.value))
                            logP[slot] += draw.logP
                            logPFilled[slot] += draw.logP
                            increments[slot] = draw.logP - draw.logQ
                        }
                        started = true
                        if tempered { reweight(by: increments, mayResample: !(lastRun && ch == c - 1)) }
                    }
                }
            }
            state.endRow()
        }
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
            }
        }
        if let ancestors {
            state.resample(ancestors: ancestors)
            let p = logP, f = logPFilled
            for (k, a) in ancestors.enumerated() where a != k {
                logP[k] = p[a]
                logPFilled[k] = f[a]
            }
        }
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
/// - Returns: per image, its islands (in order) and the groups holding them.
func runParticleFilter(
    model: PixelRNN, images: [[UInt8]], occluded: [Bool], height: Int, width: Int, options: CompletionOptions,
    orientation: Orientation = .upright
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
    let built = try groups.map { (islands) throws(CompletionError) in
        try IslandGroup(model: model, islands: islands, samples: options.samples, seed: options.seed,
                        height: height, width: width, orientation: orientation)
    }
    BLAS.setThreads(1)
    let threads = min(options.threads, built.count)
    let temperature = options.temperature
    DispatchQueue.concurrentPerform(iterations: threads) { worker in
        var g = worker
        while g < built.count {
            built[g].run(plan: plan, images: images, temperature: temperature)
            g += threads
        }
    }

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
                }
                outcome.islands.append(
                    IslandOutcome(
                        particles: island.slots.count, logEvidence: group.logEvidence[i],
                        minimumEffectiveSampleSize: group.minimumESS[i], resamplingSteps: group.resamplings[i]))
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
    /// Estimate of log p(visible), nats.
    var logEvidence: Double = 0
    var islands: [IslandOutcome] = []
}
