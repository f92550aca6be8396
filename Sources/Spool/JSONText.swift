// The spool's own JSON documents (status.json), written without JSONSerialization:
// the status file is rewritten up to ten times a second, and JSONSerialization took
// about a millisecond for its 2 KB.

import Foundation

enum JSONText {
    /// `value` (a tree of `[String: Any]`, `[Any]`, `String`, `Bool`, integers, finite
    /// `Double`s and `NSNull`) as indented JSON with sorted keys, in the layout of
    /// `JSONSerialization`'s `.prettyPrinted` (`"key" : value`, two spaces per level).
    /// - Throws: ``SpoolError/outputFailed(_:)`` for anything else, a non-finite number
    ///   included.
    static func pretty(_ value: Any) throws(SpoolError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(4096)
        try write(value, into: &out, indent: 0)
        return out
    }

    private static func write(_ value: Any, into out: inout [UInt8], indent: Int) throws(SpoolError) {
        switch value {
        case let text as String: writeString(text, into: &out)
        case let flag as Bool: out += Array((flag ? "true" : "false").utf8)
        case let number as Int: out += Array(String(number).utf8)
        case let number as Int64: out += Array(String(number).utf8)
        case let number as UInt64: out += Array(String(number).utf8)
        case let number as Double:
            guard number.isFinite else { throw .outputFailed("not a JSON number: \(number)") }
            // Whole numbers as integers, as JSONSerialization writes them.
            if number == number.rounded(), abs(number) < 1e15 {
                out += Array(String(Int64(number)).utf8)
            } else {
                out += Array(String(number).utf8)
            }
        case is NSNull: out += Array("null".utf8)
        case let array as [Any]:
            out.append(UInt8(ascii: "["))
            out.append(10)
            for (index, element) in array.enumerated() {
                pad(&out, indent + 1)
                try write(element, into: &out, indent: indent + 1)
                if index < array.count - 1 { out.append(UInt8(ascii: ",")) }
                out.append(10)
            }
            pad(&out, indent)
            out.append(UInt8(ascii: "]"))
        case let object as [String: Any]:
            out.append(UInt8(ascii: "{"))
            out.append(10)
            let keys = object.keys.sorted()
            for (index, key) in keys.enumerated() {
                pad(&out, indent + 1)
                writeString(key, into: &out)
                out += Array(" : ".utf8)
                try write(object[key]!, into: &out, indent: indent + 1)
                if index < keys.count - 1 { out.append(UInt8(ascii: ",")) }
                out.append(10)
            }
            pad(&out, indent)
            out.append(UInt8(ascii: "}"))
        default:
            throw .outputFailed("not a JSON value: \(type(of: value))")
        }
    }

    private static func pad(_ out: inout [UInt8], _ level: Int) {
        out += repeatElement(UInt8(ascii: " "), count: 2 * level)
    }

    /// A JSON string: `"` and `\` escaped, control characters as `\n`, `\t`… or `\u00XX`;
    /// everything else, `/` included, as it is (UTF-8).
    private static func writeString(_ text: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 10: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 13: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 9: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0..<32:
                let hex = Array("0123456789abcdef".utf8)
                out += Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 15)]]
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
