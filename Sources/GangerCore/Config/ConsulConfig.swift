/// Discovery of Docker daemons through Consul's catalog (`consul:`), instead of a static list.
public struct ConsulConfig: Sendable, Equatable {
    /// Consul agents or servers to ask, tried in order.
    public var hosts: [HostPort]
    /// The catalog service under which the Docker daemons are registered.
    public var service: String
    /// Datacenters in order of preference; empty = the agent's own datacenter.
    public var datacenters: [String]
    /// The cap of a daemon whose registration carries no `max_containers:N` tag; -1 = unlimited.
    public var defaultMaxContainers: Int
    /// The read consistency mode of catalog queries.
    public var consistency: Consistency
    /// Client certificates for every discovered daemon (`daemon_tls`, or `daemon_cert_path`):
    /// each is then reached over mutual TLS as a static daemon with `tls`; nil = plain TCP.
    public var daemonTLS: DaemonConfig.TLS?
    /// `host_ip` of every discovered daemon (see `DaemonConfig.hostIP`); nil = `auto`.
    public var hostIP: String?

    /// Consul's consistency modes (`?stale`, none, `?consistent` on the HTTP API).
    public enum Consistency: String, Sendable, CaseIterable {
        case stale
        case `default`
        case consistent
    }

    public static let defaultHosts = [HostPort(host: "127.0.0.1", port: 8500)]

    public init(
        hosts: [HostPort] = ConsulConfig.defaultHosts,
        service: String = "docker",
        datacenters: [String] = [],
        defaultMaxContainers: Int = 10,
        consistency: Consistency = .stale,
        daemonTLS: DaemonConfig.TLS? = nil
    ) {
        self.hosts = hosts
        self.service = service
        self.datacenters = datacenters
        self.defaultMaxContainers = defaultMaxContainers
        self.consistency = consistency
        self.daemonTLS = daemonTLS
    }
}
