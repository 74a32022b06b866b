public import EventLoop
import Logging

extension Supervisor {
    /// Refuses what the Docker client cannot do yet (TLS) and warns about a `tcp://` daemon that
    /// is reached in clear text over a network: anyone on the path can drive that daemon, which
    /// is root on its host. Loopback is exempt (the test set-up, or a tunnel ending here).
    /// - Throws: for a daemon with `tls` set: plain TCP to a TLS port would only fail later and
    ///   less clearly.
    static func checkTransport(_ daemon: DaemonConfig, logger: Logger) throws(DockerError) {
        guard case let .tcp(host, _) = daemon.url else { return }
        if daemon.tls != nil {
            throw DockerError(daemon: daemon.url.description, call: "connect", kind: .transport("unsupported"),
                              message: "TLS (tls/cert_path) is not implemented yet: use a loopback tcp:// port "
                                  + "(e.g. an SSH tunnel) or a unix:// socket")
        }
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
