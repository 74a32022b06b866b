import Logging
import Testing
@testable import GangerCore

@Suite struct RemoteTransportTests {
    @Test func loopbackHosts_areRecognisedWithoutDNS() {
        for host in ["127.0.0.1", "127.1.2.3", "localhost", "::1"] { #expect(Supervisor.isLoopback(host), "\(host)") }
        for host in ["10.0.0.1", "127.example.com", "docker.internal", "::2", "0.0.0.0"] { #expect(!Supervisor.isLoopback(host), "\(host)") }
    }

    @Test func tcpDaemonWithTLS_isRefused_plainOneIsNot() throws {
        let logger = Logger(label: "test")
        #expect(throws: DockerError.self) {
            try Supervisor.checkTransport(DaemonConfig(url: .tcp(host: "127.0.0.1", port: 2376), tls: .init(certPath: "/c")), logger: logger)
        }
        try Supervisor.checkTransport(DaemonConfig(url: .tcp(host: "127.0.0.1", port: 2375)), logger: logger)
        try Supervisor.checkTransport(DaemonConfig(url: .unix(path: "/var/run/docker.sock")), logger: logger)
    }
}
