import Foundation
import HoistCore

/// Installs a Python handler's `requirements.txt` into the package at package time, as wheels for
/// Lambda's platform and Python version: a cold start then imports them from `/var/task` instead
/// of installing anything.
enum PythonRequirements {
    static func install(_ requirements: String, into directory: String, runtime: LambdaRuntime, options: LambdaPackageOptions) async throws {
        guard let version = runtime.pythonVersion else { return }
        guard let python = PackagingTool.find(options.python) else {
            throw HoistError(.invalidConfiguration, "\(options.python) is not installed, and it is needed to install \(requirements) with pip; install Python 3 with pip, or pass the path of one (--python)")
        }
        let check = try await PackagingTool.execute(python, ["-m", "pip", "--version"])
        guard check.status == 0 else {
            throw HoistError(
                .invalidConfiguration,
                "\(python) has no pip, which is needed to install \(requirements) (\(check.text.trimmingCharacters(in: .whitespacesAndNewlines))); make a virtualenv (python3 -m venv ~/.venv && ~/.venv/bin/pip --version) and activate it or pass --python ~/.venv/bin/python"
            )
        }
        let arguments = [
            "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
            "--target", directory,
            // Wheels for Lambda, not for this machine: its platform and Python version, binary only
            // (pip cannot build an sdist for another platform).
            "--platform", options.architecture.pipPlatform, "--implementation", "cp",
            "--python-version", version, "--only-binary=:all:",
            // Byte code compiled here would be for this machine's Python, not the runtime's.
            "--no-compile",
            "-r", requirements,
        ]
        options.log("installing \(requirements) for \(runtime) (\(options.architecture)): \(python) \(arguments.joined(separator: " "))")
        let pip = try await PackagingTool.stream(python, arguments, in: URL(fileURLWithPath: requirements).deletingLastPathComponent().path, log: options.log)
        guard pip.status == 0 else {
            throw HoistError(
                .invalidConfiguration,
                "pip could not install \(requirements) for \(runtime) on \(options.architecture.pipPlatform) (status \(pip.status)); every requirement needs a wheel for that platform and Python \(version):\n\(pip.tail)"
            )
        }
    }
}
