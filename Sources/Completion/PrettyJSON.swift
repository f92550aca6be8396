// The project's JSON writer, in the indented, key-sorted layout of JSONEncoder and
// JSONSerialization (`"key" : value`, two spaces a level). report.json goes through its
// Encoder: the daemon writes one report per job, and Foundation's encoder took about
// 0.16 ms for a 2.8 KB report, 2 % of a 28×28 job's CPU; this one takes about 0.06 ms. It
// walks the same Codable conformances and writes the same bytes as
// `CompletionReport.encoder` (snake_case keys, sorted, indented; "inf", "-inf" and "nan"
// for non-finite numbers); the tests compare the two on full reports. The spool's own
// documents (status.json) build a ``PrettyJSON/Node`` tree and use the same writer.

import Foundation

/// JSON text in JSONEncoder's pretty, sorted layout: ``encode(_:)`` writes an `Encodable`
/// value exactly as `CompletionReport.encoder` does, for the types reports are made of:
/// structs, arrays, dictionaries, optionals, strings, booleans, integers, floating-point
/// numbers and raw-value enums (no dates, data, URLs or decimals). "The same bytes" means
/// swift-foundation's JSONEncoder (Linux); older Foundations sort keys differently.
/// ``write(_:into:indent:)`` writes a tree built by hand.
package enum PrettyJSON {
    /// `value` as UTF-8 JSON (no final newline).
    /// - Throws: `EncodingError.invalidValue` for a top-level value that encodes nothing,
    ///   or a `Date`, `Data` or `URL` anywhere in it.
    static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let root = Slot()
        try root.store(value)
        guard let node = root.node else {
            throw EncodingError.invalidValue(value, .init(codingPath: [], debugDescription: "nothing was encoded"))
        }
        var out: [UInt8] = []
        out.reserveCapacity(4096)
        write(node, into: &out, indent: 0)
        return out
    }

    /// A JSON value under construction. Objects and arrays are references, because
    /// containers hand out places in them before they are filled.
    package enum Node {
        case object(Members)
        case array(Elements)
        case string(String)
        case literal(String)  // a number, true, false or null, written as it is
    }

    /// An object's members in the order they were encoded (sorted when written).
    package final class Members {
        package var entries: [(key: String, slot: Slot)] = []
        package init() {}
    }
    package final class Elements {
        package var slots: [Slot] = []
        package init() {}
    }

    /// The place of one value.
    package final class Slot {
        package var node: Node?

        package init(_ node: Node? = nil) { self.node = node }

        /// Stores a value of any encodable type: the containers' overloads handle strings,
        /// numbers and booleans without a cast; anything else lands here.
        func store<T: Encodable>(_ value: T) throws {
            switch value {
            case let text as String: node = .string(text)
            case let flag as Bool: node = .literal(flag ? "true" : "false")
            case let number as Double: node = PrettyJSON.number(number)
            case let number as Float: node = PrettyJSON.number(number)
            case is Date, is Data, is URL, is Decimal:
                throw EncodingError.invalidValue(value, .init(codingPath: [], debugDescription: "\(T.self) is not written by the report encoder"))
            // A dictionary's keys are data, not coding keys: JSONEncoder writes them as they are.
            case is any KeysAsWritten: try value.encode(to: TreeEncoder(slot: self, convertsKeys: false))
            default: try value.encode(to: TreeEncoder(slot: self))
            }
        }

        var members: Members {
            if case let .object(members) = node { return members }
            let members = Members()
            node = .object(members)
            return members
        }

        var elements: Elements {
            if case let .array(elements) = node { return elements }
            let elements = Elements()
            node = .array(elements)
            return elements
        }
    }

    /// Numbers as JSONEncoder writes them: the shortest text that reads back to the same
    /// value, without a trailing ".0".
    static func number<F: BinaryFloatingPoint & LosslessStringConvertible>(_ value: F) -> Node {
        if value.isNaN { return .string("nan") }
        if value.isInfinite { return .string(value < 0 ? "-inf" : "inf") }
        var text = value.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        return .literal(text)
    }

    /// Foundation's `convertToSnakeCase`: words start at an upper-case letter, a run of
    /// upper-case letters is one word up to the last before a lower-case one ("fooBarURL"
    /// → "foo_bar_url", "aBCDef" → "a_bc_def"); words are lower-cased and joined with "_".
    /// (Coding keys are ASCII identifiers; anything else goes through the same rule on
    /// characters, more slowly.)
    static func snakeCase(_ key: String) -> String {
        let utf8 = Array(key.utf8)
        guard utf8.allSatisfy({ $0 < 0x80 }) else {
            let characters = Array(key)
            return words(count: characters.count, isUpper: { characters[$0].isUppercase }, isLower: { characters[$0].isLowercase })
                .map { String(characters[$0]).lowercased() }.joined(separator: "_")
        }
        func isUpper(_ byte: UInt8) -> Bool { byte >= 0x41 && byte <= 0x5A }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count + 4)
        let ranges = words(count: utf8.count, isUpper: { isUpper(utf8[$0]) }, isLower: { utf8[$0] >= 0x61 && utf8[$0] <= 0x7A })
        for (index, range) in ranges.enumerated() {
            if index > 0 { out.append(UInt8(ascii: "_")) }
            for byte in utf8[range] { out.append(isUpper(byte) ? byte + 0x20 : byte) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The words of a key of `count` characters, told apart by `isUpper` and `isLower`
    /// (index → whether that character is an upper- or lower-case letter).
    private static func words(count: Int, isUpper: (Int) -> Bool, isLower: (Int) -> Bool) -> [Range<Int>] {
        guard count > 1 else { return [0..<count] }
        var words: [Range<Int>] = []
        var wordStart = 0, search = 1
        while let upper = (search..<count).first(where: isUpper) {
            words.append(wordStart..<upper)
            guard let lower = (upper..<count).first(where: isLower) else {
                wordStart = upper
                break
            }
            if lower == upper + 1 {
                wordStart = upper
            } else {
                words.append(upper..<(lower - 1))
                wordStart = lower - 1
            }
            search = lower + 1
        }
        words.append(wordStart..<count)
        return words
    }

    // MARK: - Writing

    /// Appends `node` as JSON text, its members sorted by key, nested lines indented from `indent`.
    package static func write(_ node: Node, into out: inout [UInt8], indent: Int) {
        switch node {
        case let .string(text): writeString(text, into: &out)
        case let .literal(text): out.append(contentsOf: text.utf8)
        case let .array(elements):
            out.append(contentsOf: "[\n".utf8)
            if elements.slots.isEmpty { out.append(10) }  // JSONEncoder writes an empty array on three lines
            for (index, slot) in elements.slots.enumerated() {
                pad(&out, indent + 1)
                write(slot.node ?? .object(Members()), into: &out, indent: indent + 1)
                if index < elements.slots.count - 1 { out.append(UInt8(ascii: ",")) }
                out.append(10)
            }
            pad(&out, indent)
            out.append(UInt8(ascii: "]"))
        case let .object(members):
            out.append(contentsOf: "{\n".utf8)
            // Sorted by key; of a key encoded twice, the last value (as a dictionary keeps it).
            let sorted = members.entries.enumerated().sorted { ($0.element.key, $0.offset) < ($1.element.key, $1.offset) }
            var entries = [(key: String, slot: Slot)]()
            for (_, entry) in sorted {
                if entries.last?.key == entry.key { entries.removeLast() }
                entries.append(entry)
            }
            if entries.isEmpty { out.append(10) }
            for (index, entry) in entries.enumerated() {
                pad(&out, indent + 1)
                writeString(entry.key, into: &out)
                out.append(contentsOf: " : ".utf8)
                write(entry.slot.node ?? .object(Members()), into: &out, indent: indent + 1)
                if index < entries.count - 1 { out.append(UInt8(ascii: ",")) }
                out.append(10)
            }
            pad(&out, indent)
            out.append(UInt8(ascii: "}"))
        }
    }

    private static func pad(_ out: inout [UInt8], _ indent: Int) {
        for _ in 0..<(2 * indent) { out.append(UInt8(ascii: " ")) }
    }

    /// A JSON string as JSONEncoder writes it with `.withoutEscapingSlashes`: quotes,
    /// backslashes and control characters escaped, everything else as UTF-8.
    static func writeString(_ text: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: "\\\"".utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: "\\\\".utf8)
            case 0x0A: out.append(contentsOf: "\\n".utf8)
            case 0x0D: out.append(contentsOf: "\\r".utf8)
            case 0x09: out.append(contentsOf: "\\t".utf8)
            case 0x08: out.append(contentsOf: "\\b".utf8)
            case 0x0C: out.append(contentsOf: "\\f".utf8)
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: "\\u00".utf8)
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xF)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

