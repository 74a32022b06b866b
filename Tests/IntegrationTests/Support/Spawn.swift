import CGangerShims
import Glibc
import Synchronization
import TestSupport

/// A failure of the test harness itself (a syscall, a timeout), with a message to act on.
struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// How a child process ended.
enum ExitStatus: Equatable, Sendable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    init(waitStatus status: Int32) {
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift does not import.
        if status & 0x7f == 0 {
            self = .exited((status >> 8) & 0xff)
        } else {
            self = .signaled(status & 0x7f)
        }
    }

    var description: String {
        switch self {
        case let .exited(code): "exit \(code)"
        case let .signaled(signal): "killed by signal \(signal)"
        }
    }
}

/// A child started with posix_spawn (never fork: the test process is multithreaded), its
/// stdout and stderr on pipes drained by a thread of their own into buffers.
final class SpawnedProcess: Sendable {
    let pid: pid_t
    let command: String
    private let output: OutputDrain
    private let reaped = Mutex<ExitStatus?>(nil)

    /// Spawns `path` with `arguments`; stdin is /dev/null. Signal mask and dispositions are
    /// reset to the defaults in the child, whatever the spawning thread had. `environment`
    /// (`NAME=value`) comes before the inherited variables, so it wins.
    init(_ path: String, _ arguments: [String], environment: [String] = []) throws {
        var out: [CInt] = [0, 0]
        var err: [CInt] = [0, 0]
        // CLOEXEC at creation: another test spawning at the same moment must not inherit our
        // write ends, or our reader would never see EOF.
        guard ganger_pipe2(&out, O_CLOEXEC) == 0 else { throw HarnessError("pipe2: \(String(cString: strerror(errno)))") }
        guard ganger_pipe2(&err, O_CLOEXEC) == 0 else {
            close(out[0]); close(out[1])
            throw HarnessError("pipe2: \(String(cString: strerror(errno)))")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, out[1], 1)
        posix_spawn_file_actions_adddup2(&actions, err[1], 2)

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

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var inherited: [String] = []
        var entry = environ
        while let value = entry.pointee {
            inherited.append(String(cString: value))
            entry += 1
        }
        let envp = (environment + inherited).map { strdup($0) } + [nil]
        defer { envp.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = path.contains("/")
            ? posix_spawn(&pid, path, &actions, &attributes, argv, envp)
            : posix_spawnp(&pid, path, &actions, &attributes, argv, envp)
        close(out[1])
        close(err[1])
        guard rc == 0 else {
            close(out[0])
            close(err[0])
            throw HarnessError("posix_spawn \(path): \(String(cString: strerror(rc)))")
        }
        self.pid = pid
        command = ([path] + arguments).joined(separator: " ")
        output = OutputDrain(stdout: out[0], stderr: err[0])
    }

    var stdout: String { output.text(\.stdout) }
    var stderr: String { output.text(\.stderr) }
    /// Both streams, labelled, for failure messages.
    var log: String { "$ \(command)\n--- stdout ---\n\(stdout)\n--- stderr ---\n\(stderr)" }

    /// The exit status if the child has ended (reaps it), else nil. Never blocks.
    func poll() -> ExitStatus? {
        reaped.withLock { reaped in
            if let reaped { return reaped }
            var status: Int32 = 0
            let rc = waitpid(pid, &status, WNOHANG)
            guard rc == pid else { return nil }
            reaped = ExitStatus(waitStatus: status)
            return reaped
        }
    }

    /// Waits (polling every 10 ms) up to `timeout` for the child to end.
    func wait(timeout: Duration) -> ExitStatus? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let status = poll() {
                output.waitForEOF(timeout: .seconds(2))
                return status
            }
            if ContinuousClock.now >= deadline { return nil }
            usleep(10_000)
        }
    }

    /// Sends `signal` unless the child is already reaped (its pid may be reused by then).
    func send(_ signal: Int32) {
        reaped.withLock { reaped in
            if reaped == nil { _ = kill(pid, signal) }
        }
    }

    /// Sends `signal`, waits up to `timeout`; on a timeout SIGKILLs and throws.
    @discardableResult
    func terminate(signal: Int32 = SIGTERM, timeout: Duration) throws -> ExitStatus {
        if let status = poll() { return status }
        send(signal)
        if let status = wait(timeout: timeout) { return status }
        kill9()
        throw HarnessError("\(command) did not exit within \(timeout) of signal \(signal); killed\n\(log)")
    }

    /// SIGKILL and reap (bounded: the kernel ends a SIGKILLed process promptly).
    func kill9() {
        send(SIGKILL)
        _ = wait(timeout: .seconds(10))
    }

    deinit {
        // A test that forgot its child: don't leave it running behind the test process.
        if poll() == nil { kill9() }
    }
}

