/// The Engine API shapes Ganger sends and reads (API 1.41 and later); only the fields it uses.

struct VersionResponse: Decodable {
    let version: String
    let apiVersion: String
    enum CodingKeys: String, CodingKey {
        case version = "Version"
        case apiVersion = "ApiVersion"
    }
}

/// What Ganger reads of `GET /info`: the log driver a container gets unless its create names
/// one (absent: an old or partial daemon; then no driver is assumed).
struct InfoResponse: Decodable {
    let loggingDriver: String?
    enum CodingKeys: String, CodingKey {
        case loggingDriver = "LoggingDriver"
    }
}

/// What Ganger reads of `GET /networks/{name}`: whether the containers on it reach each other
/// (docs/security.md, "Sessions of one service"). Podman's compatible API answers the same shape,
/// with no options on its bridge networks.
public struct NetworkInspect: Decodable, Sendable, Equatable {
    public let name: String?
    public let driver: String?
    public let options: [String: String]?
    enum CodingKeys: String, CodingKey {
        case name = "Name", driver = "Driver", options = "Options"
    }

    public init(name: String?, driver: String?, options: [String: String]?) {
        self.name = name
        self.driver = driver
        self.options = options
    }
}

/// `POST /containers/create` body.
public struct ContainerSpec: Encodable, Sendable {
    public var image: String
    public var cmd: [String]?
    public var env: [String]
    public var labels: [String: String]
    public var exposedPorts: [String: Empty]
    public var hostConfig: HostConfig

    public struct Empty: Encodable, Sendable { public init() {} }

    public struct HostConfig: Encodable, Sendable {
        public var memory: Int64?
        public var nanoCpus: Int64?
        public var pidsLimit: Int?
        public var securityOpt: [String]
        public var networkMode: String
        public var restartPolicy: [String: String]
        public var autoRemove: Bool
        public var portBindings: [String: [PortBinding]]?
        public var capDrop: [String]?
        public var capAdd: [String]?
        public var readonlyRootfs: Bool?
        public var tmpfs: [String: String]?
        public var mounts: [Mount]?
        public var logConfig: ContainerSpec.LogConfig?

        enum CodingKeys: String, CodingKey {
            case memory = "Memory", nanoCpus = "NanoCpus", pidsLimit = "PidsLimit", securityOpt = "SecurityOpt"
            case networkMode = "NetworkMode", restartPolicy = "RestartPolicy", autoRemove = "AutoRemove"
            case portBindings = "PortBindings", capDrop = "CapDrop", capAdd = "CapAdd"
            case readonlyRootfs = "ReadonlyRootfs", tmpfs = "Tmpfs", mounts = "Mounts", logConfig = "LogConfig"
        }
    }

    /// `HostConfig.LogConfig`: a log driver and its options (`docker run --log-driver --log-opt`).
    public struct LogConfig: Encodable, Sendable, Equatable {
        public var type: String
        public var config: [String: String]

        enum CodingKeys: String, CodingKey {
            case type = "Type", config = "Config"
        }
    }

    /// One entry of `HostConfig.Mounts`: only read-only binds are made (a network holder's
    /// files, see `Holder.sharedFiles`).
    public struct Mount: Encodable, Sendable, Equatable {
        public var type = "bind"
        public var source: String
        public var target: String
        public var readOnly = true

        public init(source: String, target: String) {
            self.source = source
            self.target = target
        }

        enum CodingKeys: String, CodingKey {
            case type = "Type", source = "Source", target = "Target", readOnly = "ReadOnly"
        }
    }

    public struct PortBinding: Codable, Sendable {
        public var hostIp: String
        public var hostPort: String
        enum CodingKeys: String, CodingKey {
            case hostIp = "HostIp", hostPort = "HostPort"
        }
    }

    enum CodingKeys: String, CodingKey {
        case image = "Image", cmd = "Cmd", env = "Env", labels = "Labels", exposedPorts = "ExposedPorts"
        case hostConfig = "HostConfig"
    }
}

struct CreateResponse: Decodable {
    let id: String
    enum CodingKeys: String, CodingKey { case id = "Id" }

    init(from decoder: any Decoder) throws {
        id = try DockerID.decode(try decoder.container(keyedBy: CodingKeys.self), .id)
    }
}

