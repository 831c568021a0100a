import Foundation
import NIOCore

/// An ordinary Swift function with a name, ready to be sent to another system.
///
/// Arguments and result are `Codable`, so both sides — compiled from the same source —
/// agree on the wire format and the compiler checks every call:
///
/// ```swift
/// let summer = Function("summer") { (a: Int, b: Int) in a + b }
/// try await summer(1, 2)                      // 3, run in this process
/// let remote = try await summer.to(.local)    // deployed to the local daemon
/// try await remote(1, 2)                      // 3, run in a worker process
/// ```
///
/// Give parameter names so that HTTP callers may send an object instead of an array:
///
/// ```swift
/// let greet = Function("greet", parameters: "name", "excited") { (name: String, excited: Bool) in
///     "Hello, \(name)" + (excited ? "!" : ".")
/// }
/// // curl --unix-socket ~/.hoist/daemon.sock -d '{"name":"Ada","excited":true}' http://localhost/demo/greet
/// ```
public struct Function<each Arg: Codable & Sendable, Result: Sendable>: HoistFunction {
    public let name: String
    /// Declared parameter names, or empty when none were given.
    public let parameterNames: [String]
    let body: @Sendable (repeat each Arg) async throws -> Result
    let resultCodec: ResultCodec<Result>
    /// Built once: type names come from the runtime and are not free.
    public let descriptor: FunctionDescriptor
    /// What the signature lets travel as raw bytes (``RawBytes``), found once.
    package let rawBytes: RawBytes

    /// Declares a function returning a `Codable` value.
    ///
    /// - Parameters:
    ///   - name: The name it is called by remotely; letters, digits, `-`, `_` and `.`.
    ///   - parameters: Optional parameter names, one per argument, for callers that send JSON objects.
    ///   - timeout: The default deadline of a remote call, enforced by the system; callers may
    ///     override it per call with ``RemoteFunction/timeout(_:)``.
    ///   - body: The function itself; it may be `async` and may throw.
    public init(
        _ name: String,
        parameters: String...,
        timeout: Duration? = nil,
        body: @escaping @Sendable (repeat each Arg) async throws -> Result
    ) where Result: Codable {
        self.name = name
        self.parameterNames = parameters
        self.body = body
        self.resultCodec = .codable
        self.descriptor = Self.makeDescriptor(name: name, parameterNames: parameters, result: String(describing: Result.self), timeout: timeout)
        self.rawBytes = RawBytes.supported(by: descriptor)
        checkDeclaration(name: name, parameterNames: parameters)
    }

    /// Declares a function that returns nothing; remote callers get `null`.
    public init(
        _ name: String,
        parameters: String...,
        timeout: Duration? = nil,
        body: @escaping @Sendable (repeat each Arg) async throws -> Void
    ) where Result == Void {
        self.name = name
        self.parameterNames = parameters
        self.body = body
        self.resultCodec = .void
        self.descriptor = Self.makeDescriptor(name: name, parameterNames: parameters, result: "Void", timeout: timeout)
        self.rawBytes = RawBytes.supported(by: descriptor)
        checkDeclaration(name: name, parameterNames: parameters)
    }

    /// Runs the function in this process.
    public func callAsFunction(_ args: repeat each Arg) async throws -> Result {
        try await body(repeat each args)
    }

    /// The number of arguments the function takes.
    public static var arity: Int {
        var count = 0
        for _ in repeat (each Arg).self { count += 1 }
        return count
    }

    private static func makeDescriptor(name: String, parameterNames: [String], result: String, timeout: Duration?) -> FunctionDescriptor {
        var types: [String] = []
        for type in repeat (each Arg).self { types.append(String(describing: type)) }
        return FunctionDescriptor(name: name, parameterNames: parameterNames, types: types, result: result, timeout: timeout)
    }

    public func invoke(json body: Data) async throws -> Data {
        let args = try ArgumentCodec.decode((repeat each Arg).self, from: body, descriptor: descriptor)
        let result = try await self.body(repeat each args)
        return try resultCodec.encode(result)
    }

    /// ``invoke(json:)`` for a worker: the arguments are read where they arrived and the result
    /// is written into the buffer that goes out, so a large payload is not copied on the way.
    /// `bytes` says which payloads are raw bytes instead of JSON (``RawBytes``).
    package func invoke(buffer body: consuming ByteBuffer, bytes: RawBytes = []) async throws -> ByteBuffer {
        let args: (repeat each Arg)
        if bytes.contains(.argument) {
            guard let value = RawBytes.decode(body, as: (repeat each Arg).self) else {
                throw ArgumentDecodingError(descriptor, "an \(RawBytes.mediaType) body is the raw bytes of one Data or [UInt8] argument; send JSON")
            }
            args = value
        } else {
            args = try ArgumentCodec.decode((repeat each Arg).self, from: (consume body).dataView, descriptor: descriptor)
        }
        let result = try await self.body(repeat each args)
        if bytes.contains(.result), let raw = RawBytes.encode(result) { return raw }
        return try resultCodec.encodeBuffer(result)
    }

