import Foundation
import HoistCLI
import HoistCore
import HoistDaemon

@main
struct HoistMain {
    static func main() async {
        // Like every Hoist binary, the CLI can be a cluster host's daemon (`HOIST_ROLE=daemon`).
        if ProcessInfo.processInfo.environment[HoistEnvironment.role] == "daemon" {
            do {
                try await Daemon().run()
            } catch {
                FileHandle.standardError.write(Data("hoist daemon: \(error)\n".utf8))
                exit(1)
            }
            return
        }
        await HoistCommand.runFromCommandLine()
    }
}
