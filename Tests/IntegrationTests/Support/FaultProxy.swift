import CGangerShims
import Glibc
import Synchronization
import TestSupport

/// A unix socket in front of the real dockerd that forwards every byte both ways, except for
/// the calls a script picks out, which it delays, answers with an error, truncates, resets,
/// loses, hangs or cuts (issue 16, "Chaos on the real path"). Unlike `FakeDaemon` the daemon
/// behind it is real: containers are really created, started and removed.
///
/// Keep-alive: Ganger's Docker client keeps HTTP/1.1 connections open and sends many requests
/// on each. The proxy pairs each of Ganger's connections with one connection of its own to
/// dockerd and parses every message on the pair (request and response heads; bodies by
/// Content-Length, chunked, or until close), so a fault hits exactly the call it is scripted for
/// and the calls before and after it on the same connection pass untouched. Closing after each
/// response would have been simpler, but then Ganger would never reuse a connection and the
/// faults would not meet the client's keep-alive paths (a reused connection that breaks). A fault
/// that breaks the framing (truncate, reset, lose, cut) closes both sides of the pair, as a real
/// broken connection would.
///
/// One thread accepts (poll-bounded, so `stop` is prompt) and one thread serves each connection;
/// every wait is a 50 ms poll that also watches for `cut` and `stop`.
final class FaultProxy: Sendable {
    /// What happens to a matched call.
    enum Fault: Sendable, Equatable, CustomStringConvertible {
        /// Held this long, then forwarded (also when Ganger has gone meanwhile: dockerd still does
        /// the work, as it would for a request already on the wire).
        case delay(Duration)
        /// Answered with this status and a Docker-style JSON message; dockerd never sees it.
        case status(Int)
        /// Forwarded; the answer's head and half its body (half the head when it has none) reach
        /// Ganger, then the connection closes.
        case truncateBody
        /// Forwarded; half the answer's bytes reach Ganger, then a TCP-style reset (SO_LINGER 0).
        case resetMidResponse
        /// Forwarded and answered by dockerd (the container exists), but the connection closes
        /// before a byte of the answer reaches Ganger.
        case loseResponse
        /// Never forwarded, never answered: held until Ganger closes the connection.
        case hang
        /// Forwarded as a stream; at the first data chunk, half of it reaches Ganger, then the
        /// connection closes (`GET /events` cut in the middle of an event).
        case cutMidChunk
        /// Forwarded as a stream; the head and the first data chunk reach Ganger, then nothing
        /// more until Ganger closes (a pull whose registry holds the download: dockerd goes
        /// silent).
        case stallAfterFirstChunk

        var description: String {
            switch self {
            case let .delay(d): "delay \(d)"
            case let .status(code): "status \(code)"
            case .truncateBody: "truncate"
            case .resetMidResponse: "reset"
            case .loseResponse: "lose"
            case .hang: "hang"
            case .cutMidChunk: "cut mid-chunk"
            case .stallAfterFirstChunk: "stall after the first chunk"
            }
        }
    }

    /// `method` and `path` select calls (`*` matches one path segment; the query and Docker's
    /// `/v1.NN` prefix are ignored); `calls` are the numbers (from 1) of the matching calls it
    /// applies to, nil for every one.
    struct Rule: Sendable {
        let method: String
        let path: String
        let calls: Set<Int>?
        let fault: Fault

        init(_ method: String, _ path: String, calls: Set<Int>? = nil, _ fault: Fault) {
            self.method = method
            self.path = path
            self.calls = calls
            self.fault = fault
        }

        /// Every call (a daemon that stopped answering altogether): method `*`, path `**`. The
        /// first rule that matches a call decides, so the rules before it are exceptions.
        static func everyCall(_ fault: Fault) -> Rule { Rule("*", "**", fault) }

        func matches(method: String, path: String) -> Bool {
            (self.method == "*" || method == self.method) && (self.path == "**" || FaultProxy.matches(path, pattern: self.path))
        }
    }

    let directory: String
    let path: String
    let upstream: String
    private let listenFD: CInt