    /// ``invoke(buffer:bytes:)`` for a call whose arguments lie in a caller's payload region
    /// (``RegionMapping``): they are read where they lie, and a large result is written straight
    /// into the region (a `String` or raw bytes without a buffer between), a small one returned.
    /// A result the region cannot take (no room left in shared memory) is returned too: the
    /// function has run, and its caller must not send the call again to get it.
    /// Raw `Data` or `[UInt8]` arguments are copied: the function may keep its argument, and the
    /// region is the caller's to reuse.
    package func invoke(region: RegionMapping, bytes: RawBytes) async throws -> RegionResult {
        let result = try await call(arguments: region.argument, bytes: bytes)
        let threshold = RegionReference.resultThreshold
        if bytes.contains(.result), let data = result as? Data, data.count >= threshold,
           let written = try? region.write(count: data.count, { data.copyBytes(to: $0) }) {
            return .inRegion(written)
        }
        if bytes.contains(.result), let array = result as? [UInt8], array.count >= threshold,
           let written = try? region.write(count: array.count, { target in array.withUnsafeBytes { target.copyMemory(from: $0) } }) {
            return .inRegion(written)
        }
        if Result.self == String.self, !bytes.contains(.result) {
            var text = unsafeBitCast(result, to: String.self)
            let written = text.withUTF8 { utf8 -> RegionReference? in
                let source = UnsafeRawBufferPointer(utf8)
                guard source.count >= threshold, !JSONString.needsEscape(source) else { return nil }
                return try? region.write(count: source.count + 2) { target in
                    target[0] = 0x22
                    target[source.count + 1] = 0x22
                    UnsafeMutableRawBufferPointer(rebasing: target[1...source.count]).copyMemory(from: source)
                }
            }
            if let written { return .inRegion(written) }
        }
        let buffer: ByteBuffer
        if bytes.contains(.result), let raw = RawBytes.encode(result) {
            buffer = raw
        } else {
            buffer = try resultCodec.encodeBuffer(result)
        }
        if buffer.readableBytes >= threshold, let written = try? region.write(result: buffer) {
            return .inRegion(written)
        }
        return .inline(buffer)
    }

    private func call(arguments: Data, bytes: RawBytes) async throws -> Result {
        let args: (repeat each Arg)
        if bytes.contains(.argument) {
            var copy = ByteBufferAllocator().buffer(capacity: arguments.count)
            copy.adviseHugePages()
            copy.writeBytes(arguments)
            guard let value = RawBytes.decode(copy, as: (repeat each Arg).self) else {
                throw ArgumentDecodingError(descriptor, "an \(RawBytes.mediaType) body is the raw bytes of one Data or [UInt8] argument; send JSON")
            }
            args = value
        } else {
            args = try ArgumentCodec.decode((repeat each Arg).self, from: arguments, descriptor: descriptor)
        }
        return try await self.body(repeat each args)
    }

    /// Encodes arguments the way ``invoke(json:)`` on the far side decodes them.
    public func encodeArguments(_ args: repeat each Arg) throws -> Data {
        try ArgumentCodec.encode(repeat each args)
    }

    /// ``encodeArguments(_:)`` into the buffer a call is sent in; with `raw`, the one `Data`
    /// or `[UInt8]` argument's bytes themselves (``RawBytes/argument``).
    package func encodeArgumentsBuffer(_ args: repeat each Arg, raw: Bool = false) throws -> ByteBuffer {
        if raw {
            for arg in repeat each args {
                if let bytes = RawBytes.encode(arg) { return bytes }
            }
        }
        return try ArgumentCodec.encodeBuffer(repeat each args)
    }

    /// Decodes a result from its buffer: raw bytes when it was asked for as such
    /// (``RawBytes/result``), otherwise JSON.
    /// ``decodeResult(_:raw:)`` of bytes where they lie, which are only read.
    package func decodeResult(bytes: UnsafeRawBufferPointer, raw: Bool) throws -> Result {
        if raw, Result.self == Data.self { return Data(bytes) as! Result }
        if raw, Result.self == [UInt8].self { return Array(bytes.bindMemory(to: UInt8.self)) as! Result }
        guard let base = bytes.baseAddress, bytes.count > 0 else { return try resultCodec.decode(Data()) }
        return try resultCodec.decode(Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: base), count: bytes.count, deallocator: .none))
    }

    package func decodeResult(_ buffer: ByteBuffer, raw: Bool) throws -> Result {
        if raw, let value = RawBytes.decode(buffer, as: Result.self) { return value }
        return try resultCodec.decode(buffer.dataView)
    }

    /// Decodes a result produced by ``invoke(json:)``.
    public func decodeResult(_ data: Data) throws -> Result {
        try resultCodec.decode(data)
    }

    private func checkDeclaration(name: String, parameterNames: [String]) {
        if let problem = FunctionTable.problem(withName: name) {
            preconditionFailure("Function(\"\(name)\"): \(problem)")
        }
        if let timeout = descriptor.timeoutSeconds {
            precondition(timeout > 0, "Function(\"\(name)\") has a timeout of \(timeout) s: a timeout must be positive")
        }
        precondition(
            parameterNames.isEmpty || parameterNames.count == Self.arity,
            "Function(\"\(name)\") declares \(parameterNames.count) parameter names for \(Self.arity) arguments: give one name per argument, or none"
        )
    }
}

/// A function a worker can run from and into its own buffers (``Function/invoke(buffer:)``).
package protocol BufferInvoking: Sendable {
    func invoke(buffer body: consuming ByteBuffer, bytes: RawBytes) async throws -> ByteBuffer
    func invoke(region: RegionMapping, bytes: RawBytes) async throws -> RegionResult
}

/// Where a call that came with a payload region leaves its result.
package enum RegionResult: Sendable {
    /// Small: in the answer.
    case inline(ByteBuffer)
    /// Large: in the caller's region.
    case inRegion(RegionReference)
}

extension Function: BufferInvoking {}
