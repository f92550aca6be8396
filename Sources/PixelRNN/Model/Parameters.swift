/// Which connections a convolution's centre tap may make (DESIGN.md §3).
enum ConvolutionMask: String, Sendable {
    /// No mask: every tap connects every input to every output.
    case none
    /// Mask A (first layer): the centre tap connects output group g only to input groups < g.
    case a
    /// Mask B (every later layer): the centre tap connects output group g to input groups ≤ g.
    case b
}

/// A convolution computed as a matrix product over gathered taps.
///
/// Internally the weight is stored `[out][tap][in]` (row-major), so that a gathered
/// input row `[tap][in]` times the weight's transpose gives the output row. In the model
/// file it is stored in PyTorch's `[out, in, kh, kw]` layout, zeros at unused kernel
/// positions; `ParameterSet` converts between the two.
struct ConvolutionSpec: Sendable {
    /// Tensor name prefix, e.g. `blocks.3.input_to_state`.
    var name: String
    var outFeatures: Int
    var inFeatures: Int
    /// PyTorch kernel size.
    var kernelHeight: Int
    var kernelWidth: Int
    /// Kernel index of the offset (0, 0).
    var centreY: Int
    var centreX: Int
    /// The stored taps, as offsets (dy, dx) from the output position, in storage order.
    var taps: [(dy: Int, dx: Int)]
    var mask: ConvolutionMask
    /// Colour group of each output / input feature.
    var outGroups: [Int]
    var inGroups: [Int]
    var hasBias: Bool
    /// Offsets of the weight and bias in the parameter slab (set by `ParameterSet`).
    var weightOffset = 0
    var biasOffset = 0

    /// Columns of the gathered input: taps × input features.
    var gatheredWidth: Int { taps.count * inFeatures }
    var weightCount: Int { outFeatures * gatheredWidth }

    /// Whether weight (out, tap, in) is a live connection under the mask.
    func isConnected(out: Int, tap: Int, in input: Int) -> Bool {
        let (dy, dx) = taps[tap]
        guard dy == 0, dx == 0 else { return true }
        switch mask {
        case .none: return true
        case .a: return inGroups[input] < outGroups[out]
        case .b: return inGroups[input] <= outGroups[out]
        }
    }
}

/// One named tensor of the model file, with its PyTorch shape and its place in the slab.
struct ParameterEntry: Sendable {
    var name: String
    var shape: [Int]
    var offset: Int
    var count: Int
    /// Set for convolution weights, whose stored layout differs from the file's.
    var convolution: ConvolutionSpec?
}

/// All trainable parameters of a model in one contiguous float32 slab, plus a 0/1 mask
/// slab of the same size that zeroes the connections masked convolutions forbid.
///
/// One slab makes the optimizer, gradient reduction across workers and checkpointing
/// single loops. The object is shared read-only during forward and backward passes.
final class ParameterSet: @unchecked Sendable {
    private(set) var entries: [ParameterEntry] = []
    private(set) var count = 0
    private(set) var values: UnsafeMutablePointer<Float>
    private(set) var mask: UnsafeMutablePointer<Float>
    private var capacity: Int

    init() {
        capacity = 1024
        values = .allocate(capacity: capacity)
        mask = .allocate(capacity: capacity)
    }

    deinit {
        values.deallocate()
        mask.deallocate()
    }

    private func reserve(_ n: Int) -> Int {
        let offset = count
        if count + n > capacity {
            var newCapacity = capacity
            while newCapacity < count + n { newCapacity *= 2 }
            let v = UnsafeMutablePointer<Float>.allocate(capacity: newCapacity)
            let m = UnsafeMutablePointer<Float>.allocate(capacity: newCapacity)
            v.update(from: values, count: count)
            m.update(from: mask, count: count)
            values.deallocate()
            mask.deallocate()
            values = v
            mask = m
            capacity = newCapacity
        }
        (values + offset).update(repeating: 0, count: n)
        (mask + offset).update(repeating: 1, count: n)
        count += n
        return offset
    }

