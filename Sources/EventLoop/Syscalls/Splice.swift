import CGangerShims
import Glibc

/// splice(2) and pipes: moving bytes between sockets without copying them through user space.
enum Splice {
    /// `splice(from, to, len, SPLICE_F_MOVE|SPLICE_F_NONBLOCK)`. `.processed(0)` from a socket is
    /// EOF. `.wouldBlock` is ambiguous (source empty or pipe full): the caller's byte count of
    /// the pipe tells which.
    static func move(from: CInt, to: CInt, count: Int) throws(SyscallError) -> IOResult<Int> {
        try nonBlockingSyscall("splice") {
            ganger_splice(from, to, count, GANGER_SPLICE_F_MOVE | GANGER_SPLICE_F_NONBLOCK)
        }
    }

    /// `pipe2(O_NONBLOCK|O_CLOEXEC)`, resized with F_SETPIPE_SZ; returns (read, write, size).
    static func makePipe(size: Int) throws(SyscallError) -> (CInt, CInt, Int) {
        var fds: [CInt] = [-1, -1]
        _ = try syscall("pipe2") { ganger_pipe2(&fds, GANGER_O_NONBLOCK | GANGER_O_CLOEXEC) }
        // EPERM past /proc/sys/fs/pipe-user-pages-soft: keep the default size rather than fail.
        let granted = ganger_set_pipe_size(fds[1], CInt(size))
        let actual = granted > 0 ? Int(granted) : Int(ganger_get_pipe_size(fds[1]))
        return (fds[0], fds[1], actual)
    }
}
