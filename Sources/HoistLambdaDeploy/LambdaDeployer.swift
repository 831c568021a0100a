import Crypto
import Foundation
import HoistAWS
import HoistCore
import HoistLambdaPackage

/// What to deploy as one Lambda function: a zip, how Lambda runs it, and its knobs.
package struct LambdaDeployRequest: Sendable {
    package var name: String
    package var zipPath: String
    /// Base64 of the zip's SHA-256, as Lambda's `CodeSha256` has it.
    package var zipSha256: String
    package var runtime: String
    package var handler: String
    package var streams: Bool
    package var options: LambdaOptions

    package init(name: String, zipPath: String, zipSha256: String, runtime: String, handler: String, streams: Bool, options: LambdaOptions) {
        self.name = name
        self.zipPath = zipPath
        self.zipSha256 = zipSha256
        self.runtime = runtime
        self.handler = handler
        self.streams = streams
        self.options = options
    }
}

/// Creates or updates one Lambda function and everything it needs: its execution role, its code
/// (inline, or through S3 above 50 MB), its configuration, its log retention; then saves it.
///
/// A redeploy that changes nothing sends nothing: one `GetFunction`, and the zip's hash and the
/// configuration compared with Lambda's.
package struct LambdaDeployer: Sendable {
    package let config: AWSConfig
    package let lambda: LambdaAPI
    package let iam: IAMAPI
    package let logs: CloudWatchLogsAPI
    package let s3: S3API
    package let store: LambdaStore
    /// Progress lines for the user: what is being created or updated, and each wait.
    package var progress: @Sendable (String) -> Void
    /// Zips above this go through S3 (`HOIST_LAMBDA_S3_ABOVE` bytes, default Lambda's 50 MB).
    package var inlineLimit: Int64
    /// How long to retry a create while IAM propagates a new role (real AWS: up to ~10 s).
    package var rolePropagationWait: Duration = .seconds(90)
    package var rolePropagationPause: Duration = .seconds(2)

    package init(config: AWSConfig, store: LambdaStore = LambdaStore(), progress: @escaping @Sendable (String) -> Void = { _ in }) {
        self.init(config: config, client: AWSClient(config: config), store: store, progress: progress)
    }

    /// A deployer whose requests go through `client` (the tests' counts what is sent).
    package init(config: AWSConfig, client: AWSClient, store: LambdaStore = LambdaStore(), progress: @escaping @Sendable (String) -> Void = { _ in }) {
        self.config = config
        lambda = LambdaAPI(client: client)
        iam = IAMAPI(client: client)
        logs = CloudWatchLogsAPI(client: client)
        s3 = S3API(client: client)
        self.store = store
        self.progress = progress
        inlineLimit = ProcessInfo.processInfo.environment["HOIST_LAMBDA_S3_ABOVE"].flatMap(Int64.init) ?? LambdaLimits.directUploadBytes
    }

    /// The function as Lambda has it, or `nil` when there is none of that name.
    package func existing(_ name: String) async throws -> LambdaFunctionConfiguration? {
        do {
            return try await lambda.getFunction(name)
        } catch let error as AWSError where error.code == "ResourceNotFoundException" {
            return nil
        }
    }

    /// Deploys `request` and returns what was saved.
    @discardableResult
    package func deploy(_ request: LambdaDeployRequest) async throws -> SavedLambda {
        let options = request.options
        try options.validate()
        guard request.name.range(of: #"^[A-Za-z0-9_-]{1,64}$"#, options: .regularExpression) != nil else {
            throw HoistError(.invalidName, "'\(request.name)' cannot name a Lambda function: use 1 to 64 letters, digits, hyphens or underscores")
        }
        let previous = try? store.load(request.name)
        let current = try await existing(request.name)

        var managedRole: String?
        let roleArn: String
        if let role = options.role {
            roleArn = role
        } else if let role = current?.role, role.hasSuffix("/" + Self.roleName(for: request.name)) {
            roleArn = role  // Hoist's role, made by an earlier deploy: nothing to send
            managedRole = Self.roleName(for: request.name)
        } else {
            let role = try await ensureRole(for: request.name)
            roleArn = role.arn
            managedRole = role.name
        }

        var settings = LambdaFunctionSettings(
            role: roleArn, runtime: request.runtime, handler: request.handler, timeout: options.timeoutSeconds,
            memorySize: options.memorySize, ephemeralStorageSize: options.tmpSize, variables: options.environment,
            architectures: [options.architecture.rawValue], description: options.description ?? ""
        )
        var s3Location: (bucket: String, key: String)?
        var configuration: LambdaFunctionConfiguration
        var created = false
        if let current {
            configuration = current
            if current.codeSha256 != request.zipSha256 || (current.architectures ?? ["x86_64"]) != [options.architecture.rawValue] {
                progress("updating the code of \(request.name)")
                let code = try await code(for: request, account: Self.account(of: current.functionArn ?? ""), location: &s3Location)
                configuration = try await lambda.retryingConflicts {
                    try await lambda.updateFunctionCode(request.name, code: code, architectures: [options.architecture.rawValue])
                }
                configuration = try await waitUntilReady(request.name)
            }
            if Self.differs(configuration, from: settings) {
                progress("updating the configuration of \(request.name)")
                settings.architectures = nil
                let update = settings
                configuration = try await lambda.retryingConflicts { try await lambda.updateFunctionConfiguration(request.name, settings: update) }
                configuration = try await waitUntilReady(request.name)
            } else if configuration.state != "Active" || !(configuration.lastUpdateStatus.map { $0 == "Successful" } ?? true) {
                configuration = try await waitUntilReady(request.name)
            }
            if !options.tags.isEmpty, options.tags != previous?.tags, let arn = configuration.functionArn {
                try await lambda.tagResource(arn, tags: options.tags)
            }
        } else {
            progress("creating \(request.name) (\(request.runtime), \(options.architecture), \(options.memorySize) MB, timeout \(options.timeoutSeconds) s)")
            let code = try await code(for: request, account: Self.account(of: roleArn), location: &s3Location)
            configuration = try await createRetryingRolePropagation(name: request.name, code: code, settings: settings, tags: options.tags)
            configuration = try await waitUntilReady(request.name)
            created = true
        }

        // Compared with what the last deploy from here set: an unchanged redeploy asks nothing.
        if let reserved = options.reservedConcurrency, created || reserved != previous?.reservedConcurrency {
            try await lambda.putFunctionConcurrency(request.name, reserved: reserved)
        } else if options.reservedConcurrency == nil, previous?.reservedConcurrency != nil, !created {
            try await lambda.deleteFunctionConcurrency(request.name)
        }
        if created || options.retentionDays != previous?.retentionDays {
            try await setRetention(function: request.name, days: options.retentionDays)
        }

        let saved = SavedLambda(
            name: request.name, arn: configuration.functionArn ?? current?.functionArn ?? "", region: config.region, profile: config.profile,
            managedRole: managedRole, roleArn: roleArn, runtime: request.runtime, handler: request.handler,
            codeSha256: configuration.codeSha256 ?? request.zipSha256, timeout: options.timeoutSeconds, memorySize: options.memorySize,
            tmpSize: options.tmpSize, retentionDays: options.retentionDays, streams: request.streams,
            s3Bucket: s3Location?.bucket ?? previous?.s3Bucket, s3Key: s3Location?.key ?? previous?.s3Key,
            url: previous?.url, urlAuthType: previous?.urlAuthType, tags: options.tags, reservedConcurrency: options.reservedConcurrency,
            deployedAt: Date()
        )
        try store.save(saved)
        return saved
    }

    // MARK: - Steps

    /// `hoist-<name>-role`, shortened with a hash where IAM's 64 characters would not hold it.
    package static func roleName(for function: String) -> String {
        let name = "hoist-\(function)-role"
        guard name.count > 64 else { return name }
        let digest = SHA256.hash(data: Data(function.utf8)).prefix(4).map { String(format: "%02x", $0) }.joined()
        return "hoist-\(function.prefix(44))-\(digest)-role"
    }

    static func account(of arn: String) -> String {
        let parts = arn.split(separator: ":", omittingEmptySubsequences: false)
        return parts.count > 4 ? String(parts[4]) : ""
    }

    /// The function's execution role: found, or created with Lambda's trust and a policy that
    /// lets it write its own log group only.
    private func ensureRole(for function: String) async throws -> IAMRole {
        let name = Self.roleName(for: function)
        if let role = try await iam.getRole(name) { return role }
        progress("creating the execution role \(name)")
        let role = try await iam.createRole(name: name, description: "Runs the Lambda function \(function) (made by Hoist)")
        try await iam.putRolePolicy(role: name, policyName: "hoist-logs",
                                    document: IAMAPI.logsPolicy(region: config.region, account: Self.account(of: role.arn), function: function))
        return role
    }

    /// `CreateFunction`, again while Lambda cannot assume a role IAM has not propagated yet.
    private func createRetryingRolePropagation(name: String, code: LambdaCode, settings: LambdaFunctionSettings, tags: [String: String]) async throws -> LambdaFunctionConfiguration {
        let clock = ContinuousClock()
        let deadline = clock.now + rolePropagationWait
        while true {
            do {
                return try await lambda.createFunction(name: name, code: code, settings: settings, tags: tags)
            } catch let error as AWSError where error.code == "InvalidParameterValueException" && error.message.contains("cannot be assumed") && clock.now < deadline {
                progress("waiting for IAM to propagate the role of \(name)")
                try await Task.sleep(for: rolePropagationPause)
            }
        }
    }

    /// The zip inline, or put in the account's Hoist bucket when it is too large to send inline.
    private func code(for request: LambdaDeployRequest, account: String, location: inout (bucket: String, key: String)?) async throws -> LambdaCode {
        let size = ((try FileManager.default.attributesOfItem(atPath: request.zipPath))[.size] as? NSNumber)?.int64Value ?? 0
        let data = try Data(contentsOf: URL(fileURLWithPath: request.zipPath), options: .alwaysMapped)
        guard size > inlineLimit else { return .zip(data) }
        let bucket = "hoist-\(account.isEmpty ? "account" : account)-\(config.region)"
        let hex = Data(base64Encoded: request.zipSha256).map { $0.map { String(format: "%02x", $0) }.joined() } ?? UUID().uuidString
        let key = "lambda/\(request.name)/\(hex).zip"
        progress("uploading the \(LambdaLimits.format(size)) zip to s3://\(bucket)/\(key) (over the \(LambdaLimits.format(inlineLimit)) Lambda takes inline)")
        try await s3.ensureBucket(bucket)
        try await s3.putObject(bucket: bucket, key: key, body: data)
        location = (bucket, key)
        return .s3(bucket: bucket, key: key)
    }

    private func waitUntilReady(_ name: String) async throws -> LambdaFunctionConfiguration {
        let progress = self.progress
        return try await lambda.waitUntilReady(name) { configuration in
            // The first poll usually finds it ready: say something only while it is not.
            if configuration.state != "Active" || configuration.lastUpdateStatus == "InProgress" {
                progress("waiting for \(name): State \(configuration.state ?? "?"), LastUpdateStatus \(configuration.lastUpdateStatus ?? "?")")
            }
        }
    }

    /// Whether Lambda's configuration differs from what a deploy sets.
    static func differs(_ current: LambdaFunctionConfiguration, from settings: LambdaFunctionSettings) -> Bool {
        current.role != settings.role || current.runtime != settings.runtime || current.handler != settings.handler
            || current.timeout != settings.timeout || current.memorySize != settings.memorySize
            || (current.ephemeralStorage?.size ?? 512) != (settings.ephemeralStorageSize ?? 512)
            || (current.environment?.variables ?? [:]) != (settings.variables ?? [:])
            || (current.description ?? "") != (settings.description ?? "")
    }

    /// Sets (or, for `nil`, leaves unset) the retention of the function's log group, creating
    /// the group first: Lambda makes it only at the first invocation.
    private func setRetention(function: String, days: Int?) async throws {
        guard let days else { return }
        let group = CloudWatchLogsAPI.logGroup(forFunction: function)
        do {
            try await logs.createLogGroup(group)
        } catch let error as AWSError where error.code == "ResourceAlreadyExistsException" {}
        try await logs.putRetentionPolicy(logGroup: group, days: days)
    }

    // MARK: - Teardown

    /// Deletes the function, its URL, its log group, the role Hoist made for it and the zip it
    /// put in S3, and forgets it. What is already gone is skipped; the first other failure is
    /// thrown after the rest was tried.
    package func teardown(_ name: String) async throws {
        let saved = try? store.load(name)
        var failures: [String] = []
        func attempt(_ what: String, _ body: () async throws -> Void) async {
            do {
                try await body()
            } catch let error as AWSError where ["ResourceNotFoundException", "NoSuchEntity", "NoSuchKey", "NoSuchBucket"].contains(error.code) || error.statusCode == 404 {
            } catch {
                failures.append("\(what): \(error)")
            }
        }
        let current = try await existing(name)
        await attempt("deleting the Function URL") { try await lambda.deleteFunctionURLConfig(name) }
        await attempt("deleting the function") { if current != nil { try await lambda.deleteFunction(name) } }
        await attempt("deleting the log group") { try await logs.deleteLogGroup(CloudWatchLogsAPI.logGroup(forFunction: name)) }
        let role = saved?.managedRole ?? current?.role.flatMap { arn in
            arn.hasSuffix("/" + Self.roleName(for: name)) ? Self.roleName(for: name) : nil
        }
        if let role {
            await attempt("deleting the role's policy") { try await iam.deleteRolePolicy(role: role, policyName: "hoist-logs") }
            await attempt("deleting the role \(role)") { try await iam.deleteRole(role) }
        }
        if let bucket = saved?.s3Bucket, let key = saved?.s3Key {
            await attempt("deleting s3://\(bucket)/\(key)") { try await s3.deleteObject(bucket: bucket, key: key) }
        }
        store.remove(name)
        if !failures.isEmpty {
            throw HoistError(.deployFailed, "tearing down \(name) left something behind: \(failures.joined(separator: "; "))")
        }
    }
}
