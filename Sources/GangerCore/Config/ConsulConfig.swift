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
    /// Consul's ACL token, sent as `X-Consul-Token` (`token`); or the file that holds it
    /// (`token_file`, read once when `ganger run` starts). At most one of them.
    public var token: String?
    public var tokenFile: String?
    /// `https` to Consul, its certificate verified against `caFile` (else the system's CAs).
    public var scheme: Scheme = .http
    public var caFile: String?
    /// Address kinds a registration may point at although they are refused by default
    /// (`allow_addresses`): whoever can register a service must not aim Ganger at this host's
    /// loopback, a cloud metadata address or everything at once.
    public var allowAddresses: Set<AddressKind> = []
    /// The largest cap a `max_containers:N` tag may set; `-1` (unlimited) and larger values
    /// are clamped to it (`max_containers_limit`).
    public var maxContainersLimit: Int = 256
    /// Accept discovered daemons reached over plain TCP (`insecure`, when there is no
    /// `daemon_tls`): by default they are refused, since they receive images, `env` values,
    /// client addresses and client bytes.
    public var insecure = false

    /// How Ganger speaks to Consul.
    public enum Scheme: String, Sendable, CaseIterable {
        case http
        case https
    }

    /// Addresses a registration is refused for unless `allow_addresses` names their kind.
    public enum AddressKind: String, Sendable, CaseIterable, Comparable {
        /// `0.0.0.0/8`, `::`.
        case unspecified
        /// `127.0.0.0/8`, `::1`.
        case loopback
        /// `169.254.0.0/16` (cloud metadata services live here), `fe80::/10`.
        case linkLocal = "link-local"
        /// `224.0.0.0/4`, `255.255.255.255`, `ff00::/8`.
        case multicast

        public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    }

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
