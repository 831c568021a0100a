import Foundation
import HoistCore

#if canImport(Glibc)
import Glibc
#endif

/// What a crashed worker left behind, read and symbolicated by the daemon: the Swift runtime's
/// message ("Fatal error: …", or the trap's "Swift runtime failure: …"), where in the app it
/// happened, and the crashed thread's frames.
///
/// A worker runs with the Swift backtracer set to write an unsymbolicated JSON report into its
/// crash directory (a tenth of a second, where symbolicating a debug binary in the crashing
/// process takes seconds), and its crash handler writes there what it last printed to standard
/// error. The daemon symbolicates the few frames it needs with `llvm-symbolizer` when the
/// machine has one (every Swift toolchain does); without it, frames are image and offset.
struct CrashReport: Sendable {
    /// The crash in a phrase: `Fatal error: Index out of range`.
    var headline: String
    /// `TestApp.swift:83`: the first frame in the app's own code that has a source location.
    var location: String?
    /// The crashed thread's frames, innermost first, one line each.
    var frames: [String]
    /// The first frames from the app's own code on, for the caller.
    var firstFrames: [String]

    /// The `SWIFT_BACKTRACE` a worker runs with, unless its env sets one. On a cluster host
    /// that got the Swift runtime from the driver (`LD_LIBRARY_PATH`), the backtracer sent with
    /// it is named, since the runtime looks for one only inside a toolchain.
    static func backtraceSetting(directory: String, libraryPath: String?) -> String {
        var setting = "enable=yes,interactive=no,color=no,symbolicate=off,format=json,images=mentioned,registers=none,output-to=\(directory)"
        for entry in (libraryPath ?? "").split(separator: ":") where FileManager.default.isExecutableFile(atPath: "\(entry)/swift-backtrace-static") {
            setting += ",swift-backtrace=\(entry)/swift-backtrace-static"
            break
        }
        return setting
    }

    /// For the caller: the headline, where, and the first frames.
    var summary: String {
        var text = headline + (location.map { " at \($0)" } ?? "")
        for frame in firstFrames { text += "\n  " + frame }
        return text
    }

    /// For the app log: everything.
    var full: String {
        (["\(headline)\(location.map { " at \($0)" } ?? "")", "crashed thread:"] + frames.map { "  " + $0 }).joined(separator: "\n")
    }

