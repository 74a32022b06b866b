import CGangerShims
import Glibc
import Synchronization
import TestSupport

/// A FIXTURE standing in for a Consul server: Consul's server packages are not installable in
/// this environment, so the tests serve the few documented endpoints Ganger reads, with the
/// documented shapes, from a catalog the test edits while Ganger runs. It is not Consul: no
/// gossip, no ACLs, no agent; only what the API docs promise about these answers.
///
/// - `GET /v1/health/service/<name>[?passing][&dc=DC][&stale|&consistent][&index=N&wait=Ws]`
///   (https://developer.hashicorp.com/consul/api-docs/health#list-service-instances-for-service):
///   a JSON array of `{"Node": {"ID", "Node", "Address", "Datacenter", "TaggedAddresses",
///   "Meta"}, "Service": {"ID", "Service", "Tags", "Address", "Port", "Meta"}, "Checks": [{"Node",
///   "CheckID", "Name", "Status", "ServiceID", "ServiceName"}]}`; `passing` keeps only entries
///   whose checks all pass. Without `dc`, the first datacenter (the "agent's own"); an unknown
///   one answers 500 `No path to datacenter`, as Consul does.
/// - `GET /v1/catalog/datacenters` (https://developer.hashicorp.com/consul/api-docs/catalog#list-datacenters):
///   a JSON array of names.
/// - Blocking queries (https://developer.hashicorp.com/consul/api-docs/features/blocking): every
///   answer carries `X-Consul-Index`; a request with `index=N` equal to the current index is held
///   until the catalog changes or `wait` (default 5 m, capped here at 10 s) elapses. Here the index
///   is global to the catalog (Consul's is per query, which may wake a watcher spuriously; the
///   client must cope with both, and does: an unchanged answer just asks again).
///
/// Blocking sockets, one thread per connection (bounded), `Connection: close` after each answer.
final class FixtureConsul: Sendable {
    struct Instance: Sendable, Equatable {
        var node: String
        var nodeAddress: String
        var datacenter: String
        var serviceID: String
        var serviceAddress: String
        var port: Int
        var tags: [String] = []
        var passing = true
    }

    private struct State {
        var instances: [Instance] = []
        var index: UInt64 = 1
        var requests: [String] = []
        /// Each request's `X-Consul-Token` ("" when none), in order.
        var tokens: [String] = []
        /// Answer blocking queries at once, as a Consul that ignores `index` would.
        var ignoreIndex = false
        var stop = false
        var stopped = false
        var connections = 0
    }

    let datacenters: [String]
    let port: UInt16
    private let listenFD: CInt
    private let state = Mutex(State())

    var address: String { "127.0.0.1:\(port)" }
    /// Every request target seen, in order.
    var requests: [String] { state.withLock { $0.requests } }
    /// Every request's `X-Consul-Token` header ("" when absent), in order.
    var tokens: [String] { state.withLock { $0.tokens } }

    /// Makes blocking queries answer at once (a misbehaving Consul, for the minimum interval).
    func ignoreIndex(_ ignore: Bool) { state.withLock { $0.ignoreIndex = ignore } }

