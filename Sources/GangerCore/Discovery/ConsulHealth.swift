import FoundationEssentials

/// A Docker daemon found in Consul's catalog: where it answers, its cap, and the preference
/// rank of its datacenter (its index in `consul.datacenters`; 0 when none are listed).
public struct DiscoveredDaemon: Sendable, Equatable {
    public var url: DaemonURL
    public var maxContainers: Int
    public var datacenter: String
    public var rank: Int

    public init(url: DaemonURL, maxContainers: Int, datacenter: String, rank: Int) {
        self.url = url
        self.maxContainers = maxContainers
        self.datacenter = datacenter
        self.rank = rank
    }
}

/// One element of `GET /v1/health/service/<service>`: the fields Ganger reads
/// (https://developer.hashicorp.com/consul/api-docs/health#list-service-instances-for-service).
struct ConsulHealthEntry: Decodable {
    struct Node: Decodable {
        var node: String
        var address: String
        var datacenter: String?
        enum CodingKeys: String, CodingKey { case node = "Node", address = "Address", datacenter = "Datacenter" }
    }

    struct Service: Decodable {
        var id: String
        var address: String?
        var port: Int
        var tags: [String]?
        enum CodingKeys: String, CodingKey { case id = "ID", address = "Address", port = "Port", tags = "Tags" }
    }

    var node: Node
    var service: Service
    enum CodingKeys: String, CodingKey { case node = "Node", service = "Service" }
}

enum ConsulHealth {
    /// The daemons in a health answer of datacenter `datacenter` (rank `rank`): `tcp://` to
    /// `Service.Address`, or `Node.Address` when that is empty, and `Service.Port`; the cap from a
    /// `max_containers:N` tag (N ≥ -1), else `defaultMax`. Entries without a usable address or
    /// port are skipped, each with a reason in `skipped`.
    static func daemons(from body: [UInt8], datacenter: String?, rank: Int, defaultMax: Int)
        -> Result<(daemons: [DiscoveredDaemon], skipped: [String]), ConsulError>
    {
        let entries: [ConsulHealthEntry]
        do {
            entries = try JSONDecoder().decode([ConsulHealthEntry].self, from: Data(body))
        } catch {
            return .failure(.decoding("\(error)"))
        }
        var found: [DiscoveredDaemon] = []
        var skipped: [String] = []
        for entry in entries {
            let host = (entry.service.address?.isEmpty == false ? entry.service.address! : entry.node.address)
            guard (1...65535).contains(entry.service.port), !host.isEmpty else {
                skipped.append("\(entry.service.id) on \(entry.node.node): no address or port")
                continue
            }
            // Numeric only: resolving a name here would block the loop (DESIGN.md, Threading).
            guard HostPort.isNumericIP(host) else {
                skipped.append("\(entry.service.id) on \(entry.node.node): address \(host) is not numeric")
                continue
            }
            var cap = defaultMax
            for tag in entry.service.tags ?? [] where tag.hasPrefix("max_containers:") {
                if let value = Int(tag.dropFirst("max_containers:".count)), value >= -1 {
                    cap = value
                } else {
                    skipped.append("\(entry.service.id): tag \(tag) is not max_containers:N (N ≥ -1); default \(defaultMax) used")
                }
            }
            found.append(DiscoveredDaemon(url: .tcp(host: host, port: UInt16(entry.service.port)), maxContainers: cap,
                                          datacenter: datacenter ?? entry.node.datacenter ?? "", rank: rank))
        }
        return .success((found, skipped))
    }

    /// `/v1/health/service/<service>?passing[&dc=DC][&stale|&consistent][&index=N&wait=W]`.
    static func path(service: String, datacenter: String?, consistency: ConsulConfig.Consistency,
                     index: UInt64, wait: Duration) -> String {
        var path = "/v1/health/service/\(percentEncode(service))?passing"
        if let datacenter { path += "&dc=\(percentEncode(datacenter))" }
        switch consistency {
        case .stale: path += "&stale"
        case .consistent: path += "&consistent"
        case .default: break
        }
        if index > 0 { path += "&index=\(index)&wait=\(wait.components.seconds)s" }
        return path
    }
}

/// Why a Consul query failed.
public enum ConsulError: Error, Sendable, CustomStringConvertible {
    case transport(String)
    case status(Int, String)
    case decoding(String)

    public var description: String {
        switch self {
        case let .transport(message): message
        case let .status(code, message): "HTTP \(code): \(message)"
        case let .decoding(message): "unexpected answer: \(message)"
        }
    }
}