    /// Adds a plain tensor (bias, initial state); returns its slab offset.
    @discardableResult
    func addTensor(name: String, shape: [Int]) -> Int {
        let n = shape.reduce(1, *)
        let offset = reserve(n)
        entries.append(ParameterEntry(name: name, shape: shape, offset: offset, count: n))
        return offset
    }

    /// Adds a convolution's weight (and bias), fills its mask; returns the spec with offsets.
    func addConvolution(_ spec: ConvolutionSpec) -> ConvolutionSpec {
        var spec = spec
        spec.weightOffset = reserve(spec.weightCount)
        entries.append(
            ParameterEntry(
                name: spec.name + ".weight",
                shape: [spec.outFeatures, spec.inFeatures, spec.kernelHeight, spec.kernelWidth],
                offset: spec.weightOffset, count: spec.weightCount, convolution: spec))
        let m = mask + spec.weightOffset
        let k = spec.gatheredWidth
        for o in 0..<spec.outFeatures {
            for t in 0..<spec.taps.count {
                for i in 0..<spec.inFeatures where !spec.isConnected(out: o, tap: t, in: i) {
                    m[o * k + t * spec.inFeatures + i] = 0
                }
            }
        }
        if spec.hasBias {
            spec.biasOffset = addTensor(name: spec.name + ".bias", shape: [spec.outFeatures])
        }
        return spec
    }

    /// Zeroes masked entries of `buffer` (values or a gradient of the same layout).
    func applyMask(to buffer: UnsafeMutablePointer<Float>) {
        let m = mask
        for i in 0..<count { buffer[i] *= m[i] }
    }

    /// The entry named `name`, if any.
    func entry(named name: String) -> ParameterEntry? {
        entries.first { $0.name == name }
    }

    /// The tensor in the file's (PyTorch) layout.
    func exportTensor(_ entry: ParameterEntry) -> [Float] {
        guard let conv = entry.convolution else {
            return Array(UnsafeBufferPointer(start: values + entry.offset, count: entry.count))
        }
        let kh = conv.kernelHeight, kw = conv.kernelWidth, inF = conv.inFeatures
        var out = [Float](repeating: 0, count: conv.outFeatures * inF * kh * kw)
        let w = values + entry.offset
        for o in 0..<conv.outFeatures {
            for (t, tap) in conv.taps.enumerated() {
                let ky = tap.dy + conv.centreY, kx = tap.dx + conv.centreX
                for i in 0..<inF {
                    out[((o * inF + i) * kh + ky) * kw + kx] = w[o * conv.gatheredWidth + t * inF + i]
                }
            }
        }
        return out
    }

    /// Loads a tensor given in the file's layout. Masked or unused kernel positions must be
    /// zero in the file.
    /// - Returns: a description of the first violation, or nil.
    func importTensor(_ entry: ParameterEntry, from data: [Float]) -> String? {
        precondition(data.count == entry.shape.reduce(1, *))
        guard let conv = entry.convolution else {
            (values + entry.offset).update(from: data, count: data.count)
            return nil
        }
        let kh = conv.kernelHeight, kw = conv.kernelWidth, inF = conv.inFeatures
        var used = [Bool](repeating: false, count: kh * kw)
        for tap in conv.taps { used[(tap.dy + conv.centreY) * kw + tap.dx + conv.centreX] = true }
        let w = values + entry.offset
        for o in 0..<conv.outFeatures {
            for i in 0..<inF {
                for ky in 0..<kh {
                    for kx in 0..<kw where !used[ky * kw + kx] {
                        if data[((o * inF + i) * kh + ky) * kw + kx] != 0 {
                            return "\(entry.name): nonzero weight at masked kernel position (\(ky), \(kx))"
                        }
                    }
                }
            }
            for (t, tap) in conv.taps.enumerated() {
                let ky = tap.dy + conv.centreY, kx = tap.dx + conv.centreX
                for i in 0..<inF {
                    let v = data[((o * inF + i) * kh + ky) * kw + kx]
                    if v != 0 && !conv.isConnected(out: o, tap: t, in: i) {
                        return "\(entry.name): nonzero weight on a masked connection (out \(o), in \(i))"
                    }
                    w[o * conv.gatheredWidth + t * inF + i] = v
                }
            }
        }
        return nil
    }
}
