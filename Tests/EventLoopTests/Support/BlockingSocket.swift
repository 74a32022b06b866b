import Glibc
@testable import EventLoop

/// Blocking sockets for the test's side of a connection: the peers a relay joins.
enum BlockingSocket {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func check(_ rc: Int, _ what: String) throws {
        if rc < 0 { throw Failure(description: "\(what): \(String(cString: strerror(errno)))") }
    }

    /// A blocking listening socket on 127.0.0.1 with a kernel-chosen port.
    static func listen(backlog: Int32 = 1024) throws -> (fd: CInt, address: SocketAddress) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        try check(Int(fd), "socket")
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, 4)
        let address = try SocketAddress(host: "127.0.0.1", port: 0)
        try address.withSockAddr { sa, len in _ = Glibc.bind(fd, sa, len) }
        try check(Int(Glibc.listen(fd, backlog)), "listen")
        return (fd, try Socket.localAddress(fd))
    }

    static func accept(_ fd: CInt) throws -> CInt {
        let client = Glibc.accept(fd, nil, nil)
        try check(Int(client), "accept")
        return client
    }

    /// A blocking connected socket, from `source` (an IP literal on this host) when given.
    static func connect(to address: SocketAddress, from source: String? = nil) throws -> CInt {
        let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        try check(Int(fd), "socket")
        if let source {
            let local = try SocketAddress(host: source, port: 0)
            let bound = try local.withSockAddr { sa, len in Glibc.bind(fd, sa, len) }
            if bound != 0 {
                let failure = Failure(description: "bind \(source): \(String(cString: strerror(errno)))")
                close(fd)
                throw failure
            }
        }
        let rc = try address.withSockAddr { sa, len in Glibc.connect(fd, sa, len) }
        if rc != 0 {
            let failure = Failure(description: "connect \(address): \(String(cString: strerror(errno)))")
            close(fd)
            throw failure
        }
        return fd
    }

    static func sendAll(_ fd: CInt, _ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let n = send(fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            if n < 0 && errno == EINTR { continue }
            try check(n, "send")
            offset += n
        }
    }

    static func sendAll(_ fd: CInt, _ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try sendAll(fd, $0) }
    }

    /// Reads until EOF; `limit` guards against a runaway peer.
    static func receiveAll(_ fd: CInt, limit: Int = 1 << 30) throws -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while result.count <= limit {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            try check(n, "recv")
            if n == 0 { return result }
            result.append(contentsOf: chunk[0..<n])
        }
        throw Failure(description: "more than \(limit) bytes")
    }

    /// Reads exactly `count` bytes (or throws at an early EOF).
    static func receive(_ fd: CInt, count: Int) throws -> [UInt8] {
        var result = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            let n = result.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + offset, count - offset, 0) }
            if n < 0 && errno == EINTR { continue }
            try check(n, "recv")
            if n == 0 { throw Failure(description: "EOF after \(offset) of \(count) bytes") }
            offset += n
        }
        return result
    }

    static func setReceiveTimeout(_ fd: CInt, seconds: Int) {
        var tv = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }
}
