import Foundation
import Testing

/// The IAM, STS and CloudWatch Logs calls the local Lambda answers on `POST /`, through boto3
/// and the AWS CLI unchanged, as a deploy pointed at it with `AWS_ENDPOINT_URL` makes them.
@Suite("The local Lambda's IAM and CloudWatch Logs (boto3, the AWS CLI)")
struct LocalLambdaAWSTests {
    static let trust = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#
    static let policy = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"logs:PutLogEvents","Resource":"*"}]}"#

    @Test("roles: create, get, inline policies, DeleteConflict while a policy is left, delete; STS's caller identity")
    func roles() async throws {
        try await withLambda { lambda in
            let out = try boto(lambda, """
            trust, policy = \(Self.pythonString(Self.trust)), \(Self.pythonString(Self.policy))
            role = iam.create_role(RoleName="hoist-summer-role", AssumeRolePolicyDocument=trust, Description="for summer")["Role"]
            out["created"] = [role["RoleName"], role["Arn"], role["RoleId"][:4]]
            out["again"] = code(lambda: iam.create_role(RoleName="hoist-summer-role", AssumeRolePolicyDocument=trust))
            got = iam.get_role(RoleName="hoist-summer-role")["Role"]
            out["got"] = [got["Arn"], got["RoleId"] == role["RoleId"], got["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"], got.get("Description")]
            iam.put_role_policy(RoleName="hoist-summer-role", PolicyName="logs", PolicyDocument=policy)
            out["policy"] = iam.get_role_policy(RoleName="hoist-summer-role", PolicyName="logs")["PolicyDocument"]
            out["policies"] = iam.list_role_policies(RoleName="hoist-summer-role")["PolicyNames"]
            out["conflict"] = code(lambda: iam.delete_role(RoleName="hoist-summer-role"))
            iam.delete_role_policy(RoleName="hoist-summer-role", PolicyName="logs")
            out["policyGone"] = code(lambda: iam.get_role_policy(RoleName="hoist-summer-role", PolicyName="logs"))
            iam.delete_role(RoleName="hoist-summer-role")
            out["gone"] = code(lambda: iam.get_role(RoleName="hoist-summer-role"))
            out["malformed"] = code(lambda: iam.create_role(RoleName="bad", AssumeRolePolicyDocument="not json"))
            identity = sts.get_caller_identity()
            out["identity"] = [identity["Account"], identity["Arn"]]
            """)
            #expect(out["created"] as? [String] == ["hoist-summer-role", "arn:aws:iam::123456789012:role/hoist-summer-role", "AROA"], "\(out)")
            #expect(out["again"] as? String == "EntityAlreadyExists 409")
            let got = out["got"] as? [Any] ?? []
            #expect(got.count == 4 && got[0] as? String == "arn:aws:iam::123456789012:role/hoist-summer-role" && got[1] as? Bool == true, "\(got)")
            #expect(got.count == 4 && got[2] as? String == "lambda.amazonaws.com" && got[3] as? String == "for summer", "\(got)")
            // boto3 decodes the URL-encoded document IAM answers with.
            let policy = out["policy"] as? [String: Any]
            #expect((policy?["Statement"] as? [[String: Any]])?.first?["Action"] as? String == "logs:PutLogEvents", "\(out)")
            #expect(out["policies"] as? [String] == ["logs"])
            #expect(out["conflict"] as? String == "DeleteConflict 409")
            #expect(out["policyGone"] as? String == "NoSuchEntity 404")
            #expect(out["gone"] as? String == "NoSuchEntity 404")
            #expect(out["malformed"] as? String == "MalformedPolicyDocument 400")
            #expect(out["identity"] as? [String] == ["123456789012", "arn:aws:iam::123456789012:user/hoist"])

            // Unknown operations get the errors AWS gives for them, in each protocol's shape.
            let form = "Content-Type: application/x-www-form-urlencoded"
            let unknownAction = try await lambda.request("POST", "/", body: "Action=ListUsers&Version=2010-05-08", headers: [form])
            #expect(unknownAction.status == 400 && unknownAction.body.contains("<Code>InvalidAction</Code>"), "\(unknownAction)")
            let unknownTarget = try await lambda.request("POST", "/", body: "{}", headers: ["X-Amz-Target: Logs_20140328.PutLogEvents", "Content-Type: application/x-amz-json-1.1"])
            #expect(unknownTarget.status == 400 && unknownTarget.json["__type"] as? String == "UnknownOperationException", "\(unknownTarget)")
        }
    }

    @Test("logs: each printed line is an event with its own time; startTime, patterns and paging narrow them; groups are listed, kept, and deleted with their files")
    func logs() async throws {
        try await withLambda { lambda in
            try await lambda.create("shout", handler: "shout")
            let before = Self.now()
            #expect(try await lambda.invoke("shout", #""first""#).body == #""FIRST""#)
            let between = Self.now()
            try await Task.sleep(for: .milliseconds(1100))
            #expect(try await lambda.invoke("shout", #""second""#).body == #""SECOND""#)
            let after = Self.now()

            let out = try boto(lambda, """
            group = "/aws/lambda/shout"
            def messages(**fields):
                return [[e["message"], e["timestamp"]] for e in logs.filter_log_events(logGroupName=group, **fields)["events"]]
            out["first"] = messages(filterPattern='"shouting first"')
            out["shouts"] = [m for m, t in messages(filterPattern="shouting")]
            out["since"] = [m for m, t in messages(filterPattern="shouting", startTime=\(between))]
            out["until"] = [m for m, t in messages(filterPattern="shouting", startTime=\(before), endTime=\(between))]
            out["later"] = messages(filterPattern="shouting", startTime=\(after + 1))
            out["excluded"] = [m for m, t in messages(filterPattern="shouting -first")]
            everything = logs.filter_log_events(logGroupName=group)["events"]
            pages = logs.get_paginator("filter_log_events").paginate(logGroupName=group, PaginationConfig={"PageSize": 2})
            paged = [e for page in pages for e in page["events"]]
            out["paged"] = [len(everything), [e["eventId"] for e in paged] == [e["eventId"] for e in everything]]
            out["sorted"] = [e["timestamp"] for e in everything] == sorted(e["timestamp"] for e in everything)
            out["missing"] = code(lambda: logs.filter_log_events(logGroupName="/aws/lambda/nothing"))
            """)
            let first = out["first"] as? [[Any]] ?? []
            #expect(first.count == 1 && first.first?.first as? String == "shouting first\n", "\(out)")
            let stamp = (first.first?.last as? NSNumber)?.int64Value ?? 0
            #expect(stamp >= before && stamp <= between, "the line's own time, \(stamp), is within the first invocation (\(before)...\(between))")
            #expect(out["shouts"] as? [String] == ["shouting first\n", "shouting second\n"], "\(out)")
            #expect(out["since"] as? [String] == ["shouting second\n"], "startTime between the invocations keeps only the second: \(out)")
            #expect(out["until"] as? [String] == ["shouting first\n"], "endTime between them keeps only the first: \(out)")
            #expect((out["later"] as? [Any])?.isEmpty == true, "\(out)")
            #expect(out["excluded"] as? [String] == ["shouting second\n"], "\(out)")
            let paged = out["paged"] as? [Any] ?? []
            // START, the printed line, END and REPORT for each invocation.
            #expect(paged.count == 2 && (paged[0] as? Int ?? 0) >= 8 && paged[1] as? Bool == true, "\(out)")
            #expect(out["sorted"] as? Bool == true)
            #expect(out["missing"] as? String == "ResourceNotFoundException 400")

            // Groups, through the AWS CLI.
            let described = try aws(lambda, ["logs", "describe-log-groups", "--log-group-name-prefix", "/aws/lambda/sh"])
            let groups = described["logGroups"] as? [[String: Any]] ?? []
            #expect(groups.map { $0["logGroupName"] as? String } == ["/aws/lambda/shout"], "\(described)")
            #expect(groups.first?["arn"] as? String == "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/shout:*")
            #expect((groups.first?["storedBytes"] as? Int ?? 0) > 0 && groups.first?["retentionInDays"] == nil, "\(groups)")
            _ = try aws(lambda, ["logs", "put-retention-policy", "--log-group-name", "/aws/lambda/shout", "--retention-in-days", "14"])

            let managed = try boto(lambda, """
            out["retention"] = logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/shout")["logGroups"][0].get("retentionInDays")
            out["invalid"] = code(lambda: logs.put_retention_policy(logGroupName="/aws/lambda/shout", retentionInDays=8))
            out["retentionMissing"] = code(lambda: logs.put_retention_policy(logGroupName="/aws/lambda/nothing", retentionInDays=7))
            for name in ["/hoist/a", "/hoist/b", "/hoist/c"]:
                logs.create_log_group(logGroupName=name)
            out["exists"] = code(lambda: logs.create_log_group(logGroupName="/hoist/a"))
            pages = logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix="/hoist/", PaginationConfig={"PageSize": 1})
            out["pagedGroups"] = [g["logGroupName"] for page in pages for g in page["logGroups"]]
            out["all"] = [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]]
            logs.delete_log_group(logGroupName="/aws/lambda/shout")
            out["afterDelete"] = logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/")["logGroups"]
            out["deletedAgain"] = code(lambda: logs.delete_log_group(logGroupName="/aws/lambda/shout"))
            out["filterDeleted"] = code(lambda: logs.filter_log_events(logGroupName="/aws/lambda/shout"))
            """)
            #expect(managed["retention"] as? Int == 14, "\(managed)")
            #expect(managed["invalid"] as? String == "InvalidParameterException 400")
            #expect(managed["retentionMissing"] as? String == "ResourceNotFoundException 400")
            #expect(managed["exists"] as? String == "ResourceAlreadyExistsException 400")
            #expect(managed["pagedGroups"] as? [String] == ["/hoist/a", "/hoist/b", "/hoist/c"], "\(managed)")
            #expect(managed["all"] as? [String] == ["/aws/lambda/shout", "/hoist/a", "/hoist/b", "/hoist/c"], "\(managed)")
            #expect((managed["afterDelete"] as? [Any])?.isEmpty == true, "\(managed)")
            #expect(managed["deletedAgain"] as? String == "ResourceNotFoundException 400")
            #expect(managed["filterDeleted"] as? String == "ResourceNotFoundException 400")
            #expect(!FileManager.default.fileExists(atPath: lambda.root + "/logs/aws/lambda/shout"), "DeleteLogGroup removes the group's files")

            // The warm environment logs again into a group made anew, as Lambda does.
            #expect(try await lambda.invoke("shout", #""third""#).body == #""THIRD""#)
            let again = try aws(lambda, ["logs", "filter-log-events", "--log-group-name", "/aws/lambda/shout", "--filter-pattern", "shouting"])
            #expect((again["events"] as? [[String: Any]])?.map { $0["message"] as? String } == ["shouting third\n"], "\(again)")
        }
    }

    @Test("roles and log groups' settings outlive a restart, in files only their owner reads")
    func restart() async throws {
        let first = try TestLambda()
        let home = first.root
        defer { try? FileManager.default.removeItem(atPath: home); try? FileManager.default.removeItem(atPath: home + ".log") }
        do {
            defer { first.shutdown(keepingHome: true) }
            _ = try boto(first, """
            iam.create_role(RoleName="kept", AssumeRolePolicyDocument=\(Self.pythonString(Self.trust)))
            iam.put_role_policy(RoleName="kept", PolicyName="logs", PolicyDocument=\(Self.pythonString(Self.policy)))
            logs.create_log_group(logGroupName="/kept")
            logs.put_retention_policy(logGroupName="/kept", retentionInDays=30)
            """)
        }
        for file in ["iam-roles.json", "log-groups.json"] {
            let mode = (try FileManager.default.attributesOfItem(atPath: home + "/" + file)[.posixPermissions] as? NSNumber)?.intValue
            #expect(mode == 0o600, "\(file) has mode \(String(mode ?? 0, radix: 8))")
        }
        let second = try TestLambda(home: home)
        defer { second.shutdown() }
        let out = try boto(second, """
        out["role"] = iam.get_role(RoleName="kept")["Role"]["Arn"]
        out["policy"] = code(lambda: iam.get_role_policy(RoleName="kept", PolicyName="logs"))
        out["groups"] = [[g["logGroupName"], g.get("retentionInDays")] for g in logs.describe_log_groups()["logGroups"]]
        """)
        #expect(out["role"] as? String == "arn:aws:iam::123456789012:role/kept", "\(out)")
        #expect(out.keys.contains("policy") && out["policy"] is NSNull, "the policy is still there: \(out)")
        let groups = out["groups"] as? [[Any]] ?? []
        #expect(groups.count == 1 && groups.first?.first as? String == "/kept" && groups.first?.last as? Int == 30, "\(out)")
    }

    // MARK: Clients

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    static func pythonString(_ text: String) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: text, options: .fragmentsAllowed), as: UTF8.self)
    }

    static let credentials = ["AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_SESSION_TOKEN": "", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
                              "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_PAGER": ""]

    /// Runs `body` in Python with boto3 clients `iam`, `sts` and `logs` of `lambda`, a dict
    /// `out` to fill, and `code(call)`, which gives a failed call's "<Code> <status>" (`None`
    /// when it succeeds); returns `out`.
    private func boto(_ lambda: TestLambda, _ body: String) throws -> [String: Any] {
        let python = try #require(TestLambda.python, "the tests' virtualenv (boto3, awscli, awslambdaric) is missing: run scripts/test")
        let script = """
        import json, sys, boto3
        from botocore.config import Config
        from botocore.exceptions import ClientError
        def client(name):
            return boto3.client(name, endpoint_url=sys.argv[1], config=Config(retries={"max_attempts": 0}))
        iam, sts, logs = client("iam"), client("sts"), client("logs")
        def code(call):
            try:
                call()
                return None
            except ClientError as error:
                return "%s %d" % (error.response["Error"]["Code"], error.response["ResponseMetadata"]["HTTPStatusCode"])
        out = {}
        \(body)
        print(json.dumps(out))
        """
        let run = try Command.run(python, ["-c", script, lambda.url], environment: Self.credentials)
        #expect(run.status == 0, "\(run.stderr)")
        return try #require((try? JSONSerialization.jsonObject(with: Data(run.stdout.utf8))) as? [String: Any], "boto3 printed no JSON: \(run.stdout) \(run.stderr)")
    }

    /// The AWS CLI of the tests' virtualenv against `lambda`; its JSON answer (empty when none).
    private func aws(_ lambda: TestLambda, _ arguments: [String]) throws -> [String: Any] {
        let python = try #require(TestLambda.python, "the tests' virtualenv (boto3, awscli, awslambdaric) is missing: run scripts/test")
        let cli = (python as NSString).deletingLastPathComponent + "/aws"
        let run = try Command.run(cli, arguments + ["--endpoint-url", lambda.url, "--output", "json"], environment: Self.credentials)
        #expect(run.status == 0, "aws \(arguments.joined(separator: " ")): \(run.stderr)")
        let text = run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? [:] : try #require((try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any], "\(run.stdout)")
    }
}
