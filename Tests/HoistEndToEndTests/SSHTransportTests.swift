import Foundation
import HoistCluster
import HoistClient
import HoistCore
import HoistSSH
import Testing

/// The loopback SSH hosts started by `scripts/testbed/ssh-hosts up` (scripts/test does it).
enum TestHosts {
    static var directory: String {
        ProcessInfo.processInfo.environment["TESTBED_DIR"] ?? Binaries.packageRoot + "/.build-testbed/ssh"
    }

    static func host(_ name: String) throws -> SSHHost {
        let config = directory + "/ssh_config"
        guard FileManager.default.fileExists(atPath: config) else {
            throw SSHError(.unreachable, host: name, "the SSH test hosts are not set up: run scripts/testbed/ssh-hosts up (as root), or the tests with scripts/test")
        }
        return SSHHost(name, configFile: config)
    }

    /// Runs a scenario of the test app against the test hosts, with a Hoist home of its own
    /// (where the scenario's clusters are saved) and the hosts' ssh configuration.
    static func scenario(_ name: String, environment: [String: String] = [:]) throws -> Command.Output {
        _ = try host("hoist-a")  // a clear error when the test hosts are not up
        let home = try TestDaemon()  // not started: only its home and environment are used
        defer { home.shutdown() }
        var merged = home.environment
        merged["HOIST_TEST_SSH_CONFIG"] = directory + "/ssh_config"
        merged.merge(environment) { _, new in new }
        return try Command.run(Binaries.testApp, [name], environment: merged)
    }

    /// A transport with a control directory of its own, so tests do not share master
    /// connections; its master connection is closed afterwards.
    static func withTransport<T>(_ name: String, _ body: (SSHTransport) async throws -> T) async throws -> T {
        let ssh = SSHTransport(host: try host(name), controlDirectory: NSTemporaryDirectory() + "hoist-t-" + UUID().uuidString.prefix(6))
        do {
            let result = try await body(ssh)
            await ssh.disconnect()
            return result
        } catch {
            await ssh.disconnect()
            throw error
        }
    }
}

@Suite("Clusters of SSH hosts", .serialized)
struct ClusterTests {
    @Test("a driver deploys its own binary to an SSH host, calls it through the tunnel, and stops the daemon")
    func driverOnOneHost() async throws {
        let run = try TestHosts.scenario("cluster", environment: ["HOIST_TEST_SSH_HOST": "hoist-a", "HOIST_TEST_SECRET": "cluster-secret-value"])
        #expect(run.status == 0, "\(run.stderr)")
        let lines = Set(run.stdout.split(separator: "\n").map(String.init))
        for line in ["clusterAdd=42", "clusterUser=hoist-a", "[shout] shouting far", "clusterShout=FAR", "clusterMap=true", "secretFromFile=11", "clusterEnv=remote,20,true",
                     "clusterPackages=hoist-a", "missingPackage=deployFailed,true", "stillServing=4", "afterTunnelDrop=3", "resent=false,started=false", "saved=true", "clusterDown=ok"] {
            #expect(lines.contains(line), "missing \(line) in \(run.stdout)")
        }
        // The env's setup ran on the host, and what it printed was shown to the caller.
        #expect(run.stderr.contains("setup] preparing remote"), "\(run.stderr)")
        // The secret reached the host only in its 0600 file, not its logs.
        let log = try String(contentsOfFile: "/home/hoist-a/.hoist/logs/daemon.log", encoding: .utf8)
        #expect(!log.contains("cluster-secret-value"))
        let attributes = try FileManager.default.attributesOfItem(atPath: "/home/hoist-a/.hoist/apps/testapp/secrets.json")
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
    }

