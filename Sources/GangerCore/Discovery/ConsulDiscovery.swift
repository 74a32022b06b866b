public import EventLoop
public import Logging

/// Finds the Docker daemons registered in Consul (`consul:`) and follows the catalog.
///
/// Per datacenter of `consul.datacenters` (or once, for the agent's own datacenter, when the
/// list is empty) it asks `GET /v1/health/service/<service>?passing&dc=<dc>` (plus `&stale` or
/// `&consistent`) over the reactor's HTTP client, then keeps asking as a blocking query
/// (`index` = the last `X-Consul-Index`, `wait`): Consul holds each request until the service's
/// instances change or `wait` passes. Every change of the union goes to `onChange`, ordered by
/// datacenter preference. A failed query keeps the datacenter's last known daemons (Consul being
/// unreachable is no reason to drain a fleet), tries the next host, and backs off 1 s … 10 s.
/// Queries of one datacenter start at least `minimumInterval` apart, so an answer that comes
/// back at once (a Consul that ignores `index`, a catalog that changes all the time) cannot make
/// a busy loop.
///
/// Consul is a trust boundary (docs/security.md): requests carry `consul.token` as
/// `X-Consul-Token`, go over https with `consul.scheme: https`, and every answer is screened
/// (`ConsulScreen`) before it reaches `onChange`; each refusal is logged once.
public final class ConsulDiscovery {
    public let config: ConsulConfig
    private weak var reactor: Reactor?
    private let logger: Logger
    private let clients: [(host: HostPort, http: HTTPClient)]
    private let wait: Duration
    private let minimumInterval: Duration
    /// `X-Consul-Token`, from `consul.token` or the file `consul.token_file` (read in `init`).
    private let token: String?
    /// Refusals already logged (bounded: cleared when full, so a flood logs again, at most
    /// once per `noteLimit` distinct refusals).
    private var logged: Set<String> = []
    private static let noteLimit = 4096
    private var watches: [Watch] = []
    private var stopped = false
    /// Called on the loop after the first round with every change of the discovered set.
    public var onChange: (([DiscoveredDaemon]) -> Void)?

    /// One datacenter's query state.
    private final class Watch {
        let datacenter: String?
        let rank: Int
        var index: UInt64 = 0
        var daemons: [DiscoveredDaemon] = []
        var host = 0
        var backoff: Duration = .zero
        var task: HTTPRequestTask?
        /// When the last query was sent (reactor time), for the minimum interval.
        var sentAt: UInt64 = 0
        init(datacenter: String?, rank: Int) {
            self.datacenter = datacenter
            self.rank = rank
        }
    }

    /// Resolves `config.hosts` now (blocking DNS, before the loop depends on it), reads
    /// `consul.token_file` and `consul.ca_file` once.
    /// - Throws: a message naming the host when none resolves, or the key and file that cannot be read.
    public init(reactor: Reactor, config: ConsulConfig, logger: Logger, wait: Duration = .seconds(30),
                minimumInterval: Duration = .seconds(1)) throws(StartupError) {
        self.reactor = reactor
        self.config = config
        self.logger = logger
        self.wait = wait
        self.minimumInterval = minimumInterval
        token = try Self.token(config)
        var tls: TLSContext?
        if config.scheme == .https {
            do throws(TLSError) {
                tls = try TLSContext(verifying: config.caFile)
            } catch {
                throw StartupError(description: "consul.ca_file: \(error)")
            }
        }
        var clients: [(HostPort, HTTPClient)] = []
        for host in config.hosts {
            guard let address = SocketAddress.resolveBlocking(host: host.host, port: host.port) else {
                logger.error("consul: cannot resolve host", metadata: ["host": "\(host)"])
                continue
            }
            let http = HTTPClient(reactor: reactor, address: address, host: host.description,
                                  maxConnections: max(config.datacenters.count, 1) + 1, maxIdle: 4, connectTimeout: .seconds(5))
            if let tls { http.tls = (tls, host.host) }
            clients.append((host, http))
        }
        guard !clients.isEmpty else {
            throw StartupError(description: "consul: none of \(config.hosts.map(\.description)) resolves")
        }
        self.clients = clients
        let datacenters: [String?] = config.datacenters.isEmpty ? [nil] : config.datacenters
        watches = datacenters.enumerated().map { Watch(datacenter: $1, rank: $0) }
    }

    /// `consul.token`, or the content of `consul.token_file` without its surrounding whitespace.
    static func token(_ config: ConsulConfig) throws(StartupError) -> String? {
        guard let path = config.tokenFile else { return config.token }
        let bytes: [UInt8]
        do throws(ConfigError) {
            bytes = try ConfigLoader.readFile(path)
        } catch {
            throw StartupError(description: "consul.token_file: \(path): \(error.message)")
        }
        let text = String(String(decoding: bytes, as: UTF8.self).drop(while: \.isWhitespace)
            .reversed().drop(while: \.isWhitespace).reversed())
        guard !text.isEmpty, text.utf8.count <= 4096, !text.contains(where: { $0.isNewline || $0 == "\r" }) else {
            throw StartupError(description: "consul.token_file: \(path): not one token (empty, several lines or over 4 KiB)")
        }
        return text
    }

    /// The daemons known now, best datacenter first; a URL listed in several datacenters counts
    /// in its best one only.
    public var daemons: [DiscoveredDaemon] {
        var seen: Set<DaemonURL> = []
        return watches.flatMap(\.daemons).filter { seen.insert($0.url).inserted }
    }

