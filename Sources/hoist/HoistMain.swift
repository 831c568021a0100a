import HoistCLI

@main
struct HoistMain {
    static func main() async {
        await HoistCommand.runFromCommandLine()
    }
}