    init(datacenters: [String]) throws {
        self.datacenters = datacenters
        let listenFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard listenFD >= 0 else { throw HarnessError("socket: \(String(cString: strerror(errno)))") }
        var one: CInt = 1
        setsockopt(listenFD, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<CInt>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listenFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listenFD, 64) == 0 else {
            let message = String(cString: strerror(errno))
            close(listenFD)
            throw HarnessError("bind/listen 127.0.0.1:0: \(message)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listenFD, $0, &length) } }
        port = UInt16(bigEndian: address.sin_port)
        self.listenFD = listenFD
        startThread(ThreadJob { [self] in acceptLoop() })
    }

    /// Replaces the catalog; a change wakes every held blocking query.
    func set(_ instances: [Instance]) {
        state.withLock {
            guard $0.instances != instances else { return }
            $0.instances = instances
            $0.index += 1
        }
    }

    func update(_ change: (inout [Instance]) -> Void) {
        var copy = state.withLock { $0.instances }
        change(&copy)
        set(copy)
    }

    /// Stops accepting; held queries answer at once; waits (bounded) for the threads. Idempotent.
    func stop() {
        // Idempotent: a second close could hit a number another thread reuses meanwhile.
        let first = state.withLock { s -> Bool in
            defer { s.stop = true }
            return !s.stop
        }
        guard first else { return }
        let deadline = ContinuousClock.now + .seconds(5)
        while !state.withLock({ $0.stopped && $0.connections == 0 }) && ContinuousClock.now < deadline { usleep(5_000) }
        close(listenFD)
    }

    private func acceptLoop() {
        defer { state.withLock { $0.stopped = true } }
        let deadline = ContinuousClock.now + .seconds(600)
        while !state.withLock({ $0.stop }) && ContinuousClock.now < deadline {
            var p = pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)
            guard Glibc.poll(&p, 1, 50) == 1 else { continue }
            let fd = ganger_accept4(listenFD, nil, nil, Int32(SOCK_CLOEXEC.rawValue))
            guard fd >= 0 else { continue }
            let admitted = state.withLock { s -> Bool in
                guard s.connections < 64 else { return false }
                s.connections += 1
                return true
            }
            guard admitted else { close(fd); continue }
            startThread(ThreadJob { [self] in
                serve(fd)
                close(fd)
                state.withLock { $0.connections -= 1 }
            })
        }
    }

    private func serve(_ fd: CInt) {
        guard let (target, token) = readRequestTarget(fd) else { return }
        state.withLock {
            $0.requests.append(target)
            $0.tokens.append(token)
        }
        let (path, query) = split(target)
        let (status, body, index) = answer(path: path, query: query)
        let head = "HTTP/1.1 \(status == 200 ? "200 OK" : "\(status) Error")\r\nContent-Type: application/json\r\n"
            + "X-Consul-Index: \(index)\r\nX-Consul-Knownleader: true\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n"
        let bytes = Array((head + body).utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            sent += n
        }
    }

    private func answer(path: String, query: [String: String]) -> (Int, String, UInt64) {
        if path == "/v1/catalog/datacenters" {
            return (200, "[" + datacenters.map { "\"\($0)\"" }.joined(separator: ",") + "]", state.withLock { $0.index })
        }
        guard path.hasPrefix("/v1/health/service/") else { return (404, "\"not found\"", 0) }
        let service = String(path.dropFirst("/v1/health/service/".count))
        let datacenter = query["dc"] ?? datacenters[0]
        guard datacenters.contains(datacenter) else { return (500, "No path to datacenter", 0) }
        // Blocking query: hold while the index is the one the client already has.
        if let asked = query["index"].flatMap(UInt64.init), !state.withLock({ $0.ignoreIndex }) {
            let wait = min(parseWait(query["wait"]), .seconds(10))
            let until = ContinuousClock.now + wait
            while state.withLock({ $0.index == asked && !$0.stop }) && ContinuousClock.now < until { usleep(10_000) }
        }
        let (instances, index) = state.withLock { ($0.instances, $0.index) }
        let passingOnly = query["passing"] != nil
        let entries = instances.filter { $0.datacenter == datacenter && (!passingOnly || $0.passing) }.map { i in
            """
            {"Node":{"ID":"\(i.node)-id","Node":"\(i.node)","Address":"\(i.nodeAddress)","Datacenter":"\(i.datacenter)",\
            "TaggedAddresses":{"lan":"\(i.nodeAddress)","wan":"\(i.nodeAddress)"},"Meta":{"consul-network-segment":""}},\
            "Service":{"ID":"\(i.serviceID)","Service":"\(service)","Tags":[\(i.tags.map { "\"\($0)\"" }.joined(separator: ","))],\
            "Address":"\(i.serviceAddress)","Meta":null,"Port":\(i.port),"Weights":{"Passing":1,"Warning":1},"EnableTagOverride":false},\
            "Checks":[{"Node":"\(i.node)","CheckID":"serfHealth","Name":"Serf Health Status","Status":"passing","ServiceID":"","ServiceName":""},\
            {"Node":"\(i.node)","CheckID":"service:\(i.serviceID)","Name":"Service check","Status":"\(i.passing ? "passing" : "critical")",\
            "ServiceID":"\(i.serviceID)","ServiceName":"\(service)"}]}
            """
        }
        return (200, "[" + entries.joined(separator: ",") + "]", index)
    }

    private func parseWait(_ text: String?) -> Duration {
        guard let text else { return .seconds(300) }
        if text.hasSuffix("ms"), let n = Int(text.dropLast(2)) { return .milliseconds(n) }
        if text.hasSuffix("s"), let n = Int(text.dropLast()) { return .seconds(n) }
        if text.hasSuffix("m"), let n = Int(text.dropLast()) { return .seconds(60 * n) }
        return .seconds(300)
    }

    private func split(_ target: String) -> (String, [String: String]) {
        guard let mark = target.firstIndex(of: "?") else { return (target, [:]) }
        var query: [String: String] = [:]
        for pair in target[target.index(after: mark)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            query[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        return (String(target[..<mark]), query)
    }

    /// The request target of the head and its `X-Consul-Token` ("" when none) (bounded: 2 s,
    /// 16 KiB), or nil.
    private func readRequestTarget(_ fd: CInt) -> (String, String)? {
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        let deadline = ContinuousClock.now + .seconds(2)
        while ContinuousClock.now < deadline && received.count < 16 << 10 {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard Glibc.poll(&p, 1, 20) == 1 else { continue }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return nil }
            received += chunk[0..<n]
            let text = String(decoding: received, as: UTF8.self)
            if text.contains("\r\n\r\n") {
                let lines = text.split(separator: "\r\n")
                let words = (lines.first ?? "").split(separator: " ")
                let token = lines.dropFirst().first { $0.lowercased().hasPrefix("x-consul-token:") }
                    .map { String($0.dropFirst("x-consul-token:".count).drop(while: { $0 == " " })) } ?? ""
                return words.count >= 2 ? (String(words[1]), token) : nil
            }
        }
        return nil
    }
}
