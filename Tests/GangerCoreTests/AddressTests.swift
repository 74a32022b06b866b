import Testing
@testable import GangerCore

@Suite struct AddressTests {
    @Test(arguments: [
        ("0.0.0.0:5454", "0.0.0.0", UInt16(5454)), ("[::]:5454", "::", 5454), ("127.0.0.1:0", "127.0.0.1", 0),
        ("[::1]:80", "::1", 80)
    ])
    func listen_parsesNumericAddresses(text: String, host: String, port: UInt16) throws {
        let parsed = try HostPort.parseListen(text)
        #expect(parsed == HostPort(host: host, port: port))
        #expect(parsed.description == text)
    }

    @Test func listen_refusesHostNamesAndSaysWhy() {
        #expect(throws: ConfigError(path: "", message: "\"localhost:5454\": a listen address needs a numeric IP, "
            + "not a host name (e.g. 0.0.0.0:5454, 127.0.0.1:5454 or [::]:5454)")) {
            try HostPort.parseListen("localhost:5454")
        }
    }

    @Test(arguments: ["5454", "0.0.0.0", "0.0.0.0:", ":5454", "::1:80", "[::1]80", "[1.2.3.4]:80", "1.2.3.4:70000", "1.2.3.4:-1"])
    func listen_rejectsMalformed(text: String) {
        #expect(throws: ConfigError.self) { try HostPort.parseListen(text) }
    }

    /// Found by `make fuzz` (address, through SocketAddress): inet_pton reads a C string, so a
    /// host with a NUL byte passed as the address before it.
    @Test(arguments: ["127.0.0.1\u{0}evil:80", "[::\u{0}1]:80", "::\u{0}\u{0}:4]h://dIn@222:80"])
    func listen_hostWithANulByte_isRefused(text: String) {
        #expect(throws: ConfigError.self) { try HostPort.parseListen(text) }
        #expect(throws: ConfigError.self) { try HostPort.parseEndpoint(text) }
        #expect(throws: ConfigError.self) { try DaemonURL.parse("tcp://" + text) }
        #expect(throws: ConfigError.self) { try DaemonURL.parse("ssh://" + text) }
    }

    @Test func daemonURL_unixPathWithANulByte_isRefused() {
        #expect(throws: ConfigError.self) { try DaemonURL.parse("unix:///var/run/docker.sock\u{0}x") }
    }

    @Test func endpoint_acceptsNamesButNotPortZero() throws {
        #expect(try HostPort.parseEndpoint("consul.internal:8500") == HostPort(host: "consul.internal", port: 8500))
        #expect(throws: ConfigError.self) { try HostPort.parseEndpoint("consul:0") }
        #expect(throws: ConfigError.self) { try HostPort.parseEndpoint("bad_name!:8500") }
    }

    @Test func listen_conflicts_wildcardOverlapsSamePortOnly() {
        let any4 = HostPort(host: "0.0.0.0", port: 80)
        #expect(any4.conflicts(with: HostPort(host: "127.0.0.1", port: 80)))
        #expect(!any4.conflicts(with: HostPort(host: "127.0.0.1", port: 81)))
        #expect(HostPort(host: "::", port: 80).conflicts(with: HostPort(host: "10.0.0.1", port: 80)))
        #expect(!HostPort(host: "127.0.0.1", port: 80).conflicts(with: HostPort(host: "127.0.0.2", port: 80)))
        #expect(!HostPort(host: "127.0.0.1", port: 0).conflicts(with: HostPort(host: "127.0.0.1", port: 0)))
    }

    @Test(arguments: [
        ("unix:///var/run/docker.sock", DaemonURL.unix(path: "/var/run/docker.sock")),
        ("tcp://10.0.0.5:2376", .tcp(host: "10.0.0.5", port: 2376)),
        ("tcp://docker.internal:2375", .tcp(host: "docker.internal", port: 2375)),
        ("tcp://[2001:db8::1]:2375", .tcp(host: "2001:db8::1", port: 2375)),
        ("ssh://deploy@build1:2222", .ssh(user: "deploy", host: "build1", port: 2222)),
        ("ssh://build1", .ssh(user: nil, host: "build1", port: nil)),
        ("ssh://root@[2001:db8::1]", .ssh(user: "root", host: "2001:db8::1", port: nil)),
    ])
    func daemonURL_parsesAndRendersBack(text: String, expected: DaemonURL) throws {
        let url = try DaemonURL.parse(text)
        #expect(url == expected)
        #expect(url.description == text)
    }

    @Test(arguments: ["http://x:80", "/var/run/docker.sock", "unix://relative.sock", "unix://", "tcp://host",
                      "tcp://host:0", "tcp://host:2375/path", "ssh://", "ssh://@host", "ssh://host:99999"])
    func daemonURL_rejectsOthers(text: String) {
        #expect(throws: ConfigError.self) { try DaemonURL.parse(text) }
    }

    @Test(arguments: ["-oProxyCommand=touch /tmp/x", "-l", "a b", "me;id", "$(id)", "me`id`", "ü", "a@b", "a:b"])
    func daemonURL_sshUserThatCouldBeAnOptionOrCarryMetacharacters_isAConfigError(user: String) {
        #expect(throws: ConfigError(path: "", message: "\(shown("ssh://\(user)@build1")): the ssh user must be letters, "
            + "digits, '.', '_' or '-', not starting with '-' (it is passed to ssh)")) {
            try DaemonURL.parse("ssh://\(user)@build1")
        }
    }

    @Test func daemonURL_sshUserWithDotsDashesUnderscores_isAccepted() throws {
        #expect(try DaemonURL.parse("ssh://ci-bot.deploy_2@build1") == .ssh(user: "ci-bot.deploy_2", host: "build1", port: nil))
    }

    @Test func daemonURL_errorShowsTheAcceptedForms() {
        #expect(throws: ConfigError(path: "", message: "\"http://x:80\" is not a daemon URL "
            + "(use unix:///PATH, tcp://HOST:PORT or ssh://[USER@]HOST[:PORT])")) {
            try DaemonURL.parse("http://x:80")
        }
    }
}
