import Foundation
import HoistCore
import HTTPTypes
import Hummingbird
import NIOCore

/// The daemon's HTTP surface: every function as `POST /{app}/{function}`, listings, the
/// OpenAPI document, and the daemon's own routes under `/_hoist`.
struct DaemonRoutes: Sendable {
    let manager: AppManager
    let configuration: DaemonConfiguration
    let startedAt: Double
    /// Required on control routes; see ``HoistHome/controlTokenFile``.
    let controlToken: String
    let calls: CallRegistry
    let runs: RunManager
    /// Callers' connections, so that work for a caller that hung up is cancelled.
    let connections = ConnectionWatch()

    /// Adds every route to `router`. `controlRoutesNeedToken` is false for the Unix socket, whose
    /// peers are the daemon's own user (checked by uid).
    func register(on router: Router<DaemonRequestContext>, controlRoutesNeedToken: Bool) {
        let checkToken: @Sendable (Request) -> Response? = { request in
            controlRoutesNeedToken ? self.tokenRefusal(request) : nil
        }
        router.get("/") { _, _ in try json(listing()) }
        router.get("/openapi.json") { _, _ in
            let document = OpenAPIDocument.make(apps: manager.all.map { manager.info($0) }, serverURL: configuration.publicURL)
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: document)))
        }
        router.get("/_hoist/health") { _, _ in
            try json(DaemonAPI.Health(
                status: "ok",
                protocolVersion: DaemonAPI.protocolVersion,
                pid: getpid(),
                version: HoistVersion.current,
                home: configuration.home.root,
                startedAt: startedAt
            ))
        }
        router.get("/_hoist/apps") { _, _ in try json(listing()) }
        router.post("/_hoist/apps/:app/deploy") { request, context in
            if let denied = checkToken(request) { return denied }
            let app = try context.parameters.require("app")
            let body = try await request.body.collect(upTo: 16 << 20)
            // Nothing to stream when the app is deployed as asked already: a plain answer.
            if let unchanged = manager.unchanged(app: app, body: body) {
                return try json(unchanged)
            }
            let deploy: DaemonAPI.DeployRequest
            do {
                deploy = try JSONDecoder().decode(DaemonAPI.DeployRequest.self, from: Data(body.readableBytesView))
            } catch {
                return failure(CallFailure(HoistError(.badArguments, "the deploy request is not valid: \(ArgumentCodec.describe(error))")))
            }
            if let unchanged = manager.unchanged(app: app, request: deploy, body: body) {
                return try json(unchanged)
            }
            guard request.headers[.accept]?.contains(CallStream.mediaType) ?? false else {
                do {
                    return try json(try await manager.deploy(app: app, request: deploy))
                } catch {
                    return failure(error)
                }
            }
            // Hoist's own clients get the setup's output as it is printed (stderr records),
            // then the deploy's outcome as a result or failure record.
            return Response(
                status: .ok,
                headers: [.contentType: CallStream.mediaType],
                body: ResponseBody { writer in
                    let (records, continuation) = AsyncStream.makeStream(of: ByteBuffer.self)
                    let task = Task {
                        var last = ByteBuffer()
                        do {
                            let response = try await manager.deploy(app: app, request: deploy) { bytes in
                                var record = ByteBuffer()
                                CallStream.write(.stderr, bytes, into: &record)
                                continuation.yield(record)
                            }
                            CallStream.write(.result, ByteBuffer(bytes: try JSONEncoder().encode(response)), into: &last)
                        } catch {
                            CallStream.write(.failure, ByteBuffer(bytes: (try? JSONEncoder().encode(Self.callFailure(error))) ?? Data()), into: &last)
                        }
                        continuation.yield(last)
                        continuation.finish()
                    }
                    for await record in records {
                        try await writer.write(record)
                    }
                    _ = await task.result
                    try await writer.finish(nil)
                }
            )
        }
        router.delete("/_hoist/apps/:app") { request, context in
            if let denied = checkToken(request) { return denied }
            let app = try context.parameters.require("app")
            do {
                try await manager.remove(app: app)
                return Response(status: .noContent)
            } catch {
                return failure(error)
            }
        }
        router.get("/_hoist/apps/:app/logs") { request, context in
            if let denied = checkToken(request) { return denied }
            let app = try context.parameters.require("app")
            let limit = request.uri.queryParameters.get("bytes", as: Int.self) ?? 65536
            guard let handle = FileHandle(forReadingAtPath: configuration.home.appLog(app)) else {
                return failure(HoistError(.unknownApp, "no log for app '\(app)'; deployed apps: \(manager.all.map(\.manifest.name).joined(separator: ", "))"))
            }
            defer { try? handle.close() }
            let size = handle.seekToEndOfFile()
            handle.seek(toFileOffset: size > UInt64(limit) ? size - UInt64(limit) : 0)
            let data = handle.readDataToEndOfFile()
            return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        router.post("/_hoist/calls/:key/cancel") { _, context in
            let key = try context.parameters.require("key")
            guard calls.cancel(key) else {
                return failure(CallFailure(HoistError(.unknownCall, "no call with id '\(key)' is in flight (it may have finished)")))
            }
            return try json(["cancelled": key])
        }
        router.get("/_hoist/runs") { request, _ in
            let limit = request.uri.queryParameters.get("limit", as: Int.self) ?? 100
            return try json(runs.list(app: request.uri.queryParameters.get("app"), limit: max(1, limit)))
        }
        router.get("/_hoist/runs/:key") { _, context in
            do {
                return try json(try runs.record(try context.parameters.require("key")))
            } catch {
                return failure(error)
            }
        }
        router.get("/_hoist/runs/:key/wait") { request, context in
            let timeout = request.uri.queryParameters.get("timeout", as: Double.self) ?? 60
            do {
                let key = try context.parameters.require("key")
                _ = try runs.record(key)
                return try json(try await runs.wait(key, timeout: min(max(timeout, 0), 3600)))
            } catch {
                return failure(error)
            }
        }
        router.post("/_hoist/runs/:key/cancel") { _, context in
            do {
                let key = try context.parameters.require("key")
                try runs.checkCancellable(key)
                // A run that has not reached a worker yet is cancelled when it does: the registry
                // remembers early cancels.
                _ = calls.cancel(key)
                return try json(try await runs.wait(key, timeout: 10))
            } catch {
                return failure(error)
            }
        }
        router.post("/_hoist/runs/prune") { request, _ in
            if let denied = checkToken(request) { return denied }
            let olderThan = request.uri.queryParameters.get("older_than", as: Double.self)
            let keep = request.uri.queryParameters.get("keep", as: Int.self)
            guard olderThan != nil || keep != nil else {
                return failure(HoistError(.invalidConfiguration, "prune needs older_than (seconds) or keep (a count), or both"))
            }
            if let keep, keep < 0 { return failure(HoistError(.invalidConfiguration, "keep must not be negative")) }
            return try json(["removed": runs.prune(olderThan: olderThan, keep: keep)])
        }
        router.get(":app") { _, context in
            let app = try context.parameters.require("app")
            guard let entry = manager.lookup(app) else { return unknownApp(app) }
            return try json(manager.info(entry))
        }
        router.post(":app/:function") { request, context in
            try await call(request, context: context)
        }
        router.post(":app/:function/\(MapWire.pathComponent)") { request, context in
            try await map(request, context: context)
        }
    }

    /// `nil` when the request carries the control token; a 401 that reveals nothing otherwise.
    private func tokenRefusal(_ request: Request) -> Response? {
        if BearerToken.matches(request, controlToken) { return nil }
        return BearerToken.unauthorized(
            "this route needs the daemon's control token (Authorization: Bearer …, from \(HoistHome.controlTokenFileName) in the daemon's home)"
        )
    }

    private func listing() -> DaemonAPI.Listing {
        DaemonAPI.Listing(apps: manager.all.map { manager.info($0) })
    }

    /// What a request resolved to, or the response that refuses it.
    enum Resolved<Value> {
        case ok(Value)
        case refused(Response)
    }

    /// The app and function a request names, or the 404 that says what exists.
    func target(of context: DaemonRequestContext) throws -> Resolved<(entry: AppManager.Entry, descriptor: FunctionDescriptor)> {
        do {
            return .ok(try target(app: try context.parameters.require("app"), function: try context.parameters.require("function")))
        } catch let failure as CallFailure {
            return .refused(self.failure(failure))
        }
    }

    /// The request's body, or the 413 that gives the daemon's limit.
    func body(of request: Request) async -> Resolved<ByteBuffer> {
        let limit = configuration.maxBodyBytes
        let length = request.headers[.contentLength].flatMap { Int($0) }
        if let length, length > limit {
            return .refused(tooLarge(length: length, limit: limit))
        }
        // With its length known, the body goes into one buffer of that size: a large one is then
        // not copied a dozen times as a buffer that doubles.
        var body = ByteBufferAllocator().buffer(capacity: min(length ?? 0, limit))
        do {
            for try await chunk in request.body {
                guard body.readableBytes + chunk.readableBytes <= limit else {
                    return .refused(tooLarge(length: nil, limit: limit))
                }
                body.writeImmutableBuffer(chunk)
            }
        } catch {
            return .refused(tooLarge(length: nil, limit: limit))
        }
        return .ok(body)
    }

    private func call(_ request: Request, context: DaemonRequestContext) async throws -> Response {
        let app = try context.parameters.require("app")
        let function = try context.parameters.require("function")
        let header = { (name: String) in request.headers[HTTPField.Name(name)!] }
        let plan: CallPlan
        do {
            plan = try self.plan(CallAsk(
                app: app, function: function,
                timeout: header(CallTimeout.header), key: header(CallKey.header), retry: header(RetryPolicy.header),
                rawBody: request.headers[.contentType]?.lowercased().hasPrefix(RawBytes.mediaType) == true,
                rawResult: request.headers[.accept]?.lowercased().contains(RawBytes.mediaType) == true,
                caller: header(NestedCall.header)
            ))
        } catch {
            return failure(error)
        }
        let body: ByteBuffer
        switch await self.body(of: request) {
        case let .ok(bytes): body = bytes
        case let .refused(response): return response
        }
        let (pool, timeout, key, caller, bytes, calls) = (plan.pool, plan.timeout, plan.key, plan.caller, plan.bytes, self.calls)
        let runName = header(RunRecord.Header.run)
        let getOrCall = header(RunRecord.Header.getOrCall)
        let respondAsync = header("Prefer")?.contains("respond-async") ?? false
        if runName != nil || getOrCall != nil || respondAsync {
            let runKey = getOrCall ?? runName ?? RunManager.makeKey(function: function)
            if let problem = CallKey.problem(with: runKey) {
                return failure(HoistError(.invalidConfiguration, "run name '\(runKey)': \(problem)"))
            }
            let task: Task<RunRecord, Never>
            do {
                // A run keeps its result as JSON text: only the argument may be raw bytes.
                let argument = bytes.intersection(.argument)
                task = try runs.start(key: runKey, app: app, function: function, body: body, getOrCall: getOrCall != nil) { output in
                    try await pool.call(CallRequest(function: function, wantsOutput: true, bytes: argument, body: body), timeout: timeout, key: runKey, calls: calls, caller: caller, output: output)
                }
            } catch {
                return failure(error)
            }
            if respondAsync {
                var response = try json(["key": runKey, "status": "queued"])
                response.status = .accepted
                response.headers[.location] = "/_hoist/runs/\(runKey)"
                return response
            }
            let record = await task.value
            guard record.status == .succeeded, let result = record.result else {
                return failure(record.failure ?? CallFailure(HoistError(.internalError, "run '\(runKey)' ended \(record.status.rawValue) without a reason")))
            }
            var headers: HTTPFields = [.contentType: "application/json"]
            headers[HTTPField.Name(RunRecord.Header.run)!] = runKey
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: result)))
        }
        let wantsStream = request.headers[.accept]?.contains(CallStream.mediaType) ?? false
        let streamsElements = plan.descriptor.streams == true
        let callRequest = plan.request(wantsOutput: wantsStream, body: consume body)
        // A caller that hangs up cancels its call: without a key of its own, it gets one here.
        let callKey = key ?? CallKey.unique()
        let connections = self.connections
        let hangUp: @Sendable () -> Void = { _ = calls.cancel(callKey) }
        guard wantsStream || streamsElements else {
            do {
                let result = try await connections.whileOpen(context.channel, onClose: hangUp) {
                    try await pool.call(callRequest, timeout: timeout, key: callKey, calls: calls, caller: caller, output: nil)
                }
                return Response(status: .ok, headers: [.contentType: bytes.contains(.result) ? RawBytes.mediaType : "application/json"], body: .init(byteBuffer: result))
            } catch {
                return failure(error)
            }
        }
        // Hoist's callers get output and elements as call-stream records; plain HTTP callers of
        // a streaming function get its elements as newline-delimited JSON.
        let contentType = wantsStream ? CallStream.mediaType : "application/x-ndjson"
        return Response(
            status: .ok,
            headers: [.contentType: contentType],
            body: ResponseBody { [channel = context.channel] writer in
                try await connections.whileOpen(channel, onClose: hangUp) {
                    try await Self.stream(callRequest, pool: pool, timeout: timeout, key: callKey, calls: calls, caller: caller, wantsStream: wantsStream, to: &writer)
                }
            }
        )
    }

    /// Runs a call whose output or elements stream back, and writes its records as they come:
    /// what accumulates while a write is under way goes out in the next one, so a function that
    /// prints a thousand lines costs a few writes rather than a thousand.
    private static func stream(
        _ callRequest: CallRequest, pool: RetryingPool, timeout: Double?, key: String?, calls: CallRegistry, caller: String?,
        wantsStream: Bool, to writer: inout any ResponseBodyWriter
    ) async throws {
        let outbox = RecordOutbox()
        let task = Task {
            var last = ByteBuffer()
            do {
                let result = try await pool.call(callRequest, timeout: timeout, key: key, calls: calls, caller: caller) { kind, bytes in
                    if wantsStream {
                        let recordKind: CallStream.Kind = kind == .item ? .item : (kind == .stdout ? .stdout : .stderr)
                        outbox.append { CallStream.write(recordKind, bytes, into: &$0) }
                    } else if kind == .item {
                        outbox.append { out in
                            var bytes = bytes
                            out.writeBuffer(&bytes)
                            out.writeString("\n")
                        }
                    }
                }
                if wantsStream { CallStream.write(.result, result, into: &last) }
            } catch {
                let failure = Self.callFailure(error)
                if wantsStream {
                    CallStream.write(.failure, ByteBuffer(bytes: (try? JSONEncoder().encode(failure)) ?? Data()), into: &last)
                } else {
                    last.writeBytes((try? JSONEncoder().encode(CallFailure.Envelope(error: failure))) ?? Data())
                    last.writeString("\n")
                }
            }
            let final = last
            if final.readableBytes > 0 {
                outbox.append { out in
                    var final = final
                    out.writeBuffer(&final)
                }
            }
            outbox.finish()
        }
        var sink = writer
        try await outbox.drain { try await sink.write($0) }
        writer = sink
        _ = await task.result
        try await writer.finish(nil)
    }

    func unknownApp(_ app: String) -> Response {
        failure(unknownAppFailure(app))
    }

    func tooLarge(length: Int?, limit: Int) -> Response {
        failure(tooLargeFailure(length: length, limit: limit))
    }

    static func callFailure(_ error: any Error) -> CallFailure {
        if let failure = error as? CallFailure { return failure }
        if let error = error as? HoistError { return CallFailure(error) }
        return CallFailure(HoistError(.internalError, String(describing: error)))
    }

    func failure(_ error: any Error) -> Response {
        let failure = Self.callFailure(error)
        let body = (try? JSONEncoder().encode(CallFailure.Envelope(error: failure))) ?? Data()
        return Response(
            status: HTTPResponse.Status(code: failure.httpStatus),
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: body))
        )
    }

    private func json(_ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }
}
