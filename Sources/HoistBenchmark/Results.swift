import Foundation
import Hoist

/// The figures of one benchmark run: each latency figure measured `runs` times after a warm-up
/// and reported as the median of the runs' percentiles, printed as a row and kept for `--json`.
final class Results {
    struct Latency {
        var p50: Duration
        var p90: Duration
        var p99: Duration
    }

    let runs: Int
    /// Filled from the benchmark's one task, in order.
    private var figures: [(String, [String: Any])] = []

    init(runs: Int) {
        self.runs = runs
    }

    /// Runs `call` `calls` times per run, `runs` times; prints `label, p50 / p90 / p99` (the
    /// median of the runs' figures) with the runs' spread of p50, and keeps every run's figures.
    func latency(_ label: String, runs: Int, calls: Int, _ call: (Int) async throws -> Void) async throws -> Latency {
        var perRun: [Latency] = []
        for _ in 0..<runs {
            var times: [Duration] = []
            times.reserveCapacity(calls)
            for i in 0..<calls {
                let start = ContinuousClock.now
                try await call(i)
                times.append(ContinuousClock.now - start)
            }
            times.sort()
            perRun.append(Latency(p50: times[times.count / 2], p90: times[times.count * 9 / 10], p99: times[times.count * 99 / 100]))
        }
        func median(_ key: KeyPath<Latency, Duration>) -> Duration {
            perRun.map { $0[keyPath: key] }.sorted()[perRun.count / 2]
        }
        let result = Latency(p50: median(\.p50), p90: median(\.p90), p99: median(\.p99))
        let p50s = perRun.map { HoistBench.toSeconds($0.p50) * 1000 }
        print(HoistBench.row(label + ", p50 / p90 / p99", "\(HoistBench.ms(result.p50)) / \(HoistBench.ms(result.p90)) / \(HoistBench.ms(result.p99))" + spread(p50s, format: "%.3f")))
        record(label, [
            "p50_ms": HoistBench.toSeconds(result.p50) * 1000, "p90_ms": HoistBench.toSeconds(result.p90) * 1000,
            "p99_ms": HoistBench.toSeconds(result.p99) * 1000, "calls_per_run": calls, "runs_p50_ms": p50s,
        ])
        return result
    }

    /// `  (runs: a … b)`: how far the runs were apart, when there were several.
    func spread(_ values: [Double], format: String) -> String {
        guard values.count > 1, let low = values.min(), let high = values.max() else { return "" }
        return "  (\(values.count) runs: " + String(format: format, low) + " … " + String(format: format, high) + ")"
    }

    func record(_ name: String, _ values: [String: Any]) {
        figures.append((name, values))
    }

    /// Writes every figure, with the machine it ran on, as one JSON object.
    func write(to path: String) throws {
        let entries = figures
        var object: [String: Any] = [
            "hoist_version": HoistVersion.current,
            "cores": ProcessInfo.processInfo.activeProcessorCount,
            "memory_bytes": ProcessInfo.processInfo.physicalMemory,
            "date": ISO8601DateFormatter().string(from: Date()),
            "runs": runs,
        ]
        var figures: [String: Any] = [:]
        for (name, values) in entries { figures[name] = values }
        object["figures"] = figures
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: URL(fileURLWithPath: path))
    }
}
