// eventloop-probe: EventLoop scenarios that need a process of their own, because they count
// /proc/self/fd or lower Int32(RLIMIT_NOFILE.rawValue), which tests running in parallel would disturb.
// Prints `key=value` lines; EventLoopTests/ProcessProbeTests runs it and asserts on them.
import EventLoop
import Glibc
import RelayProxy

func fdCount() -> Int {
    guard let dir = opendir("/proc/self/fd") else { return -1 }
    defer { closedir(dir) }
    var count = -1  // the directory stream's own descriptor
    while readdir(dir) != nil { count += 1 }
    return count - 2  // . and ..
}

func blockingConnect(_ address: SocketAddress) -> CInt {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard case let .v4(_, port) = address else { fatalError("v4 only") }
    var sa = sockaddr_in()
    sa.sin_family = sa_family_t(AF_INET)
    sa.sin_port = port.bigEndian
    sa.sin_addr.s_addr = inet_addr("127.0.0.1")
    let rc = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    precondition(rc == 0, "connect: errno \(errno)")
    return fd
}

func drain(_ fd: CInt) -> Int {
    var buffer = [UInt8](repeating: 0, count: 65536)
    var total = 0
    while true {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { return total }
        total += n
    }
}

/// Connections that end every way a relay can end — both sides close, client reset, service
/// reset, idle timeout, refused connect — then everything is torn down and fds are counted.
func fdLeak() throws {
    let before = fdCount()
    let rounds = 50
    do {
        // The service: a blocking accept loop on a thread; odd connections answer and close,
        // even ones reset.
        let serviceFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var one: Int32 = 1
        setsockopt(serviceFD, SOL_SOCKET, SO_REUSEADDR, &one, 4)
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(serviceFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        listen(serviceFD, 128)
        let serviceAddress = try Socket.localAddress(serviceFD)
        var thread = pthread_t()
        let arg = UnsafeMutablePointer<CInt>.allocate(capacity: 1)
        arg.pointee = serviceFD
        pthread_create(&thread, nil, { raw in
            let fd = raw!.assumingMemoryBound(to: CInt.self).pointee
            var index = 0
            while true {
                let conn = accept(fd, nil, nil)
                if conn < 0 { return nil }
                index += 1
                _ = drain(conn)
                if index % 2 == 0 {
                    var hard = linger(l_onoff: 1, l_linger: 0)
                    setsockopt(conn, SOL_SOCKET, SO_LINGER, &hard, socklen_t(MemoryLayout<linger>.size))
                } else {
                    _ = send(conn, "done", 4, Int32(MSG_NOSIGNAL))
                }
                close(conn)
            }
        }, arg)

        let loop = try ReactorThread()
        final class Proxies: @unchecked Sendable { var all: [RelayProxy] = [] }
        let proxies = Proxies()
        let addresses = try await_(loop) { reactor -> [SocketAddress] in
            let pool = PipePool()
            let normal = try RelayProxy(reactor: reactor, listen: try SocketAddress(host: "127.0.0.1", port: 0), target: serviceAddress, pool: pool)
            let idle = try RelayProxy(reactor: reactor, listen: try SocketAddress(host: "127.0.0.1", port: 0), target: serviceAddress,
                                      pool: pool, options: Relay.Options(idleTimeout: .milliseconds(20)))
            // Nothing listens on the service's port + 1 (almost surely): refused connects.
            let dead = try RelayProxy(reactor: reactor, listen: try SocketAddress(host: "127.0.0.1", port: 0),
                                      target: try SocketAddress(host: "127.0.0.1", port: 1), pool: pool)
            proxies.all = [normal, idle, dead]
            return [normal.address, idle.address, dead.address]
        }
        var received = 0
        for i in 0..<rounds {
            let c = blockingConnect(addresses[0])
            _ = send(c, "request", 7, Int32(MSG_NOSIGNAL))
            if i % 5 == 4 {
                var hard = linger(l_onoff: 1, l_linger: 0)  // the client resets instead
                setsockopt(c, SOL_SOCKET, SO_LINGER, &hard, socklen_t(MemoryLayout<linger>.size))
                close(c)
                continue
            }
            shutdown(c, Int32(SHUT_WR))
            received += drain(c)
            close(c)
        }
        for _ in 0..<10 {
            let c = blockingConnect(addresses[1])  // idle: nothing sent; the relay times out
            _ = drain(c)
            close(c)
            let d = blockingConnect(addresses[2])  // refused on the far side: closed at once
            _ = drain(d)
            close(d)
        }
        usleep(200_000)
        let stats = try await_(loop) { _ -> String in
            let p = proxies.all
            let reasons = p.flatMap { $0.closeReasons.map { "\($0.key):\($0.value)" } }.sorted().joined(separator: ",")
            let active = p.map(\.activeCount).reduce(0, +)
            for proxy in p { proxy.close() }
            proxies.all = []
            return "reasons=\(reasons)\nactive=\(active)\nrefused=\(p[2].connectFailures)"
        }
        print(stats)
        print("received=\(received)")
        loop.stop()
        shutdown(serviceFD, Int32(SHUT_RDWR))
        close(serviceFD)
        pthread_join(thread, nil)
        arg.deallocate()
    }
    print("fds_before=\(before)")
    print("fds_after=\(fdCount())")
}

/// Accepting with no descriptors left must pause, not spin, and resume once some are free.
func emfile() throws {
    let reactor = try Reactor()
    final class Kept { var fds: [CInt] = [] }
    let kept = Kept()
    var accepted = 0
    let listener = try Listener(reactor: reactor, address: try SocketAddress(host: "127.0.0.1", port: 0)) { fd, _ in
        accepted += 1
        kept.fds.append(fd.release())
    }
    let clients = (0..<100).map { _ in blockingConnect(listener.address) }
    var limit = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    let saved = limit
    limit.rlim_cur = rlim_t(fdCount() + 10)
    setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    reactor.schedule(after: .seconds(1)) { reactor.stop() }
    try reactor.run()
    print("exhausted_accepted=\(accepted)")
    print("exhausted_pauses=\(listener.exhaustionPauses)")
    print("exhausted_calls=\(listener.acceptCalls)")
    // Free the descriptors: accepting must resume on its own (the pause timer retries).
    var restored = saved
    setrlimit(Int32(RLIMIT_NOFILE.rawValue), &restored)
    kept.fds.forEach { close($0) }
    kept.fds.removeAll()
    reactor.schedule(after: .milliseconds(500)) { reactor.stop() }
    try reactor.run()
    print("final_accepted=\(accepted)")
    clients.forEach { close($0) }
    listener.close()
}

final class ResultSlot<T>: @unchecked Sendable {
    var result: Result<T, any Error>?
    var mutex = pthread_mutex_t()
    var cond = pthread_cond_t()
}

/// An HTTPServer meets 100 clients that end every way a status client can: answered and
/// closed, malformed, vanished mid-head, reset with answers unread, silent until the head
/// timeout. Descriptors are counted with the server up (before and after the clients) and
/// after it is closed.
func httpServer() throws {
    let before = fdCount()
    var serving = 0, served = 0, open = -1, responses = 0
    // A scope of its own: the ReactorThread keeps its eventfd until it is released.
    do {
        let loop = try ReactorThread()
        final class Box: @unchecked Sendable { var server: HTTPServer? }
        let box = Box()
        let address = try await_(loop) { reactor -> SocketAddress in
            box.server = try HTTPServer(
                reactor: reactor, address: try SocketAddress(host: "127.0.0.1", port: 0),
                configuration: .init(headTimeout: .milliseconds(200))
            ) { head in .plain(head.target == "/" ? 200 : 404, "hi") }
            return box.server!.address
        }
        serving = fdCount()
        func send(_ fd: CInt, _ text: String) { _ = Glibc.send(fd, text, text.utf8.count, Int32(MSG_NOSIGNAL)) }
        var silent: [CInt] = []
        for i in 0..<100 {
            let fd = blockingConnect(address)
            switch i % 5 {
            case 0:
                send(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                _ = drain(fd)
            case 1:
                send(fd, "NOT HTTP\r\n\r\n")
                _ = drain(fd)
            case 2:
                send(fd, "GET / HTTP/1.1\r\nHo")
            case 3:
                send(fd, String(repeating: "GET / HTTP/1.1\r\nHost: x\r\n\r\n", count: 50))
                var hard = linger(l_onoff: 1, l_linger: 0)
                setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, socklen_t(MemoryLayout<linger>.size))
            default:
                silent.append(fd)
                continue
            }
            close(fd)
        }
        // The silent ones are closed by the server's head timeout.
        for fd in silent {
            _ = drain(fd)
            close(fd)
        }
        for _ in 0..<500 {
            open = try await_(loop) { _ in box.server!.connectionCount }
            if open == 0 { break }
            usleep(10_000)
        }
        served = fdCount()
        responses = try await_(loop) { _ in box.server!.responseCount }
        try await_(loop) { _ in
            box.server!.close()
            box.server = nil
        }
        loop.stop()
    }
    print("fds_before=\(before)")
    print("fds_serving=\(serving)")
    print("fds_served=\(served)")
    print("fds_after=\(fdCount())")
    print("open=\(open)")
    print("responses=\(responses)")
}

/// Runs `body` on the loop and waits for its result (the probe's main thread may block).
func await_<T>(_ loop: ReactorThread, _ body: @escaping @Sendable (Reactor) throws -> T) throws -> T {
    let slot = ResultSlot<T>()
    pthread_mutex_init(&slot.mutex, nil)
    pthread_cond_init(&slot.cond, nil)
    loop.execute { reactor in
        let r = Result { try body(reactor) }
        pthread_mutex_lock(&slot.mutex)
        slot.result = r
        pthread_cond_signal(&slot.cond)
        pthread_mutex_unlock(&slot.mutex)
    }
    pthread_mutex_lock(&slot.mutex)
    while slot.result == nil { pthread_cond_wait(&slot.cond, &slot.mutex) }
    pthread_mutex_unlock(&slot.mutex)
    return try slot.result!.get()
}

Signals.ignorePipe()
switch CommandLine.arguments.dropFirst().first {
case "fdleak": try fdLeak()
case "emfile": try emfile()
case "httpserver": try httpServer()
default:
    print("usage: eventloop-probe fdleak|emfile|httpserver")
    exit(2)
}
