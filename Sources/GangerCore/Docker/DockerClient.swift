public import EventLoop
import FoundationEssentials

/// One Docker daemon's Engine API, spoken over HTTP/1.1 on the reactor (unix socket or TCP).
///
/// Every call is non-blocking and answers through its completion on the loop. Calls use the
/// API version negotiated by `negotiate` (min of ours and the daemon's), and each has the
/// `docker_timeout` unless it is a stream. Errors carry the daemon URL, the call, the HTTP
/// status and the daemon's own message.
public final class DockerClient {
    /// The newest API version Ganger speaks; older daemons (1.41, Debian's 20.10) get theirs.
    public static let ourAPIVersion = "1.45"
    /// The oldest API Ganger speaks (Docker 20.10).
    public static let minimumAPIVersion = "1.41"
    /// Largest buffered response body: a container list of a busy daemon fits many times over.
    static let maxBody = 16 << 20

    public let url: DaemonURL
    public let name: String
    let http: HTTPClient
    let timeout: Duration
    private(set) weak var reactor: Reactor?
    /// When the daemon last answered a call (a response head, any status; monotonic ns; 0:
    /// never). A ping that times out while this is recent is a busy daemon, not a dead one.
    public private(set) var lastAnswerAt: UInt64 = 0
    /// The daemon host's address, resolved once at init (`tcp://`); nil for a unix socket. A
    /// remote daemon's published ports are reached on this address, so no DNS runs on the loop.
    public let hostAddress: SocketAddress?
    /// The API version in use: set by `negotiate`; until then unversioned paths are used.
    public private(set) var apiVersion: String?
    /// The daemon's default log driver (`GET /info` `LoggingDriver`), learned by `negotiate`:
    /// whether a session's log can be bounded there (`ContainerSpec.logConfig`). nil until then.
    public private(set) var logDriver: String?

    /// `tls`: mutual TLS for a `tcp://` daemon (`--tlsverify`); its PEM files are read here.
    public convenience init(reactor: Reactor, url: DaemonURL, timeout: Duration, tls: DaemonConfig.TLS? = nil) throws(DockerError) {
        var context: TLSContext?
        if let tls, url.isTCP {
            do throws(TLSError) {
                context = try TLSContext(ca: tls.ca, cert: tls.cert, key: tls.key)
            } catch {
                throw DockerError(daemon: url.description, call: "tls", kind: .transport("tls"), message: error.description)
            }
        }
        try self.init(reactor: reactor, url: url, timeout: timeout, tlsContext: context)
    }

    /// `tlsContext`: certificates already loaded, shared by many daemons (Consul's `daemon_tls`);
    /// each connection still verifies the daemon's certificate against its own URL's host.
    public init(reactor: Reactor, url: DaemonURL, timeout: Duration, tlsContext: TLSContext?) throws(DockerError) {
        self.url = url
        self.reactor = reactor
        name = url.description
        self.timeout = timeout
        let endpoint: HTTPClient.Endpoint
        switch url {
        case let .unix(path):
            endpoint = .address(.unix(path: path))
            hostAddress = nil
        case let .tcp(host, port):
            // Resolved once, here, before the loop depends on it: no DNS on the loop.
            guard let resolved = SocketAddress.resolveBlocking(host: host, port: port) else {
                throw DockerError(daemon: url.description, call: "resolve", kind: .transport("unknown host"),
                                  message: "cannot resolve \(host)")
            }
            endpoint = .address(resolved)
            hostAddress = resolved
        case let .ssh(user, host, port):
            // The host's address, for the published ports (resolved once, here); ssh resolves it
            // again itself.
            guard let resolved = SocketAddress.resolveBlocking(host: host, port: port ?? 22) else {
                throw DockerError(daemon: url.description, call: "resolve", kind: .transport("unknown host"),
                                  message: "cannot resolve \(host)")
            }
            hostAddress = resolved
            endpoint = .command(Self.sshCommand(user: user, host: host, port: port))
        }
        http = HTTPClient(reactor: reactor, endpoint: endpoint, host: "docker", maxConnections: 32, maxIdle: 8,
                          connectTimeout: min(timeout, .seconds(10)))
        if let tlsContext, case let .tcp(host, _) = url { http.tls = (tlsContext, host) }
    }

