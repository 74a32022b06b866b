/// The status listener (`status:`): HTML page, `/status.json`, `/metrics`, `/healthz`.
public struct StatusConfig: Sendable, Equatable {
    /// Where it listens; loopback by default because it shows client addresses.
    public var listen: HostPort

    public static let defaultListen = HostPort(host: "127.0.0.1", port: 5480)

    public init(listen: HostPort = StatusConfig.defaultListen) {
        self.listen = listen
    }
}
