/// Which listening socket each service uses after a reload, decided before any socket is
/// touched (pure: no sockets, no supervisor).
///
/// A service keeps its socket when it asks for the same address again (the address its
/// configuration gave, or the one bound when it asked for port 0). A socket bound to the exact
/// address another service now asks for is handed over to that service, so two services can
/// swap ports without a new bind, as HAProxy reuses the listeners it can match by address.
/// Any other address is bound afresh. A socket nobody takes is closed once the reload commits.
struct ListenerPlan {
    /// A socket open now: its service, the address its configuration asked for, the address
    /// it is bound to (the kernel's port when 0 was asked for).
    struct Current: Equatable {
        var service: String
        var asked: HostPort
        var bound: HostPort
    }

    /// Where a service's socket comes from.
    enum Source: Equatable {
        /// The socket it has now.
        case keep
        /// The socket of service `from`, open now.
        case handOver(from: String)
        /// A new socket on this address.
        case bind(HostPort)
    }

    struct Assignment: Equatable {
        var service: String
        var source: Source
    }

    /// One per service of the new configuration, in its order.
    let assignments: [Assignment]
    /// Services (of the running configuration) whose socket nobody takes.
    let closed: [String]
    /// The sockets open now, for `holder(of:)`.
    private let current: [Current]

    /// `new`: each service of the new configuration and the address it asks for.
    init(current: [Current], new: [(service: String, listen: HostPort)]) {
        self.current = current
        var taken: Set<String> = []
        var sources: [Source?] = new.map { wanted in
            guard let mine = current.first(where: { $0.service == wanted.service }),
                  mine.asked == wanted.listen || (wanted.listen.port != 0 && mine.bound == wanted.listen)
            else { return nil }
            taken.insert(mine.service)
            return .keep
        }
        for (index, wanted) in new.enumerated() where sources[index] == nil {
            // Port 0 asks for any port: a fresh one, never another service's.
            if wanted.listen.port != 0,
               let other = current.first(where: { !taken.contains($0.service) && $0.bound == wanted.listen }) {
                taken.insert(other.service)
                sources[index] = .handOver(from: other.service)
            } else {
                sources[index] = .bind(wanted.listen)
            }
        }
        assignments = zip(new, sources).map { Assignment(service: $0.service, source: $1!) }
        closed = current.map(\.service).filter { !taken.contains($0) }
    }

    /// The service whose open socket overlaps `address`: a fresh bind there fails with
    /// EADDRINUSE while that socket is open, and it closes only once every new socket is bound.
    func holder(of address: HostPort) -> Current? {
        current.first { $0.bound.conflicts(with: address) }
    }
}
