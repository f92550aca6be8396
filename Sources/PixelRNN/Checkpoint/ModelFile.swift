import Foundation
import SystemIO
import SystemPackage

/// Reading and writing models as safetensors files (docs/model-format.md).
///
/// `__metadata__` holds the architecture under fixed keys (`format`, `architecture`,
/// `channels`, `hidden`, `blocks`, `output_hidden`, `levels`, `orientations`,
/// `distribution`, `mixture_components`) plus free-form provenance
/// (`PixelRNN.metadata`). Tensors use PyTorch names and layouts. A training checkpoint
/// also carries Adam's moments as `optimizer.first_moment` / `optimizer.second_moment`
/// (flat, in the order of the model's tensors) and the step in `optimizer_step`.
extension PixelRNN {
    /// The value of `__metadata__["format"]`.
    public static let fileFormat = "pixelrnnd-model-1"
    static let architectureKeys: Set<String> = [
        "format", "architecture", "channels", "hidden", "blocks", "output_hidden", "levels", "orientations",
        "distribution", "mixture_components", "optimizer_step",
    ]

    /// Loads a model file.
    /// - Parameter path: a safetensors file written by `save(to:)` (or by PyTorch with the same names).
    /// - Throws: `ModelError.file` for a damaged container, `.incompatibleFile` for a container
    ///   that is not a model of this program (missing or misshapen tensors, bad metadata).
    public convenience init(contentsOf path: String) throws(ModelError) {
        let file: SafetensorsFile
        do { file = try SafetensorsFile(contentsOf: path) } catch { throw .file(error) }
        try self.init(file: file, path: path)
    }

    /// Loads a model file and hashes it, reading the file once: the SHA-256 is of the
    /// very bytes the model was built from.
    /// - Returns: the model and the file's SHA-256 as 64 lower-case hexadecimal digits.
    /// - Throws: as ``init(contentsOf:)``.
    public static func loadWithDigest(contentsOf path: String) throws(ModelError) -> (model: PixelRNN, sha256: String) {
        let bytes: [UInt8]
        do { bytes = try FileSystem.readFile(FilePath(path), followLinks: true) } catch {
            throw .file(CheckpointError(error, path: path))
        }
        let file: SafetensorsFile
        do { file = try SafetensorsFile(bytes: bytes, path: path) } catch { throw .file(error) }
        return (try PixelRNN(file: file, path: path), SHA256.hex(SHA256.hash(bytes)))
    }

