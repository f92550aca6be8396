import Foundation
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

    /// exp, sigmoid and tanh on every path against libm (in Double), and the vector paths bit-identical.
    @Test func elementwiseKernelsOnEveryPath() {
        var random = RandomSource(seed: 12)
        let x = (0..<1003).map { _ in (random.nextFloat() - 0.5) * 40 } + [-100, -87, 0, 88, 100]
        let reference: [(Double) -> Double] = [{ Foundation.exp($0) }, { 1 / (1 + Foundation.exp(-$0)) }, { Foundation.tanh($0) }]
        for kernel in 0..<3 {
            var results: [KernelPath: [Float]] = [:]
            for path in KernelPath.allCases where path.isAvailable {
                let y = elementwise(path: path, kernel: kernel, x)
                for (xi, yi) in zip(x, y) {
                    let r = reference[kernel](Double(min(max(xi, -87), 88)))
                    #expect(abs(Double(yi) - r) <= 1e-6 * max(abs(r), kernel == 0 ? 0 : 1), "\(path) kernel \(kernel) at \(xi)")
                }
                results[path] = y
            }
            if let a = results[.avx2], let b = results[.avx512] { #expect(a == b) }
        }
    }

    /// The LSTM cell, log-sum-exp and Adam on every path: close to a Double reference,
    /// the vector paths bit-identical. Odd h exercises the partial vectors.
    @Test(arguments: [6, 32, 36])
    func lstmLogSumExpAndAdamOnEveryPath(h: Int) {
        let count = 5
        let gates = data(count * 4 * h, seed: 50).map { $0 * 8 }, previous = data(count * h, seed: 51).map { $0 * 4 }
        var lstm: [KernelPath: [[Float]]] = [:], lse: [KernelPath: Float] = [:], adam: [KernelPath: [[Float]]] = [:]
        let logits = data(256 + h, seed: 52).map { $0 * 30 }
        let values = data(1000 + h, seed: 53), gradient = data(1000 + h, seed: 54)
        let m = data(1000 + h, seed: 55).map { $0 * 0.1 }, v = data(1000 + h, seed: 56).map { $0 * $0 * 0.01 }
        func sigmoid(_ x: Float) -> Double { 1 / (1 + Foundation.exp(-Double(x))) }
        for path in KernelPath.allCases where path.isAvailable {
            let (g, cell, tanhCell, hidden) = lstmForward(path: path, gates: gates, previousCell: previous, broadcast: false,
                                                          count: count, h: h)
            for r in 0..<count {
                for k in 0..<h {
                    let base = r * 4 * h
                    let o = sigmoid(gates[base + k]), f = sigmoid(gates[base + h + k]), i = sigmoid(gates[base + 2 * h + k])
                    let gg = Foundation.tanh(Double(gates[base + 3 * h + k]))
                    let c = f * Double(previous[r * h + k]) + i * gg
                    #expect(abs(Double(g[base + k]) - o) < 1e-6 && abs(Double(g[base + 3 * h + k]) - gg) < 1e-6)
                    #expect(abs(Double(cell[r * h + k]) - c) < 1e-5 * max(1, abs(c)))
                    #expect(abs(Double(tanhCell[r * h + k]) - Foundation.tanh(c)) < 1e-5)
                    #expect(abs(Double(hidden[r * h + k]) - o * Foundation.tanh(c)) < 1e-5)
                }
            }
            lstm[path] = [g, cell, tanhCell, hidden]
            let exact = Foundation.log(logits.map { Foundation.exp(Double($0)) }.reduce(0, +))
            lse[path] = logSumExp(path: path, logits)
            #expect(abs(Double(lse[path]!) - exact) < 1e-5 * abs(exact))
            let (b1, b2, stepSize, eps, scale): (Float, Float, Float, Float, Float) = (0.9, 0.999, 1e-3, 1e-8, 0.7)
            let (x, mm, vv) = adamStep(path: path, values: values, gradient: gradient, m: m, v: v, scale: scale, b1: b1,
                                        b2: b2, stepSize: stepSize, eps: eps)
            for i in values.indices {
                let g = Double(gradient[i] * scale)
                let m1 = Double(b1) * Double(m[i]) + Double(1 - b1) * g
                let v1 = Double(b2) * Double(v[i]) + Double(1 - b2) * g * g
                let x1 = Double(values[i]) - Double(stepSize) * m1 / (v1.squareRoot() + Double(eps))
                #expect(abs(Double(mm[i]) - m1) < 1e-6 && abs(Double(vv[i]) - v1) < 1e-7 * max(1, v1) + 1e-9)
                #expect(abs(Double(x[i]) - x1) < 1e-5)
            }
            adam[path] = [x, mm, vv]
        }
        if let a = lstm[.avx2], let b = lstm[.avx512] { #expect(a == b) }
        if let a = lse[.avx2], let b = lse[.avx512] { #expect(a == b) }
        if let a = adam[.avx2], let b = adam[.avx512] { #expect(a == b) }
    }
}
