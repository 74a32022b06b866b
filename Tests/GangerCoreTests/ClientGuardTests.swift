import EventLoop
import Glibc
@testable import GangerCore
import Testing

/// Dead and idle clients end by default: the defaults, what `ganger check` shows, and the
/// options a client's socket gets.
@Suite struct ClientGuardTests {
    @Test func defaults_endAnIdleClientIn10Minutes_andAVanishedOneInAbout2() {
        let session = ServiceConfig.Session()
        #expect(session.idleTimeout == .seconds(600))
        #expect(session.keepalive == .init(idle: .seconds(60), interval: .seconds(10), count: 6))
        #expect(session.userTimeout == .seconds(120))
    }

    @Test func keepaliveAndUserTimeout_areConfigurable_andRenderedByCheck() throws {
        let yaml = """
            services:
              - name: echo
                listen: 127.0.0.1:0
                image: ganger-echo:latest
                port: 12345
                session: {idle_timeout: 0s, keepalive: {idle: 30s, interval: 5s, count: 3}, user_timeout: 45s}
            """
        let config = try ConfigLoader.parse(yaml: yaml, source: "test.yml", environment: [:])
        let session = config.services[0].session
        #expect(session.idleTimeout == .zero)
        #expect(session.keepalive == .init(idle: .seconds(30), interval: .seconds(5), count: 3))
        #expect(session.userTimeout == .seconds(45))
        #expect(config.renderYAML().contains("keepalive: {idle: 30s, interval: 5s, count: 3}, user_timeout: 45s"))
    }

    @Test func aClientSocket_getsKeepaliveProbesAndTheUserTimeout() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        Supervisor.guardClient(fd, .init(keepalive: .init(idle: .seconds(61), interval: .seconds(7), count: 4), userTimeout: .seconds(90)))
        #expect(try Socket.option(fd, level: SOL_SOCKET, name: SO_KEEPALIVE) == 1)
        #expect(try Socket.option(fd, level: Int32(IPPROTO_TCP), name: TCP_KEEPIDLE) == 61)
        #expect(try Socket.option(fd, level: Int32(IPPROTO_TCP), name: TCP_KEEPINTVL) == 7)
        #expect(try Socket.option(fd, level: Int32(IPPROTO_TCP), name: TCP_KEEPCNT) == 4)
        #expect(try Socket.option(fd, level: Int32(IPPROTO_TCP), name: TCP_USER_TIMEOUT) == 90_000)
    }

    @Test func keepaliveIdle0_leavesTheSocketAlone() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        Supervisor.guardClient(fd, .init(keepalive: .init(idle: .zero), userTimeout: .zero))
        #expect(try Socket.option(fd, level: SOL_SOCKET, name: SO_KEEPALIVE) == 0)
        #expect(try Socket.option(fd, level: Int32(IPPROTO_TCP), name: TCP_USER_TIMEOUT) == 0)
    }
}
