import Testing
@testable import PixelRNN

/// The hand-written kernels of `Sources/CKernels` on every instruction-set path this
/// CPU runs: each against a plain double-precision reference, and the vector paths
/// against each other (bit-identical: each output element is the same chain of fused
/// multiply-adds on every path).
@Suite(.serialized) struct KernelPathTests {
    static let shapes: [(m: Int, n: Int, k: Int)] = [
        (1, 128, 128), (3, 64, 24), (8, 256, 64), (9, 144, 72), (16, 128, 128), (37, 20, 5), (224, 128, 96),
    ]

    func data(_ count: Int, seed: UInt64) -> [Float] {
        var random = RandomSource(seed: seed)
        return (0..<count).map { _ in random.nextFloat() - 0.5 }
    }

    /// C = A·Wᵀ + beta·C on `path` (forced for this call only).
    func packedProduct(path: KernelPath, m: Int, n: Int, k: Int, a: [Float], w: [Float], beta: Float, c0: [Float])
        -> [Float]
    {
        var c = c0
        let model = w  // W is n × k, as the model stores weights
        let packed = UnsafeMutablePointer<Float>.allocate(capacity: packedSize(n: n, k: k))
        defer { packed.deallocate() }
        packWeights(model, n: n, k: k, into: packed)
        a.withUnsafeBufferPointer { a in
            c.withUnsafeMutableBufferPointer { c in
                packedGemm(path: path, m: m, n: n, k: k, a.baseAddress!, lda: k, packed, beta: beta, c.baseAddress!, ldc: n)
            }
        }
        return c
    }

    @Test func everyAvailablePathMatchesTheReference() {
        let paths = KernelPath.allCases.filter(\.isAvailable)
        #expect(paths.contains(.portable))
        for (s, shape) in Self.shapes.enumerated() {
            let (m, n, k) = shape
            let a = data(m * k, seed: UInt64(10 + s)), w = data(n * k, seed: UInt64(20 + s))
            let c0 = data(m * n, seed: UInt64(30 + s))
            for beta: Float in [0, 1] {
                var results: [KernelPath: [Float]] = [:]
                for path in paths {
                    let c = packedProduct(path: path, m: m, n: n, k: k, a: a, w: w, beta: beta, c0: c0)
                    for i in 0..<m {
                        for j in 0..<n {
                            var sum = beta == 0 ? 0.0 : Double(c0[i * n + j])
                            for t in 0..<k { sum += Double(a[i * k + t]) * Double(w[j * k + t]) }
                            #expect(abs(Double(c[i * n + j]) - sum) <= 1e-5 * Double(k), "\(path) \(shape) (\(i), \(j))")
                        }
                    }
                    results[path] = c
                }
                if let avx2 = results[.avx2], let avx512 = results[.avx512] {
                    #expect(avx2 == avx512, "AVX2 and AVX-512 differ on \(shape)")
                }
            }
        }
    }

    /// A row's result does not depend on how many rows share the product (the property
    /// that lets particles share a prefix computed on fewer rows, bit for bit).
    @Test func rowsAreIndependentOfTheBatch() {
        let n = 128, k = 128
        let w = data(n * k, seed: 3), a = data(16 * k, seed: 4)
        let all = packedProduct(path: KernelPath.active, m: 16, n: n, k: k, a: a, w: w, beta: 0, c0: [Float](repeating: 0, count: 16 * n))
        for m in [1, 5, 8] {
            let part = packedProduct(path: KernelPath.active, m: m, n: n, k: k, a: Array(a[0..<(m * k)]), w: w, beta: 0,
                                     c0: [Float](repeating: 0, count: m * n))
            #expect(part == Array(all[0..<(m * n)]))
        }
    }

    /// Incremental sampling gives the same logits on every available path.
    @Test func incrementalStatesAgreeOnEveryPath() throws {
        let model = try PixelRNN(configuration: ModelConfiguration(channels: 3, hidden: 6, blocks: 2, outputHidden: 9), seed: 4)
        var random = RandomSource(seed: 8)
        let image = (0..<(5 * 4 * 3)).map { _ in UInt8(random.nextInt(below: 256)) }
        var outputs: [KernelPath: [Float]] = [:]
        defer { KernelPath.force(nil) }
        for path in KernelPath.allCases where path.isAvailable {
            #expect(KernelPath.force(path))
            let state = try IncrementalState(model: model, particles: 2, height: 4, width: 5)
            state.setAllParticles(to: image)
            var all: [Float] = []
            for y in 0..<4 {
                let out = state.logits(row: y, columns: 0..<5)
                all += Array(UnsafeBufferPointer(start: out, count: 2 * 5 * model.configuration.outputWidth))
                state.endRow()
            }
            outputs[path] = all
        }
        let reference = outputs[.portable]!
        for (path, values) in outputs {
            for (x, y) in zip(values, reference) { #expect(abs(x - y) <= 1e-4 * max(1, abs(y)), "\(path)") }
        }
        if let avx2 = outputs[.avx2], let avx512 = outputs[.avx512] { #expect(avx2 == avx512) }
    }

    /// A state loaded from another that computed a prefix continues exactly as one that
    /// computed everything itself.
    @Test func loadedStateContinuesLikeTheSource() throws {
        for architecture in Architecture.allCases {
            let model = try PixelRNN(
                configuration: ModelConfiguration(architecture: architecture, channels: 1, hidden: 6, blocks: 2, outputHidden: 9),
                seed: 6)
            var random = RandomSource(seed: 9)
            let images = (0..<2).map { _ in (0..<(6 * 5)).map { _ in UInt8(random.nextInt(below: 256)) } }
            let source = try IncrementalState(model: model, particles: 2, height: 5, width: 6)
            source.setParticleImages(images[0] + images[1])
            let direct = try IncrementalState(model: model, particles: 3, height: 5, width: 6)
            direct.setParticleImages(images[1] + images[0] + images[1])
            for y in 0..<2 {
                source.logits(row: y, columns: 0..<6); source.endRow()
                direct.logits(row: y, columns: 0..<6); direct.endRow()
            }
            source.logits(row: 2, columns: 0..<3)
            direct.logits(row: 2, columns: 0..<3)
            let loaded = try IncrementalState(model: model, particles: 3, height: 5, width: 6, packedWeights: source.packedWeights)
            loaded.load(from: [(source, 1), (source, 0), (source, 1)])
            #expect(loaded.row == 2 && loaded.column == 3)
            let width = model.configuration.outputWidth
            for y in 2..<5 {
                let columns = y == 2 ? 3..<6 : 0..<6
                let a = loaded.logits(row: y, columns: columns), b = direct.logits(row: y, columns: columns)
                let count = 3 * columns.count * width
                #expect(Array(UnsafeBufferPointer(start: a, count: count)) == Array(UnsafeBufferPointer(start: b, count: count)),
                        "\(architecture) row \(y)")
                loaded.endRow(); direct.endRow()
            }
        }
    }
}
