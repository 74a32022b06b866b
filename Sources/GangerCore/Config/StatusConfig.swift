/// The status listener (`status:`): HTML page, `/status.json`, `/metrics`, `/healthz`.
public struct StatusConfig: Sendable, Equatable {
    /// Where it listens; loopback by default because it shows client addresses.
    public var listen: HostPort
    /// Status connections one address may hold at once (`max_connections_per_address`), so
    /// that one peer cannot hold every connection until the health check fails; 0 = no cap.
    public var maxConnectionsPerAddress: Int

    public static let defaultListen = HostPort(host: "127.0.0.1", port: 5480)

    public init(listen: HostPort = StatusConfig.defaultListen, maxConnectionsPerAddress: Int = 8) {
        self.listen = listen
        self.maxConnectionsPerAddress = maxConnectionsPerAddress
    }
}