    /// `ssh -o BatchMode=yes -o ConnectTimeout=10 -T [-l USER] [-p PORT] -- HOST docker system
    /// dial-stdio`, as the docker CLI runs it: one ssh per API connection, whose stdin/stdout
    /// carry the HTTP to the remote daemon. BatchMode: never a password prompt (keys or agent).
    static func sshCommand(user: String?, host: String, port: UInt16?) -> [String] {
        var command = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-T"]
        if let user { command += ["-l", user] }
        if let port { command += ["-p", "\(port)"] }
        return command + ["--", host, "docker", "system", "dial-stdio"]
    }

    /// Drops idle connections and fails queued calls (at shutdown).
    public func shutdown() { http.shutdown() }

    /// Calls not yet answered in full.
    public var outstanding: Int { http.outstanding }

    /// Fails every call now and from now on (`HTTPClient.abort`).
    public func abort() { http.abort() }

    // MARK: Plumbing

    /// A buffered call. `path` has no version prefix. 2xx (and `accept`) succeed; the body is
    /// returned raw.
    @discardableResult
    func call(_ method: HTTPMethod, _ path: String, query: [(String, String)] = [], json body: (any Encodable)? = nil,
              raw: (contentType: String, bytes: [UInt8])? = nil,
              timeout: Duration? = nil, accept: Set<Int> = [], versioned: Bool = true,
              completion: @escaping (Result<(status: Int, body: [UInt8]), DockerError>) -> Void) -> HTTPRequestTask? {
        let callName = "\(method.rawValue) \(path)"
        var bytes: [UInt8] = []
        var headers: HTTPHeaders = [:]
        if let body {
            do {
                bytes = Array(try JSONEncoder().encode(body))
            } catch {
                let failure = DockerError(daemon: name, call: callName, kind: .decoding("\(error)"), message: "cannot encode: \(error)")
                // Completions never run inline: the caller may not have finished its own setup.
                reactor?.soon { completion(.failure(failure)) }
                return nil
            }
            headers.add(name: "Content-Type", value: "application/json")
        } else if let raw {
            bytes = raw.bytes
            headers.add(name: "Content-Type", value: raw.contentType)
        }
        var status = 0
        var received: [UInt8] = []
        var overflow = false
        let name = self.name
        let head = HTTPRequestHead(method: method, target: target(path, query, versioned: versioned), headers: headers)
        return http.execute(head, body: bytes, timeout: timeout ?? self.timeout, handler: HTTPResponseHandler(
            head: { [weak self] in
                status = $0.status
                self?.answered()
            },
            body: { chunk in
                if received.count + chunk.count > Self.maxBody { overflow = true } else { received += chunk }
            },
            end: { error in
                if let error { return completion(.failure(.transport(name, callName, error))) }
                if overflow {
                    return completion(.failure(.transport(name, callName, .bodyTooLarge(limit: Self.maxBody))))
                }
                if (200..<300).contains(status) || accept.contains(status) {
                    completion(.success((status, received)))
                } else {
                    completion(.failure(Self.statusError(name, callName, status, received)))
                }
            }))
    }

    private func answered() {
        if let now = reactor?.now { lastAnswerAt = now }
    }

    /// Whether the daemon answered a call within `window` before `now`: it is working, however
    /// slowly.
    public func answered(within window: Duration, now: UInt64) -> Bool {
        lastAnswerAt > 0 && now &- lastAnswerAt <= window.nanoseconds
    }

    /// A streamed call whose body is JSON lines (pull progress, events): each complete line goes
    /// to `line` as it arrives. No timeout unless given.
    @discardableResult
    func stream(_ method: HTTPMethod, _ path: String, query: [(String, String)] = [], timeout: Duration?,
                subscribed: @escaping () -> Void = {},
                line: @escaping ([UInt8]) -> Void, completion: @escaping (DockerError?) -> Void) -> HTTPRequestTask {
        let callName = "\(method.rawValue) \(path)"
        var status = 0
        var splitter = LineSplitter()
        var errorBody: [UInt8] = []
        let name = self.name
        return http.execute(HTTPRequestHead(method: method, target: target(path, query)), timeout: timeout,
                            handler: HTTPResponseHandler(
            head: {
                status = $0.status
                // The daemon answered the head: from here on, every event is delivered.
                if (200..<300).contains(status) { subscribed() }
            },
            body: { chunk in
                guard (200..<300).contains(status) else {
                    if errorBody.count < 64 << 10 { errorBody += chunk }
                    return
                }
                do {
                    for l in try splitter.feed(chunk) { line(l) }
                } catch {
                    // A line past the limit: drop what was buffered and go on with the next.
                    splitter = LineSplitter()
                }
            },
            end: { error in
                if let error { return completion(.transport(name, callName, error)) }
                guard (200..<300).contains(status) else {
                    return completion(Self.statusError(name, callName, status, errorBody))
                }
                if let last = splitter.finish() { line(last) }
                completion(nil)
            }))
    }

