import Foundation

/// An AWS service as the client needs to know it: how requests are signed and where the
/// default endpoint is.
///
/// ```swift
/// let request = AWSRequest(service: .lambda, method: .GET, path: "/2015-03-31/functions/")
/// ```
public struct AWSService: Sendable, Hashable, CustomStringConvertible {
    /// The SigV4 signing name (`lambda`, `logs`).
    public let signingName: String
    /// The host prefix of the default endpoint (`lambda` in `lambda.us-east-1.amazonaws.com`).
    public let endpointPrefix: String
    /// The service id of the SDKs' models (`Lambda`, `CloudWatch Logs`): it names the
    /// `AWS_ENDPOINT_URL_<ID>` variable and the `services` section key.
    public let serviceID: String
    /// A global service (IAM) has one endpoint and signs for `us-east-1`.
    public let isGlobal: Bool
    /// The query-protocol API version (`Version=` of IAM and STS requests), if it uses that protocol.
    public let queryAPIVersion: String?

    public init(signingName: String, endpointPrefix: String, serviceID: String, isGlobal: Bool = false, queryAPIVersion: String? = nil) {
        self.signingName = signingName
        self.endpointPrefix = endpointPrefix
        self.serviceID = serviceID
        self.isGlobal = isGlobal
        self.queryAPIVersion = queryAPIVersion
    }

    public static let lambda = AWSService(signingName: "lambda", endpointPrefix: "lambda", serviceID: "Lambda")
    public static let iam = AWSService(signingName: "iam", endpointPrefix: "iam", serviceID: "IAM", isGlobal: true, queryAPIVersion: "2010-05-08")
    public static let sts = AWSService(signingName: "sts", endpointPrefix: "sts", serviceID: "STS", queryAPIVersion: "2011-06-15")
    public static let cloudWatchLogs = AWSService(signingName: "logs", endpointPrefix: "logs", serviceID: "CloudWatch Logs")
    public static let s3 = AWSService(signingName: "s3", endpointPrefix: "s3", serviceID: "S3")

    /// `LAMBDA`, `CLOUDWATCH_LOGS`: the suffix of `AWS_ENDPOINT_URL_<ID>`.
    var environmentSuffix: String { serviceID.uppercased().replacingOccurrences(of: " ", with: "_") }
    /// `lambda`, `cloudwatch_logs`: the key in a `[services …]` section.
    var configKey: String { serviceID.lowercased().replacingOccurrences(of: " ", with: "_") }

    /// `https://lambda.eu-west-1.amazonaws.com`; IAM's one endpoint; China's own domain.
    func defaultEndpoint(region: String) -> String {
        let domain = region.hasPrefix("cn-") ? "amazonaws.com.cn" : "amazonaws.com"
        if isGlobal {
            return region.hasPrefix("cn-") ? "https://\(endpointPrefix).\(region).\(domain)" : "https://\(endpointPrefix).\(domain)"
        }
        return "https://\(endpointPrefix).\(region).\(domain)"
    }

    /// The region a request to this service is signed for.
    func signingRegion(_ region: String) -> String {
        guard isGlobal else { return region }
        return region.hasPrefix("cn-") ? "cn-north-1" : "us-east-1"
    }

    public var description: String { serviceID }
}
