import Glibc
import Testing
import TestSupport

/// Every Example's own ganger.yml, run as written except: its instance becomes the test's,
/// its listen and status addresses `127.0.0.1:0`, and (sandbox) its network one of the test's.
/// Images: `Examples/*/build.sh` (`make images`; `make test` builds them).
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ExamplesTests {
    /// Examples/NAME/ganger.yml with the test's instance, kernel-chosen loopback ports, and
    /// `replacements` (whole `key: value` text) applied.
    private func exampleConfig(_ example: String, instance: String, replacements: [(String, String)] = []) throws -> String {
        let text = try readTextFile("\(repositoryRoot)/Examples/\(example)/ganger.yml")
        var lines: [String] = []
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = String(raw)
            let trimmed = line.drop { $0 == " " }
            let indent = String(line.prefix(line.count - trimmed.count))
            if trimmed.hasPrefix("instance:") { line = "instance: \(instance)" }
            if trimmed.hasPrefix("listen:") { line = indent + "listen: 127.0.0.1:0" }
            if trimmed.hasPrefix("status:") { line = "status: {listen: 127.0.0.1:0}" }
            for (from, to) in replacements where line.contains(from) { line = line.replacing(from, with: to) }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }

    private func requireImage(_ image: String, _ build: String) throws {
        guard DockerCLI.imageExists(image) else { throw HarnessError("image \(image) missing (run \(build) or `make images`)") }
    }

    /// One whole session: `input`, half-close, everything until EOF (bounded).
    private func session(_ address: String, _ input: String, timeout: Duration = .seconds(20)) throws -> String {
        let client = try Client(address)
        defer { client.close() }
        try client.sendAll(Array(input.utf8))
        try client.shutdownWrite()
        let (bytes, end) = try client.receiveAll(timeout: timeout)
        guard end == .eof else { throw HarnessError("session ended by \(end) after \(bytes.count) bytes") }
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test func echo_theExampleConfigEchoes() async throws {
        let instance = uniqueInstance("ex-echo")
        let yaml = try exampleConfig("echo", instance: instance)
        try await withGanger(instance: instance, yaml: yaml, services: ["echo"]) { _, addresses in
            let address = try #require(addresses["echo"])
            let out = try await onThread { try self.session(address, "hello\n") }
            #expect(out == "hello\n")
        }
    }

    @Test func sandbox_filesOfOneClientNeverSeenByTheNext_noRouteOut_limitsApplied() async throws {
        try requireImage("ganger-sandbox:latest", "Examples/sandbox/build.sh")
        let instance = uniqueInstance("ex-sandbox")
        let network = "itest-sandbox-\(randomTag())"
        // As Examples/sandbox/build.sh makes it: internal, and its containers kept apart.
        _ = try await onThread { try DockerCLI.docker(["network", "create", "--internal", "-o", "com.docker.network.bridge.enable_icc=false", network]) }
        defer { _ = try? run(DockerCLI.path, ["-H", DockerCLI.daemonURL, "network", "rm", network], timeout: .seconds(30)) }
        let yaml = try exampleConfig("sandbox", instance: instance, replacements: [("network: ganger-sandbox", "network: \(network)")])
        try await withGanger(instance: instance, yaml: yaml, services: ["sandbox"]) { ganger, addresses in
            let address = try #require(addresses["sandbox"])
            let checks = Checks()
            defer { checks.report() }
            try await onThread {
                let first = try self.session(address, "echo top-secret > /tmp/secret; ls /tmp; id -u\nexit\n")
                checks.expect(first.contains("secret"), "client 1 could not write /tmp/secret:\n\(first)")
                checks.expect(first.contains("65534"), "the shell does not run as nobody:\n\(first)")
                let second = try self.session(address, "ls -a /tmp; cat /tmp/secret\nexit\n")
                checks.expect(!second.contains("top-secret"), "client 2 saw client 1's file:\n\(second)")
                checks.expect(second.contains("No such file"), "client 2:\n\(second)")
                // An internal network: Docker drops whatever the sessions send out of it (FORWARD),
                // here to a sibling echo container on the default bridge of the same daemon.
                let sibling = try DockerCLI.docker(["run", "-d", "--label", "ganger.instance=\(instance)", "ganger-echo:latest"])
                    .trimmingSuffix("\n")
                let siblingIP = try DockerCLI.inspect(sibling, format: "{{.NetworkSettings.IPAddress}}")
                let third = try self.session(address, "echo hi | nc -w 2 \(siblingIP) 12345; echo nc=$?\nexit\n")
                _ = try? DockerCLI.docker(["rm", "-f", sibling])
                checks.expect(third.contains("nc=1") && !third.contains("\nhi"), "the sandbox reached \(siblingIP):\n\(third)")
                // One client cannot enter another's live session: the sessions' own port
                // (`nc -ll` serves every connection) is out of reach from a sibling.
                let victim = try Client(address)
                defer { victim.close() }
                try victim.sendAll(Array("echo victim-ready\n".utf8))
                var ids: [String] = []
                _ = try poll(timeout: .seconds(10)) { ids = try DockerCLI.containers(instance: instance); return ids.count == 1 }
                guard ids.count == 1 else { throw HarnessError("the held session's container: \(ids)") }
                let victimIP = try DockerCLI.inspect(ids[0], format: "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")
                let intruder = try self.session(address, "echo 'echo INSIDE-$((6*7))' | nc -w 2 \(victimIP) 12345; echo nc=$?\nexit\n")
                checks.expect(!intruder.contains("INSIDE-42"), "a client reached another's session at \(victimIP):\n\(intruder)")
                victim.close()
                _ = try poll(timeout: .seconds(20)) { try DockerCLI.containers(instance: instance).isEmpty }
                checks.expect(!ganger.log.contains("can reach each other's ports"), "warned about a network whose sessions are apart:\n\(ganger.log)")
                // Nobody may write outside /tmp: the root filesystem is read-only.
                let fourth = try self.session(address, "touch /bin/x; echo touch=$?\nexit\n")
                checks.expect(fourth.contains("touch=1"), fourth)

                // Limits as configured, seen by Docker on a live session's container.
                let held = try Client(address)
                defer { held.close() }
                try held.sendAll(Array("echo ready\n".utf8))
                _ = try poll(timeout: .seconds(10)) { !(try DockerCLI.containers(instance: instance)).isEmpty }
                guard let id = try DockerCLI.containers(instance: instance).first else { throw HarnessError("no session container") }
                checks.expect(try DockerCLI.inspect(id, format: "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.NanoCpus}}")
                        == "\(64 << 20) 32 500000000")
                checks.expect(try DockerCLI.inspect(id, format: "{{.HostConfig.NetworkMode}}") == network)
                checks.expect(try DockerCLI.inspect(id, format: "{{.HostConfig.ReadonlyRootfs}} {{json .HostConfig.Tmpfs}} {{json .HostConfig.CapDrop}}")
                        == #"true {"/tmp":"rw,nosuid,nodev,size=16m"} ["ALL"]"#)
            }
        }
    }

    @Test func sqlite_eachConnectionGetsAPrivateDatabase() async throws {
        try requireImage("ganger-sqlite:latest", "Examples/sqlite/build.sh")
        let instance = uniqueInstance("ex-sqlite")
        let yaml = try exampleConfig("sqlite", instance: instance)
        try await withGanger(instance: instance, yaml: yaml, services: ["sqlite"]) { _, addresses in
            let address = try #require(addresses["sqlite"])
            let checks = Checks()
            defer { checks.report() }
            try await onThread {
                let first = try self.session(address, "INSERT INTO cities VALUES ('Graz','AT',291072);\nSELECT count(*) AS n FROM cities;\n")
                checks.expect(first.contains("7"), "client 1:\n\(first)")
                let second = try self.session(address, "SELECT count(*) AS n FROM cities;\nSELECT name FROM cities WHERE name = 'Graz';\n")
                checks.expect(second.contains("6") && !second.contains("Graz"), "client 2 saw client 1's insert:\n\(second)")
                let grouped = try self.session(address, "SELECT country, sum(population) AS people FROM cities GROUP BY country ORDER BY people DESC;\n")
                checks.expect(grouped.contains("DE       5647373"), grouped)
            }
        }
    }

    @Test func httpd_eachConnectionIsServedByAContainerOfItsOwn() async throws {
        try requireImage("ganger-httpd:latest", "Examples/httpd/build.sh")
        let instance = uniqueInstance("ex-httpd")
        let yaml = try exampleConfig("httpd", instance: instance)
        try await withGanger(instance: instance, yaml: yaml, services: ["httpd"]) { _, addresses in
            let address = try #require(addresses["httpd"])
            let checks = Checks()
            defer { checks.report() }
            try await onThread {
                var seen: Set<String> = []
                for _ in 0..<3 {
                    let out = try self.session(address, "GET /cgi-bin/whoami HTTP/1.0\r\nHost: x\r\n\r\n")
                    checks.expect(out.hasPrefix("HTTP/1.") && out.contains("200"), out)
                    let container = out.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }).first { $0.hasPrefix("container ") }.map(String.init) ?? ""
                    checks.expect(!container.isEmpty, out)
                    seen.insert(container)
                }
                checks.expect(seen.count == 3, "three connections, containers: \(seen)")
                let page = try self.session(address, "GET / HTTP/1.0\r\n\r\n")
                checks.expect(page.contains("busybox httpd"), page)
            }
        }
    }
}
