/// Where a Docker daemon answers: `unix:///PATH`, `tcp://HOST:PORT` or `ssh://[USER@]HOST[:PORT]`.
///
/// IPv6 hosts are stored without brackets; `description` gives back the canonical URL.
public enum DaemonURL: Sendable, Hashable, CustomStringConvertible {
    case unix(path: String)
    case tcp(host: String, port: UInt16)
    case ssh(user: String?, host: String, port: UInt16?)

    /// The default daemon: `$DOCKER_HOST` when set and not empty, else the local socket.
    public static let localSocket = DaemonURL.unix(path: "/var/run/docker.sock")

    /// Parses a daemon URL; the error message quotes the text and shows the accepted forms.
    public static func parse(_ text: String) throws(ConfigError) -> DaemonURL {
        let usage = "\(shown(text)) is not a daemon URL "
            + "(use unix:///PATH, tcp://HOST:PORT or ssh://[USER@]HOST[:PORT])"
        guard let schemeEnd = text.firstRange(of: "://") else { throw ConfigError(path: "", message: usage) }
        let rest = String(text[schemeEnd.upperBound...])
        switch text[..<schemeEnd.lowerBound] {
        case "unix":
            guard rest.hasPrefix("/"), rest.count > 1 else {
                throw ConfigError(path: "", message: "\(shown(text)): the socket path must be absolute (unix:///var/run/docker.sock)")
            }
            // connect(2) would stop at the NUL and reach another socket than the one shown.
            guard !rest.utf8.contains(0) else {
                throw ConfigError(path: "", message: "\(shown(text)): the socket path holds a NUL byte")
            }
            return .unix(path: rest)
        case "tcp":
            guard let endpoint = try? HostPort.parseEndpoint(rest) else {
                throw ConfigError(path: "", message: "\(shown(text)): expected tcp://HOST:PORT with a port 1-65535")
            }
            return .tcp(host: endpoint.host, port: endpoint.port)
        case "ssh":
            return try parseSSH(rest, text: text)
        default:
            throw ConfigError(path: "", message: usage)
        }
    }

    public var description: String {
        switch self {
        case .unix(let path):
            return "unix://\(path)"
        case .tcp(let host, let port):
            return "tcp://\(HostPort(host: host, port: port))"
        case .ssh(let user, let host, let port):
            let userPart = user.map { "\($0)@" } ?? ""
            let hostPart = host.contains(":") ? "[\(host)]" : host
            return "ssh://\(userPart)\(hostPart)\(port.map { ":\($0)" } ?? "")"
        }
    }

    /// True for `tcp://` and `ssh://`: daemons on another host, whose containers Ganger reaches
    /// through a port published on that host.
    public var isRemote: Bool {
        if case .unix = self { return false }
        return true
    }

    /// True for `tcp://`, the only transport on which TLS settings mean anything.
    public var isTCP: Bool {
        if case .tcp = self { return true }
        return false
    }

    /// A POSIX portable user name (`[A-Za-z0-9._-]`, not starting with `-`): nothing ssh or a
    /// shell could read as an option or a metacharacter.
    static func isSafeUser(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first != "-" else { return false }
        return name.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "." || $0 == "_" || $0 == "-"
        }
    }

    /// `[USER@]HOST[:PORT]`; the port, when given, must be 1-65535.
    private static func parseSSH(_ rest: String, text: String) throws(ConfigError) -> DaemonURL {
        let bad = ConfigError(path: "", message: "\(shown(text)): expected ssh://[USER@]HOST[:PORT]")
        var hostPart = Substring(rest)
        var user: String?
        if let at = rest.lastIndex(of: "@") {
            user = String(rest[..<at])
            hostPart = rest[rest.index(after: at)...]
            guard let name = user, isSafeUser(name) else {
                throw ConfigError(path: "", message: "\(shown(text)): the ssh user must be letters, digits, '.', '_' or '-', "
                    + "not starting with '-' (it is passed to ssh)")
            }
        }
        if hostPart.hasPrefix("["), hostPart.hasSuffix("]") {
            let inner = String(hostPart.dropFirst().dropLast())
            guard inner.contains(":"), HostPort.isNumericIP(inner) else { throw bad }
            return .ssh(user: user, host: inner, port: nil)
        }
        if hostPart.hasPrefix("[") || hostPart.contains(":") {
            guard let endpoint = try? HostPort.parseEndpoint(String(hostPart)) else {
                if !hostPart.hasPrefix("["), HostPort.isNumericIP(String(hostPart)) {
                    return .ssh(user: user, host: String(hostPart), port: nil)
                }
                throw bad
            }
            return .ssh(user: user, host: endpoint.host, port: endpoint.port)
        }
        guard HostPort.isNumericIP(String(hostPart)) || HostPort.isHostName(String(hostPart)) else { throw bad }
        return .ssh(user: user, host: String(hostPart), port: nil)
    }
}
