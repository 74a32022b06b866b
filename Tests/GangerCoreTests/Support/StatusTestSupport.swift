import EventLoop
import Glibc

struct ProcessFailure: Error, CustomStringConvertible {
    let description: String
}

/// Runs `path` with `arguments` (posix_spawn: the test process has many threads), waits at
/// most `timeoutSeconds`, and returns the exit status and what it wrote to stdout and stderr.
func runProcess(_ path: String, _ arguments: [String], timeoutSeconds: Int = 120) throws -> (status: Int32, output: String) {
    var pipeFDs: [CInt] = [0, 0]
    guard pipe(&pipeFDs) == 0 else { throw ProcessFailure(description: "pipe: errno \(errno)") }
    // Close-on-exec at once, so a child another test spawns does not keep our write end open
    // (dup2 into the child's 1 and 2 clears the flag there).
    for fd in pipeFDs { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
    posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 2)
    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    let rc = posix_spawnp(&pid, path, &actions, nil, argv, environ)
    close(pipeFDs[1])
    guard rc == 0 else {
        close(pipeFDs[0])
        throw ProcessFailure(description: "posix_spawn \(path): \(String(cString: strerror(rc)))")
    }
    var output: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    var poll = [pollfd(fd: pipeFDs[0], events: Int16(POLLIN), revents: 0)]
    let deadline = ContinuousClock.now + .seconds(timeoutSeconds)
    var timedOut = false
    while true {
        if ContinuousClock.now >= deadline { timedOut = true; break }
        if Glibc.poll(&poll, 1, 100) <= 0 { continue }
        let n = buffer.withUnsafeMutableBytes { read(pipeFDs[0], $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        output += buffer[0..<n]
    }
    close(pipeFDs[0])
    if timedOut { kill(pid, SIGKILL) }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return (code, String(decoding: output, as: UTF8.self))
}

/// The package's root directory, from this file's path.
func packageRoot() -> String {
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(4)  // Tests/GangerCoreTests/Support/StatusTestSupport.swift
    return parts.joined(separator: "/")
}

/// The directory holding this test bundle, where SwiftPM also puts the package's executables.
func buildProductsDirectory() -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    let path = String(decoding: buffer[0..<max(n, 0)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)])
}

/// Writes `bytes` to a fresh file under /tmp and returns its path.
func temporaryFile(_ name: String, _ bytes: [UInt8]) throws -> String {
    var template = Array("/tmp/ganger-test-XXXXXX".utf8CString)
    guard mkdtemp(&template) != nil else { throw ProcessFailure(description: "mkdtemp: errno \(errno)") }
    let path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) + "/" + name
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw ProcessFailure(description: "open \(path): errno \(errno)") }
    defer { close(fd) }
    var offset = 0
    while offset < bytes.count {
        let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { throw ProcessFailure(description: "write \(path): errno \(errno)") }
        offset += n
    }
    return path
}

/// A file's bytes, or nil if it cannot be read.
func readFile(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var result: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return n == 0 ? result : nil }
        result += buffer[0..<n]
    }
}
