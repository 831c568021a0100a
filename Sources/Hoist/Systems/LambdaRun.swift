import Foundation
import HoistAWS
import HoistCore
import HoistLambdaDeploy

/// An `Event` invocation as a run. Lambda keeps no record of it but its log, so its status is
/// read from there: queued until `START RequestId: <id>`, running until `END`, then failed when
/// the function reported an error (`[ERROR]`, as Hoist's bootstrap and Lambda's runtimes print
/// it) or ran past its timeout, else succeeded. Lambda does not keep the value: ``Run/value()``
/// of a succeeded Lambda run says so.
struct LambdaRun: RunHandle {
    let function: String
    let requestID: String
    let invoker: LambdaInvoker
    /// Where in the log to start looking (`nil`: the whole log).
    let since: Date?

    var key: String { "\(function)/\(requestID)" }

    func record() async throws -> RunRecord {
        let events = try await invoker.logEvents(function, since: since)
        var record = RunRecord(key: key, app: function, function: function, status: .queued, argumentsDigest: "",
                               createdAt: (since ?? Date()).timeIntervalSince1970)
        // The last attempt: Lambda tries a failed Event invocation again under the same id.
        guard let start = events.lastIndex(where: { $0.message.hasPrefix("START RequestId: \(requestID)") }) else { return record }
        let stream = events[start].logStreamName
        record.status = .running
        record.startedAt = Double(events[start].timestamp) / 1000
        var output: [String] = []
        var failed = false
        var timedOut = false
        // One environment runs one invocation at a time: its stream, from START to END, is this run.
        for event in events[(start + 1)...] where event.logStreamName == stream {
            if event.message.hasPrefix("END RequestId: \(requestID)") {
                record.finishedAt = Double(event.timestamp) / 1000
                continue
            }
            if event.message.hasPrefix("REPORT RequestId: \(requestID)") {
                timedOut = event.message.contains("Status: timeout")
                break
            }
            if record.finishedAt != nil { continue }
            let line = event.message.hasSuffix("\n") ? String(event.message.dropLast()) : event.message
            if line.hasPrefix("[ERROR]") { failed = true }
            output.append(line)
        }
        record.output = output.joined(separator: "\n")
        guard record.finishedAt != nil else { return record }
        if timedOut {
            record.status = .timedOut
            record.failure = CallFailure(HoistError(.timedOut, "\(function) ran past its Lambda timeout"))
        } else if failed, let line = output.last(where: { $0.hasPrefix("[ERROR]") }) {
            record.status = .failed
            let text = line.dropFirst("[ERROR]".count).trimmingCharacters(in: .whitespaces)
            let (type, message) = text.firstIndex(of: ":").map { (String(text[..<$0]), text[text.index(after: $0)...].trimmingCharacters(in: .whitespaces)) } ?? ("Unhandled", text)
            let error = LambdaSystem.hoistError(type: type, message: message, stackTrace: [], function: function)
            if let error = error as? RemoteError {
                record.failure = CallFailure(remote: error)
            } else if let error = error as? HoistError {
                record.failure = CallFailure(error)
            }
        } else {
            record.status = .succeeded
        }
        return record
    }

    func wait(timeout: Double) async throws -> RunRecord {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let record = try await record()
            if record.status.isFinished || Date() >= deadline { return record }
            try await Task.sleep(for: .milliseconds(500))
        }
    }

    func cancel() async throws -> RunRecord {
        throw HoistError(.invalidConfiguration, "AWS Lambda cannot stop an invocation in flight: run \(key) runs to its end or its timeout")
    }
}
