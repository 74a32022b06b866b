import CGangerShims
import Glibc

/// A child process whose stdin and stdout are pipes to us (`ssh HOST docker system dial-stdio`,
/// as the docker CLI runs it for `ssh://` daemons).
///
/// Started with `posix_spawnp` (never fork: the process is multithreaded). Every pipe is made
/// with O_CLOEXEC at creation, so a child spawned at the same moment by another thread cannot
/// inherit our ends; the child gets its ends as fds 0 and 1 through `dup2` (which clears
/// CLOEXEC on the copy) and every descriptor from 3 up is closed in it (`addclosefrom_np`). Our ends are non-blocking; the child's stay blocking. The child's
/// signal mask and dispositions are reset (Ganger blocks TERM, INT, HUP and CHLD for its
/// signalfd, and a child would inherit that). stderr is inherited: the child's complaints land
/// in Ganger's log. The child is not waited for here: its exit is seen as EOF on stdout, and the
/// process reaps it on SIGCHLD (`waitpid(-1, …)` in the command line's signal handler).
public enum ChildProcess {
    /// Spawns `arguments[0]` (searched in PATH) with `arguments`; `spawned` hears its pid.
    /// - Returns: the stream over its stdout (read end) and stdin (write end), both ours.
    public static func spawnPiped(_ arguments: [String], spawned: (Int32) -> Void = { _ in }) throws(SyscallError) -> ByteStream {
        precondition(!arguments.isEmpty, "no command")
        var input: [CInt] = [-1, -1]
        var output: [CInt] = [-1, -1]
        _ = try syscall("pipe2") { ganger_pipe2(&input, GANGER_O_CLOEXEC) }
        let inputRead = FileDescriptor(taking: input[0])
        let inputWrite = FileDescriptor(taking: input[1])
        _ = try syscall("pipe2") { ganger_pipe2(&output, GANGER_O_CLOEXEC) }
        let outputRead = FileDescriptor(taking: output[0])
        let outputWrite = FileDescriptor(taking: output[1])

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inputRead.rawValue, 0)
        posix_spawn_file_actions_adddup2(&actions, outputWrite.rawValue, 1)
        // And nothing else: a descriptor someone opened without CLOEXEC (an inherited one, a
        // library's) must not leak into ssh, which would hold it open for the session's life.
        _ = ganger_spawn_addclosefrom(&actions, 3)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, arguments[0], &actions, &attributes, argv, environ)
        // The child's ends are the child's now (or nobody's): ours close here.
        inputRead.close()
        outputWrite.close()
        guard rc == 0 else { throw SyscallError("posix_spawnp \(arguments[0])", errno: rc) }
        try setNonBlocking(inputWrite.rawValue)
        try setNonBlocking(outputRead.rawValue)
        spawned(pid)
        return ByteStream(reading: outputRead, writing: inputWrite)
    }

    private static func setNonBlocking(_ fd: CInt) throws(SyscallError) {
        let flags = try syscall("fcntl") { fcntl(fd, F_GETFL) }
        _ = try syscall("fcntl") { fcntl(fd, F_SETFL, flags | GANGER_O_NONBLOCK) }
    }
}
