import Glibc
import Testing
import TestSupport

/// Daemon 3 of the `TCPDaemons` set, started with `--tlsverify` on its loopback port, with
/// a CA, server and client certificates made by openssl for the test (in /run/ganger-remote/tls,
/// made once). `otherClient*` is a client certificate from a different CA, which the daemon
/// must refuse. Judged and cleaned up through its unix socket.
enum TLSDaemon {
    static let k = 3
    static let directory = "\(TCPDaemons.runDirectory)/tls"
    static let unixURL = "unix://\(TCPDaemons.runDirectory)/dockerd-3.sock"
    /// Its tcp:// URL; throws until `requireEnvironment()` has started it.
    static var url: String { get throws { try TCPDaemons.url(k) } }

    /// The certificates, then the daemon (both only if missing), then ganger-echo on it.
    static func requireEnvironment() throws {
        try TCPDaemons.requireEnvironment()
        if access("\(directory)/other-client-cert.pem", R_OK) != 0 {
            let script = """
                set -e; mkdir -p \(directory); cd \(directory)
                key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$1" 2>/dev/null; }
                ca() { key "$1-key.pem"; openssl req -x509 -new -key "$1-key.pem" -out "$1.pem" -days 3 -subj "/CN=ganger-test-$1"; }
                cert() { key "$1-key.pem"; openssl req -new -key "$1-key.pem" -out "$1.csr" -subj "/CN=$3"
                    printf '%s\\n' "$4" > "$1.ext"
                    openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2-key.pem" -CAcreateserial -out "$1-cert.pem" -days 3 -extfile "$1.ext" 2>/dev/null; }
                ca ca; ca other-ca
                cert server ca 127.0.0.1 'subjectAltName=IP:127.0.0.1
                extendedKeyUsage=serverAuth'
                cert client ca ganger 'extendedKeyUsage=clientAuth'
                cert other-client other-ca ganger 'extendedKeyUsage=clientAuth'
                """
            let made = try run("/bin/sh", ["-c", script], timeout: .seconds(30))
            guard made.status == .exited(0) else { throw HarnessError("openssl certificates: \(made.status)\n\(made.stderr)") }
        }
        if !answers() || (try? url) == nil {
            let result = try run("/usr/bin/env", TCPDaemons.environment + ["GANGER_MULTI_TLS=\(directory)",
                ExtraDaemons.packageRoot + "/scripts/dockerd-multi.sh", "up", "\(k)"], timeout: .seconds(150))
            guard result.status == .exited(0) else { throw HarnessError("dockerd-multi.sh up \(k) (TLS): \(result.status)\n\(result.stderr)") }
        }
        let build = try run("/usr/bin/env", ["DOCKER_HOST=\(unixURL)", ExtraDaemons.packageRoot + "/Examples/echo/build.sh"], timeout: .seconds(120))
        guard build.status == .exited(0) else { throw HarnessError("ganger-echo on \(unixURL): \(build.status)\n\(build.stderr)") }
    }

    static func answers() -> Bool {
        (try? run(DockerCLI.path, ["-H", unixURL, "version", "--format", "{{.Server.Version}}"], timeout: .seconds(10)).status) == .exited(0)
    }

    @discardableResult
    static func docker(_ arguments: [String]) throws -> String {
        let result = try run(DockerCLI.path, ["-H", unixURL] + arguments, timeout: .seconds(60))
        guard result.status == .exited(0) else { throw HarnessError("docker -H \(unixURL) \(arguments): \(result.stderr)") }
        return result.stdout
    }

    static func containers(instance: String, all: Bool = true) throws -> [String] {
        try docker(["ps", "-q", "--no-trunc", "--filter", "label=ganger.instance=\(instance)"] + (all ? ["-a"] : []))
            .split(separator: "\n").map(String.init)
    }

    /// Force-removes the instance's containers; returns what is left.
    static func removeAll(instance: String) throws -> [String] {
        let ids = try containers(instance: instance)
        if !ids.isEmpty { try docker(["rm", "-f", "-v"] + ids) }
        return try containers(instance: instance)
    }

    static func yaml(instance: String, client: String) throws -> String {
        ([
            "instance: \(instance)",
            "daemons:",
            "  - url: \(try url)",
            "    max_containers: 4",
            "    tls: {ca: \(directory)/ca.pem, cert: \(directory)/\(client)-cert.pem, key: \(directory)/\(client)-key.pem}",
            "services:", ServiceYAML.echo().yaml,
            "status: {listen: 127.0.0.1:0}", "docker_timeout: 30s", "shutdown_grace: 2s", "log: {level: debug, format: text}",
        ]).joined(separator: "\n") + "\n"
    }
}

/// Runs ganger with `yaml` (its daemon: the TLS daemon, however it is found), opens 2 sessions
/// of 128 KiB each way, and expects 2 containers on the TLS daemon, then none once they end. The
/// teardown (also on failure) stops ganger and removes the instance's containers there.
func expectTwoSessionsThroughTLSDaemon(instance: String, yaml: String) async throws {
    let ganger = try await onThread { try GangerProcess(instance: instance, yaml: yaml) }
    defer {
        _ = try? ganger.terminate(signal: SIGTERM, timeout: .seconds(15))
        let left = (try? TLSDaemon.removeAll(instance: instance)) ?? ["(cannot list)"]
        #expect(left.isEmpty, "teardown: containers of \(instance) left: \(left)")
    }
    let addresses = try await onThread { try ganger.waitUntilListening(["echo"]) }
    let address = try #require(addresses["echo"])
    let held = HeldClients()
    defer { held.closeAll() }
    let running = try await onThread { () throws -> Int in
        do {
            for i in 0..<2 { held.clients.append(try openEchoingClient(address, tag: "tls \(i)")) }
        } catch {
            throw HarnessError("\(error)\n\(ganger.log)")
        }
        try echoBulk(held.clients, bytes: 128 << 10, through: "the TLS daemon")
        return try TLSDaemon.containers(instance: instance, all: false).count
    }
    #expect(running == 2, "containers on the TLS daemon with 2 sessions open: \(running)\n\(ganger.log)")
    held.closeAll()
    let gone = try await onThread { try poll(timeout: .seconds(30), interval: .milliseconds(200)) { try TLSDaemon.containers(instance: instance).isEmpty } }
    #expect(gone, "containers left after the sessions ended\n\(ganger.log)")
}
