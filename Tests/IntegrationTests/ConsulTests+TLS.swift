import Glibc
import Testing
import TestSupport

/// `consul.daemon_tls` / `daemon_cert_path`: a daemon found in Consul that requires mutual TLS
/// (`TLSDaemon`, dockerd with `--tlsverify` on a loopback port) is reached with the
/// configured client certificates.
extension ConsulTests {
    /// A `DOCKER_CERT_PATH`-style directory (ca.pem, cert.pem, key.pem) of links to the test's
    /// client certificates; the caller removes it.
    static func certPathDirectory() throws -> String {
        let tls = TLSDaemon.directory
        let made = try run("/bin/sh", ["-c", """
            set -e; d=$(mktemp -d /tmp/ganger-itest-certs-XXXXXX)
            ln -s \(tls)/ca.pem "$d/ca.pem"; ln -s \(tls)/client-cert.pem "$d/cert.pem"; ln -s \(tls)/client-key.pem "$d/key.pem"
            echo "$d"
            """], timeout: .seconds(10))
        guard made.status == .exited(0) else { throw HarnessError("cert_path directory: \(made.stderr)") }
        return made.stdout.trimmingSuffix("\n")
    }

    @Test func tlsDaemonInTheCatalog_daemonCertPath_sessionsServedOverMutualTLS_noLeftovers() async throws {
        try await onThread { try TLSDaemon.requireEnvironment() }
        let certs = try await onThread { try Self.certPathDirectory() }
        defer { _ = try? run("/bin/rm", ["-rf", certs], timeout: .seconds(10)) }
        let consul = try FixtureConsul(datacenters: ["dc1"])
        defer { consul.stop() }
        consul.set([try Self.instance(TLSDaemon.k, dc: "dc1", cap: 3)])
        let instance = uniqueInstance("consultls")
        let yaml = Self.yaml(instance: instance, consul: consul, datacenters: ["dc1"], consulExtra: ["  daemon_cert_path: \(certs)"])
        try await expectTwoSessionsThroughTLSDaemon(instance: instance, yaml: yaml)
    }

    @Test func daemonTLS_missingCertificateFile_exit2_namingIt_beforeAnyDaemonIsUsed() async throws {
        let consul = try FixtureConsul(datacenters: ["dc1"])
        defer { consul.stop() }
        // Never dialled: the missing certificates stop ganger first.
        consul.set([try Self.instance(TLSDaemon.k, dc: "dc1", cap: 3, port: 1)])
        let instance = uniqueInstance("consultlsmissing")
        let config = try ConfigFile(Self.yaml(instance: instance, consul: consul, datacenters: ["dc1"],
                                              consulExtra: ["  daemon_cert_path: /nonexistent-ganger-certs"]))
        let result = try await onThread { try ganger(["run", "-c", config.path], timeout: .seconds(30)) }
        #expect(result.status == .exited(2), "\(result)")
        #expect(result.stderr.contains("consul.daemon_tls") && result.stderr.contains("/nonexistent-ganger-certs/ca.pem"), "\(result.stderr)")
        // `ganger check` accepts the file: the certificates are only read by `run`.
        let check = try await onThread { try ganger(["check", "-c", config.path], timeout: .seconds(30)) }
        #expect(check.status == .exited(0) && check.stdout.contains("    ca: /nonexistent-ganger-certs/ca.pem"), "\(check)")
    }
}
