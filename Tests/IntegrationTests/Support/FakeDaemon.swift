import CGangerShims
import Glibc
import Synchronization
import TestSupport

/// A tiny blocking unix-socket server that plays a Docker daemon gone wrong. A real dockerd
/// does not misbehave on demand, so this is the one place the tests do not use it (STYLE.md:
/// "a fake HTTP server only for what a real daemon won't do").
///
/// It accepts on a thread of its own (poll-bounded, so `stop` is prompt), reads what the client
/// sends, and then acts as `behaviour` says.
final class FakeDaemon: Sendable {
    enum Behaviour: Sendable {
        /// Answers any request with these bytes (not HTTP), then closes.
        case garbage([UInt8])
        /// Accepts, reads, never answers; holds the connection until `stop`.
        case silent
        /// Answers each request with the text `respond` returns for its request line
        /// (`GET /containers/json?… HTTP/1.1`), then closes.
        case answer(@Sendable (String) -> String)
    }

    let directory: String
    let path: String
    private let listenFD: CInt
    private struct State {
        var stop = false
        var stopped = false
        var held: [CInt] = []
        var accepted = 0
    }
    private let state = Mutex(State())

    var url: String { "unix://\(path)" }
    var acceptedCount: Int { state.withLock { $0.accepted } }

    init(_ behaviour: Behaviour) throws {
        directory = try temporarySocketDirectory("ganger-fake")
        path = directory + "/docker.sock"
        listenFD = try listenUnix(path)
        let job = ThreadJob { [self] in serve(behaviour) }
        startThread(job)
    }

    /// Stops accepting, closes held connections and the socket; waits (bounded) for the thread.
    func stop() {
        state.withLock { $0.stop = true }
        let deadline = ContinuousClock.now + .seconds(5)
        while !state.withLock({ $0.stopped }) && ContinuousClock.now < deadline { usleep(5_000) }
        for fd in state.withLock({ $0.held }) { close(fd) }
        close(listenFD)
        unlink(path)
        rmdir(directory)
    }

    private func serve(_ behaviour: Behaviour) {
        defer { state.withLock { $0.stopped = true } }
        // Bounded: a test that forgets `stop` still ends this thread within ten minutes.
        let deadline = ContinuousClock.now + .seconds(600)
        while !state.withLock({ $0.stop }) && ContinuousClock.now < deadline {
            var p = pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)
            guard Glibc.poll(&p, 1, 50) == 1 else { continue }
            let fd = ganger_accept4(listenFD, nil, nil, Int32(SOCK_CLOEXEC.rawValue))
            guard fd >= 0 else { continue }
            state.withLock { $0.accepted += 1 }
            let request = readRequest(fd)
            switch behaviour {
            case let .garbage(bytes):
                _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                close(fd)
            case .silent:
                state.withLock { $0.held.append(fd) }
            case let .answer(respond):
                let line = String(request.split(separator: "\r\n", maxSplits: 1).first ?? "")
                let bytes = Array(respond(line).utf8)
                _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                close(fd)
            }
        }
    }

    /// Reads until the end of a request head (or 200 ms pass): the client has sent its request.
    /// Returns what was read.
    @discardableResult
    private func readRequest(_ fd: CInt) -> String {
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        let deadline = ContinuousClock.now + .milliseconds(200)
        while ContinuousClock.now < deadline {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard Glibc.poll(&p, 1, 20) == 1 else { continue }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            received += chunk[0..<n]
            if String(decoding: received, as: UTF8.self).contains("\r\n\r\n") { break }
        }
        return String(decoding: received, as: UTF8.self)
    }
}
