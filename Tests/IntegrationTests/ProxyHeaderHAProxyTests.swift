import EventLoop
@testable import GangerCore
import Glibc
import Testing
import TestSupport

/// Ganger's PROXY headers (v1 and v2, IPv4 and IPv6 clients) read by a real reader: Debian's
/// HAProxy with `accept-proxy` on a loopback listener, in front of an echo of the source
/// address (`http-request return` printing `%[src] %[src_port] %[dst] %[dst_port]`, which are
/// what HAProxy took from the header). The fuzz target `proxy` checks the same headers against
/// a reader written from the spec; this one checks them against the implementation services
/// actually run.
@Suite(.serialized) struct ProxyHeaderHAProxyTests {
    static let clients: [(source: SocketAddress, destination: SocketAddress)] = [
        (.v4(host: "203.0.113.7", port: 40001), .v4(host: "198.51.100.20", port: 443)),
        // Port 1, not 0: HAProxy prints %[src_port] 0 as nothing (and no client has port 0).
        (.v4(host: "10.0.0.1", port: 1), .v4(host: "255.255.255.255", port: 65535)),
        (.v6(host: "2001:db8::7", port: 40001), .v6(host: "2001:db8:ffff::1", port: 443)),
        (.v6(host: "::ffff:192.0.2.9", port: 1), .v6(host: "fe80::1:2:3:4", port: 8080)),
        (.v6(host: "2001:db8:1:2:3:4:5:6", port: 65535), .v6(host: "::", port: 7)),
    ]

    @Test func gangersHeaders_v1AndV2_IPv4AndIPv6_areAcceptedWithTheSameAddresses() throws {
        let haproxy = try EchoBehindHAProxy()
        defer { haproxy.stop() }
        for mode in [ServiceConfig.ClientAddress.proxyV1, .proxyV2] {
            for (source, destination) in Self.clients {
                let header = try #require(ProxyHeader.forClient(mode, source: source, local: destination))
                let seen = try haproxy.echo(header)
                #expect(seen == "\(Self.text(source)) \(Self.text(destination))", "\(mode): \(source) → \(destination)")
            }
        }
    }

    @Test func mixedFamilies_unknownAndLocal_makeHAProxyUseTheRealConnection() throws {
        let haproxy = try EchoBehindHAProxy()
        defer { haproxy.stop() }
        for mode in [ServiceConfig.ClientAddress.proxyV1, .proxyV2] {
            let header = try #require(ProxyHeader.forClient(mode, source: .v4(host: "203.0.113.7", port: 1),
                                                             local: .v6(host: "::1", port: 2)))
            let seen = try haproxy.echo(header)
            #expect(seen.hasPrefix("127.0.0.1 ") && seen.hasSuffix(" 127.0.0.1 \(haproxy.port)"), "\(mode): \(seen)")
        }
    }

    /// The control: HAProxy refuses a header that breaks the spec, so the checks above can fail.
    @Test func aBrokenHeader_isRefused() throws {
        let haproxy = try EchoBehindHAProxy()
        defer { haproxy.stop() }
        #expect(throws: HarnessError.self) { try haproxy.echo(Array("PROXY TCP4 203.0.113.7 40001\r\n".utf8)) }
        #expect(throws: HarnessError.self) { try haproxy.echo(ProxyHeader.signature + [0x21, 0x11, 0x00, 4, 1, 2, 3, 4]) }
    }

    /// `HOST PORT` as HAProxy prints an address.
    static func text(_ address: SocketAddress) -> String {
        switch address {
        case let .v4(host, port), let .v6(host, port): "\(host) \(port)"
        case let .unix(path): path
        }
    }
}

/// HAProxy on a free loopback port of its own, its config in a temp dir; stopped (SIGTERM to
/// our own child) and the dir removed by `stop()`.
final class EchoBehindHAProxy {
    let directory: String
    let port: UInt16
    let process: SpawnedProcess

    init() throws {
        guard access("/usr/sbin/haproxy", X_OK) == 0 else {
            throw HarnessError("haproxy missing: make test-deps (or apt-get install haproxy)")
        }
        var template = Array("/tmp/ganger-haproxy-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw HarnessError("mkdtemp: \(String(cString: strerror(errno)))")
        }
        directory = String(cString: made)
        port = try freeLoopbackPort()
        try writeFile("\(directory)/haproxy.cfg", """
            global
                maxconn 64
            defaults
                mode http
                timeout connect 5s
                timeout client 5s
                timeout server 5s
            frontend echo
                bind 127.0.0.1:\(port) accept-proxy
                http-request return status 200 content-type text/plain lf-string "%[src] %[src_port] %[dst] %[dst_port]"

            """)
        process = try SpawnedProcess("/usr/sbin/haproxy", ["-db", "-f", "\(directory)/haproxy.cfg"])
        let port = port
        let up = poll(timeout: .seconds(10), interval: .milliseconds(50)) { (try? Client(host: "127.0.0.1", port: port))?.close() != nil }
        guard up else {
            stop()
            throw HarnessError("haproxy did not listen on 127.0.0.1:\(port)\n\(process.stderr)")
        }
    }

    /// Sends `header` and a request; returns the echoed addresses, or throws when HAProxy
    /// closed without answering (a header it refused).
    func echo(_ header: [UInt8]) throws -> String {
        let client = try Client(host: "127.0.0.1", port: port)
        defer { client.close() }
        try client.sendAll(header + Array("GET / HTTP/1.0\r\n\r\n".utf8), timeout: .seconds(5))
        let (bytes, _) = try client.receiveAll(timeout: .seconds(5), limit: 64 << 10)
        let reply = String(decoding: bytes, as: UTF8.self)
        guard reply.hasPrefix("HTTP/1.1 200 "), let blank = reply.firstRange(of: "\r\n\r\n") else {
            throw HarnessError("haproxy refused the header (\(bytes.count) bytes back: \(reply.prefix(200)))")
        }
        return String(reply[blank.upperBound...])
    }

    func stop() {
        _ = try? process.terminate(signal: SIGTERM, timeout: .seconds(10))
        _ = try? run("/bin/rm", ["-rf", directory], timeout: .seconds(10))
    }
}
