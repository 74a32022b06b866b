import Glibc

/// N loopback clients at once, driven by one poll() loop on the bench's thread: every client
/// connects (non-blocking), sends its own line ("burst <i>\n") and holds the connection until
/// the line comes back whole, then closes. Bounded: the loop ends `limit` seconds after the
/// burst started, and any client still waiting then is closed and counted as failed.
enum BurstClients {
    struct Outcome {
        /// Seconds from the burst's start (all connects issued back to back) to the first echoed
        /// byte; nil if none came.
        var firstByte: Double?
        /// Seconds from the burst's start to the whole line echoed (nil: not served) or to the
        /// failure.
        var done: Double
        /// Nil when served; else why not ("EOF before the echo", "no echo within 120 s", ...).
        var failure: String?
    }

    private struct Client {
        var fd: Int32
        var line: [UInt8]
        var connecting: Bool
        var sent = 0
        var received = 0
        var firstByte: Double?
        var outcome: Outcome?
    }

    /// Runs the burst against 127.0.0.1:`port`. `tick` is called about every `tickSeconds`
    /// while clients are still waiting (e.g. to sample ganger's status); it runs on this thread.
    static func run(port: UInt16, count: Int, limit: Double, tickSeconds: Double = 1, tick: () -> Void) -> [Outcome] {
        let start = monotonicSeconds()
        var clients: [Client] = []
        clients.reserveCapacity(count)
        for i in 0..<count {
            let line = Array("burst \(i)\n".utf8)
            switch connectNonBlocking(port: port) {
            case let .success(fd, connecting):
                clients.append(Client(fd: fd, line: line, connecting: connecting))
            case let .failure(message):
                clients.append(Client(fd: -1, line: line, connecting: false,
                                      outcome: Outcome(firstByte: nil, done: monotonicSeconds() - start, failure: message)))
            }
        }
        var nextTick = start + tickSeconds
        var buffer = [UInt8](repeating: 0, count: 256)
        while true {
            let now = monotonicSeconds()
            let open = clients.indices.filter { clients[$0].outcome == nil }
            if open.isEmpty { break }
            if now - start >= limit {
                for i in open { finish(&clients[i], now - start, "no echo within \(Int(limit)) s") }
                break
            }
            if now >= nextTick {
                tick()
                nextTick = monotonicSeconds() + tickSeconds
            }
            var fds = open.map { i in
                pollfd(fd: clients[i].fd, events: Int16(clients[i].sent < clients[i].line.count ? POLLOUT : POLLIN), revents: 0)
            }
            let rc = poll(&fds, nfds_t(fds.count), 100)
            if rc < 0 && errno != EINTR { for i in open { finish(&clients[i], monotonicSeconds() - start, "poll: \(errnoText())") }; break }
            guard rc > 0 else { continue }
            for (slot, i) in open.enumerated() where fds[slot].revents != 0 {
                step(&clients[i], start: start, buffer: &buffer)
            }
        }
        return clients.map { $0.outcome! }
    }

    /// One client's readiness: finish the connect, send the line, or read the echo.
    private static func step(_ client: inout Client, start: Double, buffer: inout [UInt8]) {
        let elapsed = { monotonicSeconds() - start }
        if client.connecting {
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(client.fd, SOL_SOCKET, SO_ERROR, &error, &length)
            guard error == 0 else { return finish(&client, elapsed(), "connect: \(String(cString: strerror(error)))") }
            client.connecting = false
        }
        if client.sent < client.line.count {
            let n = client.line[client.sent...].withUnsafeBytes { send(client.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 { client.sent += n } else if n < 0 && errno != EAGAIN && errno != EINTR { finish(&client, elapsed(), "send: \(errnoText())") }
            return
        }
        let want = client.line.count - client.received
        let n = buffer.withUnsafeMutableBytes { recv(client.fd, $0.baseAddress, want, 0) }
        if n < 0 {
            if errno != EAGAIN && errno != EINTR { finish(&client, elapsed(), "recv: \(errnoText())") }
            return
        }
        if n == 0 { return finish(&client, elapsed(), client.received == 0 ? "EOF before the echo" : "EOF inside the echo") }
        if client.firstByte == nil { client.firstByte = elapsed() }
        guard Array(buffer[0..<n]) == Array(client.line[client.received..<(client.received + n)]) else {
            return finish(&client, elapsed(), "wrong bytes echoed")
        }
        client.received += n
        if client.received == client.line.count { finish(&client, elapsed(), nil) }
    }

    /// Records the outcome and closes the client's socket (exactly once: the fd is then -1).
    private static func finish(_ client: inout Client, _ at: Double, _ failure: String?) {
        client.outcome = Outcome(firstByte: client.firstByte, done: at, failure: failure)
        if client.fd >= 0 { close(client.fd) }
        client.fd = -1
    }

    private enum Connect {
        case success(Int32, connecting: Bool)
        case failure(String)
    }

    /// A non-blocking, close-on-exec TCP socket connecting to 127.0.0.1:`port`.
    private static func connectNonBlocking(port: UInt16) -> Connect {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return .failure("socket: \(errnoText())") }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc == 0 { return .success(fd, connecting: false) }
        if errno == EINPROGRESS { return .success(fd, connecting: true) }
        let message = "connect 127.0.0.1:\(port): \(errnoText())"
        close(fd)
        return .failure(message)
    }

    private static func errnoText() -> String { String(cString: strerror(errno)) }
}
