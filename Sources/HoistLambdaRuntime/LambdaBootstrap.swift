import Foundation
import HoistCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The Lambda bootstrap role: a Hoist app started with `AWS_LAMBDA_RUNTIME_API` set serves the
/// function named by `_HANDLER` through the Lambda Runtime API, one invocation at a time.
///
/// The event is decoded with the daemon's payload rules: a one-argument function gets the event
/// itself (so an S3 or SQS event reaches `Function("f") { (event: S3Event) in … }`), a function of
/// several arguments an array or an object by name. A thrown error is reported as Lambda's
/// `{"errorMessage","errorType","stackTrace"}`; a ``StreamingFunction`` answers in streaming mode,
/// one JSON element per line.
///
/// ```sh
/// # Lambda starts the zip's `bootstrap` (the app) with these set:
/// AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001 _HANDLER=summer ./bootstrap
/// ```
public enum LambdaBootstrap {
    static let base = "/2018-06-01/runtime"

    /// Runs until the process is stopped. Returns only when it could not start: after
    /// reporting an init error (unknown handler) to the Runtime API.
    public static func run(table: FunctionTable) async throws {
        let environment = ProcessInfo.processInfo.environment
        let client = try RuntimeAPIClient(api: environment["AWS_LAMBDA_RUNTIME_API"] ?? "")
        let handler = environment["_HANDLER"] ?? ""
        // Lambda's logs are what the runtime prints: line by line, not when a buffer fills.
        setvbuf(CStreams.stdout, nil, _IOLBF, 0)
        guard let function = resolve(handler: handler, in: table) else {
            let message = handler.isEmpty
                ? "_HANDLER is not set and the app has \(table.names.count) functions; set the Lambda function's handler to one of: \(table.names.joined(separator: ", "))"
                : "the app has no function '\(handler)'; set the Lambda function's handler to one of: \(table.names.joined(separator: ", "))"
            let body = errorBody(type: "Runtime.HandlerNotFound", message: message)
            _ = try? client.send("POST", base + "/init/error", headers: [("Content-Type", "application/json"), ("Lambda-Runtime-Function-Error-Type", "Runtime.HandlerNotFound")], body: body)
            throw HoistError(.unknownFunction, message)
        }
        while true {
            let next = try client.send("GET", base + "/invocation/next")
            guard next.status == 200, let requestID = next.headers["lambda-runtime-aws-request-id"] else {
                throw HoistError(.badResponse, "the Runtime API answered /next with \(next.status) and no request id")
            }
            if let trace = next.headers["lambda-runtime-trace-id"] { setenv("_X_AMZN_TRACE_ID", trace, 1) } else { unsetenv("_X_AMZN_TRACE_ID") }
            let deadline = next.headers["lambda-runtime-deadline-ms"].flatMap(Double.init).map { $0 / 1000 }
            let event = Data(next.body)
            let path = base + "/invocation/\(requestID)"
            let invocation = LambdaInvocation(
                requestID: requestID, deadline: deadline.map { Date(timeIntervalSince1970: $0) },
                invokedFunctionARN: next.headers["lambda-runtime-invoked-function-arn"], traceID: next.headers["lambda-runtime-trace-id"],
                clientContext: next.headers["lambda-runtime-client-context"]
            )
            if function.descriptor.streams == true {
                try await LambdaInvocation.$current.withValue(invocation) {
                    try await stream(function, event: event, deadline: deadline, path: path, client: client)
                }
            } else {
                let outcome = await LambdaInvocation.$current.withValue(invocation) { await invoke(function, event: event, deadline: deadline) }
                fflush(nil)
                switch outcome {
                case .failure where deadline.map({ Date().timeIntervalSince1970 >= $0 }) == true:
                    // Past the deadline the platform answers for the invocation (and ends this
                    // process); the function was only cancelled so that it stops working.
                    continue
                case let .success(result):
                    _ = try client.send("POST", path + "/response", headers: [("Content-Type", "application/json")], body: Array(result))
                case let .failure(error):
                    let (type, message) = describe(error, function: function.name)
                    // In the log too, as Lambda's own runtimes print it: an Event invocation's
                    // caller learns how it ended only from there.
                    FileHandle.standardError.write(Data("[ERROR] \(type): \(message)\n".utf8))
                    _ = try client.send("POST", path + "/error", headers: [("Content-Type", "application/json"), ("Lambda-Runtime-Function-Error-Type", type)], body: errorBody(type: type, message: message))
                }
            }
        }
    }