    @Test("a map spreads over two hosts, and survives one host's daemon being killed mid-map")
    func twoHosts() async throws {
        let run = try TestHosts.scenario("cluster-pair")
        #expect(run.status == 0, "\(run.stderr)")
        let lines = Set(run.stdout.split(separator: "\n").map(String.init))
        for line in ["pairReplicas=4", "pairOrdered=true", "pairUsers=hoist-a,hoist-b", "killOrdered=true", "killUsers=hoist-a,hoist-b", "pairDown=ok"] {
            #expect(lines.contains(line), "missing \(line) in \(run.stdout)")
        }
        #expect(run.stderr.contains("hoist-b stopped answering"), "no warning about the dropped host in: \(run.stderr)")
        // down(deleteApps:) stopped both daemons and removed what was installed.
        for user in ["hoist-a", "hoist-b"] {
            #expect(!FileManager.default.fileExists(atPath: "/home/\(user)/.hoist/daemon.pid"))
            #expect(!FileManager.default.fileExists(atPath: "/home/\(user)/.hoist/apps/testapp"))
        }
    }

    @Test("a tunnel reaches the host's daemon on its private socket; a host refusing socket forwards gets TCP with the token; a home needing quotes works")
    func socketTunnels() async throws {
        let run = try TestHosts.scenario("cluster-socket")
        #expect(run.status == 0, "\(run.stderr)")
        let lines = Set(run.stdout.split(separator: "\n").map(String.init))
        for line in ["hoist-a.call=42", "hoist-a.nested=42", "hoist-a.fanOut=90,11,3", "hoist-a.crash=workerCrashed,true", "hoist-a.endpoint=http+unix", "hoist-a.again=false,socket+socket", "hoist-a.status=[\"testapp\"]",
                     "hoist-nosock.call=42", "hoist-nosock.endpoint=http", "hoist-nosock.again=false,port", "hoist-nosock.status=[\"testapp\"]",
                     "hoist-quote.call=42", "hoist-quote.endpoint=http+unix", "hoist-quote.again=false,socket+socket", "hoist-quote.down=ok"] {
            #expect(lines.contains(line), "missing \(line) in \(run.stdout)")
        }
        #expect(run.stderr.contains("hoist-nosock's sshd refuses to forward its daemon's Unix socket"), "no warning in: \(run.stderr)")
        // hoist-a's and hoist-nosock's daemons were left running for these checks.
        let left = try ["hoist-a", "hoist-nosock"].map { Cluster("socket-\($0)", hosts: [try TestHosts.host($0)]) }
        do {
            try await checkSocketTunnels(lines)
        } catch {
            for cluster in left { try? await cluster.down() }
            throw error
        }
        for cluster in left { try await cluster.down() }
    }

