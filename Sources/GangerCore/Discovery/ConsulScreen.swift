import Glibc

/// What Ganger accepts from Consul's catalog: a registration is a claim by whoever could write
/// to Consul, so its address, its cap and its transport are checked before a daemon is made of
/// it (docs/security.md).
enum ConsulScreen {
    /// One refusal or adjustment, keyed so that the caller logs it once (`key`), not on every
    /// answer of a watch.
    struct Note: Equatable {
        var key: String
        var message: String
    }

    /// `daemons` as Ganger may use them: addresses of a kind `config.allowAddresses` does not
    /// name are refused; daemons over plain TCP are refused unless `config.insecure` (or
    /// `daemon_tls` is set); caps above `config.maxContainersLimit`, and unlimited ones, are
    /// clamped to it.
    static func screen(_ daemons: [DiscoveredDaemon], _ config: ConsulConfig) -> (kept: [DiscoveredDaemon], notes: [Note]) {
        var kept: [DiscoveredDaemon] = []
        var notes: [Note] = []
        for var daemon in daemons {
            guard case let .tcp(host, _) = daemon.url else { continue }
            if let kind = kind(of: host), !config.allowAddresses.contains(kind) {
                notes.append(Note(key: "address \(daemon.url)", message: "consul: registration refused: \(daemon.url) is a \(kind.rawValue) "
                    + "address (consul.allow_addresses: [\(kind.rawValue)] accepts it)"))
                continue
            }
            if config.daemonTLS == nil && !config.insecure {
                notes.append(Note(key: "insecure \(daemon.url)", message: "consul: registration refused: \(daemon.url) would be reached "
                    + "over plain TCP (set consul.daemon_tls, or consul.insecure: true to accept that)"))
                continue
            }
            let limit = config.maxContainersLimit
            if daemon.maxContainers < 0 || daemon.maxContainers > limit {
                notes.append(Note(key: "cap \(daemon.url) \(daemon.maxContainers)", message: "consul: \(daemon.url): max_containers "
                    + "\(daemon.maxContainers < 0 ? "unlimited" : "\(daemon.maxContainers)") clamped to consul.max_containers_limit \(limit)"))
                daemon.maxContainers = limit
            }
            kept.append(daemon)
        }
        return (kept, notes)
    }

    /// The kind of a numeric address that is refused by default, or nil for an ordinary one.
    /// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is judged as its IPv4 address.
    static func kind(of host: String) -> ConsulConfig.AddressKind? {
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            return kind(ipv4: UInt32(bigEndian: v4.s_addr))
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, host, &v6) == 1 else { return nil }
        let b = withUnsafeBytes(of: &v6) { Array($0) }
        if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xff && b[11] == 0xff {
            return kind(ipv4: b[12...].reduce(0) { $0 << 8 | UInt32($1) })
        }
        if b.allSatisfy({ $0 == 0 }) { return .unspecified }
        if b[0..<15].allSatisfy({ $0 == 0 }) && b[15] == 1 { return .loopback }
        if b[0] == 0xfe && b[1] & 0xc0 == 0x80 { return .linkLocal }
        if b[0] == 0xff { return .multicast }
        return nil
    }

    private static func kind(ipv4 a: UInt32) -> ConsulConfig.AddressKind? {
        switch a >> 24 {
        case 0: return .unspecified
        case 127: return .loopback
        case 224...239: return .multicast
        default: break
        }
        if a >> 16 == 0xa9fe { return .linkLocal }
        if a == 0xffff_ffff { return .multicast }
        return nil
    }
}