    func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8], call: String) -> Result<T, DockerError> {
        do {
            return .success(try JSONDecoder().decode(T.self, from: Data(bytes)))
        } catch {
            return .failure(DockerError(daemon: name, call: call, kind: .decoding("\(error)"),
                                        message: "unexpected answer: \(error)"))
        }
    }

    static func statusError(_ daemon: String, _ call: String, _ status: Int, _ body: [UInt8]) -> DockerError {
        let message = (try? JSONDecoder().decode(ErrorBody.self, from: Data(body)).message)
            ?? trimmed(String(decoding: body.prefix(512), as: UTF8.self))
        return DockerError(daemon: daemon, call: call, kind: .status(status), message: message)
    }

    /// `text` without leading and trailing whitespace and newlines. FoundationEssentials has no
    /// `trimmingCharacters(in:)`; it came from the full Foundation that Yams used to import.
    private static func trimmed(_ text: String) -> String {
        guard let first = text.firstIndex(where: { !$0.isWhitespace }),
              let last = text.lastIndex(where: { !$0.isWhitespace }) else { return "" }
        return String(text[first...last])
    }

    private func target(_ path: String, _ query: [(String, String)], versioned: Bool = true) -> String {
        let versioned = versioned ? (apiVersion.map { "/v\($0)\(path)" } ?? path) : path
        guard !query.isEmpty else { return versioned }
        return versioned + "?" + query.map { "\(percentEncode($0.0))=\(percentEncode($0.1))" }.joined(separator: "&")
    }

    // MARK: System

    /// `GET /_ping`.
    public func ping(timeout: Duration? = nil, completion: @escaping (Result<Void, DockerError>) -> Void) {
        call(.get, "/_ping", timeout: timeout) { completion($0.map { _ in () }) }
    }

    /// `GET /version`, then speaks min(ours, the daemon's ApiVersion) from now on; the first
    /// time, `GET /info` for its default log driver (`logDriver`). A daemon that does not
    /// answer either is not contacted: what a session's container is made with depends on both.
    public func negotiate(timeout: Duration? = nil, completion: @escaping (Result<String, DockerError>) -> Void) {
        // Asked unversioned, so any daemon answers it; other calls keep the version in use.
        call(.get, "/version", timeout: timeout, versioned: false) { [self] result in
            switch result.flatMap({ decode(VersionResponse.self, $0.body, call: "GET /version") }) {
            case let .success(version):
                // `older` returns its second argument on a tie: equal to the minimum is fine.
                guard Self.older(version.apiVersion, Self.minimumAPIVersion) == Self.minimumAPIVersion else {
                    return completion(.failure(DockerError(daemon: name, call: "GET /version", kind: .status(200),
                        message: "API \(version.apiVersion) is older than \(Self.minimumAPIVersion), the oldest Ganger speaks")))
                }
                apiVersion = Self.older(Self.ourAPIVersion, version.apiVersion)
                // Once per daemon: dockerd 20.10 answers `/info` by listing its networks under
                // libnetwork's locks, the path that deadlocked it here under mass container
                // exits (docs/operations.md); a daemon answering again keeps the driver it had.
                guard logDriver == nil else { return completion(.success(version.apiVersion)) }
                call(.get, "/info", timeout: timeout) { [self] result in
                    switch result.flatMap({ decode(InfoResponse.self, $0.body, call: "GET /info") }) {
                    case let .success(info):
                        logDriver = info.loggingDriver
                        completion(.success(version.apiVersion))
                    case let .failure(error):
                        completion(.failure(error))
                    }
                }
            case let .failure(error):
                completion(.failure(error))
            }
        }
    }

    /// The lower of two "major.minor" API versions.
    static func older(_ a: String, _ b: String) -> String {
        func parts(_ v: String) -> [Int] { v.split(separator: ".").map { Int($0) ?? 0 } }
        return parts(a).lexicographicallyPrecedes(parts(b)) ? a : b
    }
}

/// RFC 3986 percent-encoding of a query component (unreserved characters pass).
func percentEncode(_ text: String) -> String {
    var out = ""
    for byte in text.utf8 {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
            out.unicodeScalars.append(Unicode.Scalar(byte))
        default:
            let hex = String(byte, radix: 16, uppercase: true)
            out += "%" + (hex.count == 1 ? "0" + hex : hex)
        }
    }
    return out
}
