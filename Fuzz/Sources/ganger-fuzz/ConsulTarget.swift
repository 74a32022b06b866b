import FoundationEssentials
@testable import GangerCore

/// Consul's `GET /v1/health/service/<service>` answer. Input: its JSON body.
///
/// Properties: every daemon found is `tcp://` to a numeric address with a port 1-65535 and a
/// cap of at least -1, its printed URL parses back to the same URL, and each entry of the
/// answer gives at most one daemon.
enum ConsulTarget {
    static func run(_ input: [UInt8]) {
        guard case .success(let result) = ConsulHealth.daemons(from: input, datacenter: nil, rank: 0, defaultMax: 7) else { return }
        for daemon in result.daemons {
            guard case .tcp(let host, let port) = daemon.url else {
                return require(false, "a daemon that is not tcp://: \(daemon.url)")
            }
            require(port != 0, "port 0 for \(host)")
            require(HostPort.isNumericIP(host), "a non-numeric address \(host)")
            require(daemon.maxContainers >= -1, "cap \(daemon.maxContainers)")
            let back = try? DaemonURL.parse(daemon.url.description)
            require(back == daemon.url, "\(daemon.url) prints as \(daemon.url.description), which reads back as \(String(describing: back))")
        }
        let entries = (try? JSONDecoder().decode([ConsulHealthEntry].self, from: Data(input)))?.count ?? 0
        require(result.daemons.count <= entries, "\(result.daemons.count) daemons from \(entries) entries")
    }
}
