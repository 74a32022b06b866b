import EventLoop
import Glibc

/// `ganger-bench sink --listen ADDR`: accepts connections, discards what they send, closes each
/// on EOF, until SIGTERM/SIGINT; then prints `sink bytes=… accepted=… closed=… resets=… open=…`.
/// Idle connections stay open, which is what the idle-RSS measurement needs. It runs in a process
/// of its own so its descriptors do not count against the driver's limit.
final class Sink {
    private final class Connection {
        var socket: FileDescriptor?
        var registration: Registration?
        init(_ socket: consuming FileDescriptor) { self.socket = consume socket }
    }

    private let reactor: Reactor
    private var listener: Listener?
    private var connections: [CInt: Connection] = [:]
    private(set) var bytes: UInt64 = 0
    private(set) var accepted = 0
    private(set) var closed = 0
    private(set) var resets = 0

    init(reactor: Reactor, listen: SocketAddress) throws {
        self.reactor = reactor
        listener = try Listener(reactor: reactor, address: listen, backlog: 4096) { [unowned self] client, _ in
            accept(client)
        }
    }

    var address: SocketAddress? { listener?.address }

    private func accept(_ client: consuming FileDescriptor) {
        let fd = client.rawValue
        let connection = Connection(client)
        accepted += 1
        do {
            connection.registration = try reactor.register(fd, interest: [.readable, .readHangup]) { [unowned self] _ in
                drain(fd)
            }
            connections[fd] = connection
        } catch {
            resets += 1
        }
    }

    private func drain(_ fd: CInt) {
        while true {
            // MSG_TRUNC on TCP discards the bytes in the kernel (tcp(7)): the sink costs no copy,
            // so the figures are the proxy's, not the sink's.
            let n = recv(fd, nil, 1 << 20, Int32(MSG_TRUNC) | Int32(MSG_DONTWAIT))
            if n > 0 {
                bytes += UInt64(n)
                continue
            }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            if n < 0 { resets += 1 } else { closed += 1 }
            finish(fd)
            return
        }
    }

    private func finish(_ fd: CInt) {
        guard let connection = connections.removeValue(forKey: fd) else { return }
        // Deregister, then close.
        if let registration = connection.registration { reactor.deregister(registration) }
        connection.registration = nil
        connection.socket = nil
    }

    var summary: String {
        "sink bytes=\(bytes) accepted=\(accepted) closed=\(closed) resets=\(resets) open=\(connections.count)"
    }

    static func run(listen: SocketAddress) throws -> Int32 {
        Signals.block([SIGTERM, SIGINT])
        ProcFS.raiseFileLimit()
        let reactor = try Reactor()
        let sink = try Sink(reactor: reactor, listen: listen)
        print("sink listening on \(sink.address.map { "\($0)" } ?? "?")")
        fflush(nil)
        let signals = try SignalSource(reactor: reactor, signals: [SIGTERM, SIGINT]) { _ in reactor.stop() }
        try reactor.run()
        signals.close()
        print(sink.summary)
        fflush(nil)
        return 0
    }

    /// Parses the summary line a sink printed on exit.
    static func parseSummary(_ text: String) -> [String: UInt64] {
        guard let line = text.split(separator: "\n").last(where: { $0.hasPrefix("sink bytes=") }) else { return [:] }
        var fields: [String: UInt64] = [:]
        for pair in line.dropFirst(5).split(separator: " ") {
            let parts = pair.split(separator: "=")
            if parts.count == 2 { fields[String(parts[0])] = UInt64(parts[1]) }
        }
        return fields
    }
}
