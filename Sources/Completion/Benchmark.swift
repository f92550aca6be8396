// Completion speed: incremental particles against the naive one-forward-pass-per-sub-pixel
// sampler, for `pixelrnn bench`.

import Foundation
public import PixelRNN
public import Imaging

/// Timings of completing the bottom half of 28×28 images (DESIGN.md §3).
public enum CompletionBenchmark {
    /// One measured configuration.
    public struct Row: Sendable, Equatable {
        /// `incremental`, `naive` (one full forward pass per occluded sub-pixel) or
        /// `full forward pass` (one `negativeLogLikelihoods` call, for scale).
        public var method: String
        /// Samples (particles) per image.
        public var samples: Int
        /// Worker threads.
        public var threads: Int
        /// Images completed together (sharing the mask).
        public var images: Int
        /// Most particles per incremental state (`CompletionOptions.particlesPerIsland`).
        public var particlesPerState: Int
        /// Milliseconds per image.
        public var millisecondsPerImage: Double
    }

    /// Measures completion speed.
    /// - Parameters:
    ///   - model: The model (BENCH-ROW for the published figures); images are 28×28 with
    ///     its channels, rows 14…27 occluded.
    ///   - images: Images completed per call (one state holds up to eight particles).
    ///   - samples: Sample counts K to measure.
    ///   - threads: Thread counts to measure.
    ///   - particlesPerState: `CompletionOptions.particlesPerIsland` values to measure
    ///     (8: the default, two states for 16 images; 16: one state of 16 images at K = 1).
    ///   - seconds: Minimum measuring time per incremental row (after a warm-up call).
    ///   - naive: Also time the naive sampler (one image, K = 1, one thread; seconds per image).
    ///   - report: Called with each row as soon as it is measured.
    /// - Returns: The rows, in measuring order.
    /// - Throws: `CompletionError` for a model without incremental sampling.
    public static func run(
        model: PixelRNN, images: Int = 16, samples: [Int] = [1, 16], threads: [Int] = [1, 2],
        particlesPerState: [Int] = [8, 16], seconds: Double = 2, naive: Bool = true, report: (Row) -> Void = { _ in }
    ) throws(CompletionError) -> [Row] {
        BLAS.setThreads(1)
        let (batch, occluded) = workload(model: model, images: images)
        let completer = Completer(model: model)
        var rows: [Row] = []
        let configurations = samples.flatMap { k in particlesPerState.flatMap { p in threads.map { (k, p, $0) } } }
        for (k, p, t) in configurations {
            let options = CompletionOptions(samples: k, seed: 1, threads: t, particlesPerIsland: p)
            _ = try completer.completeBatch(batch, occluded: occluded, options: options)
            let clock = ContinuousClock()
            let start = clock.now
            var calls = 0
            repeat {
                _ = try completer.completeBatch(batch, occluded: occluded, options: options)
                calls += 1
            } while Completion.seconds(clock.now - start) < seconds
            let ms = 1000 * Completion.seconds(clock.now - start) / Double(calls * images)
            let row = Row(
                method: "incremental", samples: k, threads: t, images: images, particlesPerState: p,
                millisecondsPerImage: ms)
            rows.append(row)
            report(row)
        }
        let clock = ContinuousClock()
        var start = clock.now
        var calls = 0
        repeat {
            _ = try? model.negativeLogLikelihoods(of: batch[0].pixels, count: 1, height: 28, width: 28)
            calls += 1
        } while Completion.seconds(clock.now - start) < min(seconds, 1)
        let forward = Row(
            method: "full forward pass", samples: 1, threads: 1, images: 1, particlesPerState: 1,
            millisecondsPerImage: 1000 * Completion.seconds(clock.now - start) / Double(calls))
        rows.append(forward)
        report(forward)
        if naive {
            start = clock.now
            _ = try naiveCompletion(model: model, image: batch[0], occluded: occluded, seed: 1)
            let row = Row(
                method: "naive", samples: 1, threads: 1, images: 1, particlesPerState: 1,
                millisecondsPerImage: 1000 * Completion.seconds(clock.now - start))
            rows.append(row)
            report(row)
        }
        return rows
    }

    /// The benchmark's images (random values, seeded) and mask (rows 14…27 occluded).
    static func workload(model: PixelRNN, images: Int) -> ([Image], [Bool]) {
        let c = model.configuration.channels, levels = model.configuration.levels
        var random = RandomSource(seed: 2024)
        let batch = (0..<images).map { _ in
            Image(width: 28, height: 28, channels: c,
                  pixels: (0..<(28 * 28 * c)).map { _ in UInt8(random.nextInt(below: levels)) })
        }
        return (batch, (0..<(28 * 28)).map { $0 >= 14 * 28 })
    }

