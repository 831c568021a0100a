import Foundation
import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers
import NIOCore

/// The Lambda API routes (`/2015-03-31/functions…` and friends), AWS's paths, status codes and
/// error shapes, so that boto3 and the AWS CLI work unchanged. Requests are not checked for a
/// signature: any credentials do, as with every local AWS stand-in.
struct LambdaRoutes: Sendable {
    let lambda: LocalLambda

    static let requestLimit = 6_291_456
    static let eventLimit = 1_048_576
    static let createLimit = 70_167_211

    func register(on router: Router<BasicRequestContext>) {
        let functions = router.group("2015-03-31/functions")
        functions.post { request, _ in try await handle { try await create(request) } }
        functions.get { request, _ in try await handle { try list(request) } }
        functions.get(":name") { request, context in try await handle { try get(request, context) } }
        functions.get(":name/configuration") { request, context in try await handle { try configuration(request, context) } }
        functions.put(":name/code") { request, context in try await handle { try await updateCode(request, context) } }
        functions.put(":name/configuration") { request, context in try await handle { try await updateConfiguration(request, context) } }
        functions.delete(":name") { request, context in try await handle { try delete(request, context) } }
        functions.post(":name/invocations") { request, context in try await handle { try await invoke(request, context) } }
        router.post("2021-11-15/functions/:name/response-streaming-invocations") { request, context in try await handle { try await invokeStreaming(request, context) } }
        let urls = router.group("2021-10-31/functions/:name/url")
        urls.post { request, context in try await handle { try await createURL(request, context) } }
        urls.get { request, context in try await handle { try getURL(request, context) } }
        urls.put { request, context in try await handle { try await updateURL(request, context) } }
        urls.delete { request, context in try await handle { try deleteURL(request, context) } }
        router.put("2017-10-31/functions/:name/concurrency") { request, context in try await handle { try await putConcurrency(request, context) } }
        router.delete("2017-10-31/functions/:name/concurrency") { request, context in try await handle { try deleteConcurrency(request, context) } }
        router.get("2019-09-30/functions/:name/concurrency") { request, context in try await handle { try getConcurrency(request, context) } }
    }

    private func handle(_ body: () async throws -> Response) async throws -> Response {
        do {
            return try await body()
        } catch let error as LambdaAPIError {
            return error.response
        }
    }

    // MARK: Names

    /// A function by name, `name:qualifier`, full ARN or partial ARN (`123456789012:function:name`),
    /// percent-encoded or not; only `$LATEST` is a qualifier here.
    func resolve(_ context: BasicRequestContext, _ request: Request) throws -> LambdaFunction {
        let raw = try context.parameters.require("name")
        let text = raw.removingPercentEncoding ?? raw
        var name = text
        var qualifier = request.uri.queryParameters.get("Qualifier")
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        if text.hasPrefix("arn:"), parts.count >= 7 {
            name = parts[6]
            if parts.count > 7 { qualifier = parts[7] }
        } else if parts.count >= 3, parts[1] == "function" {
            name = parts[2]
            if parts.count > 3 { qualifier = parts[3] }
        } else if parts.count == 2 {
            (name, qualifier) = (parts[0], parts[1])
        }
        let settings = lambda.settings
        guard let function = lambda.store[name] else {
            throw LambdaAPIError.notFound("arn:aws:lambda:\(settings.region):\(settings.account):function:\(name)" + (qualifier.map { ":\($0)" } ?? ""))
        }
        if let qualifier, qualifier != "$LATEST" {
            throw LambdaAPIError.notFound(function.arn(region: settings.region, account: settings.account, qualifier: qualifier))
        }
        return function
    }

    // MARK: Management