    private struct State {
        var rules: [Rule]
        var seen: [Int]
        var cut = false
        var stop = false
        var acceptStopped = false
        var workers = 0
        /// Every socket a worker holds, so `cut` and `stop` can shut them down.
        var open: Set<CInt> = []
        /// Ganger's connections that are open now.
        var downstream = 0
        /// Every call seen, `METHOD /path` (+ ` → fault`), oldest first (bounded).
        var history: [String] = []
    }
    private let state: Mutex<State>

    var url: String { "unix://\(path)" }

    init(rules: [Rule] = [], upstream: String = "/var/run/docker.sock") throws {
        directory = try temporarySocketDirectory("ganger-proxy")
        path = directory + "/docker.sock"
        self.upstream = upstream
        state = Mutex(State(rules: rules, seen: Array(repeating: 0, count: rules.count)))
        listenFD = try listenUnix(path, backlog: 128)
        startThread(ThreadJob { [self] in acceptLoop() })
    }

    /// Replaces the script; call numbers count from 1 again.
    func setRules(_ rules: [Rule]) {
        state.withLock {
            $0.rules = rules
            $0.seen = Array(repeating: 0, count: rules.count)
        }
    }

    /// The daemon "dies": every open connection is shut down, and new ones are closed at once.
    func cut() {
        // Under the lock: a worker removes its socket from `open` before it closes it, so no
        // number shut down here can be another socket's by then.
        state.withLock { state in
            state.cut = true
            for fd in state.open { shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    /// Serves again after `cut`.
    func restore() { state.withLock { $0.cut = false } }

    /// Ganger's connections open through the proxy now (each is one descriptor in Ganger).
    var connections: Int { state.withLock { $0.downstream } }

    /// How many calls matched `method` and `path` (a `Rule` pattern) so far.
    func calls(_ method: String, _ path: String) -> Int {
        let rule = Rule(method, path, .hang)
        return state.withLock { $0.history.filter { line in
            let words = line.split(separator: " ")
            return words.count >= 2 && rule.matches(method: String(words[0]), path: String(words[1]))
        }.count }
    }

    /// The calls seen, for failure messages (the last 60).
    var history: String { state.withLock { $0.history.suffix(60).joined(separator: "\n") } }

    /// Stops accepting, shuts every connection down, waits (bounded) for the threads, removes
    /// the socket.
    func stop() {
        state.withLock { state in
            state.stop = true
            for fd in state.open { shutdown(fd, Int32(SHUT_RDWR)) }
        }
        _ = poll(timeout: .seconds(10), interval: .milliseconds(10)) {
            state.withLock { $0.acceptStopped && $0.workers == 0 }
        }
        close(listenFD)
        unlink(path)
        rmdir(directory)
    }

    // MARK: - Accepting and serving

    private var stopping: Bool { state.withLock { $0.stop } }
    private var broken: Bool { state.withLock { $0.stop || $0.cut } }

    private func acceptLoop() {
        defer { state.withLock { $0.acceptStopped = true } }
        // Bounded: a test that forgets `stop` still ends this thread within ten minutes.
        let deadline = ContinuousClock.now + .seconds(600)
        while !stopping && ContinuousClock.now < deadline {
            var p = pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)
            guard Glibc.poll(&p, 1, 50) == 1 else { continue }
            let fd = ganger_accept4(listenFD, nil, nil, Int32(SOCK_CLOEXEC.rawValue))
            guard fd >= 0 else { continue }
            let admitted = state.withLock { state -> Bool in
                guard !state.cut, !state.stop else { return false }
                state.workers += 1
                state.downstream += 1
                state.open.insert(fd)
                return true
            }
            guard admitted else {
                close(fd)
                continue
            }
            startThread(ThreadJob { [self] in serve(fd) })
        }
    }

    private func serve(_ client: CInt) {
        setSendTimeout(client)
        var daemon: CInt = -1
        var linger = false
        defer {
            state.withLock {
                $0.open.remove(client)
                $0.open.remove(daemon)
                $0.downstream -= 1
                $0.workers -= 1
            }
            if linger {
                var option = Glibc.linger(l_onoff: 1, l_linger: 0)
                setsockopt(client, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<Glibc.linger>.size))
            }
            close(client)
            if daemon >= 0 { close(daemon) }
        }
        var fromClient = MessageReader(fd: client, aborted: { [self] in broken })
        var fromDaemon = MessageReader(fd: -1, aborted: { [self] in broken })
        while let head = fromClient.head() {
            guard let request = RequestHead(head), let body = fromClient.body(request.framing) else { return }
            let fault = match(request)
            switch fault {
            case let .status(code)?:
                let message = Array("{\"message\":\"fault proxy: injected \(code)\"}".utf8)
                let answer = Array("HTTP/1.1 \(code) Injected\r\nContent-Type: application/json\r\nContent-Length: \(message.count)\r\n\r\n".utf8)
                guard sendAll(client, answer + message) else { return }
                continue
            case .hang?:
                fromClient.waitForClose()
                return
            case let .delay(duration)?:
                // Forwarded even if Ganger left meanwhile (only `cut` and `stop` end the wait).
                let until = ContinuousClock.now + duration
                while ContinuousClock.now < until {
                    if broken { return }
                    usleep(10_000)
                }
            default:
                break
            }
            if daemon < 0 {
                guard let fd = connectUnix(upstream) else { return }
                daemon = fd
                setSendTimeout(daemon)
                let admitted = state.withLock { state -> Bool in
                    guard !state.cut, !state.stop else { return false }
                    state.open.insert(fd)
                    return true
                }
                guard admitted else { return }
                fromDaemon = MessageReader(fd: daemon, aborted: { [self] in broken }, peer: client)
            }
            guard sendAll(daemon, head + body), let responseHead = fromDaemon.head(),
                  let response = ResponseHead(responseHead, requestMethod: request.method) else { return }
            switch fault {
            case .truncateBody?, .resetMidResponse?, .loseResponse?:
                guard let body = fromDaemon.body(response.framing) else { return }
                let whole = responseHead + body
                if fault == .truncateBody {
                    _ = sendAll(client, body.isEmpty ? Array(responseHead.prefix(responseHead.count / 2))
                                                     : responseHead + body.prefix(body.count / 2))
                } else if fault == .resetMidResponse {
                    _ = sendAll(client, Array(whole.prefix(whole.count / 2)))
                    linger = true
                }
                return
            case .cutMidChunk?:
                guard sendAll(client, responseHead) else { return }
                _ = fromDaemon.forwardUntilMidChunk(to: client)
                return
            case .stallAfterFirstChunk?:
                guard sendAll(client, responseHead), fromDaemon.forwardUntilMidChunk(to: client, whole: true) else { return }
                fromClient.waitForClose()
                return
            default:
                guard sendAll(client, responseHead), fromDaemon.forward(response.framing, to: client), !response.closes else { return }
            }
        }
    }

    /// The fault for `request`, if a rule picks it; records the call.
    private func match(_ request: RequestHead) -> Fault? {
        state.withLock { state in
            var fault: Fault?
            for (i, rule) in state.rules.enumerated() where rule.matches(method: request.method, path: request.path) {
                state.seen[i] += 1
                if fault == nil, rule.calls?.contains(state.seen[i]) ?? true { fault = rule.fault }
            }
            if state.history.count >= 5000 { state.history.removeFirst(1000) }
            state.history.append("\(request.method) \(request.path)" + (fault.map { " → \($0)" } ?? ""))
            return fault
        }
    }

    static func matches(_ target: String, pattern: String) -> Bool {
        let path = target.split(separator: "?", maxSplits: 1).first.map(String.init) ?? target
        var segments = path.split(separator: "/", omittingEmptySubsequences: true)
        if let first = segments.first, first.hasPrefix("v"), Double(first.dropFirst()) != nil { segments.removeFirst() }
        let wanted = pattern.split(separator: "/", omittingEmptySubsequences: true)
        guard segments.count == wanted.count else { return false }
        return zip(segments, wanted).allSatisfy { $1 == "*" || $0 == $1 }
    }
}

/// Bounds every blocking send on `fd` (10 s).
private func setSendTimeout(_ fd: CInt) {
    var tv = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
}

/// Sends every byte of `bytes`; false when the peer is gone or the send timed out.
private func sendAll(_ fd: CInt, _ bytes: [UInt8]) -> Bool {
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { return false }
        offset += n
    }
    return true
}

