// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "hoist",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Hoist", targets: ["Hoist"]),
        .library(name: "HoistCore", targets: ["HoistCore"]),
        .library(name: "HoistDaemon", targets: ["HoistDaemon"]),
        .library(name: "HoistClient", targets: ["HoistClient"]),
        .library(name: "HoistCluster", targets: ["HoistCluster"]),
        .executable(name: "hoist", targets: ["hoist"]),
        .executable(name: "hoist-demo", targets: ["HoistDemo"]),
        .executable(name: "hoist-bench", targets: ["HoistBenchmark"]),
        .executable(name: "hoist-test-app", targets: ["HoistTestApp"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation.git", from: "0.9.20"),
    ],
    targets: [
        // Function table, payload codec, wire frames, shared models. No HTTP, no daemon:
        // the worker, the daemon and (later) the Lambda bootstrap all build on it.
        .target(
            name: "HoistCore",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        // The worker's crash handler: keeps the runtime's last words for the crash report.
        .target(name: "CHoistCrash"),
        // The worker role: serves an app's functions to the daemon over a Unix socket.
        .target(
            name: "HoistWorker",
            dependencies: [
                "HoistCore", "CHoistCrash",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The Lambda bootstrap role: the Runtime API loop, on plain sockets (no HTTP server,
        // no TLS) so that a cold start costs little more than exec.
        .target(
            name: "HoistLambdaRuntime",
            dependencies: ["HoistCore"],
            swiftSettings: swiftSettings
        ),
        // `hoist lambda serve`: a local Lambda (Invoke and management API, Runtime API, environments).
        .target(
            name: "HoistLambda",
            dependencies: [
                "HoistCore", "HoistLambdaPackage",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            ],
            swiftSettings: swiftSettings
        ),
        // AWS without an SDK: credentials as the AWS CLI resolves them, SigV4, typed AWS errors.
        .target(
            name: "HoistAWS",
            dependencies: [
                "HoistCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Lambda zips: a Hoist app as a self-contained `bootstrap`, handler files with their requirements.
        .target(
            name: "HoistLambdaPackage",
            dependencies: [
                "HoistCore",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            ],
            swiftSettings: swiftSettings
        ),
        // Deploying to Lambda: the app's zip, the execution role, create or update, saved
        // functions, invocations that back off while throttled, logs, Function URLs, teardown.
        .target(
            name: "HoistLambdaDeploy",
            dependencies: [
                "HoistCore", "HoistAWS", "HoistLambdaPackage", "HoistClient",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The daemon: HTTP server, app store, worker supervision, routing.
        .target(
            name: "HoistDaemon",
            dependencies: [
                "HoistCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Talking to a daemon: calls, deploys, starting the local daemon.
        .target(
            name: "HoistClient",
            dependencies: [
                "HoistCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // Reaching hosts with the system's OpenSSH client and rsync.
        .target(
            name: "HoistSSH",
            dependencies: [
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: swiftSettings
        ),
        // SSH clusters: bootstrapping hosts, saved cluster configs, sessions spread over hosts.
        .target(
            name: "HoistCluster",
            dependencies: [
                "HoistCore", "HoistClient", "HoistSSH",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The public API: Function, System, Env, HoistApp.
        .target(
            name: "Hoist",
            dependencies: [
                "HoistCore", "HoistWorker", "HoistLambdaRuntime", "HoistDaemon", "HoistClient", "HoistSSH", "HoistCluster",
                "HoistAWS", "HoistLambdaPackage", "HoistLambdaDeploy",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "HoistCLI",
            dependencies: [
                "HoistCore", "HoistClient", "HoistDaemon", "HoistCluster", "HoistSSH", "HoistLambda", "HoistLambdaPackage",
                "HoistAWS", "HoistLambdaDeploy",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(name: "hoist", dependencies: ["HoistCLI", "HoistCore", "HoistDaemon"], swiftSettings: swiftSettings),
        .executableTarget(
            name: "HoistBenchmark",
            dependencies: ["Hoist", "HoistClient", "HoistLambda", "HoistLambdaPackage", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "AsyncHTTPClient", package: "async-http-client")],
            path: "Sources/HoistBenchmark",
            swiftSettings: swiftSettings
        ),
        .executableTarget(name: "HoistDemo", dependencies: ["Hoist"], path: "Examples/Demo", swiftSettings: swiftSettings),
        // The app the end-to-end tests deploy; built before `swift test` by scripts/test.
        .executableTarget(name: "HoistTestApp", dependencies: ["Hoist", "HoistSSH", "HoistClient", .product(name: "NIOCore", package: "swift-nio")], path: "Tests/Fixtures/TestApp", swiftSettings: swiftSettings),
        .testTarget(
            name: "HoistCoreTests",
            dependencies: ["HoistCore", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HoistWorkerTests",
            dependencies: ["HoistWorker", "HoistCore", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio"), .product(name: "NIOConcurrencyHelpers", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HoistAWSTests",
            dependencies: [
                "HoistAWS", "HoistCore", "HoistLambdaDeploy", "HoistLambdaPackage",
                .product(name: "NIOCore", package: "swift-nio"),
                // Stand-ins for STS, the metadata services and AWS on 127.0.0.1.
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HoistEndToEndTests",
            dependencies: [
                "HoistClient", "HoistCore", "HoistSSH", "HoistCluster", "HoistLambdaPackage",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