    private func create(_ request: Request) async throws -> Response {
        let input = try await decode(request, limit: Self.createLimit)
        guard let name = input.FunctionName, name.range(of: #"^[A-Za-z0-9_-]{1,64}$"#, options: .regularExpression) != nil else {
            throw LambdaAPIError.invalidParameter("FunctionName '\(input.FunctionName ?? "")' must be 1 to 64 letters, digits, hyphens or underscores")
        }
        guard input.PackageType ?? "Zip" == "Zip" else {
            throw LambdaAPIError.invalidParameter("PackageType \(input.PackageType!) is not supported by the local Lambda; send a zip (PackageType Zip)")
        }
        guard let role = input.Role, role.hasPrefix("arn:") else {
            throw LambdaAPIError.invalidParameter("Role is required: an IAM role ARN (any arn:aws:iam::123456789012:role/NAME does here)")
        }
        let runtime = try validRuntime(input.Runtime)
        guard let handler = input.Handler, !handler.isEmpty else {
            throw LambdaAPIError.invalidParameter("Handler is required for a zip: the function to run (a Hoist app's function name, or module.function for Python)")
        }
        guard lambda.store[name] == nil else { throw LambdaAPIError.conflict("Function already exist: \(name)") }
        guard let zip = input.Code?.ZipFile else {
            throw LambdaAPIError.invalidParameter("Code.ZipFile is required: the local Lambda takes the zip itself (S3 and images are not supported)")
        }
        var function = LambdaFunction(name: name, runtime: runtime, role: role, handler: handler, codeSha256: "", codeSize: 0, codeDirectory: "", lastModified: LambdaFunction.timestamp(), revisionID: UUID().uuidString.lowercased())
        try apply(input, to: &function)
        let code = try lambda.store.unpack(zip: zip, for: name, runtime: runtime, handler: handler)
        (function.codeDirectory, function.codeSize, function.codeSha256) = code
        guard try lambda.store.insert(function) else { throw LambdaAPIError.conflict("Function already exist: \(name)") }
        return try json(function.configuration(region: lambda.settings.region, account: lambda.settings.account), status: .created)
    }

    private func validRuntime(_ runtime: String?) throws -> String {
        guard let runtime, LambdaFunction.runtimes.contains(runtime) else {
            throw LambdaAPIError.invalidParameter("Value \(runtime ?? "null") at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [\(LambdaFunction.runtimes.joined(separator: ", "))] (the runtimes the local Lambda runs)")
        }
        return runtime
    }

    /// The settings a create or a configuration update may change, checked against Lambda's limits.
    private func apply(_ input: FunctionRequest, to function: inout LambdaFunction) throws {
        if let timeout = input.Timeout {
            guard (1...900).contains(timeout) else { throw LambdaAPIError.invalidParameter("Timeout \(timeout) is out of range: 1 to 900 seconds") }
            function.timeout = timeout
        }
        if let memory = input.MemorySize {
            guard (128...10240).contains(memory) else { throw LambdaAPIError.invalidParameter("MemorySize \(memory) is out of range: 128 to 10240 MB") }
            function.memorySize = memory
        }
        if let size = input.EphemeralStorage?.Size {
            guard (512...10240).contains(size) else { throw LambdaAPIError.invalidParameter("EphemeralStorage.Size \(size) is out of range: 512 to 10240 MB") }
            function.ephemeralStorage = size
        }
        if let architectures = input.Architectures {
            guard architectures == ["x86_64"] else {
                throw LambdaAPIError.invalidParameter("Architectures \(architectures) cannot run on this x86_64 machine; use [\"x86_64\"]")
            }
        }
        if let description = input.Description { function.description = description }
        if let variables = input.Environment?.Variables { function.variables = variables }
    }

    private func list(_ request: Request) throws -> Response {
        let maxItems = request.uri.queryParameters.get("MaxItems").flatMap(Int.init) ?? 50
        guard (1...10_000).contains(maxItems) else { throw LambdaAPIError.invalidParameter("MaxItems must be 1 to 10000") }
        let marker = request.uri.queryParameters.get("Marker")
        let all = lambda.store.all
        let start = marker.map { marker in all.firstIndex { $0.name > marker } ?? all.count } ?? 0
        let page = Array(all[start...].prefix(maxItems))
        struct Listing: Encodable {
            var Functions: [LambdaFunction.Configuration]
            var NextMarker: String?
        }
        let next = start + page.count < all.count ? page.last?.name : nil
        return try json(Listing(Functions: page.map { $0.configuration(region: lambda.settings.region, account: lambda.settings.account) }, NextMarker: next))
    }

    private func get(_ request: Request, _ context: BasicRequestContext) throws -> Response {
        let function = try resolve(context, request)
        struct Code: Encodable { var RepositoryType = "S3"; var Location: String }
        struct Concurrency: Encodable { var ReservedConcurrentExecutions: Int }
        struct Answer: Encodable {
            var Configuration: LambdaFunction.Configuration
            var Code: Code
            var Tags: [String: String] = [:]
            var Concurrency: Concurrency?
        }
        let settings = lambda.settings
        return try json(Answer(
            Configuration: function.configuration(region: settings.region, account: settings.account),
            Code: Code(Location: "file://" + function.codeDirectory),
            Concurrency: function.reservedConcurrency.map { Concurrency(ReservedConcurrentExecutions: $0) }
        ))
    }

