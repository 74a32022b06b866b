import EventLoop
import Testing
@testable import GangerCore

@Suite struct ProxyHeaderTests {
    @Test func v1_tcp4_matchesTheSpecsExample() throws {
        let header = ProxyHeader.v1(source: try SocketAddress(parsing: "192.168.0.1:56324"),
                                    destination: try SocketAddress(parsing: "192.168.0.11:443"))
        #expect(String(decoding: header, as: UTF8.self) == "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n")
    }

    @Test func v1_mixedFamilies_isUnknown() throws {
        let header = ProxyHeader.v1(source: try SocketAddress(parsing: "[::1]:1"), destination: try SocketAddress(parsing: "127.0.0.1:2"))
        #expect(String(decoding: header, as: UTF8.self) == "PROXY UNKNOWN\r\n")
    }

    @Test func v2_tcp4_bytes() throws {
        let header = ProxyHeader.v2(source: try SocketAddress(parsing: "10.1.2.3:4660"),
                                    destination: try SocketAddress(parsing: "127.0.0.1:80"))
        #expect(header == ProxyHeader.signature + [0x21, 0x11, 0x00, 12, 10, 1, 2, 3, 127, 0, 0, 1, 0x12, 0x34, 0x00, 0x50])
    }

    @Test func v2_tcp6_bytes() throws {
        let header = ProxyHeader.v2(source: try SocketAddress(parsing: "[2001:db8::1]:1"),
                                    destination: try SocketAddress(parsing: "[::ffff:1.2.3.4]:2"))
        let source: [UInt8] = [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1]
        let destination: [UInt8] = [UInt8](repeating: 0, count: 10) + [0xff, 0xff, 1, 2, 3, 4]
        #expect(header == ProxyHeader.signature + [0x21, 0x21, 0x00, 36] + source + destination + [0, 1, 0, 2])
        #expect(header.count == 16 + 36)
    }

    @Test func forClient_withoutTheLocalAddress_isNil_forBothVersions_soTheSessionEnds() throws {
        let source = try SocketAddress(parsing: "10.1.2.3:4660")
        #expect(ProxyHeader.forClient(.proxyV1, source: source, local: nil) == nil)
        #expect(ProxyHeader.forClient(.proxyV2, source: source, local: nil) == nil)
    }

    @Test func forClient_withTheLocalAddress_isThatVersionsHeader_andNoneOrEnvNeedNoAddress() throws {
        let source = try SocketAddress(parsing: "10.1.2.3:4660")
        let local = try SocketAddress(parsing: "127.0.0.1:80")
        #expect(ProxyHeader.forClient(.proxyV1, source: source, local: local) == ProxyHeader.v1(source: source, destination: local))
        #expect(ProxyHeader.forClient(.proxyV2, source: source, local: local) == ProxyHeader.v2(source: source, destination: local))
        var asked = false
        let unknown: () -> SocketAddress? = { asked = true; return nil }
        #expect(ProxyHeader.forClient(.none, source: source, local: unknown()) == [])
        #expect(ProxyHeader.forClient(.env, source: source, local: unknown()) == [])
        #expect(!asked, "getsockname is not called when no header is due")
    }
}
