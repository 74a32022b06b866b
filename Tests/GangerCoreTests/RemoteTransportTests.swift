
import Testing
@testable import GangerCore

@Suite struct RemoteTransportTests {
    @Test func loopbackHosts_areRecognisedWithoutDNS() {
        for host in ["127.0.0.1", "127.1.2.3", "localhost", "::1"] { #expect(Supervisor.isLoopback(host), "\(host)") }
        for host in ["10.0.0.1", "127.example.com", "docker.internal", "::2", "0.0.0.0"] { #expect(!Supervisor.isLoopback(host), "\(host)") }
    }

    @Test func sshCommand_isTheDockerCLIsDialStdio_withBatchMode() {
        #expect(DockerClient.sshCommand(user: "ops", host: "10.0.0.5", port: 2222)
            == ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-T", "-l", "ops", "-p", "2222", "--", "10.0.0.5",
                "docker", "system", "dial-stdio"])
        #expect(DockerClient.sshCommand(user: nil, host: "h", port: nil)
            == ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-T", "--", "h", "docker", "system", "dial-stdio"])
    }
}