    /// The naive sampler that public implementations use: before each occluded sub-pixel,
    /// a full forward pass over the whole image (every row, whole-row runs, exactly the
    /// network's forward computation), whose logits at that sub-pixel are sampled at T = 1.
    /// - Returns: The completed image (model channels).
    /// - Throws: `CompletionError` for a model without incremental sampling.
    public static func naiveCompletion(model: PixelRNN, image: Image, occluded: [Bool], seed: UInt64)
        throws(CompletionError) -> Image
    {
        let c = model.configuration.channels, levels = model.configuration.levels
        let h = image.height, w = image.width
        var pixels = ChannelConversion.convert(image, toChannels: c).bytes
        var random = RandomSource(seed: seed, stream: 0)
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: levels)
        defer { scratch.deallocate() }
        let pixelLogits = UnsafeMutablePointer<Float>.allocate(capacity: levels)
        defer { pixelLogits.deallocate() }
        for p in 0..<(h * w) where occluded[p] {
            for ch in 0..<c {
                // One full forward pass of the current image.
                let state: IncrementalState
                do { state = try IncrementalState(model: model, particles: 1, height: h, width: w) } catch {
                    throw CompletionError(error)
                }
                state.setAllParticles(to: pixels)
                for y in 0..<h {
                    state.logits(row: y, columns: 0..<w)
                    if y == p / w { state.logits(particle: 0, position: p % w, channel: ch, into: pixelLogits) }
                    state.endRow()
                }
                let draw = drawTempered(
                    logits: pixelLogits, levels: levels, inverseTemperature: 1,
                    uniform: random.nextDouble(), scratch: scratch)
                pixels[p * c + ch] = UInt8(draw.value)
            }
        }
        return Image(width: w, height: h, channels: c, pixels: pixels)
    }
}

/// What one small daemon job costs, stage by stage, on one thread: the completion (sampling,
/// the NLL map and the report), then what the daemon adds to it (the preview, its PNG,
/// completed.png, report.json and writing the job's folder). For `pixelrnn bench --job-stages`.
public enum JobStagesBenchmark {
    /// Milliseconds per job of each stage, in order.
    /// - Parameters:
    ///   - completer: The model that serves the job (the default model for the published figures).
    ///   - image: The job's picture.
    ///   - mask: Its occlusion.
    ///   - folder: Where the job's folder is written (again and again; removed at the end).
    ///   - seconds: Measuring time per stage, after one warm-up run.
    /// - Throws: `CompletionError` when the completion or a write fails.
    public static func run(
        completer: Completer, image: Image, mask: Mask, folder: String, seconds: Double = 1
    ) throws(CompletionError) -> [(stage: String, milliseconds: Double)] {
        let options = CompletionOptions(samples: 1, seed: 1, threads: 1)
        var result = try completer.complete(image, mask: mask, options: options)
        let preview = previewImage(result)
        let content = previewContent(result)
        func time(_ body: () throws(CompletionError) -> Void) throws(CompletionError) -> Double {
            try body()
            let clock = ContinuousClock()
            let start = clock.now
            var runs = 0
            repeat {
                try body()
                runs += 1
            } while Completion.seconds(clock.now - start) < seconds
            return 1000 * Completion.seconds(clock.now - start) / Double(runs)
        }
        func encode(_ image: Image, _ content: PNGContent) throws(CompletionError) {
            do { _ = try image.encodePNG(content: content) } catch { throw CompletionError(error, path: "(memory)") }
        }
        defer { try? FileManager.default.removeItem(atPath: folder) }
        return [
            ("completion (sampling, NLL map, report)", try time { () throws(CompletionError) in
                result = try completer.complete(image, mask: mask, options: options)
            }),
            ("preview: drawing", try time { () throws(CompletionError) in _ = previewImage(result) }),
            ("preview: PNG", try time { () throws(CompletionError) in try encode(preview, content) }),
            ("completed.png", try time { () throws(CompletionError) in try encode(result.completed, .photo) }),
            ("report.json", try time { () throws(CompletionError) in _ = result.report.jsonData() }),
            ("writing the job's folder (the four rows above, and the files)", try time { () throws(CompletionError) in
                try writeJobOutputs(result, to: folder)
            }),
        ]
    }
}