    /// The id of the call a worker was running when it crashed, as its crash handler wrote it
    /// beside the report; `nil` when it was running none or left nothing.
    static func crashedCall(directory: String) -> UInt64? {
        (try? String(contentsOfFile: directory + "/" + HoistEnvironment.crashStderrFile + ".call", encoding: .utf8))
            .flatMap { UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// Reads the report a worker left in `directory`, or `nil` when it left none (it was killed,
    /// not crashed). `executable` is the app binary the worker ran.
    static func collect(directory: String, executable: String) async -> CrashReport? {
        let stderr = (try? String(contentsOfFile: directory + "/" + HoistEnvironment.crashStderrFile, encoding: .utf8)) ?? ""
        let json = (try? FileManager.default.contentsOfDirectory(atPath: directory))?.first { $0.hasSuffix(".json") }
        let backtrace = json.flatMap { try? JSONDecoder().decode(Backtrace.self, from: Data(contentsOf: URL(fileURLWithPath: directory + "/" + $0))) }
        let fatal = Self.fatalLine(in: stderr)
        guard fatal != nil || backtrace != nil else { return nil }

        var symbolicated: [[Symbol]] = []
        var inApp: [Bool] = []
        if let backtrace, let thread = backtrace.threads.first(where: { $0.crashed == true }) ?? backtrace.threads.first {
            let located = thread.frames.compactMap { frame -> (String, UInt64)? in
                guard let text = frame.address, var address = UInt64(text.dropFirst(2), radix: 16) else { return nil }
                // A return address points after the call: look up the call itself.
                if frame.kind == "returnAddress" { address -= 1 }
                guard let image = backtrace.images.first(where: { $0.contains(address) }) else { return ("?", address) }
                return (image.path, address - image.base)
            }
            symbolicated = await symbolicate(located)
            inApp = located.map { $0.0 == executable }
        }

        var headline = fatal.map { $0.message } ?? backtrace?.description ?? "crashed"
        if fatal == nil, let innermost = symbolicated.first?.first?.function, innermost.hasPrefix("Swift runtime failure: ") {
            headline = innermost
        }
        // The app's first frame with a place in its source; else where the runtime said.
        var location = fatal.map { "\(($0.file as NSString).lastPathComponent):\($0.line)" }
        var firstApp: Int?
        for (index, symbols) in symbolicated.enumerated() where inApp[index] {
            if let symbol = symbols.first(where: { $0.hasSource }) {
                location = "\((symbol.file as NSString).lastPathComponent):\(symbol.line)"
                firstApp = index
                break
            }
        }
        let frames = symbolicated.enumerated().flatMap { index, symbols in
            symbols.map { "#\(index) \($0.function)\($0.hasSource ? " at \($0.file):\($0.line)" : "")" }
        }
        let firstFrames = firstApp.map { start in
            symbolicated[start...].prefix(4).compactMap { $0.last }.map { "at \($0.shortFunction)\($0.hasSource ? " (\(($0.file as NSString).lastPathComponent):\($0.line))" : "")" }
        } ?? []
        return CrashReport(headline: headline, location: location, frames: frames, firstFrames: firstFrames)
    }

    /// The runtime's last line before a trap: `File.swift:12: Fatal error: message`.
    static func fatalLine(in text: String) -> (file: String, line: Int, message: String)? {
        for line in text.split(separator: "\n").reversed() {
            for kind in ["Fatal error", "Precondition failed", "Assertion failed"] {
                guard let range = line.range(of: ": \(kind)") else { continue }
                let place = line[..<range.lowerBound]
                guard let colon = place.lastIndex(of: ":"), let number = Int(place[place.index(after: colon)...]) else { continue }
                return (String(place[..<colon]), number, kind + line[range.upperBound...])
            }
        }
        return nil
    }

    struct Symbol {
        var function: String
        var file: String
        var line: Int
        var hasSource: Bool { line > 0 && !file.hasPrefix("<") && file != "??" && !file.hasPrefix("/<") }
        /// The function without the async machinery's and signatures' noise, for one line:
        /// `closure #1 in HoistTestApp.trap`, `HoistCore.Function.invoke`.
        var shortFunction: String {
            var name = function.replacingOccurrences(of: #"^\(\d+\) (suspend|await) resume partial function for "#, with: "", options: .regularExpression)
            for noise in ["protocol witness for ", "partial apply forwarder for ", "variable initialization expression of ", "merged ", "static "] {
                name = name.replacingOccurrences(of: noise, with: "")
            }
            // A private name: `(serve in _6F4D…)` is `serve`.
            name = name.replacingOccurrences(of: #"\((\w+) in _[0-9A-F]+\)"#, with: "$1", options: .regularExpression)
            func signatureless(_ text: Substring) -> String {
                let cut = [text.firstIndex(of: "("), text.range(of: " : ")?.lowerBound, text.range(of: " in conformance")?.lowerBound].compactMap { $0 }.min()
                return String(text[..<(cut ?? text.endIndex)])
            }
            if name.hasPrefix("closure #"), let within = name.range(of: " in ") {
                name = name[..<within.lowerBound].split(separator: " ").prefix(2).joined(separator: " ") + " in " + signatureless(name[within.upperBound...])
            } else {
                name = signatureless(name[...])
            }
            return name.count > 100 ? String(name.prefix(99)) + "…" : name
        }
    }

    /// Each frame's symbols (inlined ones first), from `llvm-symbolizer`; image and offset when
    /// there is none.
    private static func symbolicate(_ frames: [(image: String, offset: UInt64)]) async -> [[Symbol]] {
        let fallback = frames.map { [Symbol(function: "\(($0.image as NSString).lastPathComponent)+0x\(String($0.offset, radix: 16))", file: "??", line: 0)] }
        guard !frames.isEmpty, let tool = symbolizer else { return fallback }
        let input = frames.map { "\"\($0.image)\" 0x\(String($0.offset, radix: 16))" }.joined(separator: "\n") + "\n"
        guard let output = await run(tool, ["--inlines", "--functions=linkage"], input: input) else { return fallback }
        let blocks = output.components(separatedBy: "\n\n").map { $0.split(separator: "\n").map(String.init) }.filter { !$0.isEmpty }
        guard blocks.count == frames.count else { return fallback }
        return zip(blocks, fallback).map { block, fallback in
            var symbols: [Symbol] = []
            var lines = block[...]
            while lines.count >= 2 {
                let function = lines.removeFirst()
                let place = lines.removeFirst().split(separator: ":")
                let file = place.count >= 3 ? place.dropLast(2).joined(separator: ":") : place.first.map(String.init) ?? "??"
                let line = place.count >= 3 ? Int(place[place.count - 2]) ?? 0 : 0
                symbols.append(Symbol(function: function == "??" ? fallback[0].function : demangle(function), file: file, line: line))
            }
            return symbols.isEmpty ? fallback : symbols
        }
    }

    /// `llvm-symbolizer` on the `PATH` or beside `swift`.
    static let symbolizer: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        var directories = path.split(separator: ":").map(String.init) + ["/usr/bin"]
        for directory in directories where FileManager.default.isExecutableFile(atPath: directory + "/swift") {
            directories.append(URL(fileURLWithPath: directory + "/swift").resolvingSymlinksInPath().deletingLastPathComponent().path)
        }
        return directories.map { $0 + "/llvm-symbolizer" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    /// Runs a tool with `input` on its standard input; its output, or `nil` after 5 s or a failure.
    private static func run(_ tool: String, _ arguments: [String], input: String) async -> String? {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: tool)
                process.arguments = arguments
                let stdin = Pipe(), stdout = Pipe()
                process.standardInput = stdin
                process.standardOutput = stdout
                process.standardError = FileHandle.nullDevice
                do { try process.run() } catch { return continuation.resume(returning: nil) }
                let watchdog = DispatchWorkItem { if process.isRunning { process.terminate() } }
                DispatchQueue.global().asyncAfter(deadline: .now() + 5, execute: watchdog)
                stdin.fileHandleForWriting.write(Data(input.utf8))
                try? stdin.fileHandleForWriting.close()
                let data = stdout.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                watchdog.cancel()
                continuation.resume(returning: process.terminationStatus == 0 ? String(decoding: data, as: UTF8.self) : nil)
            }
        }
    }

    /// A Swift symbol's readable form (the runtime's demangler); other names as they are.
    static func demangle(_ name: String) -> String {
        guard name.hasPrefix("$s") || name.hasPrefix("_$s") else { return name }
        guard let result = name.withCString({ swift_demangle($0, strlen($0), nil, nil, 0) }) else { return name }
        defer { free(result) }
        return String(cString: result)
    }

    /// The parts of the Swift backtracer's JSON report that are read.
    struct Backtrace: Decodable {
        struct Thread: Decodable {
            var crashed: Bool?
            var frames: [Frame]
        }
        struct Frame: Decodable {
            var kind: String
            var address: String?
        }
        struct Image: Decodable {
            var path: String
            var baseAddress: String
            var endOfText: String
            var base: UInt64 { UInt64(baseAddress.dropFirst(2), radix: 16) ?? 0 }
            func contains(_ address: UInt64) -> Bool {
                address >= base && address < (UInt64(endOfText.dropFirst(2), radix: 16) ?? 0)
            }
        }
        var description: String
        var threads: [Thread]
        var images: [Image]
    }
}

@_silgen_name("swift_demangle")
private func swift_demangle(_ mangledName: UnsafePointer<CChar>?, _ mangledNameLength: Int, _ outputBuffer: UnsafeMutablePointer<CChar>?, _ outputBufferSize: UnsafeMutablePointer<Int>?, _ flags: UInt32) -> UnsafeMutablePointer<CChar>?
