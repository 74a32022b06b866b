import Glibc

/// A numeric socket address: IPv4, IPv6 or a unix-socket path. No DNS: names are resolved
/// before they reach the loop (at config time or off-loop), so nothing here can block.
public enum SocketAddress: Sendable, Hashable, CustomStringConvertible {
    case v4(host: String, port: UInt16)
    case v6(host: String, port: UInt16)
    case unix(path: String)

    /// Parses `1.2.3.4:80`, `[::1]:80` or `unix:///path` / an absolute path.
    public init(parsing text: String) throws(AddressError) {
        if text.hasPrefix("unix://") {
            self = .unix(path: String(text.dropFirst(7)))
        } else if text.hasPrefix("/") {
            self = .unix(path: text)
        } else if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"),
                  text[text.index(after: close)...].hasPrefix(":"),
                  let port = UInt16(text[text.index(close, offsetBy: 2)...])
            else { throw AddressError(text: text, reason: "expected [IPv6]:PORT") }
            try self.init(host: String(text[text.index(after: text.startIndex)..<close]), port: port)
        } else {
            guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...])
            else { throw AddressError(text: text, reason: "expected HOST:PORT with a numeric port") }
            try self.init(host: String(text[..<colon]), port: port)
        }
    }

    /// A numeric host (v4 or v6 literal) and a port.
    public init(host: String, port: UInt16) throws(AddressError) {
        var v4 = in_addr()
        var v6 = in6_addr()
        // inet_pton reads a C string: "::\0anything" would pass as "::" and keep the tail.
        if host.utf8.contains(0) {
            throw AddressError(text: host, reason: "not a numeric IPv4 or IPv6 address (it holds a NUL byte)")
        } else if inet_pton(AF_INET, host, &v4) == 1 {
            self = .v4(host: host, port: port)
        } else if inet_pton(AF_INET6, host, &v6) == 1 {
            self = .v6(host: host, port: port)
        } else {
            throw AddressError(text: host, reason: "not a numeric IPv4 or IPv6 address")
        }
    }

    public var description: String {
        switch self {
        case let .v4(host, port): "\(host):\(port)"
        case let .v6(host, port): "[\(host)]:\(port)"
        case let .unix(path): "unix://\(path)"
        }
    }

    /// Resolves a host name with getaddrinfo. It BLOCKS: call it at startup or off the loop,
    /// never from a handler. Numeric hosts return at once.
    public static func resolveBlocking(host: String, port: UInt16) -> SocketAddress? {
        if let numeric = try? SocketAddress(host: host, port: port) { return numeric }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let first = result else { return nil }
        defer { freeaddrinfo(result) }
        var storage = sockaddr_storage()
        memcpy(&storage, first.pointee.ai_addr, Int(first.pointee.ai_addrlen))
        return SocketAddress(storage: storage)
    }

    /// The host part (IP literal or unix path): what per-source limits count by.
    public var host: String {
        switch self {
        case let .v4(host, _), let .v6(host, _): host
        case let .unix(path): path
        }
    }

    public var port: UInt16? {
        switch self {
        case let .v4(_, port), let .v6(_, port): port
        case .unix: nil
        }
    }

    public var family: CInt {
        switch self {
        case .v4: AF_INET
        case .v6: AF_INET6
        case .unix: AF_UNIX
        }
    }

    /// Lends the C representation for bind/connect.
    func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws(SyscallError) -> R) throws(SyscallError) -> R {
        switch self {
        case let .v4(host, port):
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = port.bigEndian
            inet_pton(AF_INET, host, &sa.sin_addr)
            return try withUnsafeBytes(of: &sa) { (raw) throws(SyscallError) -> R in
                try body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        case let .v6(host, port):
            var sa = sockaddr_in6()
            sa.sin6_family = sa_family_t(AF_INET6)
            sa.sin6_port = port.bigEndian
            inet_pton(AF_INET6, host, &sa.sin6_addr)
            return try withUnsafeBytes(of: &sa) { (raw) throws(SyscallError) -> R in
                try body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(MemoryLayout<sockaddr_in6>.size))
            }
        case let .unix(path):
            var sa = sockaddr_un()
            sa.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            let capacity = MemoryLayout.size(ofValue: sa.sun_path)
            guard bytes.count < capacity else { throw SyscallError("connect(unix path too long)", errno: ENAMETOOLONG) }
            withUnsafeMutableBytes(of: &sa.sun_path) { dst in
                dst.copyBytes(from: bytes)
                dst[bytes.count] = 0
            }
            return try withUnsafeBytes(of: &sa) { (raw) throws(SyscallError) -> R in
                try body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
    }

    /// Reads a kernel-filled `sockaddr_storage` (from accept4/getsockname/getpeername).
    init(storage: sockaddr_storage) {
        var storage = storage
        switch CInt(storage.ss_family) {
        case AF_INET:
            let sa = withUnsafeBytes(of: &storage) { $0.load(as: sockaddr_in.self) }
            var addr = sa.sin_addr
            self = .v4(host: Self.ntop(AF_INET, &addr, Int(INET_ADDRSTRLEN)), port: UInt16(bigEndian: sa.sin_port))
        case AF_INET6:
            let sa = withUnsafeBytes(of: &storage) { $0.load(as: sockaddr_in6.self) }
            var addr = sa.sin6_addr
            self = .v6(host: Self.ntop(AF_INET6, &addr, Int(INET6_ADDRSTRLEN)), port: UInt16(bigEndian: sa.sin6_port))
        default:
            let path = withUnsafeBytes(of: &storage) { raw in
                let sa = raw.load(as: sockaddr_un.self)
                return withUnsafeBytes(of: sa.sun_path) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            }
            self = .unix(path: path)
        }
    }

    private static func ntop(_ family: CInt, _ addr: UnsafeRawPointer, _ size: Int) -> String {
        var buffer = [CChar](repeating: 0, count: size)
        inet_ntop(family, addr, &buffer, socklen_t(size))
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// A socket address that does not parse; says which text and why.
public struct AddressError: Error, CustomStringConvertible, Sendable {
    public let text: String
    public let reason: String
    public var description: String { "\"\(text)\": \(reason)" }
}
