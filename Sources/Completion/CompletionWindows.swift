// Windows: a hole is completed inside its bounding box plus a context margin, so that
// the cost follows the hole, not the image.

public import Imaging

extension PixelRect {
    /// Grown by `margin` on all four sides, clipped to a `width × height` image.
    func expanded(by margin: Int, within width: Int, _ height: Int) -> PixelRect {
        let x0 = max(0, x - margin), y0 = max(0, y - margin)
        return PixelRect(x: x0, y: y0, width: min(width, maxX + margin) - x0, height: min(height, maxY + margin) - y0)
    }
}

/// Where the windows of an image go.
public enum CompletionWindows {
    /// The default context margin, in pixels, on each side of a hole's bounding box.
    ///
    /// 32 pixels is where the measured difference between the window and the whole
    /// image in the log-likelihood of the filled pixels levels off (docs/windows.md):
    /// beyond it, pixels are too far away to change the model's conditionals much (and a
    /// 28×28 picture is always one window covering it all).
    public static let defaultMargin = 32

    /// The windows for a mask: each 4-connected occluded region's bounding box grown by
    /// `margin` (clipped to the image); windows that overlap are merged until none do.
    /// In raster order of their top-left corners.
    /// - Parameters:
    ///   - occluded: `width × height` flags, `true` = occluded.
    public static func plan(occluded: [Bool], width: Int, height: Int, margin: Int) -> [PixelRect] {
        var seen = [Bool](repeating: false, count: occluded.count)
        var windows: [PixelRect] = []
        var stack: [Int] = []
        for start in occluded.indices where occluded[start] && !seen[start] {
            var x0 = start % width, x1 = x0, y0 = start / width, y1 = y0
            seen[start] = true
            stack.append(start)
            while let p = stack.popLast() {
                let x = p % width, y = p / width
                x0 = min(x0, x); x1 = max(x1, x); y0 = min(y0, y); y1 = max(y1, y)
                for (nx, ny) in [(x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)]
                where nx >= 0 && ny >= 0 && nx < width && ny < height {
                    let q = ny * width + nx
                    if occluded[q] && !seen[q] { seen[q] = true; stack.append(q) }
                }
            }
            // Merge into the windows so far, which never overlap one another: the new window
            // absorbs every one it overlaps (rescanning after each, since it grew). Each
            // region costs one pass over the non-overlapping windows, however many regions
            // a scattered mask has.
            var window = PixelRect(x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1)
                .expanded(by: margin, within: width, height)
            var i = 0
            while i < windows.count {
                if windows[i].intersects(window) {
                    window = window.union(windows.remove(at: i))
                    i = 0
                } else {
                    i += 1
                }
            }
            windows.append(window)
        }
        return windows.sorted { ($0.y, $0.x) < ($1.y, $1.x) }
    }
}

/// What a report's likelihoods cover.
public struct WindowSummary: Codable, Sendable, Equatable {
    /// The window in the image.
    public var rect: PixelRect
    /// Occluded pixels inside it.
    public var occludedPixels: Int
    /// The scan orientation used in it.
    public var orientation: String
    /// Visible sub-pixels after the first occluded one in that scan.
    public var visibleSubPixelsAfterFirstOccluded: Int
    /// log p̂(visible pixels of the window), nats, and whether it is exact.
    public var logPVisibleNats: Double
    public var exact: Bool
    /// Final effective sample size of its particles (nil when exact).
    public var effectiveSampleSize: Double?
    /// Resampling steps in it.
    public var resamplingSteps: Int
}
