import Hoist

/// Two ordinary Swift functions, named so that they can be found on the far side.
let summer = Function("summer") { (a: Int, b: Int) in a + b }

let shout = Function("shout", parameters: "text") { (text: String) in
    print("shouting \(text)")  // printed in the worker, shown here while the call runs
    return text.uppercased()
}

@main
struct Demo: HoistApp {
    static let name = "demo"
    static let functions: [any HoistFunction] = [summer, shout]

    static func run() async throws {
        let remoteSum = try await summer.to(.local)  // starts the local daemon if needed
        print("summer(1, 2) = \(try await remoteSum(1, 2))  (computed in a worker process)")

        let remoteShout = try await shout.to(.local)
        print("shout(\"hello\") = \(try await remoteShout("hello"))")

        print("endpoints: \(remoteSum.endpoint), \(remoteShout.endpoint)")
        // Over the daemon's private socket no token is needed; over TCP, the token is.
        let home = HoistHome.current
        print("try: curl --unix-socket \(home.daemonSocket) -d '[1,2]' http://localhost/demo/summer")
        print(" or: curl -H \"Authorization: Bearer $(cat \(home.controlTokenFile))\" -d '[1,2]' \(remoteSum.endpoint)")
    }
}
