import EventLoop
import Logging

extension Supervisor {
    /// Warns about a `tcp://` daemon that is reached in clear text over a network: anyone on the
    /// path can drive that daemon, which is root on its host. Loopback is exempt (the test
    /// set-up, or a tunnel ending here); so is a daemon with `tls`.
    static func checkTransport(_ daemon: DaemonConfig, logger: Logger) {
        guard case let .tcp(host, _) = daemon.url, daemon.tls == nil else { return }
        if !isLoopback(host) {
            logger.warning("tcp:// daemon without TLS on a non-loopback address: its API (root on that host) is open to anyone on the path", metadata: [
                "daemon": "\(daemon.url)",
            ])
        }
    }

    /// The configured `host_ip` of daemon `index` (a static daemon's own, else `consul.host_ip`);
    /// nil = `auto`.
    private func configuredHostIP(_ index: Int) -> String? {
        guard config.consul == nil else { return config.consul?.hostIP }
        return config.daemons.first { $0.url == daemons[index].url }?.hostIP
    }

    /// The address on a remote daemon's host that a session's port is published on: `host_ip`,
    /// by default the address Ganger reaches the daemon at, so that the port is not open on
    /// the host's other interfaces. nil for a local daemon, which publishes nothing.
    func publishHostIP(_ index: Int) -> String? {
        guard publishesPorts(index) else { return nil }
        return configuredHostIP(index) ?? daemons[index].hostAddress?.host ?? ""
    }

    /// Where Ganger connects to a remote daemon's published ports: `host_ip` when it names one
    /// address, else the daemon's own address (resolved at startup: no DNS on the loop).
    func publishedHost(_ index: Int) -> SocketAddress? {
        if let ip = configuredHostIP(index), !DaemonConfig.isEveryInterface(ip), let address = try? SocketAddress(host: ip, port: 0) {
            return address
        }
        return daemons[index].hostAddress
    }

    /// `localhost`, 127.0.0.0/8 or ::1 (the text of the URL: no DNS).
    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
            && (try? SocketAddress(host: host, port: 1)) != nil
    }
}

extension SocketAddress {
    /// The same host with another port (a unix path stays as it is).
    func withPort(_ port: UInt16) -> SocketAddress {
        switch self {
        case let .v4(host, _): .v4(host: host, port: port)
        case let .v6(host, _): .v6(host: host, port: port)
        case .unix: self
        }
    }
}
