import Glibc

/// Blocking IPv4 client sockets for the cold-start and container-throughput measurements: one
/// connection at a time on the bench's thread, every call bounded by a socket timeout.
enum TCPClient {
    enum ConnectResult {
        case connected(Int32)
        case refused
        case failed(String)
    }

    /// One blocking connect to `host:port`, bounded by `timeoutMs` (SO_SNDTIMEO); the socket gets
    /// a `receiveTimeout`-second SO_RCVTIMEO for the reads that follow.
    static func connect(host: String, port: UInt16, timeoutMs: Int = 2_000, receiveTimeout: Int = 30) -> ConnectResult {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failed("socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        setTimeouts(fd, seconds: timeoutMs / 1000, microseconds: (timeoutMs % 1000) * 1000)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            close(fd)
            return .failed("bad IPv4 address \(host)")
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 {
            let code = errno
            close(fd)
            return code == ECONNREFUSED ? .refused : .failed("connect \(host):\(port): \(String(cString: strerror(code)))")
        }
        setTimeouts(fd, seconds: receiveTimeout)
        return .connected(fd)
    }

    /// Connects until accepted: a refused attempt is retried at once (no sleep), up to
    /// `deadline` seconds. Returns the socket and the number of refused attempts.
    static func connectUntilAccepted(host: String, port: UInt16, deadline: Double) throws(BenchError) -> (fd: Int32, refused: Int) {
        let end = monotonicSeconds() + deadline
        var refused = 0
        while true {
            switch connect(host: host, port: port, timeoutMs: 1_000) {
            case let .connected(fd):
                return (fd, refused)
            case .refused:
                refused += 1
                if monotonicSeconds() > end { throw BenchError("\(host):\(port) refused \(refused) connects in \(deadline) s") }
            case let .failed(message):
                throw BenchError(message)
            }
        }
    }

    /// Sends one byte and waits for the first byte back; throws on EOF, error or timeout.
    static func pingOneByte(_ fd: Int32) throws(BenchError) {
        var byte: UInt8 = 0x2a
        guard send(fd, &byte, 1, Int32(MSG_NOSIGNAL)) == 1 else { throw BenchError("send: \(String(cString: strerror(errno)))") }
        try firstByte(fd)
    }

    /// One short session on loopback: connect to `port`, one byte sent, its echo back, close.
    static func echoOnce(port: UInt16, receiveTimeout: Int = 30) throws(BenchError) {
        guard case let .connected(fd) = connect(host: "127.0.0.1", port: port, timeoutMs: 5_000, receiveTimeout: receiveTimeout) else {
            throw BenchError("connect 127.0.0.1:\(port) failed")
        }
        defer { close(fd) }
        try pingOneByte(fd)
    }

    /// Waits for the first byte from `fd`.
    static func firstByte(_ fd: Int32) throws(BenchError) {
        var byte: UInt8 = 0
        while true {
            let n = recv(fd, &byte, 1, 0)
            if n < 0 && errno == EINTR { continue }
            if n == 1 { return }
            throw BenchError(n == 0 ? "EOF before the first byte" : "recv: \(String(cString: strerror(errno)))")
        }
    }

    struct Stream {
        var bytes: UInt64
        /// Seconds from before connect() to EOF.
        var session: Double
        /// Seconds from the first byte received to EOF.
        var streaming: Double
        /// Seconds from before connect() to the first byte.
        var firstByte: Double
    }

    /// Connects, sends one byte, and discards what comes back until EOF (MSG_TRUNC: the kernel
    /// drops the bytes, the client costs no copy). Bounded by SO_RCVTIMEO between reads.
    static func stream(host: String, port: UInt16, receiveTimeout: Int = 30) throws(BenchError) -> Stream {
        let start = monotonicSeconds()
        let fd: Int32
        switch connect(host: host, port: port, timeoutMs: 5_000, receiveTimeout: receiveTimeout) {
        case let .connected(socket): fd = socket
        case .refused: throw BenchError("connect \(host):\(port): refused")
        case let .failed(message): throw BenchError(message)
        }
        defer { close(fd) }
        var size: Int32 = 4 << 20
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        var byte: UInt8 = 0x2a
        guard send(fd, &byte, 1, Int32(MSG_NOSIGNAL)) == 1 else { throw BenchError("send: \(String(cString: strerror(errno)))") }
        var bytes: UInt64 = 0
        var first: Double?
        while true {
            let n = recv(fd, nil, 1 << 22, Int32(MSG_TRUNC))
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw BenchError("recv after \(bytes) bytes: \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            if first == nil { first = monotonicSeconds() }
            bytes += UInt64(n)
        }
        let end = monotonicSeconds()
        return Stream(bytes: bytes, session: end - start, streaming: end - (first ?? end), firstByte: (first ?? end) - start)
    }
}

/// Wall-clock nanoseconds (CLOCK_REALTIME), comparable with Docker events' timeNano.
func realtimeNanos() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}