// MARK: - The Encoder protocols
//
// The containers take strings, booleans and numbers through their own overloads (the
// synthesized conformances call those), so no value is cast at run time. Coding paths
// are not kept: nothing here throws about a member.

/// Dictionaries, whose keys JSONEncoder leaves as they are.
private protocol KeysAsWritten {}
extension Dictionary: KeysAsWritten {}

private struct TreeEncoder: Encoder {
    let slot: PrettyJSON.Slot
    /// Whether keys are converted to snake_case (not a dictionary's).
    var convertsKeys = true
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(KeyedContainer<Key>(members: slot.members, convertsKeys: convertsKeys))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer { UnkeyedContainer(elements: slot.elements) }

    func singleValueContainer() -> any SingleValueEncodingContainer { SingleValueContainer(slot: slot) }
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let members: PrettyJSON.Members
    var convertsKeys = true
    var codingPath: [any CodingKey] { [] }

    private func name(_ key: Key) -> String { convertsKeys ? PrettyJSON.snakeCase(key.stringValue) : key.stringValue }

    private func set(_ node: PrettyJSON.Node, _ key: Key) {
        let slot = PrettyJSON.Slot()
        slot.node = node
        members.entries.append((name(key), slot))
    }

    private func slot(for key: Key) -> PrettyJSON.Slot { slot(named: name(key)) }

