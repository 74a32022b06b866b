import CGangerShims
import Glibc

/// Messages with descriptors over a unix `SOCK_SEQPACKET` socket (`sendmsg`/`recvmsg` with
/// `SCM_RIGHTS`): each message arrives whole, with its descriptors, or not at all.
public enum DescriptorPassing {
    /// The kernel's own cap on descriptors in one message (SCM_MAX_FD).
    public static let kernelMaxDescriptors = 253

    /// A message received: its bytes and the descriptors that came with it (each now owned by
    /// the receiver, CLOEXEC).
    public struct Received {
        public var bytes: [UInt8]
        public var descriptors: [FileDescriptorBox]
        /// The message was longer than the buffer, or carried more descriptors than asked for
        /// (the kernel dropped what did not fit): it must be refused.
        public var truncated: Bool
    }

    /// `socket(AF_UNIX, SOCK_SEQPACKET|SOCK_NONBLOCK|SOCK_CLOEXEC)`.
    public static func socket() throws(SyscallError) -> FileDescriptor {
        let type = GANGER_SOCK_SEQPACKET | GANGER_SOCK_NONBLOCK | GANGER_SOCK_CLOEXEC
        return FileDescriptor(taking: try syscall("socket(AF_UNIX, SOCK_SEQPACKET)") { Glibc.socket(AF_UNIX, type, 0) })
    }

    /// A connected pair (tests).
    public static func pair() throws(SyscallError) -> (FileDescriptorBox, FileDescriptorBox) {
        var fds: [CInt] = [-1, -1]
        let type = GANGER_SOCK_SEQPACKET | GANGER_SOCK_NONBLOCK | GANGER_SOCK_CLOEXEC
        _ = try syscall("socketpair") { socketpair(AF_UNIX, type, 0, &fds) }
        return (FileDescriptorBox(FileDescriptor(taking: fds[0])), FileDescriptorBox(FileDescriptor(taking: fds[1])))
    }

    /// Sends `bytes` with `descriptors` (borrowed: the kernel installs copies in the receiver).
    public static func send(_ fd: CInt, _ bytes: [UInt8], descriptors: [CInt]) throws(SyscallError) -> IOResult<Int> {
        precondition(descriptors.count <= kernelMaxDescriptors, "too many descriptors for one message")
        var bytes = bytes
        var descriptors = descriptors
        let controlLength = descriptors.isEmpty ? 0 : ganger_cmsg_space(MemoryLayout<CInt>.stride * descriptors.count)
        var control = [UInt8](repeating: 0, count: max(controlLength, 1))
        let (rc, code) = withMessage(&bytes, control: &control, controlLength: controlLength) { message in
            if controlLength > 0 {
                let header = ganger_cmsg_firsthdr(message)!
                header.pointee.cmsg_level = SOL_SOCKET
                header.pointee.cmsg_type = GANGER_SCM_RIGHTS
                header.pointee.cmsg_len = ganger_cmsg_len(MemoryLayout<CInt>.stride * descriptors.count)
                descriptors.withUnsafeMutableBytes { source in
                    UnsafeMutableRawPointer(ganger_cmsg_data(header)!).copyMemory(from: source.baseAddress!, byteCount: source.count)
                }
            }
            return retryingEINTR { sendmsg(fd, message, GANGER_MSG_NOSIGNAL) }
        }
        return try outcome("sendmsg", rc, code)
    }

    /// Receives one message of at most `maxBytes` with at most `maxDescriptors`; nil when none
    /// waits. One with no bytes and no descriptors is the peer's close.
    public static func receive(_ fd: CInt, maxBytes: Int, maxDescriptors: Int) throws(SyscallError) -> Received? {
        var buffer = [UInt8](repeating: 0, count: maxBytes + 1)  // one more: a longer message is seen as truncated
        let controlLength = ganger_cmsg_space(MemoryLayout<CInt>.stride * max(1, maxDescriptors))
        var control = [UInt8](repeating: 0, count: controlLength)
        var flags: Int32 = 0
        var received: [FileDescriptorBox] = []
        let (rc, code) = withMessage(&buffer, control: &control, controlLength: controlLength) { message in
            let result = retryingEINTR { recvmsg(fd, message, GANGER_MSG_CMSG_CLOEXEC) }
            flags = message.pointee.msg_flags
            // Every descriptor that arrived is taken into ownership, even past `maxDescriptors`
            // (then the message is refused as truncated and they close with it).
            var header = ganger_cmsg_firsthdr(message)
            while let current = header {
                if current.pointee.cmsg_level == SOL_SOCKET && current.pointee.cmsg_type == GANGER_SCM_RIGHTS {
                    let dataLength = Int(current.pointee.cmsg_len) - Int(ganger_cmsg_len(0))
                    let data = UnsafeRawPointer(ganger_cmsg_data(current)!)
                    for index in 0..<(dataLength / MemoryLayout<CInt>.stride) {
                        let number = data.loadUnaligned(fromByteOffset: index * MemoryLayout<CInt>.stride, as: CInt.self)
                        received.append(FileDescriptorBox(FileDescriptor(taking: number)))
                    }
                }
                header = ganger_cmsg_nxthdr(message, current)
            }
            return result
        }
        guard case let .processed(count) = try outcome("recvmsg", rc, code) else { return nil }
        let truncated = count > maxBytes || flags & GANGER_MSG_TRUNC != 0 || flags & GANGER_MSG_CTRUNC != 0
            || received.count > maxDescriptors
        return Received(bytes: Array(buffer.prefix(min(count, maxBytes))), descriptors: received, truncated: truncated)
    }

