import HoistLambdaDeploy

/// Where on AWS Lambda functions go: the profile and region (resolved as the AWS CLI does),
/// and the knobs of the functions made there.
struct LambdaTarget: Sendable {
    var profile: String?
    var region: String?
    var options: LambdaOptions
    /// The Lambda function's name when it is not the Hoist function's (``LambdaFunction``'s `name:`).
    var functionName: String?
}

extension System {
    /// AWS Lambda: each function sent here becomes a Lambda function of the same name, running
    /// the app as its `bootstrap`; calls are Lambda invocations.
    ///
    /// Credentials and region are found as the AWS CLI finds them: the profile named here, else
    /// `AWS_PROFILE`, else `default`; `AWS_REGION`, the profile's region, else `us-east-1`.
    /// `AWS_ENDPOINT_URL` sends everything to another endpoint, such as `hoist lambda serve`.
    ///
    /// ```swift
    /// let lambdaSum = try await summer.to(.awsLambda(profile: "lambda", region: "us-east-1"))
    /// try await lambdaSum(3, 4)   // 7, computed in Lambda
    /// let big = try await summer.to(.awsLambda(options: LambdaOptions(timeout: .seconds(300), memorySize: 2048)))
    /// ```
    public static func awsLambda(profile: String? = nil, region: String? = nil, options: LambdaOptions = LambdaOptions()) -> System {
        System(kind: .awsLambda(LambdaTarget(profile: profile, region: region, options: options)))
    }
}