    private func configuration(_ request: Request, _ context: BasicRequestContext) throws -> Response {
        try json(try resolve(context, request).configuration(region: lambda.settings.region, account: lambda.settings.account))
    }

    private func updateCode(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        var function = try resolve(context, request)
        let input = try await decode(request, limit: Self.createLimit)
        try checkRevision(input, of: function)
        guard let zip = input.ZipFile else {
            throw LambdaAPIError.invalidParameter("ZipFile is required: the local Lambda takes the zip itself (S3 and images are not supported)")
        }
        let code = try lambda.store.unpack(zip: zip, for: function.name, runtime: function.runtime, handler: function.handler)
        if input.DryRun == true { return try json(function.configuration(region: lambda.settings.region, account: lambda.settings.account)) }
        (function.codeDirectory, function.codeSize, function.codeSha256) = code
        return try await replace(function)
    }

    private func updateConfiguration(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        var function = try resolve(context, request)
        let input = try await decode(request, limit: Self.requestLimit)
        try checkRevision(input, of: function)
        try apply(input, to: &function)
        if let runtime = input.Runtime { function.runtime = try validRuntime(runtime) }
        if let handler = input.Handler { function.handler = handler }
        if let role = input.Role { function.role = role }
        return try await replace(function)
    }

    /// Saves a changed function: new invocations get environments of the new revision, and
    /// those in flight finish in the old ones.
    private func replace(_ function: LambdaFunction) async throws -> Response {
        var function = function
        function.revisionID = UUID().uuidString.lowercased()
        function.lastModified = LambdaFunction.timestamp()
        try lambda.store.save(function)
        _ = lambda.pool(for: function)
        return try json(function.configuration(region: lambda.settings.region, account: lambda.settings.account))
    }

    private func checkRevision(_ input: FunctionRequest, of function: LambdaFunction) throws {
        if let revision = input.RevisionId, revision != function.revisionID {
            throw LambdaAPIError(code: "PreconditionFailedException", status: .preconditionFailed, message: "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id")
        }
    }

    private func delete(_ request: Request, _ context: BasicRequestContext) throws -> Response {
        let function = try resolve(context, request)
        lambda.urls.stop(function.name)
        lambda.retirePool(function.name)
        lambda.store.remove(function.name)
        return Response(status: .noContent)
    }

    private func putConcurrency(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        var function = try resolve(context, request)
        struct Input: Decodable { var ReservedConcurrentExecutions: Int? }
        let body = try await request.body.collect(upTo: 65536)
        guard let input = try? JSONDecoder().decode(Input.self, from: Data(body.readableBytesView)), let reserved = input.ReservedConcurrentExecutions else {
            throw LambdaAPIError.invalidParameter("ReservedConcurrentExecutions is required")
        }
        guard (0...lambda.settings.concurrency).contains(reserved) else {
            throw LambdaAPIError.invalidParameter("ReservedConcurrentExecutions \(reserved) is out of range: 0 to the server's limit of \(lambda.settings.concurrency)")
        }
        function.reservedConcurrency = reserved
        try lambda.store.save(function)
        return try json(["ReservedConcurrentExecutions": reserved])
    }

    private func deleteConcurrency(_ request: Request, _ context: BasicRequestContext) throws -> Response {
        var function = try resolve(context, request)
        function.reservedConcurrency = nil
        try lambda.store.save(function)
        return Response(status: .noContent)
    }

    private func getConcurrency(_ request: Request, _ context: BasicRequestContext) throws -> Response {
        let function = try resolve(context, request)
        return try json(function.reservedConcurrency.map { ["ReservedConcurrentExecutions": $0] } ?? [:])
    }

    // MARK: Function URLs

    private struct URLInput: Decodable {
        var AuthType: String?
        var InvokeMode: String?
    }

    private struct URLAnswer: Encodable {
        var FunctionUrl: String
        var FunctionArn: String
        var AuthType: String
        var InvokeMode: String
        var CreationTime: String
        var LastModifiedTime: String
    }

    private func urlAnswer(_ function: LambdaFunction, _ url: LambdaFunction.URLConfig) -> URLAnswer {
        URLAnswer(FunctionUrl: "http://\(lambda.settings.host):\(url.port)/", FunctionArn: function.arn(region: lambda.settings.region, account: lambda.settings.account),
                  AuthType: url.authType, InvokeMode: url.invokeMode, CreationTime: url.creationTime, LastModifiedTime: url.lastModifiedTime)
    }

