import Foundation
import NIOCore

/// The payload rules shared by every place a function is called from or served:
///
/// - no arguments: an empty body, `[]` or `{}`;
/// - one argument: that value's JSON (or `{"name": value}` when the parameter is named);
/// - several: a JSON array in declaration order, or an object keyed by the declared names.
public enum ArgumentCodec {
    /// Encodes arguments for the wire.
    public static func encode<each Arg: Encodable>(_ args: repeat each Arg) throws -> Data {
        // The buffer's bytes, shared rather than copied.
        try encodeBuffer(repeat each args).dataView
    }

    /// ``encode(_:)`` into a buffer, as a call goes out: a `String` argument is copied once,
    /// straight from its storage, instead of into `Data` and again into the buffer.
    package static func encodeBuffer<each Arg: Encodable>(_ args: repeat each Arg) throws -> ByteBuffer {
        var count = 0
        var stringBytes = 0
        for arg in repeat each args {
            count += 1
            if type(of: arg) == String.self { stringBytes += unsafeBitCast(arg, to: String.self).utf8.count + 2 }
        }
        var buffer = ByteBufferAllocator().buffer(capacity: stringBytes + 16)
        if count > 1 { buffer.writeInteger(UInt8(ascii: "[")) }
        var index = 0
        for arg in repeat each args {
            if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            index += 1
            if type(of: arg) == String.self, JSONString.encode(unsafeBitCast(arg, to: String.self), into: &buffer) { continue }
            if JSONScalars.encode(arg, into: &buffer) { continue }
            buffer.writeBytes(try JSONCoding.encoder.encode(arg))
        }
        if count > 1 { buffer.writeInteger(UInt8(ascii: "]")) }
        return buffer
    }

    /// Joins encoded JSON values into a JSON array without decoding them again.
    static func jsonArray(_ elements: [Data]) -> Data {
        var out = Data("[".utf8)
        for (index, element) in elements.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(element)
        }
        out.append(UInt8(ascii: "]"))
        return out
    }

    /// Decodes arguments from a request body, with errors that name the function, the
    /// expected arguments and what failed.
    public static func decode<each Arg: Decodable>(
        _ types: (repeat each Arg).Type,
        from body: Data,
        descriptor: FunctionDescriptor
    ) throws -> (repeat each Arg) {
        let arity = descriptor.parameters.count
        let trimmed = body.trimmingJSONWhitespace()
        do {
            switch arity {
            case 0:
                guard trimmed.isEmpty || trimmed == Data("[]".utf8) || trimmed == Data("{}".utf8) else {
                    throw ArgumentDecodingError(descriptor, "it takes no arguments; send an empty body or []")
                }
                // Decoding an empty tuple still needs a value: hand it an empty array.
                return try JSONCoding.decoder.decode(PositionalArguments<repeat each Arg>.self, from: Data("[]".utf8)).values
            case 1:
                guard !trimmed.isEmpty else {
                    throw ArgumentDecodingError(descriptor, "the body is empty; send the argument's JSON")
                }
                // An Int, Bool or String (a large one too) as a plain literal: no coder, no
                // wrapping copy.
                if let value = scalars(types, from: trimmed, arity: 1) { return value }
                return try decodeSingle(types, from: trimmed, descriptor: descriptor)
            default:
                guard let first = trimmed.first else {
                    throw ArgumentDecodingError(descriptor, "the body is empty; send a JSON array of \(arity) arguments")
                }
                if first == UInt8(ascii: "{") {
                    guard descriptor.parameters.allSatisfy({ $0.name != nil }) else {
                        throw ArgumentDecodingError(
                            descriptor,
                            "a JSON object needs parameter names, and this function declares none; send a JSON array of \(arity) arguments"
                        )
                    }
                    let decoder = JSONDecoder()
                    decoder.userInfo[NamedArguments<repeat each Arg>.namesKey] = descriptor.parameters.map { $0.name ?? "" }
                    return try decoder.decode(NamedArguments<repeat each Arg>.self, from: trimmed).values
                }
                guard first == UInt8(ascii: "[") else {
                    throw ArgumentDecodingError(descriptor, "expected a JSON array of \(arity) arguments or an object keyed by name")
                }
                if let values = scalars(types, from: trimmed, arity: arity) { return values }
                return try JSONCoding.decoder.decode(PositionalArguments<repeat each Arg>.self, from: trimmed).values
            }
        } catch let error as ArgumentDecodingError {
            throw error
        } catch {
            throw ArgumentDecodingError(descriptor, describe(error, descriptor: descriptor))
        }
    }

    /// Arguments that are all `Int`, `Bool` or `String`, read without the coders
    /// (``JSONScalars``); `nil` leaves them to the coders, which decide (and word any error).
    private static func scalars<each Arg: Decodable>(_ types: (repeat each Arg).Type, from body: Data, arity: Int) -> (repeat each Arg)? {
        for type in repeat (each Arg).self {
            guard JSONScalars.supports(type) else { return nil }
        }
        return body.withUnsafeBytes { raw -> (repeat each Arg)? in
            let ranges: [Range<Int>]
            if arity == 1 {
                ranges = [0..<raw.count]
            } else {
                guard let found = JSONScalars.elements(raw), found.count == arity else { return nil }
                ranges = found
            }
            var index = 0
            func next<T>(_ type: T.Type) throws -> T {
                defer { index += 1 }
                guard index < ranges.count, let value = JSONScalars.decode(type, UnsafeRawBufferPointer(rebasing: raw[ranges[index]])) else {
                    throw NotScalar()
                }
                return value
            }
            return try? (repeat next((each Arg).self))
        }
    }

    private struct NotScalar: Error {}

    private static func decodeSingle<each Arg: Decodable>(
        _ types: (repeat each Arg).Type,
        from body: Data,
        descriptor: FunctionDescriptor
    ) throws -> (repeat each Arg) {
        // The value itself is the body. Wrap it in an array so one code path decodes every arity.
        var wrapped = Data("[".utf8)
        wrapped.append(body)
        wrapped.append(UInt8(ascii: "]"))
        do {
            return try JSONCoding.decoder.decode(PositionalArguments<repeat each Arg>.self, from: wrapped).values
        } catch {
            // `{"text": "hi"}` for a parameter named `text`, when the value itself did not decode.
            if let name = descriptor.parameters.first?.name, body.first == UInt8(ascii: "{") {
                let decoder = JSONDecoder()
                decoder.userInfo[NamedArguments<repeat each Arg>.namesKey] = [name]
                if let named = try? decoder.decode(NamedArguments<repeat each Arg>.self, from: body) {
                    return named.values
                }
            }
            throw error
        }
    }

    /// A short, human account of a decoding error.
    public static func describe(_ error: any Error, descriptor: FunctionDescriptor? = nil) -> String {
        guard let error = error as? DecodingError else { return String(describing: error) }
        func place(_ path: [any CodingKey]) -> String {
            guard let first = path.first else { return "the body" }
            var text: String
            if let index = first.intValue, let descriptor, index < descriptor.parameters.count {
                let p = descriptor.parameters[index]
                text = "argument \(index + 1)" + (p.name.map { " (\($0): \(p.type))" } ?? " (\(p.type))")
            } else if let descriptor, let p = descriptor.parameters.first(where: { $0.name == first.stringValue }) {
                text = "argument '\(first.stringValue)' (\(p.type))"
            } else {
                text = first.intValue.map { "element \($0)" } ?? "'\(first.stringValue)'"
            }
            let rest = path.dropFirst().map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            if !rest.isEmpty { text += " at \(rest)" }
            return text
        }
        switch error {
        case let .typeMismatch(type, context):
            return "\(place(context.codingPath)): expected \(type): \(context.debugDescription)"
        case let .valueNotFound(type, context):
            return "\(place(context.codingPath)): missing \(type) value: \(context.debugDescription)"
        case let .keyNotFound(key, context):
            let at = context.codingPath.isEmpty ? "" : " in \(place(context.codingPath))"
            return "missing key '\(key.stringValue)'\(at)"
        case let .dataCorrupted(context):
            let detail = (context.underlyingError.map { String(describing: $0) }) ?? context.debugDescription
            return context.codingPath.isEmpty
                ? "the body is not valid JSON: \(detail)"
                : "\(place(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return String(describing: error)
        }
    }
}

