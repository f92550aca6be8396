/// How ``CompletionFigures/markedOcclusion(_:mask:scale:marking:)`` shows occluded pixels.
public enum MaskMarking: Sendable, Hashable {
    /// Blend a colour over each marked pixel with the given opacity, and outline the region in it.
    case tint(RGB, opacity: Double)
    /// Paint each marked pixel solid.
    case fill(RGB)
}

/// Ready-made figures for image completion: a job's preview and a gallery of completions.
public enum CompletionFigures {
    /// The default occlusion marking: a translucent magenta tint that keeps gray pictures
    /// readable underneath.
    public static let occlusionMarking = MaskMarking.tint(.magenta, opacity: 0.5)

    /// An enlarged copy of `image` with the pixels of `mask` marked.
    /// - Parameters:
    ///   - image: The input picture.
    ///   - mask: `width * height` flags; `true` marks an occluded (to-be-completed) pixel.
    ///   - scale: Integer enlargement.
    ///   - marking: How occluded pixels are shown.
    /// - Returns: An RGB image `scale` times the size of `image`.
    public static func markedOcclusion(
        _ image: Image, mask: [Bool], scale: Int = 1, marking: MaskMarking = occlusionMarking
    ) -> Image {
        let figure = Figure(width: image.width * scale, height: image.height * scale)
        figure.draw(image, x: 0, y: 0, scale: scale)
        let (color, opacity): (RGB, Double) =
            switch marking {
            case .tint(let color, let opacity): (color, opacity)
            case .fill(let color): (color, 1)
            }
        // A tint is also outlined in its colour, so that the region stands out on any picture.
        figure.markMask(
            mask, maskWidth: image.width, maskHeight: image.height, x: 0, y: 0, scale: scale, color: color,
            opacity: opacity, outline: opacity < 1 ? color : nil)
        return figure.image
    }

    /// A job preview: the input with its occlusion marked, each completion, and (when given) the
    /// per-pixel negative log-likelihood as a heat map with a colour bar, side by side.
    /// - Parameters:
    ///   - input: The occluded input picture.
    ///   - mask: `input.width * input.height` flags; `true` marks an occluded pixel.
    ///   - completions: The completed pictures, same size as `input`.
    ///   - nll: Per-pixel NLL in bits, `input.width * input.height` values; NaN for pixels
    ///     without one (drawn light gray). `nil` leaves the heat map out.
    ///   - scale: Integer enlargement of every picture.
    ///   - title: Heading; empty for none.
    ///   - colorMap: Colours of the heat map.
    ///   - unit: Caption of the colour bar.
    public static func preview(
        input: Image, mask: [Bool], completions: [Image], nll: [Double]? = nil, scale: Int = 4,
        title: String = "", colorMap: ColorMap = .inferno, unit: String = "NLL, bits"
    ) -> Image {
        var panels = [Panel(markedOcclusion(input, mask: mask, scale: scale), caption: "input, occlusion marked")]
        for (k, completion) in completions.enumerated() {
            panels.append(Panel(completion, caption: "completion \(k + 1)", scale: scale))
        }
        if let nll {
            let range = ColorMap.finiteRange(of: nll) ?? 0...1
            let heat = colorMap.render(values: nll, width: input.width, height: input.height, range: range)
            panels.append(Panel(heat, caption: "NLL per pixel", scale: scale))
            // As tall as the heat map, frame included.
            let bar = ColorBar(
                colorMap: colorMap, range: range, label: unit, length: max(16, input.height * scale - 2),
                thickness: max(8, 2 * scale))
            panels.append(Panel(bar.render()))
        }
        return PanelLayout(row: panels, title: title).render()
    }

    /// One row of a completion gallery.
    public struct GalleryRow: Sendable {
        /// The unoccluded picture.
        public var original: Image
        /// `original.width * original.height` flags; `true` marks an occluded pixel.
        public var mask: [Bool]
        /// The completions.
        public var completions: [Image]
        /// A label drawn left of the row; empty for none.
        public var label: String

        /// Creates a gallery row.
        /// - Parameters:
        ///   - original: The unoccluded picture.
        ///   - mask: Occlusion flags.
        ///   - completions: The completions.
        ///   - label: Row label.
        public init(original: Image, mask: [Bool], completions: [Image], label: String = "") {
            self.original = original
            self.mask = mask
            self.completions = completions
            self.label = label
        }
    }

    /// A gallery for documentation: one row per example (original, occluded, completions) under
    /// column headings.
    /// - Parameters:
    ///   - rows: The examples.
    ///   - scale: Integer enlargement of every picture.
    ///   - title: Heading; empty for none.
    ///   - occludedFill: The colour occluded pixels are painted in the "occluded" column.
    public static func gallery(
        _ rows: [GalleryRow], scale: Int = 3, title: String = "", occludedFill: RGB = RGB(gray: 128)
    ) -> Image {
        let panels = rows.map { row -> [Panel] in
            [
                Panel(row.original, scale: scale),
                Panel(markedOcclusion(row.original, mask: row.mask, scale: scale, marking: .fill(occludedFill))),
            ] + row.completions.map { Panel($0, scale: scale) }
        }
        let samples = rows.map(\.completions.count).max() ?? 0
        var layout = PanelLayout(rows: panels, title: title, rowLabels: rows.map(\.label))
        layout.columnHeaders = ["original", "occluded"] + (0..<samples).map { "sample \($0 + 1)" }
        layout.spacing = 8
        return layout.render()
    }
}
