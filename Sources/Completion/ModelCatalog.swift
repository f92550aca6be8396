// The models a daemon or a command serves, loaded once each, and how a job picks one.

public import PixelRNN

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A model file loaded for completion: read once, hashed from the same bytes, with its
/// identity built once.
public struct LoadedModel: Sendable {
    /// The name jobs use to ask for it, and that reports and the status file show.
    public let name: String
    /// The file it was read from.
    public let path: String
    /// SHA-256 of the file's bytes, 64 lower-case hexadecimal digits.
    public let sha256: String
    /// A completer over the model, carrying the identity.
    public let completer: Completer

    /// The model.
    public var model: PixelRNN { completer.model }
    /// The report's model identity.
    public var identity: ModelIdentity { completer.identity }

    /// Loads a model file.
    /// - Parameters:
    ///   - path: a model file (docs/model-format.md).
    ///   - name: the name to serve it under; nil takes the file's `name` metadata, else
    ///     the file name without its extension.
    /// - Throws: ``ModelLoadError`` naming the file and the reason.
    public static func load(path: String, name: String? = nil) throws(ModelLoadError) -> LoadedModel {
        let loaded: (model: PixelRNN, sha256: String)
        do { loaded = try PixelRNN.loadWithDigest(contentsOf: path) } catch {
            throw ModelLoadError(path: path, reason: error.description)
        }
        let stem = String(path.split(separator: "/").last ?? Substring(path)).split(separator: ".").first.map(String.init)
        let resolved = name ?? loaded.model.metadata["name"] ?? stem ?? "model"
        let identity = ModelIdentity(model: loaded.model, weightsSHA256: loaded.sha256, name: resolved)
        return LoadedModel(
            name: resolved, path: path, sha256: loaded.sha256, completer: Completer(model: loaded.model, identity: identity))
    }
}

/// A model file that could not be loaded.
public struct ModelLoadError: Error, Equatable, Sendable, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "cannot load model \(path): \(reason)" }
}

/// The models one daemon or command serves.
///
/// A job goes to the model it names; otherwise to the first model with its image's
/// channel count (gray to a gray model, colour to a colour model); only when no model
/// has that channel count is the image converted, for the first model.
public struct ModelCatalog: Sendable {
    /// The models, in configuration order; names are unique.
    public let models: [LoadedModel]

    /// A catalog of loaded models.
    /// - Throws: ``ModelLoadError`` when the list is empty or two models share a name.
    public init(models: [LoadedModel]) throws(ModelLoadError) {
        guard !models.isEmpty else { throw ModelLoadError(path: "", reason: "no model configured") }
        var seen = Set<String>()
        for model in models where !seen.insert(model.name).inserted {
            throw ModelLoadError(path: model.path, reason: "a second model is named '\(model.name)'")
        }
        self.models = models
    }

    /// Loads every `(name, path)`; a nil name is derived as in ``LoadedModel/load(path:name:)``.
    public static func load(_ entries: [(name: String?, path: String)]) throws(ModelLoadError) -> ModelCatalog {
        var models: [LoadedModel] = []
        for entry in entries { models.append(try LoadedModel.load(path: entry.path, name: entry.name)) }
        return try ModelCatalog(models: models)
    }

    /// The embedded models: the gray default and, when installed, the colour model, each
    /// named by its file's `name` metadata.
    /// - Throws: ``ModelLoadError`` when the default model cannot be found.
    public static func embeddedEntries() throws(ModelLoadError) -> [(name: String?, path: String)] {
        let gray: String
        do { gray = try DefaultModel.path() } catch { throw ModelLoadError(path: DefaultModel.fileName, reason: error.description) }
        var entries: [(name: String?, path: String)] = [(nil, gray)]
        if let colour = DefaultModel.colourPath() { entries.append((nil, colour)) }
        return entries
    }

    /// The model for a job.
    /// - Parameters:
    ///   - channels: the input image's channels (1 or 3; other counts go by their colour).
    ///   - name: the model the job names, if any.
    /// - Throws: ``CompletionError/unknownModel(name:available:)`` for a name not loaded.
    public func model(forChannels channels: Int, named name: String? = nil) throws(CompletionError) -> LoadedModel {
        if let name {
            guard let model = models.first(where: { $0.name == name }) else {
                throw .unknownModel(name: name, available: models.map(\.name))
            }
            return model
        }
        let wanted = channels >= 3 ? 3 : 1
        return models.first { $0.model.configuration.channels == wanted } ?? models[0]
    }
}