    /// `_HANDLER` as a function of the app: its name, or `app.name` / `file.name` forms, or the
    /// app's only function when the handler names none of them (`bootstrap`, `provided`).
    static func resolve(handler: String, in table: FunctionTable) -> (any HoistFunction)? {
        if let function = table[handler] { return function }
        if let last = handler.split(separator: ".").last, let function = table[String(last)] { return function }
        return table.names.count == 1 ? table[table.names[0]] : nil
    }

    /// Runs the call, cancelling its task at the invocation's deadline. An HTTP event (a Function
    /// URL's or API Gateway's) that does not fit the function's parameters is taken for its body,
    /// so that `POST [1,2]` to a URL calls `summer(1, 2)`.
    static func invoke(_ function: any HoistFunction, event: Data, deadline: Double?) async -> Swift.Result<Data, any Error> {
        let task = Task {
            do {
                return try await function.invoke(json: event)
            } catch let error as ArgumentDecodingError {
                guard let body = httpBody(of: event) else { throw error }
                return try await function.invoke(json: body)
            }
        }
        let watchdog = deadline.map { deadline in
            Task {
                try await Task.sleep(for: .seconds(max(0, deadline - Date().timeIntervalSince1970)))
                task.cancel()
            }
        }
        defer { watchdog?.cancel() }
        return await task.result
    }

    /// Streams a ``StreamingFunction``'s elements as they are produced (one JSON value a line);
    /// an error after some elements goes in the trailers, as Lambda's streaming mode wants.
    static func stream(_ function: any HoistFunction, event: Data, deadline: Double?, path: String, client: RuntimeAPIClient) async throws {
        try client.beginChunked("POST", path + "/response", headers: [
            ("Content-Type", "application/x-ndjson"),
            ("Lambda-Runtime-Function-Response-Mode", "streaming"),
            ("Trailer", "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body"),
        ])
        let task = Task {
            let emit = { (element: Data) in try client.writeChunk(Array(element) + [UInt8(ascii: "\n")]) }
            do {
                try await function.stream(json: event, emit: emit)
            } catch let error as ArgumentDecodingError {
                // Arguments are decoded before the first element: an HTTP event's body is tried next.
                guard let body = httpBody(of: event) else { throw error }
                try await function.stream(json: body, emit: emit)
            }
        }
        let watchdog = deadline.map { deadline in
            Task {
                try await Task.sleep(for: .seconds(max(0, deadline - Date().timeIntervalSince1970)))
                task.cancel()
            }
        }
        defer { watchdog?.cancel() }
        var trailers: [(String, String)] = []
        if case let .failure(error) = await task.result {
            let (type, message) = describe(error, function: function.name)
            trailers = [("Lambda-Runtime-Function-Error-Type", type), ("Lambda-Runtime-Function-Error-Body", Data(errorBody(type: type, message: message)).base64EncodedString())]
        }
        _ = try client.finishChunked(trailers: trailers)
    }

    /// The body of a payload-format-2.0 HTTP event, or `nil` for any other event.
    static func httpBody(of event: Data) -> Data? {
        guard let object = (try? JSONSerialization.jsonObject(with: event)) as? [String: Any],
              let context = object["requestContext"] as? [String: Any], context["http"] != nil else { return nil }
        guard let body = object["body"] as? String else { return Data() }
        return object["isBase64Encoded"] as? Bool == true ? Data(base64Encoded: body) : Data(body.utf8)
    }

    /// Lambda's `errorType` and `errorMessage` for what came out of a call.
    static func describe(_ error: any Error, function: String) -> (type: String, message: String) {
        let failure = CallFailure.from(error, function: function)
        if let remote = failure.remote { return (remote.type, remote.message) }
        return ("Hoist.\(failure.kind)", failure.message)
    }

    static func errorBody(type: String, message: String) -> [UInt8] {
        let body: [String: AnyEncodable] = ["errorMessage": .init(message), "errorType": .init(type), "stackTrace": .init([String]())]
        return Array((try? JSONEncoder().encode(body)) ?? Data())
    }
}

/// Just enough type erasure for the error body.
struct AnyEncodable: Encodable {
    let encodeValue: (any Encoder) throws -> Void
    init(_ value: some Encodable) { encodeValue = value.encode }
    func encode(to encoder: any Encoder) throws { try encodeValue(encoder) }
}