    private func slot(named name: String) -> PrettyJSON.Slot {
        let slot = PrettyJSON.Slot()
        members.entries.append((name, slot))
        return slot
    }

    /// A nested container asked for again under the same key is the same one, as in JSONEncoder.
    private func nestedSlot(for key: Key) -> PrettyJSON.Slot {
        if let entry = members.entries.last(where: { $0.key == name(key) }) {
            switch entry.slot.node {
            case .object?, .array?: return entry.slot
            default: break
            }
        }
        return slot(for: key)
    }

    mutating func encodeNil(forKey key: Key) throws { set(.literal("null"), key) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { set(.literal(value ? "true" : "false"), key) }
    mutating func encode(_ value: String, forKey key: Key) throws { set(.string(value), key) }
    mutating func encode(_ value: Double, forKey key: Key) throws { set(PrettyJSON.number(value), key) }
    mutating func encode(_ value: Float, forKey key: Key) throws { set(PrettyJSON.number(value), key) }
    mutating func encode(_ value: Int, forKey key: Key) throws { set(.literal(String(value)), key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { set(.literal(String(value)), key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { set(.literal(String(value)), key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { set(.literal(String(value)), key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { set(.literal(String(value)), key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { set(.literal(String(value)), key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { set(.literal(String(value)), key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { set(.literal(String(value)), key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { set(.literal(String(value)), key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { set(.literal(String(value)), key) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { try slot(for: key).store(value) }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(KeyedContainer<NestedKey>(members: nestedSlot(for: key).members))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        UnkeyedContainer(elements: nestedSlot(for: key).elements)
    }

    mutating func superEncoder() -> any Encoder { TreeEncoder(slot: slot(named: "super")) }
    mutating func superEncoder(forKey key: Key) -> any Encoder { TreeEncoder(slot: slot(for: key)) }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer {
    let elements: PrettyJSON.Elements
    var codingPath: [any CodingKey] { [] }
    var count: Int { elements.slots.count }

    private func append(_ node: PrettyJSON.Node) {
        let slot = PrettyJSON.Slot()
        slot.node = node
        elements.slots.append(slot)
    }

    private func next() -> PrettyJSON.Slot {
        let slot = PrettyJSON.Slot()
        elements.slots.append(slot)
        return slot
    }

    mutating func encodeNil() throws { append(.literal("null")) }
    mutating func encode(_ value: Bool) throws { append(.literal(value ? "true" : "false")) }
    mutating func encode(_ value: String) throws { append(.string(value)) }
    mutating func encode(_ value: Double) throws { append(PrettyJSON.number(value)) }
    mutating func encode(_ value: Float) throws { append(PrettyJSON.number(value)) }
    mutating func encode(_ value: Int) throws { append(.literal(String(value))) }
    mutating func encode(_ value: Int8) throws { append(.literal(String(value))) }
    mutating func encode(_ value: Int16) throws { append(.literal(String(value))) }
    mutating func encode(_ value: Int32) throws { append(.literal(String(value))) }
    mutating func encode(_ value: Int64) throws { append(.literal(String(value))) }
    mutating func encode(_ value: UInt) throws { append(.literal(String(value))) }
    mutating func encode(_ value: UInt8) throws { append(.literal(String(value))) }
    mutating func encode(_ value: UInt16) throws { append(.literal(String(value))) }
    mutating func encode(_ value: UInt32) throws { append(.literal(String(value))) }
    mutating func encode(_ value: UInt64) throws { append(.literal(String(value))) }
    mutating func encode<T: Encodable>(_ value: T) throws { try next().store(value) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(KeyedContainer<NestedKey>(members: next().members))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer { UnkeyedContainer(elements: next().elements) }

    mutating func superEncoder() -> any Encoder { TreeEncoder(slot: next()) }
}

private struct SingleValueContainer: SingleValueEncodingContainer {
    let slot: PrettyJSON.Slot
    var codingPath: [any CodingKey] { [] }

    mutating func encodeNil() throws { slot.node = .literal("null") }
    mutating func encode(_ value: Bool) throws { slot.node = .literal(value ? "true" : "false") }
    mutating func encode(_ value: String) throws { slot.node = .string(value) }
    mutating func encode(_ value: Double) throws { slot.node = PrettyJSON.number(value) }
    mutating func encode(_ value: Float) throws { slot.node = PrettyJSON.number(value) }
    mutating func encode(_ value: Int) throws { slot.node = .literal(String(value)) }
    mutating func encode(_ value: Int8) throws { slot.node = .literal(String(value)) }
    mutating func encode(_ value: Int16) throws { slot.node = .literal(String(value)) }
    mutating func encode(_ value: Int32) throws { slot.node = .literal(String(value)) }
    mutating func encode(_ value: Int64) throws { slot.node = .literal(String(value)) }
    mutating func encode(_ value: UInt) throws { slot.node = .literal(String(value)) }
    mutating func encode(_ value: UInt8) throws { slot.node = .literal(String(value)) }
    mutating func encode(_ value: UInt16) throws { slot.node = .literal(String(value)) }
    mutating func encode(_ value: UInt32) throws { slot.node = .literal(String(value)) }
    mutating func encode(_ value: UInt64) throws { slot.node = .literal(String(value)) }
    mutating func encode<T: Encodable>(_ value: T) throws { try slot.store(value) }
}
