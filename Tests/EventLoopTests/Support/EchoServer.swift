import Glibc
@testable import EventLoop

/// An echo service on a reactor: every byte read is written back, with backpressure (it
/// stops reading while its 64 KiB buffer waits for the socket), and closes after the peer's FIN.
final class EchoServer {
    private final class Connection {
        var fd: FileDescriptor?
        var registration: Registration?
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        var pending = 0
        var offset = 0
        var eof = false
    }

    private unowned let reactor: Reactor
    private var listener: Listener?
    private var connections: [ObjectIdentifier: Connection] = [:]
    let address: SocketAddress
    var openCount: Int { connections.count }

    init(reactor: Reactor) throws {
        self.reactor = reactor
        var accepted: ((consuming FileDescriptor) -> Void)?
        let listener = try Listener(reactor: reactor, address: try SocketAddress(host: "127.0.0.1", port: 0)) { fd, _ in
            accepted?(fd)
        }
        address = listener.address
        self.listener = listener
        accepted = { [unowned self] fd in add(fd) }
    }

    func close() {
        listener?.close()
        for connection in connections.values { finish(connection) }
    }

    private func add(_ fd: consuming FileDescriptor) {
        let connection = Connection()
        let raw = fd.rawValue
        connection.fd = consume fd
        connections[ObjectIdentifier(connection)] = connection
        connection.registration = try? reactor.register(raw, interest: .all) { [unowned self] _ in serve(connection, raw) }
    }

    private func serve(_ c: Connection, _ fd: CInt) {
        while true {
            if c.pending > 0 {
                let n = c.buffer.withUnsafeBytes { send(fd, $0.baseAddress! + c.offset, c.pending, Int32(MSG_NOSIGNAL)) }
                if n < 0 { if errno == EAGAIN { return } else { return finish(c) } }
                c.offset += n
                c.pending -= n
                continue
            }
            if c.eof { return finish(c) }
            let n = c.buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 { if errno == EAGAIN { return } else { return finish(c) } }
            if n == 0 { c.eof = true; continue }
            c.offset = 0
            c.pending = n
        }
    }

    private func finish(_ c: Connection) {
        if let registration = c.registration { reactor.deregister(registration) }
        c.registration = nil
        c.fd = nil
        connections.removeValue(forKey: ObjectIdentifier(c))
    }
}
