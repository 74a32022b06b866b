import Glibc

/// A failed system call: the call's name and the errno it left.
///
/// The description reads like `epoll_ctl: Bad file descriptor (errno 9)` so a log line says
/// what failed without a debugger.
public struct SyscallError: Error, Equatable, CustomStringConvertible, Sendable {
    public let name: String
    public let errno: Int32

    public init(_ name: String, errno: Int32) {
        self.name = name
        self.errno = errno
    }

    public var description: String {
        "\(name): \(String(cString: strerror(errno))) (errno \(errno))"
    }

    /// The peer reset or went away: ECONNRESET, EPIPE, ECONNABORTED, ETIMEDOUT, EHOSTUNREACH.
    public var isPeerGone: Bool {
        [ECONNRESET, EPIPE, ECONNABORTED, ETIMEDOUT, EHOSTUNREACH, ENETUNREACH].contains(errno)
    }
}

/// The outcome of a non-blocking call: it did something, or it would have blocked.
public enum IOResult<Value: Sendable>: Sendable {
    case processed(Value)
    case wouldBlock
}

extension IOResult: Equatable where Value: Equatable {}

/// Runs `body` until it is not interrupted; a negative result becomes a thrown `SyscallError`.
///
/// EBADF and EFAULT are Ganger's own bugs (an fd used after close, a bad pointer): they stop the
/// process rather than travel as errors, as NIO does.
@inline(__always)
func syscall<T: BinaryInteger>(_ name: StaticString, _ body: () -> T) throws(SyscallError) -> T {
    while true {
        let result = body()
        if result >= 0 { return result }
        let err = Glibc.errno
        if err == EINTR { continue }
        precondition(err != EBADF && err != EFAULT, "\(name): errno \(err) is a bug in Ganger")
        throw SyscallError("\(name)", errno: err)
    }
}

/// Like `syscall`, but EAGAIN/EWOULDBLOCK come back as `.wouldBlock` instead of an error.
@inline(__always)
func nonBlockingSyscall<T: BinaryInteger & Sendable>(
    _ name: StaticString, _ body: () -> T
) throws(SyscallError) -> IOResult<T> {
    while true {
        let result = body()
        if result >= 0 { return .processed(result) }
        let err = Glibc.errno
        if err == EINTR { continue }
        if err == EAGAIN || err == EWOULDBLOCK { return .wouldBlock }
        precondition(err != EBADF && err != EFAULT, "\(name): errno \(err) is a bug in Ganger")
        throw SyscallError("\(name)", errno: err)
    }
}
