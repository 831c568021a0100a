import ArgumentParser
import Foundation
import HoistCore
import HoistLambda

struct LambdaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lambda",
        abstract: "AWS Lambda: deploy, invoke, logs, URLs and teardown; a local Lambda to develop against; Lambda zips.",
        subcommands: [
            LambdaDeployCommand.self, LambdaInvokeCommand.self, LambdaLogsCommand.self, LambdaListCommand.self,
            LambdaURLCommand.self, LambdaTeardownCommand.self, LambdaServeCommand.self, LambdaPackageCommand.self,
        ]
    )
}

struct LambdaServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run a local Lambda (the Invoke and management API, no containers) in the foreground.",
        discussion: """
            Point boto3 or the AWS CLI at it: aws lambda invoke --endpoint-url http://127.0.0.1:9001 …,
            or AWS_ENDPOINT_URL_LAMBDA=http://127.0.0.1:9001. Any credentials do.
            """
    )
    @Option(help: "The address to listen on.") var host = "127.0.0.1"
    @Option(help: "The port (0 lets the kernel pick one; it is written to lambda.port in the home).") var port = 9001
    @Option(help: "Where functions, environments and logs live (default: $HOIST_HOME/lambda).") var home: String?
    @Option(help: "Environments running at once, over all functions; more invocations get 429.") var concurrency = 100
    @Option(help: "The Python (with awslambdaric installed) that runs python3.x functions (default: the first python3 on PATH that has it).") var python: String?
    @Option(help: "The region in ARNs (default: $AWS_REGION, else us-east-1).") var region: String?
    @Option(name: .customLong("keep-warm"), help: "Seconds an idle environment stays warm before it is stopped.") var keepWarm = 600

    func run() async throws {
        try await withExitCodes {
            let settings = LocalLambdaSettings(root: home ?? (HoistHome.current.root + "/lambda"), host: host, port: port, region: region, concurrency: concurrency, python: python, keepWarm: .seconds(keepWarm))
            try await LocalLambda(settings: settings).run()
        }
    }
}
