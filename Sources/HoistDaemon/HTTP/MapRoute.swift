import Foundation
import HoistCore
import HTTPTypes
import Hummingbird
import NIOCore

extension DaemonRoutes {
    /// `POST /{app}/{function}/map`: a JSON array of inputs, one outcome per input back in input
    /// order as it is known (see ``MapWire``). A failing input fails alone; the answer is 200
    /// unless the batch itself is wrong (unknown function, a body that is not an array).
    func map(_ request: Request, context: DaemonRequestContext) async throws -> Response {
        let function = try context.parameters.require("function")
        let entry: AppManager.Entry, descriptor: FunctionDescriptor, body: ByteBuffer
        switch try target(of: context) {
        case let .ok(target): (entry, descriptor) = target
        case let .refused(response): return response
        }
        if descriptor.streams == true {
            return failure(HoistError(.invalidConfiguration, "'\(function)' streams its results; a map takes functions that return one result per input, so call it once per input"))
        }
        if request.headers[HTTPField.Name(RunRecord.Header.run)!] != nil || request.headers[HTTPField.Name(RunRecord.Header.getOrCall)!] != nil {
            return failure(HoistError(.invalidConfiguration, "a map cannot be a named run; spawn one run per input instead"))
        }
        switch await self.body(of: request) {
        case let .ok(bytes): body = bytes
        case let .refused(response): return response
        }
        let inputs: [ByteBuffer]
        let timeout: Double?
        let retry: RetryPolicy
        var window: Int?
        do {
            inputs = try JSONArrayElements.split(body)
            guard inputs.count <= MapWire.maximumInputs else {
                throw HoistError(.badArguments, "a map may carry at most \(MapWire.maximumInputs) inputs, this one has \(inputs.count); send it as several")
            }
            timeout = try request.headers[HTTPField.Name(CallTimeout.header)!].map(CallTimeout.parse) ?? descriptor.timeoutSeconds
            retry = try request.headers[HTTPField.Name(RetryPolicy.header)!].map(RetryPolicy.init(headerValue:)) ?? .none
            if let text = request.headers[HTTPField.Name(MapWire.inFlightHeader)!] {
                guard let value = Int(text), value >= 1 else {
                    throw HoistError(.invalidConfiguration, "\(MapWire.inFlightHeader) must be a whole number of at least 1, not '\(text.prefix(40))'")
                }
                window = value
            }
        } catch {
            return failure(error)
        }
        let key = request.headers[HTTPField.Name(CallKey.header)!]
        if let key, let problem = CallKey.problem(with: key) {
            return failure(CallFailure(HoistError(.invalidConfiguration, "\(CallKey.header): \(problem)")))
        }
        // Without a key of the caller's, one of the daemon's: the inputs still need one each.
        let batchKey = key ?? "map-" + UUID().uuidString
        let wantsStream = request.headers[.accept]?.contains(CallStream.mediaType) ?? false
        let wantsOutput = wantsStream && request.headers[HTTPField.Name(MapWire.outputHeader)!] != "none"
        let batch = MapBatch(
            inputs: inputs,
            function: function,
            pool: RetryingPool(pool: entry.pool, policy: retry),
            timeout: timeout,
            key: batchKey,
            calls: calls,
            caller: request.headers[HTTPField.Name(NestedCall.header)!],
            window: window,
            wantsOutput: wantsOutput
        )
        do {
            try calls.registerBatch(batchKey) { batch.cancel() }
        } catch {
            return failure(error)
        }
        let calls = self.calls
        let count = inputs.count
        let connections = self.connections
        return Response(
            status: .ok,
            headers: [.contentType: wantsStream ? CallStream.mediaType : "application/x-ndjson"],
            body: ResponseBody { [channel = context.channel] writer in
                // A caller that hangs up cancels the inputs it would have read.
                try await connections.whileOpen(channel, onClose: { batch.cancel() }) {
                    try await Self.stream(batch, count: count, wantsStream: wantsStream, calls: calls, to: &writer)
                }
            }
        )
    }

    /// Runs the batch and writes its records as they come; a caller that goes away cancels it.
    private static func stream(_ batch: MapBatch, count: Int, wantsStream: Bool, calls: CallRegistry, to writer: inout any ResponseBodyWriter) async throws {
        let outbox = RecordOutbox()
        let runner = Task {
            defer {
                calls.unregisterBatch(batch.key)
                outbox.finish()
            }
            let output: (@Sendable (WorkerFrame.Kind, ByteBuffer) -> Void)?
            if batch.wantsOutput {
                output = { kind, bytes in
                    guard kind == .stdout || kind == .stderr else { return }
                    outbox.append { CallStream.write(kind == .stdout ? .stdout : .stderr, bytes, into: &$0) }
                }
            } else {
                output = nil
            }
            await batch.run(output: output) { index, outcome in
                outbox.append { out in write(outcome, index: index, wantsStream: wantsStream, into: &out) }
            }
            if wantsStream {
                outbox.append { CallStream.write(.result, ByteBuffer(string: #"{"inputs":\#(count)}"#), into: &$0) }
            }
        }
        do {
            var sink = writer
            try await outbox.drain { chunk in try await sink.write(chunk) }
            writer = sink
        } catch {
            // The caller went away: what it would have read no longer matters.
            batch.cancel()
            _ = await runner.result
            throw error
        }
        _ = await runner.result
        try await writer.finish(nil)
    }

    /// One input's outcome: a call-stream record, or a line of JSON.
    private static func write(_ outcome: Result<ByteBuffer, CallFailure>, index: Int, wantsStream: Bool, into out: inout ByteBuffer) {
        switch outcome {
        case let .success(result):
            if wantsStream {
                CallStream.write(.mapResult, index: index, result, into: &out)
            } else {
                var result = result
                out.writeString(#"{"index":\#(index),"result":"#)
                out.writeBuffer(&result)
                out.writeString("}\n")
            }
        case let .failure(failure):
            if wantsStream {
                CallStream.write(.mapFailure, index: index, ByteBuffer(bytes: encode(failure)), into: &out)
            } else {
                out.writeString(#"{"index":\#(index),"error":"#)
                out.writeBytes(encode(failure))
                out.writeString("}\n")
            }
        }
    }

    static func encode(_ failure: CallFailure) -> Data {
        (try? JSONEncoder().encode(failure)) ?? Data(#"{"kind":"internalError","message":"the failure could not be encoded"}"#.utf8)
    }
}