/// How a message's body is delimited (RFC 9112 §6.3, as far as Docker's API needs it).
enum BodyFraming: Equatable {
    case none
    case length(Int)
    case chunked
    case untilClose
}

/// Header value of `name` (case-insensitive) in a raw head.
private func headerValue(_ lines: [Substring], _ name: String) -> String? {
    for line in lines.dropFirst() {
        guard let colon = line.firstIndex(of: ":") else { continue }
        if line[..<colon].lowercased() == name {
            return line[line.index(after: colon)...].trimmingCharacters(in: " \t")
        }
    }
    return nil
}

private func headLines(_ head: [UInt8]) -> [Substring] {
    String(decoding: head, as: UTF8.self).split(separator: "\r\n")
}

/// A request line and the framing of its body.
struct RequestHead {
    let method: String
    let path: String
    let framing: BodyFraming

    init?(_ head: [UInt8]) {
        let lines = headLines(head)
        let words = lines.first?.split(separator: " ") ?? []
        guard words.count == 3 else { return nil }
        method = String(words[0])
        path = String(words[1])
        if headerValue(lines, "transfer-encoding")?.lowercased().contains("chunked") == true {
            framing = .chunked
        } else if let length = headerValue(lines, "content-length").flatMap({ Int($0) }), length > 0 {
            framing = .length(length)
        } else {
            framing = .none
        }
    }
}

