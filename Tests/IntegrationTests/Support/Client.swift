import Glibc
import TestSupport

/// A blocking TCP client for the test's side of a session. Every call is bounded: connect by a
/// poll timeout, send and receive by SO_SNDTIMEO / SO_RCVTIMEO plus an overall deadline.
/// Run it on a thread of its own (`onThread`), never on the concurrency pool.
final class Client {
    let fd: CInt
    private var closed = false

    /// Connects to `host:port` (IPv4 literal) within `timeout`.
    init(host: String, port: UInt16, timeout: Duration = .seconds(5)) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            Glibc.close(fd)
            throw HarnessError("\(host) is not an IPv4 address")
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if rc != 0 {
            guard errno == EINPROGRESS else { throw fail("connect \(host):\(port)") }
            var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let ready = Glibc.poll(&p, 1, Int32(timeout.milliseconds))
            guard ready == 1 else { throw fail("connect \(host):\(port): no answer within \(timeout)", errno: ETIMEDOUT) }
            var error: Int32 = 0
            var length = socklen_t(4)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
            guard error == 0 else { throw fail("connect \(host):\(port)", errno: error) }
        }
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)
        setTimeouts(.seconds(2))
    }

    /// Convenience for `HOST:PORT` text as ganger prints it.
    convenience init(_ address: String, timeout: Duration = .seconds(5)) throws {
        guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]) else {
            throw HarnessError("\(address) is not HOST:PORT")
        }
        try self.init(host: String(address[..<colon]), port: port, timeout: timeout)
    }

    deinit { close() }

    private func fail(_ what: String, errno code: Int32 = errno) -> HarnessError {
        Glibc.close(fd)
        closed = true
        return HarnessError("\(what): \(String(cString: strerror(code)))")
    }

    /// Bounds each single send and recv.
    func setTimeouts(_ limit: Duration) {
        var tv = timeval(tv_sec: Int(limit.components.seconds), tv_usec: Int(limit.milliseconds % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// The local `ip:port`, as ganger sees the client (its `ganger.client` label).
    var localAddress: String {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        inet_ntop(AF_INET, &address.sin_addr, &text, socklen_t(text.count))
        return "\(String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)):\(UInt16(bigEndian: address.sin_port))"
    }

    /// Sends every byte within `timeout` overall.
    func sendAll(_ bytes: [UInt8], timeout: Duration = .seconds(30)) throws {
        let deadline = ContinuousClock.now + timeout
        var offset = 0
        while offset < bytes.count {
            guard ContinuousClock.now < deadline else { throw HarnessError("send: \(offset) of \(bytes.count) bytes within \(timeout)") }
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw HarnessError("send after \(offset) bytes: \(String(cString: strerror(errno)))")
            }
            offset += n
        }
    }

    /// Reads exactly `count` bytes within `timeout`; throws at EOF or timeout.
    func receive(count: Int, timeout: Duration = .seconds(30)) throws -> [UInt8] {
        let deadline = ContinuousClock.now + timeout
        var result = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            guard ContinuousClock.now < deadline else { throw HarnessError("recv: \(offset) of \(count) bytes within \(timeout)") }
            let n = result.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + offset, count - offset, 0) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw HarnessError("recv after \(offset) of \(count) bytes: \(String(cString: strerror(errno)))")
            }
            if n == 0 { throw HarnessError("EOF after \(offset) of \(count) bytes") }
            offset += n
        }
        return result
    }

    /// How a read-to-the-end went.
    enum End: Equatable { case eof, reset, timedOut }

    /// Reads until EOF, a reset or `timeout`, at most `limit` bytes; returns what came and how it ended.
    func receiveAll(timeout: Duration = .seconds(30), limit: Int = 64 << 20) throws -> (bytes: [UInt8], end: End) {
        let deadline = ContinuousClock.now + timeout
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while ContinuousClock.now < deadline {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                if errno == ECONNRESET { return (result, .reset) }
                throw HarnessError("recv after \(result.count) bytes: \(String(cString: strerror(errno)))")
            }
            if n == 0 { return (result, .eof) }
            result += chunk[0..<n]
            guard result.count <= limit else { throw HarnessError("more than \(limit) bytes") }
        }
        return (result, .timedOut)
    }

    /// shutdown(SHUT_WR): our half-close.
    func shutdownWrite() throws {
        guard shutdown(fd, Int32(SHUT_WR)) == 0 else { throw HarnessError("shutdown: \(String(cString: strerror(errno)))") }
    }

    func close() {
        guard !closed else { return }
        closed = true
        Glibc.close(fd)
    }
}

extension Duration {
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}

/// One echo round trip through `address`: sends `payload`, half-closes, reads to EOF; throws
/// unless exactly the payload came back.
func echoSession(_ address: String, payload: [UInt8], timeout: Duration = .seconds(30)) throws {
    let client = try Client(address)
    try client.sendAll(payload, timeout: timeout)
    try client.shutdownWrite()
    let (bytes, end) = try client.receiveAll(timeout: timeout)
    guard end == .eof, bytes == payload else {
        throw HarnessError("echo via \(address): sent \(payload.count) bytes, got \(bytes.count) back, ended by \(end)"
            + (bytes.count == payload.count ? " (contents differ)" : ""))
    }
}