    private func urlSettings(_ request: Request, defaults: LambdaFunction.URLConfig?) async throws -> (String, String) {
        let body = try await request.body.collect(upTo: 65536)
        let input = (try? JSONDecoder().decode(URLInput.self, from: Data(body.readableBytesView))) ?? URLInput()
        let authType = input.AuthType ?? defaults?.authType ?? ""
        guard ["NONE", "AWS_IAM"].contains(authType) else { throw LambdaAPIError.invalidParameter("AuthType must be NONE or AWS_IAM") }
        let mode = input.InvokeMode ?? defaults?.invokeMode ?? "BUFFERED"
        guard ["BUFFERED", "RESPONSE_STREAM"].contains(mode) else { throw LambdaAPIError.invalidParameter("InvokeMode must be BUFFERED or RESPONSE_STREAM") }
        return (authType, mode)
    }

    private func createURL(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        var function = try resolve(context, request)
        guard function.url == nil else {
            throw LambdaAPIError.conflict("Failed to create function url config for [functionArn = \(function.arn(region: lambda.settings.region, account: lambda.settings.account))]. Error message:  FunctionUrlConfig exists for this Lambda function")
        }
        let (authType, mode) = try await urlSettings(request, defaults: nil)
        let port = try await lambda.urls.start(function.name, port: 0, host: lambda.settings.host, lambda: lambda)
        let now = LambdaFunction.timestamp()
        let url = LambdaFunction.URLConfig(authType: authType, invokeMode: mode, port: port, creationTime: now, lastModifiedTime: now)
        function.url = url
        try lambda.store.save(function)
        return try json(urlAnswer(function, url), status: .created)
    }

    private func getURL(_ request: Request, _ context: BasicRequestContext) throws -> Response {
        let function = try resolve(context, request)
        guard let url = function.url else { throw LambdaAPIError(code: "ResourceNotFoundException", status: .notFound, message: "The resource you requested does not exist.") }
        return try json(urlAnswer(function, url))
    }

    private func updateURL(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        var function = try resolve(context, request)
        guard var url = function.url else { throw LambdaAPIError(code: "ResourceNotFoundException", status: .notFound, message: "The resource you requested does not exist.") }
        (url.authType, url.invokeMode) = try await urlSettings(request, defaults: url)
        url.lastModifiedTime = LambdaFunction.timestamp()
        function.url = url
        try lambda.store.save(function)
        return try json(urlAnswer(function, url))
    }

    private func deleteURL(_ request: Request, _ context: BasicRequestContext) throws -> Response {
        var function = try resolve(context, request)
        guard function.url != nil else { throw LambdaAPIError(code: "ResourceNotFoundException", status: .notFound, message: "The resource you requested does not exist.") }
        lambda.urls.stop(function.name)
        function.url = nil
        try lambda.store.save(function)
        return Response(status: .noContent)
    }

    // MARK: Invoke

    /// The function, invocation type and payload of an invoke, checked as Lambda checks them.
    private func prepare(_ request: Request, _ context: BasicRequestContext, types: [String]) async throws -> (LambdaFunction, String, ByteBuffer) {
        let function = try resolve(context, request)
        let type = request.headers[HTTPField.Name("X-Amz-Invocation-Type")!] ?? "RequestResponse"
        guard types.contains(type) else {
            throw LambdaAPIError.invalidParameter("X-Amz-Invocation-Type \(type) is not one of \(types.joined(separator: ", "))")
        }
        let limit = type == "Event" ? Self.eventLimit : Self.requestLimit
        let payload: ByteBuffer
        do {
            payload = try await request.body.collect(upTo: limit)
        } catch {
            throw LambdaAPIError.tooLarge("Request must be smaller than \(limit) bytes for the InvokeFunction operation")
        }
        if payload.readableBytes > 0, (try? JSONSerialization.jsonObject(with: Data(payload.readableBytesView), options: .fragmentsAllowed)) == nil {
            throw LambdaAPIError.invalidContent("Could not parse request body into json: Could not parse payload into json: Unexpected character: was expecting a JSON value")
        }
        return (function, type, payload)
    }

