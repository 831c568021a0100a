import Foundation
import Hoist

#if canImport(Glibc)
import Glibc
#endif

/// Echoes its argument: the function of the payload curve.
let echo = Function("echo") { (text: String) in text }
/// Echoes bytes, which travel as themselves (no JSON, no base64).
let echoData = Function("echoData") { (data: Data) in data }

/// `hoist-bench --scaling`: how the figures grow — calls per second by callers, `map` time by
/// inputs, echo time by payload size — with the peak memory of the daemon and the workers for
/// each map and each echo. Nothing should grow faster than linearly.
enum Scaling {
    static func run(system: System, home: String, options: Options, results: Results) async throws {
        print("")
        print("Scaling (local daemon, \(options.replicas) workers)")
        let add = try await add.to(system, env: Env(replicas: options.replicas)).quiet()
        for callers in [1, 8, 32, 128] {
            let rate = try await HoistBench.callsPerSecond(add, callers: callers, seconds: min(options.seconds, 2))
            print(HoistBench.row("calls per second, \(callers) callers", String(format: "%.0f", rate)))
            results.record("scaling: calls per second, \(callers) callers", ["calls_per_second": rate])
        }
        let daemon = pid(in: home + "/daemon.pid")
        for count in [100, 1000, 10_000, 100_000] {
            let inputs = (0..<count).map { ($0, 1) }
            // The daemon's and the workers' peaks during the map: they should not grow with it.
            for process in [daemon].compactMap({ $0 }) + (daemon.map(children) ?? []) { resetPeak(process) }
            let start = ContinuousClock.now
            let sums = try await add.starmap(inputs)
            let seconds = HoistBench.toSeconds(ContinuousClock.now - start)
            precondition(sums.count == count && sums[count - 1] == count)
            let daemonPeak = daemon.map(peakBytes) ?? 0
            let workerPeak = (daemon.map(children) ?? []).map(peakBytes).max() ?? 0
            print(HoistBench.row("map over \(count) inputs", String(format: "%.3f s  (%.1f µs an input)  peak RSS: daemon %.0f MB, a worker %.0f MB", seconds, seconds / Double(count) * 1e6, Double(daemonPeak) / 1e6, Double(workerPeak) / 1e6)))
            results.record("scaling: map over \(count) inputs", ["seconds": seconds, "daemon_peak_rss_bytes": daemonPeak, "worker_peak_rss_bytes": workerPeak])
        }

        let remote = try await echo.to(system, env: Env(replicas: options.replicas)).quiet()
        for (label, size) in [("1 KB", 1 << 10), ("1 MB", 1 << 20), ("16 MB", 16 << 20), ("64 MB", 64 << 20), ("256 MB", 256 << 20)] {
            let text = String(repeating: "a", count: size)
            let processes = [daemon].compactMap { $0 } + (daemon.map(children) ?? [])
            for process in processes { resetPeak(process) }
            // What each process held before: its peak above that is what the echo cost it.
            let before = Dictionary(uniqueKeysWithValues: processes.map { ($0, residentBytes($0)) })
            let attempts = size >= 64 << 20 ? 1 : 3
            var times: [Double] = []
            for _ in 0..<attempts {
                let start = ContinuousClock.now
                let back = try await remote(text)
                times.append(HoistBench.toSeconds(ContinuousClock.now - start))
                precondition(back.utf8.count == size)
            }
            let seconds = times.sorted()[times.count / 2]
            let daemonPeak = daemon.map(peakBytes) ?? 0
            let workers = daemon.map(children) ?? []
            let workerPeak = workers.map(peakBytes).max() ?? 0
            let added = (daemon.map { peakBytes($0) - (before[$0] ?? 0) } ?? 0) + (workers.map { peakBytes($0) - (before[$0] ?? 0) }.max() ?? 0)
            let ratio = Double(added) / Double(size)
            print(HoistBench.row("echo of a \(label) string", String(format: "%.3f s   peak RSS: daemon %.0f MB, a worker %.0f MB (above before: %.1f× the payload)", seconds, Double(daemonPeak) / 1e6, Double(workerPeak) / 1e6, ratio)))
            results.record("scaling: echo \(label)", ["seconds": seconds, "bytes": size, "daemon_peak_rss_bytes": daemonPeak, "worker_peak_rss_bytes": workerPeak, "peak_above_before_per_payload": ratio])
        }
    }

    /// `--echo-only N`: a 64 MB string echoed N times, each echo's time and the peak resident
    /// memory of the daemon, the worker and this caller.
    static func echoOnly(system: System, home: String, options: Options) async throws {
        let remote = try await echo.to(system, env: Env(replicas: options.replicas)).quiet()
        let text = String(repeating: "a", count: 64 << 20)
        let daemon = pid(in: home + "/daemon.pid")
        let processes = [daemon].compactMap { $0 } + (daemon.map(children) ?? [])
        print("daemon \(daemon.map(String.init) ?? "?"), workers \((daemon.map(children) ?? []).map(String.init).joined(separator: ",")), caller \(getpid())")
        for _ in 0..<options.echoOnly {
            for process in processes + [getpid()] { resetPeak(process) }
            let before = (daemon.map(residentBytes) ?? 0, (daemon.map(children) ?? []).map(residentBytes).max() ?? 0)
            let start = ContinuousClock.now
            let back = try await remote(text)
            let seconds = HoistBench.toSeconds(ContinuousClock.now - start)
            precondition(back.utf8.count == text.utf8.count)
            let workerPeak = (daemon.map(children) ?? []).map(peakBytes).max() ?? 0
            print(HoistBench.row("echo of a 64 MB string", String(format: "%.3f s   peak RSS: daemon %.0f MB, a worker %.0f MB, caller %.0f MB (before: daemon %.0f, worker %.0f)", seconds, Double(daemon.map(peakBytes) ?? 0) / 1e6, Double(workerPeak) / 1e6, Double(peakBytes(getpid())) / 1e6, Double(before.0) / 1e6, Double(before.1) / 1e6)))
        }
    }

    static func pid(in file: String) -> Int32? {
        (try? String(contentsOfFile: file, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// The daemon's children (its workers), from every thread's `children` list.
    static func children(of pid: Int32) -> [Int32] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return Array(Set(tasks.flatMap { task in
            ((try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/children", encoding: .utf8)) ?? "").split(separator: " ").compactMap { Int32($0) }
        })).sorted()
    }

    /// Resets the peak resident set (`VmHWM`) to the current one, so that the next read is this echo's peak.
    static func resetPeak(_ pid: Int32) {
        try? "5".write(toFile: "/proc/\(pid)/clear_refs", atomically: false, encoding: .utf8)
    }

    static func peakBytes(_ pid: Int32) -> Int { statusBytes(pid, "VmHWM:") }
    static func residentBytes(_ pid: Int32) -> Int { statusBytes(pid, "VmRSS:") }

    private static func statusBytes(_ pid: Int32, _ field: String) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field) }),
              let kilobytes = Int(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return kilobytes * 1024
    }
}
