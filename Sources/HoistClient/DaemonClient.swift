import AsyncHTTPClient
import Foundation
import HoistCore
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

/// Talks to one Hoist daemon over HTTP: calls, deploys, listings.
///
/// ```swift
/// let daemon = DaemonClient(baseURL: "http://127.0.0.1:32300")
/// let result = try await daemon.call(app: "demo", function: "summer", body: ByteBuffer(string: "[1,2]"))
/// ```
///
/// A daemon started with `HOIST_TLS=1` is reached over HTTPS, trusting only its certificate:
///
/// ```swift
/// let daemon = try DaemonClient(baseURL: "https://10.0.0.7:32300", token: token, pinnedCertificatePEM: certificate)
/// ```
public struct DaemonClient: Sendable {
    public let baseURL: String
    /// Sent as a bearer token on every request (control routes always need it; function routes
    /// need it when the daemon listens beyond loopback, serves TLS or requires it).
    public let token: String?
    /// The hex SHA-256 of the certificate this client trusts, when it talks HTTPS.
    public var pinnedFingerprint: String? { pin?.fingerprint }
    private let http: HTTPClient
    private let pin: PinnedCertificate?
    /// `Bearer <token>`, made once rather than per call.
    private let authorization: String?

    private let callPool: CallConnectionPool?
    /// The daemon's call socket, when this client sends its calls there.
    private let callSocket: CallSocketClient?
    /// The daemon's Unix socket, when this client reaches it there.
    public let socketPath: String?
    /// Where HTTP callers reach the daemon's functions: its TCP URL. For a client on the socket
    /// that is the daemon's TCP listener when it has one, else an `http+unix://` URL.
    public let endpointBase: String

