import Foundation
import Testing

/// `hoist lambda deploy|invoke|logs|list|url|teardown` against a local Lambda.
@Suite("hoist lambda deploy, invoke, logs, list, url and teardown")
struct LambdaCLITests {
    @Test("a zip deployed, invoked (values, errors, Event), its log read, listed, given a URL and torn down")
    func commands() async throws {
        let lambda = try TestLambda()
        defer { lambda.shutdown() }
        let home = NSTemporaryDirectory() + "hoist-cli-lambda-" + UUID().uuidString.prefix(8)
        defer { try? FileManager.default.removeItem(atPath: home) }
        let environment = [
            "HOIST_HOME": home, "AWS_ENDPOINT_URL": lambda.url, "AWS_ACCESS_KEY_ID": "AKIDLOCALLAMBDA", "AWS_SECRET_ACCESS_KEY": "local-secret",
            "AWS_REGION": "us-east-1", "AWS_CONFIG_FILE": home + "/none", "AWS_SHARED_CREDENTIALS_FILE": home + "/none",
        ]
        let hoist = { (arguments: [String]) async throws -> Command.Output in
            try await Task.detached { try Command.run(Binaries.hoist, ["lambda"] + arguments, environment: environment) }.value
        }

        let deployed = try await hoist(["deploy", "--zip", TestLambda.testAppZip, "--handler", "shout", "--name", "shouter", "--timeout", "20",
                                        "--memory", "256", "--env", "MODE=cli", "--retention-days", "14"])
        #expect(deployed.status == 0, "\(deployed.stderr)")
        #expect(deployed.stdout.contains("deployed shouter: arn:aws:lambda:us-east-1:"), "\(deployed.stdout)")
        #expect(deployed.stderr.contains("creating the execution role hoist-shouter-role"), "\(deployed.stderr)")
        let config = try await lambda.request("GET", "/2015-03-31/functions/shouter")
        let configuration = config.json["Configuration"] as? [String: Any]
        #expect(configuration?["Timeout"] as? Int == 20 && configuration?["MemorySize"] as? Int == 256 && (configuration?["Role"] as? String)?.hasSuffix(":role/hoist-shouter-role") == true, "\(config.body)")

        let again = try await hoist(["deploy", "--zip", TestLambda.testAppZip, "--handler", "shout", "--name", "shouter", "--timeout", "20",
                                     "--memory", "256", "--env", "MODE=cli", "--retention-days", "14"])
        #expect(again.status == 0 && !again.stderr.contains("updating") && !again.stderr.contains("creating"), "an unchanged redeploy changes nothing: \(again.stderr)")

        let invoked = try await hoist(["invoke", "shouter", #""quiet""#, "--log"])
        #expect(invoked.status == 0 && invoked.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == #""QUIET""#, "\(invoked.stdout) \(invoked.stderr)")
        #expect(invoked.stderr.contains("shouting quiet") && invoked.stderr.contains("REPORT RequestId:"), "\(invoked.stderr)")
        let bad = try await hoist(["invoke", "shouter", "[1,2,3]"])
        #expect(bad.status == 1 && bad.stderr.contains("the function failed"), "\(bad.stderr)")
        let queued = try await hoist(["invoke", "shouter", #""later""#, "--event"])
        #expect(queued.status == 0 && queued.stdout.contains("queued shouter (request id "), "\(queued.stdout)")

        var logs = try await hoist(["logs", "shouter", "--since", "5m"])
        for _ in 0..<50 where !logs.stdout.contains("shouting later") {
            try await Task.sleep(for: .milliseconds(100))
            logs = try await hoist(["logs", "shouter", "--since", "5m"])
        }
        #expect(logs.status == 0 && logs.stdout.contains("shouting quiet") && logs.stdout.contains("shouting later"), "\(logs.stdout)")
        let filtered = try await hoist(["logs", "shouter", "--filter", "later"])
        #expect(filtered.stdout.contains("shouting later") && !filtered.stdout.contains("shouting quiet"), "\(filtered.stdout)")
        let badSince = try await hoist(["logs", "shouter", "--since", "yesterday"])
        #expect(badSince.status != 0 && badSince.stderr.contains("give a duration"), "\(badSince.stderr)")

        let url = try await hoist(["url", "shouter"])
        let address = url.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(url.status == 0 && address.hasPrefix("http://127.0.0.1:"), "\(url.stdout) \(url.stderr)")
        let unsigned = try Command.curl(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-d", #""x""#, address])
        #expect(unsigned.stdout == "403", "an AWS_IAM URL refuses an unsigned request: \(unsigned.stdout)")
        let list = try await hoist(["list"])
        #expect(list.stdout.contains("shouter\tus-east-1\tprovided.al2023\tshout\t" + address), "\(list.stdout)")
        let remote = try await hoist(["list", "--remote"])
        #expect(remote.stdout.contains("shouter\tprovided.al2023"), "\(remote.stdout)")

        let torn = try await hoist(["teardown", "shouter"])
        #expect(torn.status == 0 && torn.stdout.contains("tore down shouter"), "\(torn.stderr)")
        #expect(try await lambda.request("GET", "/2015-03-31/functions/shouter").status == 404)
        let roles = try await lambda.request("POST", "/", body: "Action=GetRole&Version=2010-05-08&RoleName=hoist-shouter-role",
                                             headers: ["Content-Type: application/x-www-form-urlencoded"])
        #expect(roles.status == 404 && roles.body.contains("NoSuchEntity"), "\(roles.body)")
        #expect(try await hoist(["list"]).stdout.contains("no Lambda functions deployed from here"))
        let missing = try await hoist(["invoke", "shouter", "{}"])
        #expect(missing.status == 1 && missing.stderr.contains("ResourceNotFoundException"), "\(missing.stderr)")
    }

    @Test("bad deploys say what to fix: knobs out of range, no source, handler files without a runtime, a missing handler file")
    func badInput() async throws {
        let home = NSTemporaryDirectory() + "hoist-cli-lambda-" + UUID().uuidString.prefix(8)
        defer { try? FileManager.default.removeItem(atPath: home) }
        let environment = ["HOIST_HOME": home, "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y",
                           "AWS_CONFIG_FILE": home + "/none", "AWS_SHARED_CREDENTIALS_FILE": home + "/none"]
        func deploy(_ arguments: [String]) throws -> Command.Output {
            try Command.run(Binaries.hoist, ["lambda", "deploy"] + arguments, environment: environment)
        }
        let timeout = try deploy(["--zip", TestLambda.testAppZip, "--handler", "add", "--timeout", "901"])
        #expect(timeout.status != 0 && timeout.stderr.contains("1 to 900 seconds"), "\(timeout.stderr)")
        let memory = try deploy(["--zip", TestLambda.testAppZip, "--handler", "add", "--memory", "64"])
        #expect(memory.status != 0 && memory.stderr.contains("128 to 10240 MB"), "\(memory.stderr)")
        let none = try deploy(["--handler", "add"])
        #expect(none.status != 0 && none.stderr.contains("exactly one of --product, --executable, --zip, or handler files"), "\(none.stderr)")
        let noRuntime = try deploy(["--handler", "handler.main", "handler.py"])
        #expect(noRuntime.status != 0 && noRuntime.stderr.contains("need --runtime"), "\(noRuntime.stderr)")
        let missingFile = try deploy(["--handler", "handler.main", "--runtime", "python3.12", "--directory", home, "nothere.py"])
        #expect(missingFile.status != 0 && missingFile.stderr.contains("nothere.py"), "\(missingFile.stderr)")
        let profile = try Command.run(Binaries.hoist, ["lambda", "list", "--remote", "--profile", "nosuch"], environment: environment)
        #expect(profile.status != 0 && profile.stderr.contains("the AWS profile 'nosuch'"), "\(profile.stderr)")
    }
}
