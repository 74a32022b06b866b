import Glibc

/// A host and a TCP port: a listen address (`0.0.0.0:5454`, `[::]:5454`, `127.0.0.1:0`) or a
/// remote endpoint such as a Consul agent (`consul.internal:8500`).
///
/// `host` never carries brackets; `description` adds them back around IPv6 addresses.
public struct HostPort: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// Parses an address to listen on. The host must be a numeric IPv4 or IPv6 address
    /// (resolving a name would block the event loop and could yield several addresses);
    /// port 0 asks the kernel for a free port.
    public static func parseListen(_ text: String) throws(ConfigError) -> HostPort {
        let parsed = try split(text)
        guard isNumericIP(parsed.host) else {
            throw ConfigError(path: "", message: "\(shown(text)): a listen address needs a numeric IP, "
                + "not a host name (e.g. 0.0.0.0:5454, 127.0.0.1:5454 or [::]:5454)")
        }
        return parsed
    }

    /// Parses a remote endpoint `HOST:PORT` where HOST may also be a DNS name; port 0 is refused.
    public static func parseEndpoint(_ text: String) throws(ConfigError) -> HostPort {
        let parsed = try split(text)
        guard parsed.port != 0 else {
            throw ConfigError(path: "", message: "\(shown(text)): port 0 is not a port to connect to (1-65535)")
        }
        guard isNumericIP(parsed.host) || isHostName(parsed.host) else {
            throw ConfigError(path: "", message: "\(shown(text)): \(shown(parsed.host)) is neither an IP address nor a host name")
        }
        return parsed
    }

    /// `host:port`, with the host in brackets when it is an IPv6 address.
    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// True for `0.0.0.0` and `::`, which overlap every other address of their port.
    public var isWildcard: Bool {
        host == "0.0.0.0" || host == "::"
    }

    /// True when two listeners could not both bind: same port (not 0) and same or wildcard host.
    /// `::` counts as overlapping IPv4 too, since Linux binds it dual-stack by default
    /// (`net.ipv6.bindv6only=0`).
    public func conflicts(with other: HostPort) -> Bool {
        guard port != 0, port == other.port else { return false }
        if host == other.host || host == "::" || other.host == "::" { return true }
        let bothV4 = !host.contains(":") && !other.host.contains(":")
        return bothV4 && (host == "0.0.0.0" || other.host == "0.0.0.0")
    }

    /// Splits `HOST:PORT` or `[V6]:PORT`; the port must be 0-65535.
    private static func split(_ text: String) throws(ConfigError) -> HostPort {
        let usage = "\(shown(text)) is not an address (use HOST:PORT or [IPV6]:PORT, e.g. 0.0.0.0:5454)"
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"),
                  text[text.index(after: close)...].hasPrefix(":") else {
                throw ConfigError(path: "", message: usage)
            }
            host = text[text.index(after: text.startIndex)..<close]
            guard host.contains(":") else { throw ConfigError(path: "", message: usage) }
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else {
                throw ConfigError(path: "", message: usage)
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, !portText.isEmpty else { throw ConfigError(path: "", message: usage) }
        guard portText.allSatisfy({ $0.isASCII && $0.isNumber }), let port = UInt16(portText) else {
            throw ConfigError(path: "", message: "\(shown(text)): \(shown(String(portText))) is not a port (0-65535)")
        }
        return HostPort(host: String(host), port: port)
    }

    /// inet_pton(3) decides, so that exactly what the kernel accepts is accepted.
    static func isNumericIP(_ host: String) -> Bool {
        // inet_pton reads a C string: "::\0anything" would pass as "::" and keep the tail.
        guard !host.utf8.contains(0) else { return false }
        var buffer = (UInt64(0), UInt64(0))
        return withUnsafeMutableBytes(of: &buffer) { raw in
            inet_pton(AF_INET, host, raw.baseAddress) == 1 || inet_pton(AF_INET6, host, raw.baseAddress) == 1
        }
    }

    /// RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens.
    static func isHostName(_ host: String) -> Bool {
        guard !host.isEmpty, host.utf8.count <= 253 else { return false }
        return host.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            !label.isEmpty && label.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
                && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }
    }
}
