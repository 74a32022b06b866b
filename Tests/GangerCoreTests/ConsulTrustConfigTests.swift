import Glibc
import Testing
@testable import GangerCore

private let services = """
    services:
      - name: echo
        listen: 0.0.0.0:5454
        image: ganger-echo:latest
        port: 12345
    """

private func parse(_ yaml: String) throws(ConfigErrors) -> GangerConfig {
    try ConfigLoader.parse(yaml: yaml + services, source: "test.yml", environment: [:])
}

private func errors(_ yaml: String) -> [String] {
    do {
        _ = try parse(yaml)
        return []
    } catch {
        return error.errors.map { "\($0.path): \($0.message)" }
    }
}

/// `consul:`'s trust keys: token, scheme and CA, allowed address kinds, the tag cap limit, insecure.
@Suite struct ConsulTrustConfigTests {
    @Test func defaults_refuseWhatATrustBoundaryShould() throws {
        let consul = try #require(try parse("consul: {}\n").consul)
        #expect(consul.token == nil && consul.tokenFile == nil)
        #expect(consul.scheme == .http && consul.caFile == nil)
        #expect(consul.allowAddresses.isEmpty)
        #expect(consul.maxContainersLimit == 256)
        #expect(!consul.insecure)
    }

    @Test func everyKey_decoded_andRenderedBack_tokenHiddenUnlessShowSecrets() throws {
        let config = try parse("""
            consul: {token: s3cr3t-token, scheme: https, ca_file: /etc/consul/ca.pem, allow_addresses: [loopback, link-local],
                     max_containers_limit: 32, insecure: true}

            """)
        let consul = try #require(config.consul)
        #expect(consul.token == "s3cr3t-token")
        #expect(consul.scheme == .https && consul.caFile == "/etc/consul/ca.pem")
        #expect(consul.allowAddresses == [.loopback, .linkLocal])
        #expect(consul.maxContainersLimit == 32 && consul.insecure)
        let shown = config.renderYAML()
        #expect(!shown.contains("s3cr3t-token"))
        #expect(shown.contains("  token: \"***\""))
        #expect(shown.contains("  scheme: https\n  ca_file: /etc/consul/ca.pem\n  allow_addresses: [link-local, loopback]\n"
            + "  max_containers_limit: 32\n  insecure: true\n"), "\(shown)")
        let secrets = config.renderYAML(showSecrets: true)
        #expect(secrets.contains("  token: s3cr3t-token\n"))
        #expect(try ConfigLoader.parse(yaml: secrets, source: "rendered", environment: [:]) == config)
        let file = try parse("consul: {token_file: /run/secrets/consul}\n")
        #expect(file.consul?.tokenFile == "/run/secrets/consul")
        #expect(file.renderYAML().contains("  token_file: /run/secrets/consul\n"))
    }

    @Test func conflicts_andUnknownKinds_areErrors() {
        #expect(errors("consul: {token: a, token_file: /b}\n") == ["consul.token_file: give either token or token_file, not both"])
        #expect(errors("consul: {ca_file: /ca.pem}\n") == ["consul.ca_file: applies only with scheme: https"])
        #expect(errors("consul: {allow_addresses: [loopback, everything]}\n") == [
            "consul.allow_addresses: everything is not one of unspecified, loopback, link-local, multicast",
        ])
        #expect(errors("consul: {scheme: ftp}\n").first?.hasPrefix("consul.scheme:") == true)
        #expect(errors("consul: {max_containers_limit: -1}\n").first?.hasPrefix("consul.max_containers_limit:") == true)
    }

    @Test func optIns_areWarnedAbout_defaultsAreNot() throws {
        #expect(try parse("consul: {}\n").warnings() == [])
        #expect(try parse("consul: {token: t, scheme: https, daemon_cert_path: /c}\n").warnings() == [])
        let open = try parse("consul: {token: t, insecure: true, allow_addresses: [loopback]}\n").warnings()
        #expect(open.map { String($0.prefix { $0 != ":" }) } == ["consul.insecure", "consul.token", "consul.allow_addresses"])
    }

    @Test func tokenFile_readOnce_trimmed_errorsNameTheKeyAndFile() throws {
        let path = "/tmp/ganger-token-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { unlink(path) }
        var config = ConsulConfig()
        config.tokenFile = path
        #expect(throws: StartupError.self) { try ConsulDiscovery.token(config) }
        do {
            _ = try ConsulDiscovery.token(config)
        } catch {
            #expect(error.description.hasPrefix("consul.token_file: \(path): cannot read: No such file or directory"), "\(error)")
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        #expect(fd >= 0)
        _ = "  abc-123\n".withCString { write(fd, $0, 10) }
        close(fd)
        #expect(try ConsulDiscovery.token(config) == "abc-123")
        config.tokenFile = nil
        config.token = "inline"
        #expect(try ConsulDiscovery.token(config) == "inline")
    }
}