    private func checkSocketTunnels(_ lines: Set<String>) async throws {
        // Nothing of hoist-a's daemon listens on TCP: only its socket, 0600 in a 0700 home.
        let pid = try #require(lines.first { $0.hasPrefix("hoist-a.pid=") }.map { String($0.dropFirst("hoist-a.pid=".count)) })
        let listening = try Command.run("/usr/bin/ss", ["-Hltnp"]).stdout
        #expect(!listening.contains("pid=\(pid),"), "hoist-a's daemon (pid \(pid)) listens on TCP: \(listening)")
        #expect(!FileManager.default.fileExists(atPath: "/home/hoist-a/.hoist/daemon.port"))
        #expect((try FileManager.default.attributesOfItem(atPath: "/home/hoist-a/.hoist/daemon.sock")[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect((try FileManager.default.attributesOfItem(atPath: "/home/hoist-a/.hoist")[.posixPermissions] as? NSNumber)?.intValue == 0o700)
        // Another user of the host (hoist-b) cannot open it.
        try await TestHosts.withTransport("hoist-b") { other in
            let socket = try await other.run("curl -s -o /dev/null -w '%{http_code}' --unix-socket /home/hoist-a/.hoist/daemon.sock -d '[1,2]' http://localhost/testapp/add")
            #expect(socket.stdout == "000", "\(socket)")
        }
        // The host that refuses socket forwards: its daemon is on loopback TCP, with the token
        // on every route.
        let port = try String(contentsOfFile: "/home/hoist-nosock/.hoist/daemon.port", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        try await TestHosts.withTransport("hoist-a") { other in
            let tcp = try await other.run("curl -s -o /dev/null -w '%{http_code}' -d '[1,2]' http://127.0.0.1:\(port)/testapp/add")
            #expect(tcp.stdout == "401", "\(tcp)")
        }
        // hoist-quote's daemon ran from its quoted home and was removed with its apps.
        let quoteHome = "/home/hoist q'uote $x;y"
        #expect(FileManager.default.fileExists(atPath: quoteHome + "/.hoist/logs/daemon.log"))
        #expect(!FileManager.default.fileExists(atPath: quoteHome + "/.hoist/apps/testapp"), "down(deleteApps:) left the app")
    }

    @Test("a daemon on the host's address: .none needs the token (401 otherwise) and refuses foreign Hosts and Origins, .tls pins the certificate")
    func connections() async throws {
        let nonePort = try TestDaemon.freePort(on: "127.0.0.2")
        let tlsPort = try TestDaemon.freePort(on: "127.0.0.3")
        let run = try TestHosts.scenario("cluster-modes", environment: ["HOIST_TEST_NONE_PORT": String(nonePort), "HOIST_TEST_TLS_PORT": String(tlsPort)])
        #expect(run.status == 0, "\(run.stderr)")
        let lines = Set(run.stdout.split(separator: "\n").map(String.init))
        for line in ["noneCall=42", "noneEndpoint=http://127.0.0.2:\(nonePort)/testapp/add", "noneWrongToken=unauthorized", "noneMissingToken=unauthorized", "noneRebound=421", "noneCrossOrigin=403",
                     "tlsCall=42", "tlsEndpoint=https://127.0.0.3:\(tlsPort)/testapp/add", "tlsBadPin=certificateMismatch", "modesDown=ok"] {
            #expect(lines.contains(line), "missing \(line) in \(run.stdout)")
        }
        // The pin saved in the cluster's config is the fingerprint of the certificate on the host.
        let pem = try String(contentsOfFile: "/home/hoist-b/.hoist/tls/cert.pem", encoding: .utf8)
        #expect(lines.contains("tlsPinned=\(try CertificateFingerprint.sha256(pem: pem))"), "\(run.stdout)")
    }

    @Test("a daemon of an older protocol with no runs in flight is replaced by this program's")
    func olderDaemonReplaced() async throws {
        let host = try TestHosts.host("hoist-b")
        let ssh = SSHTransport(host: host)
        let port = try TestDaemon.freePort(on: "127.0.0.1")
        // A stand-in for a daemon of an older Hoist: it answers health with protocol 0.
        let fake = #"""
            import http.server, json, os, sys
            class Health(http.server.BaseHTTPRequestHandler):
                def do_GET(self):
                    body = json.dumps({"status": "ok", "protocolVersion": 0, "pid": os.getpid(), "version": "0.0-old", "home": os.getcwd(), "startedAt": 0}).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                def log_message(self, *args):
                    pass
            http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Health).serve_forever()
            """#
        try await ClusterControl(cluster: Cluster("older", hosts: [host])).down()
        try await ssh.check("""
            mkdir -p ~/.hoist; cd ~/.hoist; cat > old-daemon.py
            test -s daemon.token || echo old-token > daemon.token
            setsid nohup python3 old-daemon.py \(port) > /dev/null 2>&1 < /dev/null &
            echo $! > daemon.pid; echo \(port) > daemon.port; echo 'tunnel 127.0.0.1 auto' > daemon.mode
            sleep 0.5
            """, stdin: Data(fake.utf8))
        let oldPid = try #require(Int32(try await ssh.check("cat ~/.hoist/daemon.pid").trimmingCharacters(in: .whitespacesAndNewlines)))

        let cluster = Cluster("older", hosts: [host])
        let connected = try await HostBootstrap(host: host, cluster: cluster, executable: Binaries.hoist).connect()
        #expect(connected.started)
        #expect(connected.health.protocolVersion == DaemonAPI.protocolVersion)
        #expect(connected.health.pid != oldPid)
        // Gone, or a zombie: this sandbox's PID 1 does not reap orphans.
        #expect(try await ssh.run("kill -0 \(oldPid) 2>/dev/null && ! grep -qs '^State:.*Z' /proc/\(oldPid)/status").status != 0, "the old daemon still runs")
        try await ClusterControl(cluster: cluster).down()
    }

    @Test("a host whose user may sudo apt-get gets an Env's missing system packages installed")
    func systemPackagesInstalled() async throws {
        // `sl` stands for any small package the host lacks; removed again afterwards.
        _ = try Command.run("/usr/bin/apt-get", ["remove", "-y", "-q", "sl"], environment: ["DEBIAN_FRONTEND": "noninteractive"])
        defer { _ = try? Command.run("/usr/bin/apt-get", ["remove", "-y", "-q", "sl"], environment: ["DEBIAN_FRONTEND": "noninteractive"]) }
        #expect(try Command.run("/usr/bin/dpkg-query", ["-W", "-f=${Status}", "sl"]).stdout.contains("install ok installed") == false)

        let run = try TestHosts.scenario("cluster-apt")
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("aptUser=hoist-b"), "\(run.stdout)")
        #expect(run.stderr.contains("[hoist-b apt] "), "apt's output was not shown: \(run.stderr)")
        #expect(try Command.run("/usr/bin/dpkg-query", ["-W", "-f=${Status}", "sl"]).stdout.contains("install ok installed"))
    }


    @Test("hoist cluster up, list, status, ssh, down and remove manage a saved cluster")
    func commandLine() async throws {
        let config = TestHosts.directory + "/ssh_config"
        _ = try TestHosts.host("hoist-b")
        let daemon = try TestDaemon()  // only for its home, where the cluster config is saved
        defer { daemon.shutdown() }

        let up = try daemon.hoist(["cluster", "up", "cli", "--host", "hoist-b", "--ssh-config", config])
        #expect(up.status == 0, "\(up.stderr)")
        #expect(up.stdout.contains("hoist-b") && up.stdout.contains("daemon pid"), "\(up.stdout)")
        #expect(FileManager.default.fileExists(atPath: daemon.home.root + "/clusters/cli.json"))

        let list = try daemon.hoist(["cluster", "list"])
        #expect(list.stdout.contains("cli  tunnel  hoist-b"), "\(list.stdout)")

        let status = try daemon.hoist(["cluster", "status", "cli", "--json"])
        #expect(status.status == 0, "\(status.stderr)")
        let hosts = try JSONDecoder().decode([ClusterControl.HostStatus].self, from: Data(status.stdout.utf8))
        #expect(hosts.count == 1 && hosts[0].reachable && hosts[0].daemonPid != nil && hosts[0].hoistVersion != nil)

        // The daemon listens on its socket only, and another user of the host (hoist-a) cannot
        // open it.
        #expect(DaemonClient.isSocket("/home/hoist-b/.hoist/daemon.sock"))
        #expect(hosts.first?.daemonSocket == "/home/hoist-b/.hoist/daemon.sock" && hosts.first?.daemonPort == nil)
        try await TestHosts.withTransport("hoist-a") { other in
            let socket = try await other.run("curl -s -o /dev/null -w '%{http_code}' --unix-socket /home/hoist-b/.hoist/daemon.sock http://localhost/_hoist/runs")
            #expect(socket.stdout == "000", "\(socket)")
        }

        let ssh = try daemon.hoist(["cluster", "ssh", "cli", "--", "whoami"])
        #expect(ssh.status == 0 && ssh.stdout == "hoist-b\n", "\(ssh.stdout) \(ssh.stderr)")

        let down = try daemon.hoist(["cluster", "down", "cli"])
        #expect(down.status == 0, "\(down.stderr)")
        let after = try JSONDecoder().decode([ClusterControl.HostStatus].self, from: Data(try daemon.hoist(["cluster", "status", "cli", "--json"]).stdout.utf8))
        #expect(after.first?.daemonPid == nil)

        let missing = try daemon.hoist(["cluster", "status", "nope"])
        #expect(missing.status == 2 && missing.stderr.contains("no saved cluster named 'nope'"), "\(missing.stderr)")

        #expect(try daemon.hoist(["cluster", "remove", "cli"]).status == 0)
        #expect(try daemon.hoist(["cluster", "list"]).stdout.contains("no saved clusters"))
    }
}

@Suite("SSH transport against loopback sshd hosts", .serialized)
struct SSHTransportTests {
    @Test("commands run as the host's user over one master connection")
    func commands() async throws {
        try await TestHosts.withTransport("hoist-a") { ssh in
            #expect(try await ssh.check("whoami") == "hoist-a\n")
            #expect(await ssh.isConnected())
            let status = try await ssh.run("exit 3")
            #expect(status.status == 3)
            let echoed = try await ssh.run("cat", stdin: Data("through stdin".utf8))
            #expect(echoed.stdout == "through stdin")
        }
        try await TestHosts.withTransport("hoist-b") { other in
            let user = try await other.check("whoami")
            #expect(user == "hoist-b\n")
        }
    }

    @Test("rsync uploads a file, and again when it is unchanged")
    func upload() async throws {
        let local = NSTemporaryDirectory() + "hoist-upload-" + UUID().uuidString
        try Data(repeating: 7, count: 100_000).write(to: URL(fileURLWithPath: local))
        defer { try? FileManager.default.removeItem(atPath: local) }
        try await TestHosts.withTransport("hoist-a") { ssh in
            let remote = "upload-test-\(UUID().uuidString.prefix(8))"
            try await ssh.upload(local, to: remote)
            #expect(try await ssh.check("wc -c < \(remote)").trimmingCharacters(in: .whitespacesAndNewlines) == "100000")
            try await ssh.upload(local, to: remote)
            _ = try await ssh.run("rm -f \(remote)")
        }
    }

    @Test("a wrong key is an authentication error naming the host")
    func wrongKey() async throws {
        let key = NSTemporaryDirectory() + "hoist-wrong-key-" + UUID().uuidString.prefix(6)
        let generate = Process()
        generate.executableURL = URL(fileURLWithPath: "/usr/bin/ssh-keygen")
        generate.arguments = ["-q", "-t", "ed25519", "-N", "", "-f", key]
        try generate.run()
        generate.waitUntilExit()
        // A configuration of its own, with its own known_hosts: the user's files stay untouched.
        let config = key + ".config"
        try "UserKnownHostsFile \(key).known_hosts\n".write(toFile: config, atomically: true, encoding: .utf8)
        defer {
            for suffix in ["", ".pub", ".config", ".known_hosts"] { try? FileManager.default.removeItem(atPath: key + suffix) }
        }
        let host = SSHHost("127.0.0.2", user: "hoist-a", identityFile: key, configFile: config)
        let ssh = SSHTransport(host: host, controlDirectory: NSTemporaryDirectory() + "hoist-t-" + UUID().uuidString.prefix(6))
        let error = await #expect(throws: SSHError.self) { try await ssh.run("true") }
        #expect(error?.code == .authenticationFailed)
        #expect(error?.description.contains("hoist-a@127.0.0.2") == true)
    }

    @Test("an address where nothing listens is unreachable, said plainly")
    func unreachable() async throws {
        let config = NSTemporaryDirectory() + "hoist-unreachable-" + UUID().uuidString.prefix(6)
        try "UserKnownHostsFile \(config).known_hosts\n".write(toFile: config, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: config) }
        let host = SSHHost("127.0.0.9", user: "nobody", configFile: config)
        let ssh = SSHTransport(host: host, controlDirectory: NSTemporaryDirectory() + "hoist-t-" + UUID().uuidString.prefix(6))
        let error = await #expect(throws: SSHError.self) { try await ssh.run("true") }
        #expect(error?.code == .unreachable)
        #expect(error?.message.contains("cannot connect") == true)
    }

    @Test("a host without rsync is a clear error that says to install it")
    func noRsync() async throws {
        let local = NSTemporaryDirectory() + "hoist-upload-" + UUID().uuidString
        try Data("x".utf8).write(to: URL(fileURLWithPath: local))
        defer { try? FileManager.default.removeItem(atPath: local) }
        try await TestHosts.withTransport("hoist-norsync") { ssh in
            let error = await #expect(throws: SSHError.self) { try await ssh.upload(local, to: "never-there") }
            #expect(error?.code == .rsyncMissing)
            #expect(error?.message.contains("install it") == true)
        }
    }
}