/// Arguments as a JSON array, in declaration order.
struct PositionalArguments<each Arg: Decodable>: Decodable {
    let values: (repeat each Arg)

    init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        var expected = 0
        for _ in repeat (each Arg).self { expected += 1 }
        if let count = container.count, count != expected {
            throw ArityError(expected: expected, got: count)
        }
        values = (repeat try container.decode((each Arg).self))
    }
}

/// Arguments as a JSON object keyed by the declared parameter names.
struct NamedArguments<each Arg: Decodable>: Decodable {
    static var namesKey: CodingUserInfoKey { CodingUserInfoKey(rawValue: "hoist.parameterNames")! }
    let values: (repeat each Arg)

    init(from decoder: any Decoder) throws {
        let names = decoder.userInfo[Self.namesKey] as? [String] ?? []
        let container = try decoder.container(keyedBy: NameKey.self)
        let unknown = container.allKeys.map(\.stringValue).filter { !names.contains($0) }
        if !unknown.isEmpty {
            throw UnknownNamesError(unknown: unknown.sorted(), known: names)
        }
        let cursor = Cursor()
        values = (repeat try container.decode((each Arg).self, forKey: NameKey(names[cursor.next()])))
    }

    final class Cursor {
        var index = 0
        func next() -> Int {
            defer { index += 1 }
            return index
        }
    }
}

struct NameKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ name: String) { stringValue = name }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

struct ArityError: Error, CustomStringConvertible {
    let expected: Int
    let got: Int
    var description: String { "expected \(expected) arguments, got \(got)" }
}

struct UnknownNamesError: Error, CustomStringConvertible {
    let unknown: [String]
    let known: [String]
    var description: String {
        "unknown argument name\(unknown.count == 1 ? "" : "s") \(unknown.map { "'\($0)'" }.joined(separator: ", ")); the parameters are \(known.joined(separator: ", "))"
    }
}

/// The request body does not fit the function's signature (HTTP 400).
public struct ArgumentDecodingError: Error, CustomStringConvertible, Sendable {
    public let function: String
    public let signature: String
    public let reason: String

    public init(_ descriptor: FunctionDescriptor, _ reason: String) {
        self.function = descriptor.name
        self.signature = descriptor.signature
        self.reason = reason
    }

    public var description: String {
        "bad arguments for \(signature): \(reason)"
    }
}

extension Data {
    func trimmingJSONWhitespace() -> Data {
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }
        guard let start = firstIndex(where: { !isSpace($0) }) else { return Data() }
        let end = lastIndex(where: { !isSpace($0) })!
        if start == startIndex && end == index(before: endIndex) { return self }
        return Data(self[start...end])
    }
}
