import Glibc

/// Runs `path` with `arguments`, waits (bounded by `timeoutSeconds`), returns exit status and
/// stdout. posix_spawn, not fork: the test process has many threads.
func runProcess(_ path: String, _ arguments: [String], timeoutSeconds: Int = 60) throws -> (status: Int32, output: String) {
    var pipeFDs: [CInt] = [0, 0]
    guard pipe(&pipeFDs) == 0 else { throw BlockingSocket.Failure(description: "pipe: errno \(errno)") }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
    posix_spawn_file_actions_addclose(&actions, pipeFDs[0])
    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, path, &actions, nil, argv, environ)
    close(pipeFDs[1])
    guard rc == 0 else {
        close(pipeFDs[0])
        throw BlockingSocket.Failure(description: "posix_spawn \(path): \(String(cString: strerror(rc)))")
    }
    var output: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    var poll = [pollfd(fd: pipeFDs[0], events: Int16(POLLIN), revents: 0)]
    let deadline = ContinuousClock.now + .seconds(timeoutSeconds)
    while ContinuousClock.now < deadline {
        if Glibc.poll(&poll, 1, 100) <= 0 { continue }
        let n = buffer.withUnsafeMutableBytes { read(pipeFDs[0], $0.baseAddress, $0.count) }
        if n <= 0 { break }
        output += buffer[0..<n]
    }
    close(pipeFDs[0])
    if ContinuousClock.now >= deadline { kill(pid, SIGKILL) }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return (status, String(decoding: output, as: UTF8.self))
}

/// The directory holding this test bundle, where SwiftPM also puts the package's executables.
func buildProductsDirectory() -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    let path = String(decoding: buffer[0..<max(n, 0)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)])
}

/// `key=value` lines as a dictionary.
func keyValues(_ text: String) -> [String: String] {
    var result: [String: String] = [:]
    for line in text.split(separator: "\n") {
        guard let eq = line.firstIndex(of: "=") else { continue }
        result[String(line[..<eq])] = String(line[line.index(after: eq)...])
    }
    return result
}
