import ArgumentParser
import Foundation
import HoistClient
import HoistCore

struct RunsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "List runs, or prune finished ones.",
        subcommands: [List.self, Prune.self],
        defaultSubcommand: List.self
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List runs, newest first.")
        @OptionGroup var options: DaemonOptions
        @Option(help: "Only runs of this app.") var app: String?
        @Option(help: "At most this many.") var limit = 50
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await withExitCodes {
                let runs = try await options.client.runs(app: app, limit: limit)
                if json {
                    print(try prettyJSON(runs))
                    return
                }
                if runs.isEmpty { print("no runs") }
                for run in runs {
                    print("\(run.key)  \(run.app)/\(run.function)  \(run.status.rawValue)  \(RunView.duration(run))")
                }
            }
        }
    }

    struct Prune: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove finished runs by age and count.")
        @OptionGroup var options: DaemonOptions
        @Option(help: "Remove finished runs older than this many seconds.") var olderThan: Double?
        @Option(help: "Keep at most this many finished runs, the newest.") var keep: Int?

        func run() async throws {
            try await withExitCodes {
                guard olderThan != nil || keep != nil else {
                    throw HoistError(.invalidConfiguration, "give --older-than SECONDS, --keep COUNT, or both")
                }
                print("removed \(try await options.client.pruneRuns(olderThan: olderThan, keep: keep)) run(s)")
            }
        }
    }
}

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Show a run: status, result and output (exit 1 when it did not succeed)."
    )
    @OptionGroup var options: DaemonOptions
    @Argument(help: "The run's key.") var key: String
    @Flag(help: "Wait for the run to finish.") var wait = false
    @Flag(help: "Cancel the run.") var cancel = false
    @Flag(help: "Print the record as JSON.") var json = false

    func run() async throws {
        try await withExitCodes {
            var record: RunRecord
            if cancel {
                record = try await options.client.cancelRun(key)
            } else {
                record = try await options.client.run(key)
                while wait && !record.status.isFinished {
                    record = try await options.client.waitForRun(key, timeout: 30)
                }
            }
            if json {
                print(try prettyJSON(record))
            } else {
                print("run \(record.key): \(record.app)/\(record.function) \(record.status.rawValue) \(RunView.duration(record))")
                if !record.output.isEmpty {
                    print("--- output ---")
                    print(record.output, terminator: record.output.hasSuffix("\n") ? "" : "\n")
                }
                if let result = record.result { print("--- result ---\n\(result)") }
                if let failure = record.failure { print("--- failure ---\n\(failure.message)") }
            }
            if record.status.isFinished && record.status != .succeeded { throw ExitCode(1) }
        }
    }
}

enum RunView {
    static func duration(_ run: RunRecord) -> String {
        guard let started = run.startedAt else { return "" }
        let end = run.finishedAt ?? Date().timeIntervalSince1970
        return String(format: "%.3f s", end - started)
    }
}
