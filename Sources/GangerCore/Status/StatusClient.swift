import EventLoop
import FoundationEssentials

/// Why `ganger status` could not get an answer, in words an operator can act on.
public enum StatusClientError: Error, CustomStringConvertible, Sendable {
    /// The `--url` does not parse; carries it and why.
    case badURL(String, String)
    /// No HTTP answer: refused, timed out, reset, malformed. Carries the URL and the cause.
    case unreachable(String, String)
    /// An answer other than 200; carries the URL, the status and the start of the body.
    case status(String, Int, String)
    /// `/status.json` is not a snapshot this version understands.
    case undecodable(String, String)

    public var description: String {
        switch self {
        case let .badURL(url, reason):
            "invalid --url \"\(url)\": \(reason) (expected http://HOST:PORT, e.g. http://127.0.0.1:5480)"
        case let .unreachable(url, cause):
            "cannot reach \(url): \(cause) (is `ganger run` serving its status listener there? see status.listen)"
        case let .status(url, status, body):
            "\(url) answered \(status): \(body)"
        case let .undecodable(url, cause):
            "\(url) did not return a status snapshot this ganger understands: \(cause)"
        }
    }
}

/// A blocking client for a running instance's status listener: `ganger status` and
/// `ganger status --health`. Each call runs a reactor of its own on the calling thread (so
/// never call it from a loop), with the EventLoop `HTTPClient`; no Foundation networking.
public enum StatusClient {
    /// A response: status and body.
    public struct Reply: Sendable {
        public var status: Int
        public var body: [UInt8]
    }

    /// Largest body accepted: a snapshot is tens of kilobytes.
    static let maxBody = 16 << 20

    /// `GET base + path`, bounded by `timeout` from connect to the last byte.
    public static func get(_ base: String, path: String, timeout: Duration = .seconds(5)) throws(StatusClientError) -> Reply {
        let (address, host, prefix) = try parse(base)
        let url = base.hasSuffix("/") ? String(base.dropLast()) + path : base + path
        let reactor: Reactor
        do { reactor = try Reactor() } catch { throw .unreachable(url, "\(error)") }
        let client = HTTPClient(reactor: reactor, address: address, host: host, maxConnections: 1, maxIdle: 0,
                                connectTimeout: timeout)
        var status = 0
        var body: [UInt8] = []
        var failure: HTTPClientError?
        var tooLarge = false
        var task: HTTPRequestTask?
        task = client.execute(
            HTTPRequestHead(method: .get, target: prefix + path, headers: ["Connection": "close"]),
            timeout: timeout,
            handler: HTTPResponseHandler(
                head: { status = $0.status },
                body: { chunk in
                    body += chunk
                    if body.count > maxBody {
                        tooLarge = true
                        task?.cancel()
                    }
                },
                end: { error in
                    failure = error
                    reactor.stop()
                }))
        do { try reactor.run() } catch { throw .unreachable(url, "\(error)") }
        client.shutdown()
        if tooLarge { throw .unreachable(url, "answer larger than \(maxBody) bytes") }
        if let failure { throw .unreachable(url, failure.description) }
        return Reply(status: status, body: body)
    }

    /// The instance's `/status.json`, decoded.
    public static func snapshot(_ base: String, timeout: Duration = .seconds(5)) throws(StatusClientError) -> StatusSnapshot {
        let reply = try get(base, path: "/status.json", timeout: timeout)
        let url = base + "/status.json"
        guard reply.status == 200 else {
            throw .status(url, reply.status, String(decoding: reply.body.prefix(200), as: UTF8.self))
        }
        do {
            return try JSONDecoder().decode(StatusSnapshot.self, from: Data(reply.body))
        } catch {
            throw .undecodable(url, "\(error)")
        }
    }

    /// Whether `/healthz` answers 200 within `timeout`.
    public static func isHealthy(_ base: String, timeout: Duration = .seconds(5)) -> Bool {
        (try? get(base, path: "/healthz", timeout: timeout))?.status == 200
    }

    /// `http://HOST[:PORT][/prefix]` (or without the scheme) → address, Host header value and
    /// path prefix. A host name is resolved here, before any loop runs.
    static func parse(_ url: String) throws(StatusClientError) -> (SocketAddress, String, String) {
        var rest = Substring(url)
        if rest.hasPrefix("https://") { throw .badURL(url, "TLS is not spoken here; the status listener is plain HTTP") }
        if rest.hasPrefix("http://") { rest = rest.dropFirst(7) }
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        var prefix = String(rest[slash...])
        if prefix.hasSuffix("/") { prefix.removeLast() }
        guard !authority.isEmpty else { throw .badURL(url, "no host") }
        var host = String(authority)
        var port: UInt16 = 80
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw .badURL(url, "unclosed [ in an IPv6 host") }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let p = UInt16(after.dropFirst()) else { throw .badURL(url, "bad port") }
                port = p
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            guard let p = UInt16(authority[authority.index(after: colon)...]) else { throw .badURL(url, "bad port") }
            port = p
        }
        guard let address = SocketAddress.resolveBlocking(host: host, port: port) else {
            throw .badURL(url, "cannot resolve host \"\(host)\"")
        }
        return (address, String(authority), prefix)
    }
}
