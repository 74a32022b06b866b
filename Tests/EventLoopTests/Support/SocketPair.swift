import Glibc
@testable import EventLoop

/// A connected AF_UNIX stream pair, CLOEXEC and non-blocking: the first end for the code under
/// test (to be wrapped in a `FileDescriptor`), the second for the test to watch it from.
func socketPair() throws -> (CInt, CInt) {
    var fds: [CInt] = [-1, -1]
    let flags = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
    guard socketpair(AF_UNIX, flags, 0, &fds) == 0 else { throw SyscallError("socketpair", errno: errno) }
    return (fds[0], fds[1])
}

/// What a non-blocking peek on `fd` sees: bytes, 0 at EOF (the other end closed), or -1 with
/// EAGAIN while the other end is open and silent.
func peek(_ fd: CInt) -> (result: Int, errno: Int32) {
    var byte: UInt8 = 0
    let n = recv(fd, &byte, 1, Int32(MSG_PEEK) | Int32(MSG_DONTWAIT))
    return (n, n < 0 ? errno : 0)
}