/// A status line and the framing of the answer's body.
struct ResponseHead {
    let status: Int
    let framing: BodyFraming
    /// The daemon closes the connection after this answer.
    let closes: Bool

    init?(_ head: [UInt8], requestMethod: String) {
        let lines = headLines(head)
        let words = lines.first?.split(separator: " ") ?? []
        guard words.count >= 2, let status = Int(words[1]) else { return nil }
        self.status = status
        let connection = headerValue(lines, "connection")?.lowercased()
        if requestMethod == "HEAD" || status / 100 == 1 || status == 204 || status == 304 {
            framing = .none
        } else if headerValue(lines, "transfer-encoding")?.lowercased().contains("chunked") == true {
            framing = .chunked
        } else if let length = headerValue(lines, "content-length").flatMap({ Int($0) }) {
            framing = length > 0 ? .length(length) : .none
        } else {
            framing = .untilClose
        }
        closes = connection == "close" || framing == .untilClose
    }
}

extension Substring {
    func trimmingCharacters(in set: String) -> String {
        String(drop { set.contains($0) }.reversed().drop { set.contains($0) }.reversed())
    }
}

/// Where a chunked body ends, found byte by byte as it arrives; and where its first data chunk
/// lies (for `cutMidChunk`).
struct ChunkScanner {
    private enum Phase { case size, data(Int), dataEnd(Int), trailer, done }
    private var phase = Phase.size
    private var line: [UInt8] = []
    private var position = 0
    /// Offset and size of the first chunk with data, once its size line was read.
    private(set) var firstData: (start: Int, size: Int)?
    var isDone: Bool {
        if case .done = phase { return true }
        return false
    }

    /// Consumes bytes up to the body's end; returns how many of `bytes` belong to the body.
    mutating func scan(_ bytes: ArraySlice<UInt8>) -> Int {
        var used = 0
        for byte in bytes {
            if isDone { break }
            used += 1
            position += 1
            switch phase {
            case .size:
                guard byte == 0x0A else {
                    line.append(byte)
                    continue
                }
                let text = String(decoding: line, as: UTF8.self).split(separator: ";").first ?? ""
                let size = Int(text.trimmingCharacters(in: " \r\t"), radix: 16) ?? 0
                line = []
                if size > 0, firstData == nil { firstData = (position, size) }
                phase = size == 0 ? .trailer : .data(size)
            case let .data(left):
                phase = left == 1 ? .dataEnd(2) : .data(left - 1)
            case let .dataEnd(left):
                phase = left == 1 ? .size : .dataEnd(left - 1)
            case .trailer:
                guard byte == 0x0A else {
                    line.append(byte)
                    continue
                }
                let empty = line.isEmpty || line == [0x0D]
                line = []
                if empty { phase = .done }
            case .done:
                break
            }
        }
        return used
    }
}

