// The spool's own JSON documents (status.json), written without JSONSerialization:
// the status file is rewritten up to ten times a second, and JSONSerialization took
// about a millisecond for its 2 KB. The text comes from the project's one JSON writer
// (`PrettyJSON`, which also writes report.json).

import Completion
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
        PrettyJSON.write(try node(value), into: &out, indent: 0)
        return out
    }

    /// The tree as the shared writer's nodes.
    private static func node(_ value: Any) throws(SpoolError) -> PrettyJSON.Node {
        switch value {
        case let text as String: return .string(text)
        case let flag as Bool: return .literal(flag ? "true" : "false")
        case let number as Int: return .literal(String(number))
        case let number as Int64: return .literal(String(number))
        case let number as UInt64: return .literal(String(number))
        case let number as Double:
            guard number.isFinite else { throw .outputFailed("not a JSON number: \(number)") }
            // Whole numbers as integers, as JSONSerialization writes them.
            if number == number.rounded(), abs(number) < 1e15 { return .literal(String(Int64(number))) }
            return .literal(String(number))
        case is NSNull: return .literal("null")
        case let array as [Any]:
            let elements = PrettyJSON.Elements()
            for element in array { elements.slots.append(PrettyJSON.Slot(try node(element))) }
            return .array(elements)
        case let object as [String: Any]:
            let members = PrettyJSON.Members()
            for (key, member) in object { members.entries.append((key, PrettyJSON.Slot(try node(member)))) }
            return .object(members)
        default:
            throw .outputFailed("not a JSON value: \(type(of: value))")
        }
    }
}
