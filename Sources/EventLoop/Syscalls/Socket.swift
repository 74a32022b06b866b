import CGangerShims
import Glibc

/// Thin wrappers over the socket calls. Every socket is created CLOEXEC|NONBLOCK atomically.
public enum Socket {
    /// `socket(family, SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC, 0)`.
    public static func stream(family: CInt) throws(SyscallError) -> FileDescriptor {
        let type = GANGER_SOCK_STREAM | GANGER_SOCK_NONBLOCK | GANGER_SOCK_CLOEXEC
        return FileDescriptor(taking: try syscall("socket") { Glibc.socket(family, type, 0) })
    }

    /// `accept4(SOCK_NONBLOCK|SOCK_CLOEXEC)`; `.wouldBlock` when the backlog is empty.
    static func accept(_ fd: CInt) throws(SyscallError) -> IOResult<(CInt, SocketAddress)> {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = try nonBlockingSyscall("accept4") {
            withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    ganger_accept4(fd, $0, &length, GANGER_SOCK_NONBLOCK | GANGER_SOCK_CLOEXEC)
                }
            }
        }
        switch result {
        case .wouldBlock: return .wouldBlock
        case let .processed(client): return .processed((client, SocketAddress(storage: storage)))
        }
    }

    /// `connect(2)` on a non-blocking socket: `true` when connected at once, `false` when
    /// EINPROGRESS (wait for writable, then read `SO_ERROR`).
    static func connect(_ fd: CInt, to address: SocketAddress) throws(SyscallError) -> Bool {
        try address.withSockAddr { (sa, len) throws(SyscallError) -> Bool in
            while true {
                if Glibc.connect(fd, sa, len) == 0 { return true }
                switch errno {
                case EINTR: continue  // the connect goes on in the background, as for EINPROGRESS
                case EINPROGRESS, EAGAIN: return false
                default: throw SyscallError("connect", errno: errno)
                }
            }
        }
    }

    static func bind(_ fd: CInt, to address: SocketAddress) throws(SyscallError) {
        _ = try address.withSockAddr { (sa, len) throws(SyscallError) in try syscall("bind") { Glibc.bind(fd, sa, len) } }
    }

    static func listen(_ fd: CInt, backlog: Int32) throws(SyscallError) {
        _ = try syscall("listen") { Glibc.listen(fd, backlog) }
    }

    /// `getsockopt(SO_ERROR)`: the outcome of a non-blocking connect, 0 when it succeeded.
    public static func pendingError(_ fd: CInt) throws(SyscallError) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = try syscall("getsockopt(SO_ERROR)") { getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length) }
        return value
    }

    public static func setOption(_ fd: CInt, level: Int32, name: Int32, value: Int32) throws(SyscallError) {
        var value = value
        _ = try syscall("setsockopt") { setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size)) }
    }

    /// Makes the next close send RST instead of FIN (SO_LINGER with a zero timeout): how a reset
    /// on one side of a relay is passed on to the other.
    /// SO_KEEPALIVE with TCP_KEEPIDLE / TCP_KEEPINTVL (whole seconds, at least 1) and
    /// TCP_KEEPCNT (tcp(7)).
    public static func setKeepalive(_ fd: CInt, idleSeconds: Int32, intervalSeconds: Int32, count: Int32) throws(SyscallError) {
        try setOption(fd, level: SOL_SOCKET, name: SO_KEEPALIVE, value: 1)
        try setOption(fd, level: Int32(IPPROTO_TCP), name: TCP_KEEPIDLE, value: max(idleSeconds, 1))
        try setOption(fd, level: Int32(IPPROTO_TCP), name: TCP_KEEPINTVL, value: max(intervalSeconds, 1))
        try setOption(fd, level: Int32(IPPROTO_TCP), name: TCP_KEEPCNT, value: max(count, 1))
    }

    /// TCP_USER_TIMEOUT in milliseconds (tcp(7)): unacknowledged data older than this ends the
    /// connection.
    public static func setUserTimeout(_ fd: CInt, milliseconds: Int32) throws(SyscallError) {
        try setOption(fd, level: Int32(IPPROTO_TCP), name: TCP_USER_TIMEOUT, value: milliseconds)
    }

    /// An integer socket option (getsockopt(2)).
    public static func option(_ fd: CInt, level: Int32, name: Int32) throws(SyscallError) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = try syscall("getsockopt") { getsockopt(fd, level, name, &value, &length) }
        return value
    }

    static func setAbortiveClose(_ fd: CInt) {
        var value = linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &value, socklen_t(MemoryLayout<linger>.size))
    }

    /// `SO_RCVLOWAT`: readiness for reading is reported only once `bytes` are queued (or the
    /// peer's FIN, an error, memory pressure). A non-blocking read still returns whatever is
    /// there; 1 restores the default.
    static func setReceiveLowWatermark(_ fd: CInt, _ bytes: Int) throws(SyscallError) {
        try setOption(fd, level: SOL_SOCKET, name: SO_RCVLOWAT, value: Int32(clamping: bytes))
    }

    /// `shutdown(2)`. ENOTCONN (the peer already vanished) is not an error worth raising here.
    static func shutdown(_ fd: CInt, _ how: Int32) throws(SyscallError) {
        if Glibc.shutdown(fd, how) != 0 && errno != ENOTCONN { throw SyscallError("shutdown", errno: errno) }
    }

    /// The locally bound address (e.g. the port the kernel chose for port 0).
    public static func localAddress(_ fd: CInt) throws(SyscallError) -> SocketAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = try syscall("getsockname") {
            withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        }
        return SocketAddress(storage: storage)
    }

    /// `read(2)` into `buffer`; `.processed(0)` is EOF.
    public static func read(_ fd: CInt, into buffer: UnsafeMutableRawBufferPointer) throws(SyscallError) -> IOResult<Int> {
        try nonBlockingSyscall("read") { Glibc.read(fd, buffer.baseAddress, buffer.count) }
    }

    /// `send(2)` with MSG_NOSIGNAL (belt and braces: SIGPIPE is ignored process-wide too).
    public static func write(_ fd: CInt, from buffer: UnsafeRawBufferPointer) throws(SyscallError) -> IOResult<Int> {
        try nonBlockingSyscall("send") { Glibc.send(fd, buffer.baseAddress, buffer.count, GANGER_MSG_NOSIGNAL) }
    }
}