/// Reads HTTP messages from one blocking socket: every wait a 50 ms poll that gives up when
/// `aborted` says so or when `peer` (the other side of the pair) closed.
struct MessageReader {
    let fd: CInt
    let aborted: () -> Bool
    var peer: CInt = -1
    private var buffer: [UInt8] = []

    init(fd: CInt, aborted: @escaping () -> Bool, peer: CInt = -1) {
        self.fd = fd
        self.aborted = aborted
        self.peer = peer
    }

    /// Reads more into the buffer; false at EOF, an error, abort or the peer's close.
    private mutating func fill() -> Bool {
        // Bounded: no single message may take ten minutes.
        let deadline = ContinuousClock.now + .seconds(600)
        while ContinuousClock.now < deadline {
            if aborted() { return false }
            var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
            if peer >= 0 { fds.append(pollfd(fd: peer, events: Int16(0x2000) /* POLLRDHUP */, revents: 0)) }
            guard Glibc.poll(&fds, nfds_t(fds.count), 50) > 0 else { continue }
            if fds.count > 1, fds[1].revents != 0 { return false }
            guard fds[0].revents != 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: 64 << 10)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            buffer += chunk[0..<n]
            return true
        }
        return false
    }

    /// The next message head (through its blank line); nil at EOF or when it exceeds 64 KiB.
    mutating func head() -> [UInt8]? {
        while true {
            if let end = endOfHead() {
                let head = Array(buffer[..<end])
                buffer.removeFirst(end)
                return head
            }
            guard buffer.count < 64 << 10, fill() else { return nil }
        }
    }

    private func endOfHead() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for i in 0...(buffer.count - 4) where buffer[i] == 0x0D && buffer[i + 1] == 0x0A && buffer[i + 2] == 0x0D && buffer[i + 3] == 0x0A {
            return i + 4
        }
        return nil
    }

    /// The whole body (raw, chunk framing included); nil if the connection ends before it does
    /// (for `untilClose`, the bytes up to the close).
    mutating func body(_ framing: BodyFraming) -> [UInt8]? {
        var body: [UInt8] = []
        let complete = pass(framing) { body += $0; return true }
        return complete ? body : nil
    }

    /// Sends the body to `client` as it arrives; false when either side ends early.
    mutating func forward(_ framing: BodyFraming, to client: CInt) -> Bool {
        pass(framing) { sendAll(client, Array($0)) }
    }

    /// Reads the body by `framing`, handing each piece to `sink`; true when it ended as framed.
    private mutating func pass(_ framing: BodyFraming, _ sink: (ArraySlice<UInt8>) -> Bool) -> Bool {
        switch framing {
        case .none:
            return true
        case let .length(total):
            var left = total
            while left > 0 {
                if buffer.isEmpty, !fill() { return false }
                let n = min(left, buffer.count)
                guard sink(buffer[..<n]) else { return false }
                buffer.removeFirst(n)
                left -= n
            }
            return true
        case .chunked:
            var scanner = ChunkScanner()
            while !scanner.isDone {
                if buffer.isEmpty, !fill() { return false }
                let n = scanner.scan(buffer[...])
                guard sink(buffer[..<n]) else { return false }
                buffer.removeFirst(n)
            }
            return true
        case .untilClose:
            while true {
                if !buffer.isEmpty {
                    guard sink(buffer[...]) else { return false }
                    buffer.removeAll()
                }
                if !fill() { return !aborted() }
            }
        }
    }

    /// A chunked stream: holds bytes back until its first data chunk is complete, then sends
    /// everything up to the middle of that chunk (`whole`: to its end); false if the stream
    /// ended before.
    mutating func forwardUntilMidChunk(to client: CInt, whole: Bool = false) -> Bool {
        var scanner = ChunkScanner()
        var held: [UInt8] = []
        while true {
            if buffer.isEmpty, !fill() { return false }
            let n = scanner.scan(buffer[...])
            held += buffer[..<n]
            buffer.removeFirst(n)
            if let (start, size) = scanner.firstData, held.count >= start + size {
                return sendAll(client, Array(held.prefix(start + (whole ? size : size / 2))))
            }
            if scanner.isDone { return false }
        }
    }

    /// Waits until the other side closes (or `aborted`).
    mutating func waitForClose() {
        while fill() { buffer.removeAll() }
    }
}