    /// Builds a model from a parsed container (`path` is used in messages only).
    convenience init(file: SafetensorsFile, path: String) throws(ModelError) {
        let meta = file.metadata
        func fail(_ reason: String) -> ModelError { .incompatibleFile(path: path, reason: reason) }
        guard meta["format"] == PixelRNN.fileFormat else {
            throw fail("metadata \"format\" is \(meta["format"].map { "\"\($0)\"" } ?? "missing"), expected \"\(PixelRNN.fileFormat)\"")
        }
        guard let archName = meta["architecture"], let arch = Architecture(rawValue: archName) else {
            throw fail("unknown architecture \(meta["architecture"] ?? "(missing)")")
        }
        func integer(_ key: String) throws(ModelError) -> Int {
            guard let text = meta[key], let value = Int(text) else { throw fail("metadata \"\(key)\" missing or not an integer") }
            return value
        }
        func distribution() throws(ModelError) -> OutputDistribution {
            switch meta["distribution"] {
            case nil, "softmax": return .softmax
            case "logistic_mixture": return .logisticMixture(components: try integer("mixture_components"))
            case let other?: throw fail("unknown output distribution \"\(other)\"")
            }
        }
        let config = ModelConfiguration(
            architecture: arch, channels: try integer("channels"), hidden: try integer("hidden"),
            blocks: try integer("blocks"), outputHidden: try integer("output_hidden"), levels: try integer("levels"),
            orientations: meta["orientations"] == nil ? 1 : try integer("orientations"),
            distribution: try distribution())
        do { try config.validate() } catch { throw fail(error.description) }
        // Every model tensor must be in the file with its exact shape, so the file holds at
        // least as many weights as the model. Check a lower bound before allocating: the
        // metadata alone could otherwise ask for a model of hundreds of gigabytes.
        let stored = file.tensors.reduce(0) { $0 + ($1.key.hasPrefix("optimizer.") ? 0 : $1.value.values.count) }
        let needed = config.minimumFileWeightCount
        guard stored >= needed else {
            throw fail("the file holds \(stored) weights; this architecture needs at least \(needed)")
        }
        try self.init(configuration: config, seed: 0)
        var expected = Set(parameters.entries.map(\.name))
        for entry in parameters.entries {
            guard let tensor = file.tensors[entry.name] else { throw fail("tensor \"\(entry.name)\" is missing") }
            guard tensor.shape == entry.shape else {
                throw fail("tensor \"\(entry.name)\" has shape \(tensor.shape), expected \(entry.shape)")
            }
            if let problem = parameters.importTensor(entry, from: tensor.values) { throw fail(problem) }
            expected.remove(entry.name)
        }
        for name in file.tensors.keys where !name.hasPrefix("optimizer.") && parameters.entry(named: name) == nil {
            throw fail("unexpected tensor \"\(name)\"")
        }
        for (key, value) in meta where !PixelRNN.architectureKeys.contains(key) { metadata[key] = value }
        for i in 0..<parameters.count where !parameters.values[i].isFinite {
            throw fail("weights contain NaN or infinity")
        }
    }

    /// The model as a safetensors container (weights and metadata).
    func safetensors(extraMetadata: [String: String] = [:]) -> SafetensorsFile {
        var meta = metadata.merging(extraMetadata) { $1 }
        let cfg = configuration
        meta["format"] = PixelRNN.fileFormat
        meta["architecture"] = cfg.architecture.rawValue
        meta["channels"] = String(cfg.channels)
        meta["hidden"] = String(cfg.hidden)
        meta["blocks"] = String(cfg.blocks)
        meta["output_hidden"] = String(cfg.outputHidden)
        meta["levels"] = String(cfg.levels)
        if cfg.supportsOrientations { meta["orientations"] = String(cfg.orientations) }
        meta["distribution"] = cfg.distribution.fileName
        if case .logisticMixture(let k) = cfg.distribution { meta["mixture_components"] = String(k) }
        var tensors: [String: SafetensorsTensor] = [:]
        for entry in parameters.entries {
            tensors[entry.name] = SafetensorsTensor(shape: entry.shape, values: parameters.exportTensor(entry))
        }
        return SafetensorsFile(metadata: meta, tensors: tensors)
    }

    /// A copy of this model with orientation support added: every tensor is copied,
    /// and the new `orientation_embedding` starts at zero, so every orientation starts
    /// out as the upright model. Fine-tuning with orientation augmentation then trains it.
    /// - Precondition: the model has no orientation support yet.
    public func addingOrientationSupport() -> PixelRNN {
        precondition(!configuration.supportsOrientations, "the model already supports orientations")
        var config = configuration
        config.orientations = 8
        let copy = try! PixelRNN(configuration: config, seed: 0)
        for entry in parameters.entries {
            let target = copy.parameters.entry(named: entry.name)!
            _ = copy.parameters.importTensor(target, from: parameters.exportTensor(entry))
        }
        (copy.parameters.values + copy.orientationEmbeddingOffset!).update(repeating: 0, count: 8 * config.features)
        copy.metadata = metadata
        return copy
    }

    /// An independent copy: same configuration, weights and metadata.
    public func copy() -> PixelRNN {
        try! PixelRNN(file: safetensors(), path: "<copy>")
    }

    /// Writes the model (weights and `metadata`) atomically to `path`.
    /// - Throws: `ModelError.file` when the file cannot be written.
    public func save(to path: String) throws(ModelError) {
        do { try safetensors().write(to: path) } catch { throw .file(error) }
    }
}

extension Trainer {
    /// Writes a training checkpoint: the model plus Adam's state, atomically.
    public func saveCheckpoint(to path: String) throws(ModelError) {
        var file = model.safetensors(extraMetadata: ["optimizer_step": String(step)])
        let (m, v) = optimizerState
        let n = model.parameters.count
        file.tensors["optimizer.first_moment"] = SafetensorsTensor(shape: [n], values: Array(UnsafeBufferPointer(start: m, count: n)))
        file.tensors["optimizer.second_moment"] = SafetensorsTensor(shape: [n], values: Array(UnsafeBufferPointer(start: v, count: n)))
        do { try file.write(to: path) } catch { throw .file(error) }
    }

    /// Restores Adam's moments from a checkpoint written by `saveCheckpoint(to:)`.
    /// - Returns: the step stored in the checkpoint.
    @discardableResult
    public func restoreOptimizer(from path: String) throws(ModelError) -> Int {
        let file: SafetensorsFile
        do { file = try SafetensorsFile(contentsOf: path) } catch { throw .file(error) }
        let n = model.parameters.count
        guard let m = file.tensors["optimizer.first_moment"], let v = file.tensors["optimizer.second_moment"],
              m.values.count == n, v.values.count == n,
              let step = file.metadata["optimizer_step"].flatMap(Int.init)
        else { throw .incompatibleFile(path: path, reason: "no optimizer state for this model") }
        let (pm, pv) = optimizerState
        pm.update(from: m.values, count: n)
        pv.update(from: v.values, count: n)
        setStep(step)
        return step
    }
}