/// `GET /containers/{id}/json`: state and network.
public struct ContainerInspect: Decodable, Sendable {
    public let id: String
    public let state: State
    public let networkSettings: NetworkSettings
    /// The files Docker mounts at /etc/hosts, /etc/hostname and /etc/resolv.conf, on the
    /// daemon's host; containers that join this one's network (`container:<id>`) get the same
    /// files mounted (see `Holder.sharedFiles`).
    public let hostsPath: String?
    public let hostnamePath: String?
    public let resolvConfPath: String?

    public struct State: Decodable, Sendable {
        public let status: String
        public let running: Bool
        public let exitCode: Int
        public let oomKilled: Bool
        enum CodingKeys: String, CodingKey {
            case status = "Status", running = "Running", exitCode = "ExitCode", oomKilled = "OOMKilled"
        }
    }

    public struct NetworkSettings: Decodable, Sendable {
        public let ipAddress: String?
        public let networks: [String: Network]?
        public let ports: [String: [ContainerSpec.PortBinding]?]?
        enum CodingKeys: String, CodingKey {
            case ipAddress = "IPAddress", networks = "Networks", ports = "Ports"
        }
    }

    public struct Network: Decodable, Sendable {
        public let ipAddress: String?
        enum CodingKeys: String, CodingKey { case ipAddress = "IPAddress" }
    }

    enum CodingKeys: String, CodingKey {
        case id = "Id", state = "State", networkSettings = "NetworkSettings"
        case hostsPath = "HostsPath", hostnamePath = "HostnamePath", resolvConfPath = "ResolvConfPath"
    }

    /// The container's address on `network` (falling back to any network it is on).
    public func ipAddress(on network: String) -> String? {
        let named = networkSettings.networks?[network]?.ipAddress
        if let named, !named.isEmpty { return named }
        if let legacy = networkSettings.ipAddress, !legacy.isEmpty { return legacy }
        return networkSettings.networks?.values.compactMap(\.ipAddress).first { !$0.isEmpty }
    }

    /// The host port Docker published for `port/tcp`, if any. A binding to port 0 (not yet
    /// assigned) is none: nothing can be reached there.
    public func publishedPort(_ port: UInt16) -> UInt16? {
        guard let bindings = networkSettings.ports?["\(port)/tcp"] ?? nil else { return nil }
        return bindings.compactMap { UInt16($0.hostPort) }.first { $0 != 0 }
    }
}

/// One entry of `GET /containers/json`.
public struct ContainerSummary: Decodable, Sendable {
    public let id: String
    public let labels: [String: String]
    public let state: String
    /// Its names, each with a leading "/" (dockerd).
    public let names: [String]?
    /// Unix seconds.
    public let created: Int?
    enum CodingKeys: String, CodingKey { case id = "Id", labels = "Labels", state = "State", names = "Names", created = "Created" }

    /// The id is checked (`DockerID`): Ganger removes what a listing names.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try DockerID.decode(container, .id)
        labels = try container.decode([String: String].self, forKey: .labels)
        state = try container.decode(String.self, forKey: .state)
        names = try container.decodeIfPresent([String].self, forKey: .names)
        created = try container.decodeIfPresent(Int.self, forKey: .created)
    }

    public init(id: String, labels: [String: String], state: String, names: [String]? = nil, created: Int? = nil) {
        self.id = id
        self.labels = labels
        self.state = state
        self.names = names
        self.created = created
    }
}

/// One line of `GET /events`.
public struct DockerEvent: Decodable, Sendable {
    public let type: String?
    public let action: String
    public let actor: Actor
    public struct Actor: Decodable, Sendable {
        public let id: String
        public let attributes: [String: String]?
        enum CodingKeys: String, CodingKey { case id = "ID", attributes = "Attributes" }
    }
    enum CodingKeys: String, CodingKey { case type = "Type", action = "Action", actor = "Actor" }
}

/// One line of pull progress (`POST /images/create`).
struct PullProgress: Decodable {
    let status: String?
    let id: String?
    let error: String?
}

/// The daemon's error body: `{"message": "..."}`.
struct ErrorBody: Decodable {
    let message: String
}
