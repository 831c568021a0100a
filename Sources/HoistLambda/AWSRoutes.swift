import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `POST /` for the other services a deploy calls, so that one `AWS_ENDPOINT_URL` serves all
/// of it: CloudWatch Logs (JSON 1.1, `X-Amz-Target: Logs_20140328.<Operation>`) and IAM and
/// STS (query protocol, a form of `Action=…&Version=…`; `GET /?Action=…` too).
struct AWSRoutes: Sendable {
    let iam: IAMStandIn
    let logs: CloudWatchLogsStandIn

    static let requestLimit = 1_048_576
    static let logsTarget = "Logs_20140328."

    init(lambda: LocalLambda) {
        let settings = lambda.settings
        iam = IAMStandIn(roles: lambda.roles, account: settings.account)
        logs = CloudWatchLogsStandIn(groups: lambda.logGroups, region: settings.region, account: settings.account)
    }

    func register(on router: Router<BasicRequestContext>) {
        router.post("/") { request, _ in try await answer(request) }
        router.get("/") { request, _ in iam.answer(QueryRequest(form: "", query: request.uri.query)) }
    }

    private func answer(_ request: Request) async throws -> Response {
        let target = request.headers[HTTPField.Name("X-Amz-Target")!]
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: Self.requestLimit)
        } catch {
            let message = "The request is larger than the local Lambda takes for IAM and CloudWatch Logs (\(Self.requestLimit) bytes)"
            if target != nil { return LogsAPIError(code: "SerializationException", message: message, status: .contentTooLarge).response }
            return QueryError(code: "RequestEntityTooLarge", status: .contentTooLarge, message: message).response(namespace: IAMStandIn.iamNamespace)
        }
        if let target {
            guard target.hasPrefix(Self.logsTarget) else { return CloudWatchLogsStandIn.unknown(target).response }
            return logs.answer(operation: String(target.dropFirst(Self.logsTarget.count)), body: Data(body.readableBytesView))
        }
        return iam.answer(QueryRequest(form: String(buffer: body), query: request.uri.query))
    }
}