    private func invoke(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let (function, type, payload) = try await prepare(request, context, types: ["RequestResponse", "Event", "DryRun"])
        if type == "DryRun" { return Response(status: .noContent) }
        let clientContext = request.headers[HTTPField.Name("X-Amz-Client-Context")!]
        if type == "Event" {
            let lambda = self.lambda
            // The id the caller gets is the one the function sees, each time it is tried: as on
            // AWS, it is how the invocation's log lines are found.
            let requestID = UUID().uuidString.lowercased()
            Task { await Self.runEvent(function: function, payload: payload, clientContext: clientContext, requestID: requestID, lambda: lambda) }
            var headers: HTTPFields = [:]
            headers[HTTPField.Name("X-Amzn-RequestId")!] = requestID
            return Response(status: .accepted, headers: headers)
        }
        let invocation = try lambda.start(function, payload: payload, clientContext: clientContext)
        var body = ByteBuffer()
        var ending = Invocation.Ending.success
        for await event in invocation.events {
            switch event {
            case var .chunk(bytes): body.writeBuffer(&bytes)
            case let .end(end): ending = end
            }
        }
        var headers: HTTPFields = [.contentType: "application/json"]
        headers[HTTPField.Name("X-Amz-Executed-Version")!] = "$LATEST"
        headers[HTTPField.Name("X-Amzn-RequestId")!] = invocation.requestID
        if case let .functionError(_, error) = ending {
            headers[HTTPField.Name("X-Amz-Function-Error")!] = "Unhandled"
            body = error
        }
        if request.headers[HTTPField.Name("X-Amz-Log-Type")!] == "Tail" {
            let log = invocation.log.withLockedValue { $0 }
            headers[HTTPField.Name("X-Amz-Log-Result")!] = Data(log.suffix(4096)).base64EncodedString()
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
    }

    /// `InvokeWithResponseStream`: the answer as it is produced, in event-stream framing, then
    /// how it ended (an error's type and document) and, with `Tail`, the log.
    private func invokeStreaming(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let (function, type, payload) = try await prepare(request, context, types: ["RequestResponse", "DryRun"])
        if type == "DryRun" { return Response(status: .noContent) }
        let invocation = try lambda.start(function, payload: payload, clientContext: request.headers[HTTPField.Name("X-Amz-Client-Context")!])
        let tail = request.headers[HTTPField.Name("X-Amz-Log-Type")!] == "Tail"
        var headers: HTTPFields = [.contentType: "application/vnd.amazon.eventstream"]
        headers[HTTPField.Name("X-Amz-Executed-Version")!] = "$LATEST"
        headers[HTTPField.Name("X-Amzn-RequestId")!] = invocation.requestID
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            for await event in invocation.events {
                switch event {
                case let .chunk(bytes):
                    try await writer.write(EventStream.chunk(bytes))
                case let .end(ending):
                    var code: String?
                    var details: String?
                    if case let .functionError(type, body) = ending {
                        code = type
                        details = String(buffer: body)
                    }
                    let log = tail ? Data(invocation.log.withLockedValue { $0 }.suffix(4096)).base64EncodedString() : nil
                    try await writer.write(EventStream.complete(errorCode: code, errorDetails: details, logResult: log))
                }
            }
            try await writer.finish(nil)
        })
    }

    /// An `Event` invocation: run in the background; a function error or a throttle is tried
    /// twice more, as Lambda does (after 1 s and 2 s here, not minutes).
    static func runEvent(function: LambdaFunction, payload: ByteBuffer, clientContext: String?, requestID: String, lambda: LocalLambda) async {
        for attempt in 0..<3 {
            if attempt > 0 { try? await Task.sleep(for: .seconds(attempt)) }
            let current = lambda.store[function.name] ?? function
            guard let invocation = try? lambda.start(current, payload: payload, clientContext: clientContext, requestID: requestID) else { continue }
            var failed = false
            for await event in invocation.events {
                if case .end(.functionError) = event { failed = true }
            }
            if !failed { return }
        }
    }

    // MARK: JSON

    private func decode(_ request: Request, limit: Int) async throws -> FunctionRequest {
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: limit)
        } catch {
            throw LambdaAPIError(code: "RequestEntityTooLargeException", status: .contentTooLarge, message: "Request must be smaller than \(limit) bytes for this operation")
        }
        do {
            return try JSONDecoder().decode(FunctionRequest.self, from: Data(body.readableBytesView))
        } catch {
            throw LambdaAPIError(code: "SerializationException", status: .badRequest, message: "The request body is not the JSON this operation takes: \(error)")
        }
    }

    private func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var headers: HTTPFields = [.contentType: "application/json"]
        headers[HTTPField.Name("X-Amzn-RequestId")!] = UUID().uuidString.lowercased()
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }
}
