import Foundation
import Imaging

/// Writes `image` as a PNG into the folder named by the environment variable
/// `DRAWING_PREVIEW_DIR`, when it is set, so that renderings can be inspected by eye. Does
/// nothing otherwise.
func writePreview(_ image: Image, named name: String) {
    guard let folder = ProcessInfo.processInfo.environment["DRAWING_PREVIEW_DIR"], !folder.isEmpty else { return }
    try? image.writePNG(to: URL(fileURLWithPath: folder).appendingPathComponent(name + ".png").path)
}