    public init(baseURL: String, token: String? = nil, http: HTTPClient = DaemonClient.sharedHTTPClient) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.endpointBase = self.baseURL
        self.socketPath = nil
        self.token = token
        self.http = http
        self.pin = nil
        self.authorization = token.map { "Bearer \($0)" }
        self.callSocket = nil
        if let url = URL(string: self.baseURL), url.scheme == "http", let host = url.host, let port = url.port {
            callPool = try? CallConnectionPool.shared(host: host, port: port)
        } else {
            callPool = nil
        }
    }

    /// A client for a daemon that serves HTTPS (`HOIST_TLS=1`), trusting only the certificate in
    /// `pinnedCertificatePEM` (the daemon's `tls/cert.pem`) whatever host name it is reached by.
    ///
    /// `baseURL` is `https://HOST:PORT`. Throws ``HoistError/Code/invalidConfiguration`` for any
    /// other URL or a text that is not a PEM certificate. A daemon presenting another certificate
    /// fails every request with ``HoistError/Code/certificateMismatch``.
    public init(baseURL: String, token: String?, pinnedCertificatePEM: String) throws {
        let baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        guard let url = URL(string: baseURL), url.scheme == "https", let host = url.host, let port = url.port else {
            throw HoistError(.invalidConfiguration, "a pinned certificate needs a daemon URL of the form https://HOST:PORT, not \(baseURL)")
        }
        let pin = try PinnedCertificate(pem: pinnedCertificatePEM)
        self.baseURL = baseURL
        self.endpointBase = baseURL
        self.socketPath = nil
        self.token = token
        self.http = Self.pinnedHTTPClient
        self.pin = pin
        self.authorization = token.map { "Bearer \($0)" }
        self.callPool = try CallConnectionPool.shared(host: host, port: port, pin: pin)
        self.callSocket = nil
    }

    /// A client for the daemon listening on the Unix socket at `socketPath` (its home's
    /// `daemon.sock`): only the daemon's own user (and root) may connect, and it is the faster path.
    /// `endpointBase` is the daemon's TCP URL for ``endpointBase``, when it has one. With
    /// `callSocketPath` (its home's ``HoistHome/callSocket``), calls go there as frames instead
    /// of HTTP requests, unless `HOIST_CALL_SOCKET=0`.
    ///
    /// ```swift
    /// let daemon = DaemonClient(socketPath: HoistHome.current.daemonSocket, token: nil)
    /// ```
    public init(socketPath: String, token: String?, endpointBase: String? = nil, callSocketPath: String? = nil) {
        self.baseURL = HoistHome.socketURL(socketPath)
        self.endpointBase = endpointBase.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 } ?? self.baseURL
        self.socketPath = socketPath
        self.token = token
        self.http = Self.sharedHTTPClient
        self.pin = nil
        self.authorization = token.map { "Bearer \($0)" }
        self.callPool = CallConnectionPool.shared(socketPath: socketPath)
        self.callSocket = ProcessInfo.processInfo.environment[HoistEnvironment.callSocket] == "0" ? nil : callSocketPath.map(CallSocketClient.shared(path:))
    }

    /// Calls of this process on this client's call socket whose argument went through shared
    /// memory (``call(app:function:body:deadline:key:retry:bytes:sharedMemory:output:)``).
    package var payloadRegionCalls: Int {
        callSocket?.regionCalls ?? 0
    }

    /// Where this client reaches the daemon, for messages: the socket's path or the URL.
    public var address: String { socketPath ?? baseURL }

    /// A cheap look before asking the daemon anything: its socket exists, or something listens on
    /// its TCP port. A daemon may still not answer.
    public var mayBeListening: Bool {
        if let socketPath { return Self.isSocket(socketPath) }
        guard let url = URL(string: baseURL), let port = url.port else { return false }
        return ProcessSupport.isListening(host: url.host ?? "127.0.0.1", port: port)
    }

    /// One client for all daemons: connections are kept alive and reused. AsyncHTTPClient's
    /// default of 8 connections per host would queue concurrent calls behind each other.
    public static let sharedHTTPClient: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
        configuration.decompression = .disabled
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// The client for pinned daemons; each request carries its pin's TLS configuration. Failed
    /// connections are not retried, so a certificate mismatch is reported at once rather than
    /// at the request's timeout.
    static let pinnedHTTPClient: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.decompression = .disabled
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// The host part of ``baseURL``.
    public var host: String { socketPath == nil ? URL(string: baseURL)?.host ?? "127.0.0.1" : "localhost" }

    /// The local daemon at `HOIST_PORT` (default 32300), with the control token from `home`.
    /// A daemon of that home that listens elsewhere (`HOIST_HOST`) or with TLS is reached where
    /// its `daemon.url` says, with its certificate pinned.
    public static func local(port: Int = HoistEnvironment.localPort, home: HoistHome = .current) -> DaemonClient {
        let token = try? home.controlToken()
        if isSocket(home.daemonSocket) {
            let url = (try? String(contentsOfFile: home.daemonURLFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            return DaemonClient(socketPath: home.daemonSocket, token: token, endpointBase: url.flatMap { $0.isEmpty ? nil : $0 } ?? "http://127.0.0.1:\(port)", callSocketPath: home.callSocket)
        }
        if let text = try? String(contentsOfFile: home.daemonURLFile, encoding: .utf8),
           let url = URL(string: text.trimmingCharacters(in: .whitespacesAndNewlines)), url.port == port, let scheme = url.scheme {
            let base = "\(scheme)://\(url.host.map { $0.contains(":") ? "[\($0)]" : $0 } ?? "127.0.0.1"):\(port)"
            if scheme == "https" {
                if let pem = try? String(contentsOfFile: home.tlsCertificateFile, encoding: .utf8),
                   let client = try? DaemonClient(baseURL: base, token: token, pinnedCertificatePEM: pem) {
                    return client
                }
            } else {
                return DaemonClient(baseURL: base, token: token)
            }
        }
        return DaemonClient(baseURL: "http://127.0.0.1:\(port)", token: token)
    }

    /// Whether `path` is a Unix socket.
    public static func isSocket(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFSOCK
    }

    /// Output of a call as it arrives: which stream and the bytes.
    public typealias OutputHandler = @Sendable (CallStream.Kind, ByteBuffer) -> Void

    /// Calls a function with a JSON body and returns the result's JSON.
    ///
    /// With an `output` handler the daemon streams what the function prints while it runs;
    /// without one, only the result comes back (as for any HTTP caller).
    /// Throws ``RemoteError`` when the function threw and ``HoistError`` for anything else.
    /// `deadline` is the call's timeout in seconds, enforced by the daemon (``CallTimeout``);
    /// `nil` uses the function's default.
    /// `key` names the call so that ``cancel(call:)`` can stop it (``CallKey``).
    /// `bytes` says which payloads are raw bytes instead of JSON (``RawBytes``): the body, and
    /// the result asked for. With `sharedMemory`, a large argument (1 MB and up) and result pass
    /// through memory this process shares with the worker, not through the daemon's sockets, when
    /// the daemon is on this machine (its call socket says so); only for functions that return
    /// one result, not streams.
    public func call(app: String, function: String, body: ByteBuffer, deadline: Double? = nil, key: String? = nil, retry: RetryPolicy? = nil, bytes: RawBytes = [], sharedMemory: Bool = false, output: OutputHandler? = nil) async throws -> ByteBuffer {
        try await call(app: app, function: function, body: body, deadline: deadline, key: key, retry: retry, bytes: bytes, sharedMemory: sharedMemory, resultReader: nil, output: output)
    }

    /// ``call(app:function:body:deadline:key:retry:bytes:sharedMemory:output:)``; a result that
    /// comes in shared memory goes to `resultReader`, when given, and the buffer returned is empty.
    package func call(app: String, function: String, body: ByteBuffer, deadline: Double? = nil, key: String? = nil, retry: RetryPolicy? = nil, bytes: RawBytes = [], sharedMemory: Bool, resultReader: ResultReader?, output: OutputHandler? = nil) async throws -> ByteBuffer {
        if let callSocket {
            let header = SocketCallHeader(
                app: app, function: function, wantsOutput: output != nil, bytes: bytes,
                timeout: deadline.map { String($0) }, key: key,
                retry: retry.flatMap { $0.attempts > 1 ? $0.headerValue : nil }, caller: NestedCall.current
            )
            do {
                return try await callSocket.call(header, body: body, output: output, sharedMemory: sharedMemory, resultReader: resultReader)
            } catch is CallSocketClient.NotSent {
                // No call socket (a daemon of an older Hoist) or a connection that closed before
                // the call was written: HTTP says what is wrong, or calls.
            }
        }
        var headers = [("Content-Type", bytes.contains(.argument) ? RawBytes.mediaType : "application/json")]
        if bytes.contains(.result) { headers.append(("Accept", RawBytes.mediaType)) }
        if let deadline { headers.append((CallTimeout.header, String(deadline))) }
        if let key { headers.append((CallKey.header, key)) }
        if let retry, retry.attempts > 1 { headers.append((RetryPolicy.header, retry.headerValue)) }
        return try await post(path: "/\(app)/\(function)", headers: headers, body: body, output: output) {
            "the daemon at \(address) ended the call to \(app)/\(function) without a result; see `hoist logs \(app)`"
        }
    }

    /// Calls a function once per input as one batch (``MapWire``): `inputs` are the calls'
    /// bodies. `outcome` gets each input's result JSON, or its error (``RemoteError`` or
    /// ``HoistError``), in input order as they finish. `inFlight` caps the inputs running at
    /// once (the daemon's default: 4 per worker). `key` cancels the whole batch (``cancel(call:)``).
    /// Throws for the batch as a whole (an unknown function, a daemon that went away) and what
    /// `outcome` throws, which ends the batch: the daemon cancels the inputs still running.
    ///
    /// ```swift
    /// try await daemon.map(app: "demo", function: "summer", inputs: [Data("[1,2]".utf8), Data("[3,4]".utf8)]) { index, outcome in
    ///     print(index, (try? outcome.get()).map { String(buffer: $0) } ?? "failed")
    /// }
    /// ```
    public func map(
        app: String,
        function: String,
        inputs: [Data],
        deadline: Double? = nil,
        key: String? = nil,
        retry: RetryPolicy? = nil,
        inFlight: Int? = nil,
        output: OutputHandler? = nil,
        outcome: (Int, Result<ByteBuffer, any Error>) throws -> Void
    ) async throws {
        var headers = [("Content-Type", "application/json"), ("Accept", CallStream.mediaType)]
        if output == nil { headers.append((MapWire.outputHeader, "none")) }
        if let deadline { headers.append((CallTimeout.header, String(deadline))) }
        if let key { headers.append((CallKey.header, key)) }
        if let retry, retry.attempts > 1 { headers.append((RetryPolicy.header, retry.headerValue)) }
        if let inFlight { headers.append((MapWire.inFlightHeader, String(inFlight))) }
        if let caller = NestedCall.current { headers.append((NestedCall.header, caller)) }
        var body = ByteBuffer()
        body.reserveCapacity(inputs.reduce(2) { $0 + $1.count + 1 })
        body.writeString("[")
        for (index, input) in inputs.enumerated() {
            if index > 0 { body.writeString(",") }
            body.writeBytes(input)
        }
        body.writeString("]")
        let response = try await pool().send(path: "/\(app)/\(function)/\(MapWire.pathComponent)", headers: headers, body: body, authorization: authorization)
        defer { response.finish() }
        if response.status != .ok {
            _ = try await Self.readAll(response, expecting: .ok)
        }
        var parser = CallStream.Parser()
        for try await chunk in response.body {
            for var record in try parser.append(chunk) {
                switch record.kind {
                case .stdout, .stderr: output?(record.kind, record.bytes)
                case .mapResult, .mapFailure:
                    guard let index = record.bytes.readInteger(as: UInt32.self).map(Int.init), index < inputs.count else {
                        throw HoistError(.badResponse, "the daemon at \(address) sent a map outcome for no input of this batch")
                    }
                    if record.kind == .mapResult {
                        try outcome(index, .success(record.bytes))
                    } else {
                        let failure = try JSONDecoder().decode(CallFailure.self, from: Data(record.bytes.readableBytesView))
                        try outcome(index, .failure(failure.error))
                    }
                case .result: return
                case .failure:
                    let failure = try JSONDecoder().decode(CallFailure.self, from: Data(record.bytes.readableBytesView))
                    throw failure.error
                case .item:
                    throw HoistError(.badResponse, "the daemon at \(address) sent a stream element in a map")
                }
            }
        }
        try Task.checkCancellation()
        throw HoistError(.daemonUnavailable, "the daemon at \(address) ended the map of \(app)/\(function) before every input's outcome; see `hoist logs \(app)`")
    }

    /// POSTs over the call pool; with `output`, reads call-stream records (output as it comes,
    /// then a result or failure), otherwise the plain answer.
    private func post(path: String, headers: [(String, String)], body: ByteBuffer, output: OutputHandler?, noResult: () -> String) async throws -> ByteBuffer {
        var headers = headers
        if output != nil {
            // One Accept field: the call stream, and raw bytes for the result if asked for.
            let accepts = [CallStream.mediaType] + headers.filter { $0.0 == "Accept" }.map(\.1)
            headers.removeAll { $0.0 == "Accept" }
            headers.append(("Accept", accepts.joined(separator: ", ")))
        }
        if let caller = NestedCall.current { headers.append((NestedCall.header, caller)) }
        let response = try await pool().send(path: path, headers: headers, body: body, authorization: authorization)
        defer { response.finish() }
        // A daemon answers plainly when it has nothing to stream (an unchanged deploy).
        if output == nil || response.status != .ok || response.contentType?.hasPrefix(CallStream.mediaType) == false {
            return try await Self.readAll(response, expecting: .ok)
        }
        var parser = CallStream.Parser()
        for try await chunk in response.body {
            for record in try parser.append(chunk) {
                switch record.kind {
                case .stdout, .stderr, .item: output?(record.kind, record.bytes)
                case .mapResult, .mapFailure:
                    throw HoistError(.badResponse, "the daemon at \(address) answered a call with a map's records")
                case .result: return record.bytes
                case .failure:
                    let failure = try JSONDecoder().decode(CallFailure.self, from: Data(record.bytes.readableBytesView))
                    throw failure.error
                }
            }
        }
        try Task.checkCancellation()
        throw HoistError(.badResponse, noResult())
    }

    /// Starts a run and returns at once with its key; `name` names it, otherwise the daemon does.
    public func spawn(app: String, function: String, body: ByteBuffer, name: String? = nil, deadline: Double? = nil, retry: RetryPolicy? = nil) async throws -> String {
        var headers = [("Content-Type", "application/json"), ("Prefer", "respond-async")]
        if let retry, retry.attempts > 1 { headers.append((RetryPolicy.header, retry.headerValue)) }
        if let name { headers.append((RunRecord.Header.run, name)) }
        if let deadline { headers.append((CallTimeout.header, String(deadline))) }
        let payload = try await collect(path: "/\(app)/\(function)", headers: headers, body: body, expecting: .accepted)
        guard let answer = try? JSONDecoder().decode([String: String].self, from: Data(payload.readableBytesView)), let key = answer["key"] else {
            throw HoistError(.badResponse, "the daemon at \(address) accepted a run but sent no key")
        }
        return key
    }

    /// The stored result of a succeeded run named `name`, or a call under that name. Concurrent
    /// get-or-calls of one name run the function once.
    public func getOrCall(app: String, function: String, body: ByteBuffer, name: String, deadline: Double? = nil) async throws -> ByteBuffer {
        var headers = [("Content-Type", "application/json"), (RunRecord.Header.getOrCall, name)]
        if let deadline { headers.append((CallTimeout.header, String(deadline))) }
        return try await collect(path: "/\(app)/\(function)", headers: headers, body: body, expecting: .ok)
    }

    private func collect(path: String, headers: [(String, String)], body: ByteBuffer, expecting: HTTPResponseStatus) async throws -> ByteBuffer {
        var headers = headers
        if let caller = NestedCall.current { headers.append((NestedCall.header, caller)) }
        let response = try await pool().send(path: path, headers: headers, body: body, authorization: authorization)
        defer { response.finish() }
        return try await Self.readAll(response, expecting: expecting)
    }

    /// The pool for calls; a clear error for a daemon URL it cannot serve.
    private func pool() throws -> CallConnectionPool {
        guard let callPool else {
            throw HoistError(.invalidConfiguration, "the daemon URL \(baseURL) is not of the form http://HOST:PORT (https://HOST:PORT needs a pinned certificate)")
        }
        return callPool
    }

    /// The whole body of an answer, or the failure it carries when its status is not `expecting`.
    private static func readAll(_ response: CallConnectionPool.Response, expecting: HTTPResponseStatus) async throws -> ByteBuffer {
        var payload = ByteBuffer()
        for try await var chunk in response.body { payload.writeBuffer(&chunk) }
        guard response.status == expecting else { throw failure(status: response.status, body: payload) }
        return payload
    }

    /// A run's record as it stands.
    public func run(_ key: String) async throws -> RunRecord {
        try await get("/_hoist/runs/\(key)", as: RunRecord.self)
    }

    /// A run's record once it has finished, or as it stands after `timeout` seconds.
    public func waitForRun(_ key: String, timeout: Double = 60) async throws -> RunRecord {
        try await get("/_hoist/runs/\(key)/wait?timeout=\(timeout)", as: RunRecord.self, timeout: .milliseconds(Int64(timeout * 1000) + 30_000))
    }

    /// Cancels a run in flight and returns its record.
    public func cancelRun(_ key: String) async throws -> RunRecord {
        var request = HTTPClientRequest(url: "\(baseURL)/_hoist/runs/\(key)/cancel")
        request.method = .POST
        return try await decode(RunRecord.self, from: try await execute(request, timeout: .seconds(30)))
    }

    /// Runs, newest first.
    public func runs(app: String? = nil, limit: Int = 100) async throws -> [RunRecord] {
        try await get("/_hoist/runs?limit=\(limit)" + (app.map { "&app=\($0)" } ?? ""), as: [RunRecord].self)
    }

    /// Removes finished runs older than `olderThan` seconds and all but the newest `keep`.
    public func pruneRuns(olderThan: Double?, keep: Int?) async throws -> Int {
        var query: [String] = []
        if let olderThan { query.append("older_than=\(olderThan)") }
        if let keep { query.append("keep=\(keep)") }
        var request = HTTPClientRequest(url: "\(baseURL)/_hoist/runs/prune?" + query.joined(separator: "&"))
        request.method = .POST
        return try await decode([String: Int].self, from: try await execute(request, timeout: .seconds(30)))["removed"] ?? 0
    }

    /// Cancels a call in flight by the key it was sent with. Throws ``HoistError/Code/unknownCall``
    /// when no such call is in flight.
    public func cancel(call key: String) async throws {
        var request = HTTPClientRequest(url: "\(baseURL)/_hoist/calls/\(key)/cancel")
        request.method = .POST
        let response = try await execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok else { throw Self.failure(status: response.status, body: body) }
    }

    public func health(timeout: TimeAmount = .seconds(5)) async throws -> DaemonAPI.Health {
        try await get("/_hoist/health", as: DaemonAPI.Health.self, timeout: timeout)
    }

    public func apps() async throws -> [DaemonAPI.AppInfo] {
        try await get("/_hoist/apps", as: DaemonAPI.Listing.self).apps
    }

    /// Keys in a fixed order: the same deploy is then the same bytes, which a daemon answers
    /// without decoding when the app is deployed as asked already.
    static let deployEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return encoder
    }()

    /// Deploys with the env's setup output handed to `output` as the daemon runs it (as
    /// `.stderr` chunks); the same as ``deploy(app:request:)`` otherwise.
    public func deploy(app: String, request deploy: DaemonAPI.DeployRequest, output: @escaping OutputHandler) async throws -> DaemonAPI.DeployResponse {
        let answer = try await post(path: "/_hoist/apps/\(app)/deploy", headers: [("Content-Type", "application/json")], body: ByteBuffer(bytes: try Self.deployEncoder.encode(deploy)), output: output) {
            "the daemon at \(address) ended the deploy of \(app) without an outcome; see `hoist logs \(app)`"
        }
        do {
            return try JSONDecoder().decode(DaemonAPI.DeployResponse.self, from: Data(answer.readableBytesView))
        } catch {
            throw HoistError(.badResponse, "the daemon at \(address) sent a deploy outcome that is not valid: \(error)")
        }
    }

    public func deploy(app: String, request deploy: DaemonAPI.DeployRequest) async throws -> DaemonAPI.DeployResponse {
        var request = HTTPClientRequest(url: "\(baseURL)/_hoist/apps/\(app)/deploy")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: try Self.deployEncoder.encode(deploy)))
        return try await decode(DaemonAPI.DeployResponse.self, from: try await execute(request, timeout: .minutes(10)))
    }

    public func remove(app: String) async throws {
        var request = HTTPClientRequest(url: "\(baseURL)/_hoist/apps/\(app)")
        request.method = .DELETE
        let response = try await execute(request, timeout: .minutes(2))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status.code < 300 else { throw Self.failure(status: response.status, body: body) }
    }

    public func logs(app: String, bytes: Int = 65536) async throws -> String {
        let request = HTTPClientRequest(url: "\(baseURL)/_hoist/apps/\(app)/logs?bytes=\(bytes)")
        let response = try await execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 64 << 20)
        guard response.status == .ok else { throw Self.failure(status: response.status, body: body) }
        return String(buffer: body)
    }

    /// A raw GET for listings and documents (`/`, `/openapi.json`).
    public func getJSON(_ path: String) async throws -> ByteBuffer {
        let response = try await execute(HTTPClientRequest(url: baseURL + path), timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 64 << 20)
        guard response.status == .ok else { throw Self.failure(status: response.status, body: body) }
        return body
    }

    private func get<T: Decodable>(_ path: String, as type: T.Type, timeout: TimeAmount = .seconds(30)) async throws -> T {
        try await decode(type, from: try await execute(HTTPClientRequest(url: baseURL + path), timeout: timeout))
    }

    private func decode<T: Decodable>(_ type: T.Type, from response: HTTPClientResponse) async throws -> T {
        let body = try await response.body.collect(upTo: 64 << 20)
        guard response.status == .ok else { throw Self.failure(status: response.status, body: body) }
        do {
            return try JSONDecoder().decode(type, from: Data(body.readableBytesView))
        } catch {
            throw HoistError(.badResponse, "the daemon at \(address) sent an answer that is not a \(T.self): \(error)")
        }
    }

    private func execute(_ request: HTTPClientRequest, timeout: TimeAmount) async throws -> HTTPClientResponse {
        var request = request
        if let authorization {
            request.headers.replaceOrAdd(name: "Authorization", value: authorization)
        }
        if let pin { request.tlsConfiguration = pin.tlsConfiguration }
        do {
            return try await http.execute(request, timeout: timeout)
        } catch let error as HTTPClientError where error == .connectTimeout || error == .remoteConnectionClosed {
            throw HoistError(.daemonUnavailable, "the Hoist daemon at \(address) did not answer (\(error)); start it with `hoist daemon start`")
        } catch {
            if let pin, let failure = pin.failure(error, url: baseURL) { throw failure }
            if let socketPath, let refusal = CallConnectionPool.socketRefusal(error, socketPath: socketPath) { throw refusal }
            if !(error is HTTPClientError), "\(error)".contains("onnection refused") || "\(error)".contains("connect") {
                throw HoistError(.daemonUnavailable, "no Hoist daemon is listening at \(address); start one with `hoist daemon start`")
            }
            throw error
        }
    }

    /// Turns an error response into the error the caller should see.
    static func failure(status: HTTPResponseStatus, body: ByteBuffer) -> any Error {
        if let envelope = try? JSONDecoder().decode(CallFailure.Envelope.self, from: Data(body.readableBytesView)) {
            return envelope.error.error
        }
        let text = String(buffer: body).prefix(500)
        return HoistError(.badResponse, "the daemon answered \(status.code) \(status.reasonPhrase): \(text)")
    }
}
