import Glibc
import Synchronization

/// Every wrapper pid still running, so an interrupted bench can stop them all.
let liveChildren = Mutex<Set<pid_t>>([])

/// A program started with posix_spawn under coreutils `timeout`, so it stops by itself even if
/// the bench dies (a bounded run must not depend on the bench's cleanup). Standard output and
/// error go to files in the bench's work directory.
final class ChildProcess {
    let name: String
    /// The `timeout` process: the one to wait for.
    let wrapperPID: pid_t
    let stdoutPath: String
    let stderrPath: String
    private var exited = false

    /// Starts `argv` (looked up in PATH) for at most `limit` seconds.
    init(name: String, argv: [String], limit: Int, directory: String) throws(BenchError) {
        self.name = name
        stdoutPath = "\(directory)/\(name).out"
        stderrPath = "\(directory)/\(name).err"
        let full = ["timeout", "--signal=TERM", "--kill-after=5", "\(limit)"] + argv
        wrapperPID = try spawn(full, stdout: stdoutPath, stderr: stderrPath)
        _ = liveChildren.withLock { $0.insert(wrapperPID) }
    }

    /// The program itself (timeout's child), whose CPU, memory and descriptors are measured.
    /// Nil if it did not appear within two seconds (it failed to start).
    lazy var programPID: pid_t? = {
        var found: pid_t?
        _ = waitUntil(2) {
            found = ProcFS.children(wrapperPID).first
            return found != nil || !isRunning
        }
        return found
    }()

    var isRunning: Bool {
        if exited { return false }
        var status: Int32 = 0
        let rc = waitpid(wrapperPID, &status, WNOHANG)
        if rc == wrapperPID || rc < 0 { markExited() }
        return !exited
    }

    /// Waits up to `limit` seconds for the program to end; returns its exit status (timeout's
    /// status: 124 when the time ran out), or nil if it is still running.
    @discardableResult
    func wait(limit: Double) -> Int32? {
        var status: Int32 = 0
        var result: Int32?
        _ = waitUntil(limit, step: 2_000) {
            let rc = waitpid(wrapperPID, &status, WNOHANG)
            if rc == wrapperPID {
                result = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
                return true
            }
            return rc < 0
        }
        if result != nil { markExited() }
        return result
    }

    /// SIGTERM to the program (then its wrapper ends too); SIGKILL after `grace` seconds.
    func terminate(grace: Double = 5) {
        guard !exited else { return }
        if let pid = programPID { kill(pid, SIGTERM) }
        kill(wrapperPID, SIGTERM)
        if wait(limit: grace) == nil {
            if let pid = programPID { kill(pid, SIGKILL) }
            kill(wrapperPID, SIGKILL)
            wait(limit: grace)
        }
        markExited()
    }

    var output: String { ProcFS.read(stdoutPath) ?? "" }
    var errors: String { ProcFS.read(stderrPath) ?? "" }

    private func markExited() {
        exited = true
        _ = liveChildren.withLock { $0.remove(wrapperPID) }
    }
}

/// posix_spawnp with stdin from /dev/null, stdout and stderr to files. The child gets an empty
/// signal mask and default dispositions: the bench blocks TERM/INT and ignores PIPE, and both
/// would otherwise be inherited across exec (a proxy that ignores SIGTERM cannot be stopped).
func spawn(_ argv: [String], stdout: String, stderr: String) throws(BenchError) -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o644)

    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var empty = sigset_t()
    sigemptyset(&empty)
    posix_spawnattr_setsigmask(&attributes, &empty)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for signal in [SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGUSR1] { sigaddset(&defaults, signal) }
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

    var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
    cArgs.append(nil)
    defer { for arg in cArgs { free(arg) } }
    var pid: pid_t = 0
    let rc = posix_spawnp(&pid, argv[0], &actions, &attributes, cArgs, environ)
    guard rc == 0 else { throw BenchError("spawn \(argv[0]): \(String(cString: strerror(rc)))") }
    return pid
}

/// Runs `argv` to completion (bounded by `limit` seconds) and returns its standard output.
func runCapturing(_ argv: [String], limit: Int, directory: String, name: String) throws(BenchError) -> (status: Int32?, output: String) {
    let child = try ChildProcess(name: name, argv: argv, limit: limit, directory: directory)
    let status = child.wait(limit: Double(limit) + 10)
    if status == nil { child.terminate() }
    return (status, child.output + child.errors)
}

/// A failure that ends a measurement, with what to look at.
struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Writes `text` to standard error unbuffered (Glibc's `stderr` is a global Swift 6 rejects).
func printError(_ text: String) {
    let bytes = Array(text.utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}
