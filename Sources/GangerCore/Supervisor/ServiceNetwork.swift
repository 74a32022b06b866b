/// What a service's network on one daemon means before sessions are placed there, from
/// `GET /networks/{name}`. Pure: the rules are tested without a daemon.
///
/// Two things matter. A network the daemon lacks fails every create there (`network … not
/// found`): the clients would wait out the queue while the launch breaker held the service off,
/// so it is refused up front, as an image that cannot be had. And on most networks a session's
/// container reaches the ports of every other container on it, other clients' sessions
/// included: with a service that accepts more than one connection (`nc -ll`), one client could
/// enter another's live session. Docker's bridge driver blocks that with
/// `com.docker.network.bridge.enable_icc=false` (the host, where Ganger runs, still reaches
/// every container); a service that asks for a sandbox is warned when its network lacks it.
enum ServiceNetwork {
    /// The bridge driver's option; absent means on, Docker's default (`--icc=true`).
    static let iccOption = "com.docker.network.bridge.enable_icc"

    /// Whether containers on `network` reach each other. Only a bridge network with
    /// inter-container communication off keeps them apart; the null driver (`none`) gives
    /// them nothing to reach with. Every other driver (host, overlay, macvlan, ipvlan, podman's
    /// bridge, which has no such option), and an answer that names no driver, lets them.
    static func siblingsReachEachOther(_ network: NetworkInspect) -> Bool {
        switch network.driver {
        case "null": false
        case "bridge": network.options?[iccOption] != "false"
        default: true
        }
    }

    /// Whether `service` asks for isolation beyond Docker's defaults: any `sandbox` setting
    /// other than the default preset's.
    static func isSandboxed(_ service: ServiceConfig) -> Bool { service.sandbox != .init() }

    /// Why a daemon without `network` cannot serve `services`.
    static func missing(_ network: String, services: [String], daemon: String) -> String {
        "network \(network) (service\(services.count == 1 ? "" : "s") \(services.joined(separator: ", "))) "
            + "not found on daemon \(daemon): create it there (`docker network create \(network)`) or name another"
    }

    /// The services of `settings` that warrant the sibling warning on `network`.
    static func exposed(_ settings: [ServiceConfig], on network: NetworkInspect) -> [ServiceConfig] {
        siblingsReachEachOther(network) ? settings.filter(isSandboxed) : []
    }
}