    /// Runs `call` with a message header whose one iovec spans `bytes` and whose control area is
    /// the first `controlLength` bytes of `control` (none when 0): the nest of buffer pointers
    /// both directions need, kept alive for the call.
    private static func withMessage(_ bytes: inout [UInt8], control: inout [UInt8], controlLength: Int,
                                    _ call: (UnsafeMutablePointer<msghdr>) -> (Int, CInt)) -> (Int, CInt) {
        bytes.withUnsafeMutableBytes { raw in
            control.withUnsafeMutableBytes { controlRaw in
                var vector = iovec(iov_base: raw.baseAddress, iov_len: raw.count)
                return withUnsafeMutablePointer(to: &vector) { vectorPointer in
                    var message = msghdr()
                    message.msg_iov = vectorPointer
                    message.msg_iovlen = 1
                    if controlLength > 0 {
                        message.msg_control = controlRaw.baseAddress
                        message.msg_controllen = controlLength
                    }
                    return withUnsafeMutablePointer(to: &message) { call($0) }
                }
            }
        }
    }

    /// The call's result and its errno, EINTR retried (the closures around it cannot throw a
    /// typed error).
    private static func retryingEINTR(_ call: () -> Int) -> (Int, CInt) {
        while true {
            let rc = call()
            if rc < 0 && errno == EINTR { continue }
            return (rc, rc < 0 ? errno : 0)
        }
    }

    private static func outcome(_ name: String, _ rc: Int, _ code: CInt) throws(SyscallError) -> IOResult<Int> {
        if rc >= 0 { return .processed(rc) }
        if code == EAGAIN || code == EWOULDBLOCK { return .wouldBlock }
        throw SyscallError(name, errno: code)
    }

    /// The uid and pid of the process at the other end of a unix socket (SO_PEERCRED).
    public static func peer(_ fd: CInt) throws(SyscallError) -> (uid: UInt32, pid: Int32) {
        var uid: uid_t = 0
        var pid: pid_t = 0
        _ = try syscall("getsockopt(SO_PEERCRED)") { ganger_peer_credentials(fd, &uid, &pid) }
        return (uid, pid)
    }

    /// A CLOEXEC copy of `fd`, owned by the caller (a descriptor queued to be sent later).
    public static func duplicate(_ fd: CInt) throws(SyscallError) -> FileDescriptor {
        FileDescriptor(taking: try syscall("fcntl(F_DUPFD_CLOEXEC)") { fcntl(fd, F_DUPFD_CLOEXEC, 0) })
    }
}

extension DescriptorPassing {
    /// A listening `SOCK_SEQPACKET` socket at `path`, readable and writable by its owner only.
    public static func listen(path: String, backlog: Int32 = 8) throws(SyscallError) -> FileDescriptor {
        let socket = try socket()
        let address = SocketAddress.unix(path: path)
        let previous = umask(0o177)
        defer { umask(previous) }
        try Socket.bind(socket.rawValue, to: address)
        _ = try syscall("chmod") { chmod(path, 0o600) }
        try Socket.listen(socket.rawValue, backlog: backlog)
        return socket
    }

    /// A `SOCK_SEQPACKET` socket connected to `path` (a unix connect completes at once).
    public static func connect(path: String) throws(SyscallError) -> FileDescriptor {
        let socket = try socket()
        guard try Socket.connect(socket.rawValue, to: .unix(path: path)) else { throw SyscallError("connect(\(path))", errno: EAGAIN) }
        return socket
    }
}
