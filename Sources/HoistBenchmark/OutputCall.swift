import Hoist
import HoistClient
import NIOConcurrencyHelpers
import NIOCore

/// Prints `lines` lines and returns how many: the function of the output figure.
let chatty = Function("chatty") { (lines: Int) -> Int in
    for i in 0..<lines { print("line \(i)") }
    return lines
}

extension Results {
    struct OutputFigure {
        /// p50 of a call that prints, and of a silent one, in seconds (median of the runs).
        var printing: Double
        var silent: Double
        /// The fewest lines any printing call delivered, and how many it printed.
        var delivered: Int
        var expected: Int
    }

    /// A call whose function prints `lines` lines with its output streamed back, against a
    /// silent call of the same function on the same path; counts the lines each call delivered.
    func outputCall(client: DaemonClient, app: String, lines: Int, runs: Int, calls: Int) async throws -> OutputFigure {
        func measure(_ count: Int) async throws -> (p50: Double, fewest: Int) {
            var p50s: [Double] = []
            var fewest = Int.max
            for run in 0...runs {
                var times: [Duration] = []
                for _ in 0..<calls {
                    let counted = NIOLockedValueBox(0)
                    let start = ContinuousClock.now
                    let answer = try await client.call(app: app, function: chatty.name, body: ByteBuffer(string: String(count))) { kind, bytes in
                        guard kind == .stdout else { return }
                        let newlines = bytes.readableBytesView.reduce(0) { $0 + ($1 == 10 ? 1 : 0) }
                        counted.withLockedValue { $0 += newlines }
                    }
                    times.append(ContinuousClock.now - start)
                    precondition(String(buffer: answer) == String(count))
                    fewest = min(fewest, counted.withLockedValue { $0 })
                }
                // The first run warms up.
                guard run > 0 else { continue }
                times.sort()
                p50s.append(HoistBench.toSeconds(times[times.count / 2]))
            }
            return (p50s.sorted()[p50s.count / 2], fewest)
        }
        let silent = try await measure(0)
        let printing = try await measure(lines)
        record("call printing \(lines) lines", [
            "p50_ms": printing.p50 * 1000, "silent_p50_ms": silent.p50 * 1000, "fewest_lines_delivered": printing.fewest, "lines": lines,
        ])
        return OutputFigure(printing: printing.p50, silent: silent.p50, delivered: printing.fewest, expected: lines)
    }
}