/// Runs a command to completion with a bound on its time; returns status, stdout, stderr.
@discardableResult
func run(_ path: String, _ arguments: [String], timeout: Duration = .seconds(60)) throws
    -> (status: ExitStatus, stdout: String, stderr: String)
{
    let child = try SpawnedProcess(path, arguments)
    guard let status = child.wait(timeout: timeout) else {
        child.kill9()
        throw HarnessError("\(child.command): no exit within \(timeout); killed\n\(child.log)")
    }
    return (status, child.stdout, child.stderr)
}

/// Reads a child's stdout and stderr on a thread of its own until both reach EOF, so the child
/// never blocks on a full pipe and the test can look at what it wrote so far.
final class OutputDrain: Sendable {
    struct Buffers {
        var stdout: [UInt8] = []
        var stderr: [UInt8] = []
        var done = false
    }

    private let buffers = Mutex(Buffers())

    init(stdout: CInt, stderr: CInt) {
        let job = ThreadJob { [self] in drain(stdout, stderr) }
        startThread(job)
    }

    func text(_ key: KeyPath<Buffers, [UInt8]>) -> String {
        buffers.withLock { String(decoding: $0[keyPath: key], as: UTF8.self) }
    }

    /// Waits (bounded) until both pipes reached EOF: everything the child wrote is in.
    func waitForEOF(timeout: Duration) {
        let deadline = ContinuousClock.now + timeout
        while !buffers.withLock({ $0.done }) && ContinuousClock.now < deadline { usleep(5_000) }
    }

    private func drain(_ stdout: CInt, _ stderr: CInt) {
        var fds = [pollfd(fd: stdout, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: stderr, events: Int16(POLLIN), revents: 0)]
        var chunk = [UInt8](repeating: 0, count: 16 << 10)
        // Bounded: a child that keeps the pipes open for over an hour is a test bug anyway.
        let deadline = ContinuousClock.now + .seconds(3600)
        while fds.contains(where: { $0.fd >= 0 }) && ContinuousClock.now < deadline {
            if Glibc.poll(&fds, 2, 200) <= 0 { continue }
            for i in fds.indices where fds[i].fd >= 0 && fds[i].revents != 0 {
                let n = chunk.withUnsafeMutableBytes { read(fds[i].fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 {
                    close(fds[i].fd)
                    fds[i].fd = -1
                    continue
                }
                buffers.withLock {
                    if i == 0 { $0.stdout += chunk[0..<n] } else { $0.stderr += chunk[0..<n] }
                }
            }
        }
        for fd in fds where fd.fd >= 0 { close(fd.fd) }
        buffers.withLock { $0.done = true }
    }
}

/// `/proc/<pid>/stat`'s state letter, read by the tests themselves (not through Ganger's code).
enum ProcessStateProbe {
    static func isZombie(_ pid: pid_t) -> Bool {
        let fd = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count > 0, let close = buffer[..<count].lastIndex(of: UInt8(ascii: ")")), close + 2 < count else { return false }
        return buffer[close + 2] == UInt8(ascii: "Z")
    }
}
