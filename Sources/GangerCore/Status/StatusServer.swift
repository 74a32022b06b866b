public import EventLoop
import FoundationEssentials

/// The status listener (DESIGN.md, "Status listener"): an `HTTPServer` on the loop answering
///
/// - `GET /` the HTML page (`?refresh=N` reloads every N seconds, 1…3600),
/// - `GET /status.json` the snapshot as JSON, keys sorted,
/// - `GET /metrics` Prometheus text format 0.0.4,
/// - `GET /healthz` 200 `ok`, or 503 while draining or when no daemon takes sessions (up and
///   not drained).
///
/// `snapshot` is called on the loop once per request that needs data, so every answer is fresh.
/// HEAD works for each; other methods get 405, unknown paths 404.
public final class StatusServer {
    private let server: HTTPServer

    /// Listens on `address`. Throws (a `SyscallError`) when it cannot bind, e.g. the port is
    /// in use. One peer address holds at most `maxConnectionsPerAddress` connections (0: no
    /// cap beyond the server's own). Call on the reactor's thread.
    public init(reactor: Reactor, address: SocketAddress, maxConnectionsPerAddress: Int = 8,
                snapshot: @escaping () -> StatusSnapshot) throws {
        server = try HTTPServer(reactor: reactor, address: address,
                                configuration: .init(maxConnectionsPerAddress: maxConnectionsPerAddress)) { head in
            StatusServer.route(head, snapshot: snapshot)
        }
    }

    /// Serves on `socket`, a listening socket systemd passed (socket activation).
    public init(reactor: Reactor, adopting socket: consuming FileDescriptor, maxConnectionsPerAddress: Int = 8,
                snapshot: @escaping () -> StatusSnapshot) throws {
        server = try HTTPServer(reactor: reactor, adopting: socket,
                                configuration: .init(maxConnectionsPerAddress: maxConnectionsPerAddress)) { head in
            StatusServer.route(head, snapshot: snapshot)
        }
    }

    /// The bound address, with the kernel's port when 0 was asked for.
    public var address: SocketAddress { server.address }

    /// Connections refused because their address held its cap already.
    public var refusedPerAddress: Int { server.refusedPerAddressCount }

    /// A copy of the listening socket, for the Ganger taking over.
    public func duplicateListeningSocket() throws(SyscallError) -> FileDescriptor { try server.duplicateListeningSocket() }

    /// Stops listening and closes every status connection; idempotent.
    public func close() { server.close() }

    /// The answer to one request, without sockets: what the server sends for `head`.
    static func route(_ head: HTTPRequestHead, snapshot: () -> StatusSnapshot) -> HTTPServerResponse {
        let (path, query) = splitTarget(head.target)
        var response: HTTPServerResponse
        switch path {
        case "/", "/index.html":
            let refresh = query["refresh"].flatMap { Int($0) }.map { min(max($0, 1), 3600) }
            response = HTTPServerResponse(status: 200, contentType: "text/html; charset=utf-8",
                                          text: StatusPage.render(snapshot(), refresh: refresh))
        case "/status.json":
            do {
                response = HTTPServerResponse(status: 200, headers: ["Content-Type": "application/json"],
                                              body: try json(snapshot()) + [UInt8(ascii: "\n")])
            } catch {
                response = .plain(500, "cannot encode the status: \(error)")
            }
        case "/metrics":
            response = HTTPServerResponse(status: 200, contentType: Metrics.contentType, text: Metrics.render(snapshot()))
        case "/healthz":
            let current = snapshot()
            if current.draining {
                response = .plain(503, "draining")
            } else if !current.daemons.contains(where: { $0.up && $0.state == .up }) {
                response = .plain(503, "no daemon up")
            } else {
                response = .plain(200, "ok")
            }
        default:
            response = .plain(404, "no such page; try /, /status.json, /metrics or /healthz")
        }
        response.headers.add(name: "Cache-Control", value: "no-store")
        return response
    }

    /// The snapshot as `/status.json` serves it: keys sorted, absent optionals left out.
    static func json(_ snapshot: StatusSnapshot) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(snapshot))
    }

    /// `/path?a=1&b=2` → ("/path", ["a": "1", "b": "2"]). Values are taken literally (the
    /// only parameter, `refresh`, is a number).
    static func splitTarget(_ target: String) -> (path: String, query: [String: String]) {
        guard let mark = target.firstIndex(of: "?") else { return (target, [:]) }
        var query: [String: String] = [:]
        for pair in target[target.index(after: mark)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            query[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        return (String(target[..<mark]), query)
    }
}
