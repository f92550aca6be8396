import Foundation

/// Locates the embedded default model, `default.safetensors`.
///
/// Searched in order: `$PIXELRNND_DEFAULT_MODEL`; `../share/pixelrnnd/` beside the
/// executable (where `make install` puts it); `/usr/local/share/pixelrnnd/` and
/// `/usr/share/pixelrnnd/`; the source checkout's `models/` folder (found from this
/// file's compile-time path, so a binary built from a checkout always finds it).
public enum DefaultModel {
    /// The file name of the default model.
    public static let fileName = "default.safetensors"

    /// The file name of the embedded colour model (shipped beside the gray default).
    public static let colourFileName = "colour.safetensors"

    /// Every place searched, in order.
    public static var candidates: [String] { candidates(for: fileName) }

    /// Every place searched for an embedded model file, in order
    /// (`$PIXELRNND_DEFAULT_MODEL` only for the default one).
    public static func candidates(for fileName: String) -> [String] {
        var list: [String] = []
        if fileName == Self.fileName, let env = ProcessInfo.processInfo.environment["PIXELRNND_DEFAULT_MODEL"], !env.isEmpty {
            list.append(env)
        }
        let exe = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath()
            .deletingLastPathComponent()
        list.append(exe.appendingPathComponent("../share/pixelrnnd/\(fileName)").standardized.path)
        list.append("/usr/local/share/pixelrnnd/\(fileName)")
        list.append("/usr/share/pixelrnnd/\(fileName)")
        let checkout = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        list.append(checkout.appendingPathComponent("models/\(fileName)").path)
        return list
    }

    /// The embedded colour model's file, if one is installed or in the checkout.
    public static func colourPath() -> String? {
        candidates(for: colourFileName).first { FileManager.default.fileExists(atPath: $0) }
    }

    /// The first existing candidate.
    /// - Throws: `ModelError.incompatibleFile` listing the places searched when none exists.
    public static func path() throws(ModelError) -> String {
        let list = candidates
        for path in list where FileManager.default.fileExists(atPath: path) { return path }
        throw .incompatibleFile(path: fileName, reason: "default model not found (searched \(list.joined(separator: ", ")))")
    }
}