    /// One non-blocking round over every datacenter; `done` gets the daemons, or the first error
    /// when no datacenter answered at all. Then the blocking queries start.
    public func start(_ done: @escaping (Result<[DiscoveredDaemon], ConsulError>) -> Void) {
        round { [self] found, failures in
            if failures.count == watches.count, let first = failures.first { return done(.failure(first.error)) }
            done(.success(found))
            for watch in watches { follow(watch) }
        }
    }

    /// One non-blocking query per datacenter and nothing after (`ganger cleanup`): `done` gets
    /// the daemons of the datacenters that answered, and each one that did not with its error.
    public func list(_ done: @escaping (_ daemons: [DiscoveredDaemon], _ failures: [(datacenter: String?, error: ConsulError)]) -> Void) {
        round(done)
    }

    private func round(_ done: @escaping ([DiscoveredDaemon], [(datacenter: String?, error: ConsulError)]) -> Void) {
        var failures: [(datacenter: String?, error: ConsulError)] = []
        var pending = watches.count
        for watch in watches {
            query(watch) { [self] error in
                if let error { failures.append((watch.datacenter, error)) }
                pending -= 1
                if pending == 0 { done(daemons, failures) }
            }
        }
    }

    /// Cancels the queries in flight; nothing more is reported.
    public func stop() {
        stopped = true
        onChange = nil
        for watch in watches { watch.task?.cancel() }
        for client in clients { client.http.shutdown() }
    }

    /// The blocking-query loop of one datacenter.
    private func follow(_ watch: Watch) {
        guard !stopped else { return }
        query(watch) { [weak self] error in
            guard let self, !stopped else { return }
            guard error != nil else {
                watch.backoff = .zero
                // No X-Consul-Index: the next query would not block; do not spin.
                if watch.index == 0 { reactor?.schedule(after: .seconds(1)) { [weak self] in self?.follow(watch) }; return }
                let since = Duration.nanoseconds(Int64(clamping: (reactor?.now ?? 0) &- watch.sentAt))
                guard since < minimumInterval else { return follow(watch) }
                reactor?.schedule(after: minimumInterval - since) { [weak self] in self?.follow(watch) }
                return
            }
            watch.host = (watch.host + 1) % clients.count
            watch.backoff = min(max(watch.backoff * 2, .seconds(1)), .seconds(10))
            reactor?.schedule(after: watch.backoff) { [weak self] in self?.follow(watch) }
        }
    }

    /// One query; on an answer whose daemons differ, `onChange` hears the new union.
    private func query(_ watch: Watch, _ done: @escaping (ConsulError?) -> Void) {
        let (host, http) = clients[watch.host]
        let target = ConsulHealth.path(service: config.service, datacenter: watch.datacenter,
                                       consistency: config.consistency, index: watch.index, wait: wait)
        var status = 0
        var index: UInt64?
        var body: [UInt8] = []
        // Consul may answer up to wait/16 late (its jitter); the request gets that and a margin.
        let timeout = watch.index > 0 ? wait + wait / 16 + .seconds(5) : .seconds(10)
        var headers: HTTPHeaders = [:]
        if let token { headers.add(name: "X-Consul-Token", value: token) }
        watch.sentAt = reactor?.now ?? 0
        watch.task = http.execute(HTTPRequestHead(method: .get, target: target, headers: headers), timeout: timeout, handler: HTTPResponseHandler(
            head: { head in
                status = head.status
                index = head.headers["X-Consul-Index"].flatMap { UInt64($0) }
            },
            body: { chunk in if body.count < 16 << 20 { body += chunk } },
            end: { [weak self] error in
                guard let self else { return }
                watch.task = nil
                if let error {
                    if case .cancelled = error { return }
                    return done(failed(watch, host, .transport("\(error)")))
                }
                guard status == 200 else {
                    return done(failed(watch, host, .status(status, String(decoding: body.prefix(300), as: UTF8.self))))
                }
                switch ConsulHealth.daemons(from: body, datacenter: watch.datacenter, rank: watch.rank,
                                            defaultMax: config.defaultMaxContainers) {
                case let .failure(problem):
                    return done(failed(watch, host, problem))
                case let .success((listed, skipped)):
                    for reason in skipped { note(reason, "consul: entry skipped: \(reason)") }
                    let (daemons, notes) = ConsulScreen.screen(listed, config)
                    for refusal in notes { note(refusal.key, refusal.message) }
                    // The index must grow; one that goes backwards (a Consul restart) starts over.
                    let next = index ?? 0
                    watch.index = next < watch.index ? 0 : next
                    if daemons != watch.daemons {
                        watch.daemons = daemons
                        logger.info("consul: daemons", metadata: [
                            "datacenter": "\(watch.datacenter ?? "(agent's)")",
                            "daemons": "\(daemons.map { "\($0.url) max \($0.maxContainers)" })",
                        ])
                        onChange?(self.daemons)
                    }
                    done(nil)
                }
            }))
    }

    /// Logs `message` the first time `key` is seen (a watch sees the same entries on every answer).
    private func note(_ key: String, _ message: String) {
        if logged.count >= Self.noteLimit { logged.removeAll(keepingCapacity: true) }
        guard logged.insert(key).inserted else { return }
        logger.warning("\(message)")
    }

    private func failed(_ watch: Watch, _ host: HostPort, _ error: ConsulError) -> ConsulError {
        logger.error("consul: query failed; keeping the last known daemons", metadata: [
            "host": "\(host)", "datacenter": "\(watch.datacenter ?? "(agent's)")", "error": "\(error)",
        ])
        return error
    }
}
