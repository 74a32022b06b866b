import CGangerShims
import Glibc

/// Thin wrappers over epoll(7).
enum Epoll {
    /// `epoll_create1(EPOLL_CLOEXEC)`.
    static func create() throws(SyscallError) -> FileDescriptor {
        FileDescriptor(taking: try syscall("epoll_create1") { ganger_epoll_create1(GANGER_EPOLL_CLOEXEC) })
    }

    /// `epoll_ctl(EPOLL_CTL_ADD/MOD)` with the 64-bit user data Ganger packs (fd, generation).
    static func control(_ epfd: CInt, _ op: CInt, fd: CInt, events: UInt32, data: UInt64) throws(SyscallError) {
        _ = try syscall("epoll_ctl") { ganger_epoll_ctl(epfd, op, fd, events, data) }
    }

    /// `epoll_ctl(EPOLL_CTL_DEL)`.
    static func remove(_ epfd: CInt, fd: CInt) throws(SyscallError) {
        _ = try syscall("epoll_ctl") { ganger_epoll_ctl(epfd, GANGER_EPOLL_CTL_DEL, fd, 0, 0) }
    }

    /// `epoll_wait`; an interrupted wait returns 0 events so the loop re-checks timers.
    static func wait(
        _ epfd: CInt, into events: UnsafeMutablePointer<epoll_event>, capacity: Int32, timeoutMs: Int32
    ) throws(SyscallError) -> Int {
        let n = ganger_epoll_wait(epfd, events, capacity, timeoutMs)
        if n >= 0 { return Int(n) }
        if errno == EINTR { return 0 }
        throw SyscallError("epoll_wait", errno: errno)
    }
}
