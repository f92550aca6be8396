/// A built-in 5×8 bitmap font covering printable ASCII (32–126), drawn at integer scales.
///
/// Each glyph sits in a 5-column, 8-row cell: capitals and digits use rows 0–6 (the baseline is
/// under row 6) and the descenders of `g j p q y` and `_` reach into row 7. Glyphs advance by
/// six columns, leaving one blank column between letters. Characters outside the table are drawn
/// as `?`.
public enum BitmapFont {
    /// Glyph width in pixels at scale 1.
    public static let glyphWidth = 5
    /// Glyph cell height in pixels at scale 1 (including the descender row).
    public static let glyphHeight = 8
    /// Horizontal distance between the left edges of consecutive glyphs at scale 1.
    public static let advance = 6
    /// Vertical distance between the tops of consecutive lines at scale 1.
    public static let lineSpacing = 10

    /// The width in pixels of the widest line of `text` (lines split at `"\n"`) at `scale`; no
    /// trailing gap is counted, so `"A"` at scale 1 is 5 pixels wide and `""` is 0.
    /// - Parameters:
    ///   - text: The string to measure.
    ///   - scale: Integer magnification, at least 1.
    public static func textWidth(_ text: String, scale: Int = 1) -> Int {
        var widest = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            widest = max(widest, lineWidth(line.count, scale: scale))
        }
        return widest
    }

    /// The height in pixels of `text` at `scale`: one glyph cell per line plus the gaps between
    /// lines (0 for the empty string).
    /// - Parameters:
    ///   - text: The string to measure.
    ///   - scale: Integer magnification, at least 1.
    public static func textHeight(_ text: String, scale: Int = 1) -> Int {
        if text.isEmpty { return 0 }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).count
        return ((lines - 1) * lineSpacing + glyphHeight) * scale
    }

    static func lineWidth(_ characters: Int, scale: Int) -> Int {
        characters == 0 ? 0 : (characters * advance - (advance - glyphWidth)) * scale
    }

    /// The rows of a character's glyph packed into a `UInt64`: row 0 in the most significant
    /// byte, and in each row bit 4 is the leftmost column.
    static func glyph(for character: Character) -> UInt64 {
        if let ascii = character.asciiValue, ascii >= 32, ascii <= 126 {
            return glyphs[Int(ascii) - 32]
        }
        if character == "\t" { return glyphs[0] }
        return glyphs[Int(Character("?").asciiValue!) - 32]
    }

    /// Whether column `column` (0–4) of row `row` (0–7) is set in `glyph`.
    @inline(__always) static func isSet(_ glyph: UInt64, row: Int, column: Int) -> Bool {
        (glyph >> UInt64((7 - row) * 8 + (4 - column))) & 1 == 1
    }

    /// Glyphs for ASCII 32 (space) to 126 (`~`), eight rows each, one byte a row (see
    /// ``glyph(for:)``). `0x0E_11_11_1F_11_11_11_00` is an `A`: `.###.`, `#...#`, … .
    static let glyphs: [UInt64] = [
        0x00_00_00_00_00_00_00_00, 0x04_04_04_04_04_00_04_00, 0x0A_0A_0A_00_00_00_00_00,  // sp ! "
        0x0A_0A_1F_0A_1F_0A_0A_00, 0x04_0F_14_0E_05_1E_04_00, 0x18_19_02_04_08_13_03_00,  // # $ %
        0x0C_12_14_08_15_12_0D_00, 0x04_04_08_00_00_00_00_00, 0x02_04_08_08_08_04_02_00,  // & ' (
        0x08_04_02_02_02_04_08_00, 0x00_04_15_0E_15_04_00_00, 0x00_04_04_1F_04_04_00_00,  // ) * +
        0x00_00_00_00_00_0C_04_08, 0x00_00_00_1F_00_00_00_00, 0x00_00_00_00_00_0C_0C_00,  // , - .
        0x01_02_02_04_08_08_10_00, 0x0E_11_13_15_19_11_0E_00, 0x04_0C_04_04_04_04_0E_00,  // / 0 1
        0x0E_11_01_02_04_08_1F_00, 0x1F_02_04_02_01_11_0E_00, 0x02_06_0A_12_1F_02_02_00,  // 2 3 4
        0x1F_10_1E_01_01_11_0E_00, 0x06_08_10_1E_11_11_0E_00, 0x1F_01_02_04_08_08_08_00,  // 5 6 7
        0x0E_11_11_0E_11_11_0E_00, 0x0E_11_11_0F_01_02_0C_00, 0x00_0C_0C_00_0C_0C_00_00,  // 8 9 :
        0x00_0C_0C_00_0C_04_08_00, 0x02_04_08_10_08_04_02_00, 0x00_00_1F_00_1F_00_00_00,  // ; < =
        0x08_04_02_01_02_04_08_00, 0x0E_11_01_02_04_00_04_00, 0x0E_11_01_0D_15_15_0E_00,  // > ? @
        0x0E_11_11_1F_11_11_11_00, 0x1E_11_11_1E_11_11_1E_00, 0x0E_11_10_10_10_11_0E_00,  // A B C
        0x1C_12_11_11_11_12_1C_00, 0x1F_10_10_1E_10_10_1F_00, 0x1F_10_10_1E_10_10_10_00,  // D E F
        0x0E_11_10_17_11_11_0F_00, 0x11_11_11_1F_11_11_11_00, 0x0E_04_04_04_04_04_0E_00,  // G H I
        0x07_02_02_02_02_12_0C_00, 0x11_12_14_18_14_12_11_00, 0x10_10_10_10_10_10_1F_00,  // J K L
        0x11_1B_15_15_11_11_11_00, 0x11_11_19_15_13_11_11_00, 0x0E_11_11_11_11_11_0E_00,  // M N O
        0x1E_11_11_1E_10_10_10_00, 0x0E_11_11_11_15_12_0D_00, 0x1E_11_11_1E_14_12_11_00,  // P Q R
        0x0F_10_10_0E_01_01_1E_00, 0x1F_04_04_04_04_04_04_00, 0x11_11_11_11_11_11_0E_00,  // S T U
        0x11_11_11_11_11_0A_04_00, 0x11_11_11_15_15_15_0A_00, 0x11_11_0A_04_0A_11_11_00,  // V W X
        0x11_11_0A_04_04_04_04_00, 0x1F_01_02_04_08_10_1F_00, 0x0E_08_08_08_08_08_0E_00,  // Y Z [
        0x10_08_08_04_02_02_01_00, 0x0E_02_02_02_02_02_0E_00, 0x04_0A_11_00_00_00_00_00,  // \\ ] ^
        0x00_00_00_00_00_00_00_1F, 0x08_04_02_00_00_00_00_00, 0x00_00_0E_01_0F_11_0F_00,  // _ ` a
        0x10_10_16_19_11_11_1E_00, 0x00_00_0E_10_10_11_0E_00, 0x01_01_0D_13_11_11_0F_00,  // b c d
        0x00_00_0E_11_1F_10_0E_00, 0x06_09_08_1C_08_08_08_00, 0x00_00_0F_11_11_0F_01_0E,  // e f g
        0x10_10_16_19_11_11_11_00, 0x04_00_0C_04_04_04_0E_00, 0x02_00_06_02_02_02_12_0C,  // h i j
        0x10_10_12_14_18_14_12_00, 0x0C_04_04_04_04_04_0E_00, 0x00_00_1A_15_15_11_11_00,  // k l m
        0x00_00_16_19_11_11_11_00, 0x00_00_0E_11_11_11_0E_00, 0x00_00_1E_11_11_1E_10_10,  // n o p
        0x00_00_0F_11_11_0F_01_01, 0x00_00_16_19_10_10_10_00, 0x00_00_0E_10_0E_01_1E_00,  // q r s
        0x08_08_1C_08_08_09_06_00, 0x00_00_11_11_11_13_0D_00, 0x00_00_11_11_11_0A_04_00,  // t u v
        0x00_00_11_11_15_15_0A_00, 0x00_00_11_0A_04_0A_11_00, 0x00_00_11_11_11_0F_01_0E,  // w x y
        0x00_00_1F_02_04_08_1F_00, 0x02_04_04_08_04_04_02_00, 0x04_04_04_04_04_04_04_04,  // z { |
        0x08_04_04_02_04_04_08_00, 0x00_00_08_15_02_00_00_00,  // } ~
    ]
}
