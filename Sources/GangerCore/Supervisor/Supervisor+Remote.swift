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
