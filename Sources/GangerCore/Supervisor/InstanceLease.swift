/// Who holds an instance on a daemon: the rules of the lease, without I/O.
///
/// A live Ganger holds its instance on each daemon with a lease: a container that is created
/// and never started (it costs the daemon a record, no process), labelled with the instance, the
/// holder's boot id, host name and pid, and named `ganger-lease.<instance>.<boot>.<expiry>`, where the
/// expiry is the holder's wall clock in Unix seconds. The holder renews it by renaming it to a
/// later expiry every `renewEvery`. Docker has no mutable labels; a rename is the one cheap,
/// atomic change an engine offers on every backend (dockerd and podman alike).
///
/// A lease is live until its expiry; it lapses early when its holder ran on this host and its
/// pid is gone (a `kill -9` followed by a restart need not wait). A process that finds a lease of
/// another host's process watches it: renewed means alive (refused), else it lapses within one
/// term and is taken over (a crashed Ganger's successor in a new container waits at most 15 s). After creating its lease a
/// process lists again: if another live lease is there, it removes its own and gives up. Two
/// processes racing can therefore both give up, never both hold the instance.
public enum InstanceLease {
    /// How long a lease lasts without a renewal, and how often it is renewed.
    public static let duration: Int = 15
    public static let renewEvery: Duration = .seconds(5)
    public static let role = "lease"

    /// One lease container as a daemon lists it.
    public struct Record: Sendable, Equatable {
        public let id: String
        public let boot: String
        public let host: String
        public let pid: Int32
        /// Unix seconds; 0 when its name carries none (never live).
        public let expires: Int
        /// Unix seconds when the engine created it (the tie-break).
        public let created: Int

        public init(id: String, boot: String, host: String, pid: Int32, expires: Int, created: Int) {
            self.id = id
            self.boot = boot
            self.host = host
            self.pid = pid
            self.expires = expires
            self.created = created
        }

        /// Reads a listed container; nil if it is not a lease.
        public init?(_ summary: ContainerSummary) {
            guard summary.labels[GangerLabels.role] == InstanceLease.role else { return nil }
            let name = summary.names?.first.map { $0.hasPrefix("/") ? String($0.dropFirst()) : $0 } ?? ""
            self.init(id: summary.id, boot: summary.labels[GangerLabels.boot] ?? "", host: summary.labels[GangerLabels.host] ?? "",
                      pid: Int32(summary.labels[GangerLabels.pid] ?? "") ?? 0, expires: InstanceLease.expiry(ofName: name) ?? 0,
                      created: summary.created ?? 0)
        }

        /// Held at `now`, as seen from `host` where `pidAlive` answers for local pids.
        public func isLive(now: Int, host localHost: String, pidAlive: (Int32) -> Bool) -> Bool {
            guard expires > now else { return false }
            if host == localHost && pid > 0 && !pidAlive(pid) { return false }
            return true
        }
    }

    /// `ganger-lease.<instance>.<boot>.<expires>`: unique per process (a lapsed lease of the same
    /// second cannot clash with a new one), the expiry last.
    public static func name(instance: String, boot: String, expires: Int) -> String {
        "ganger-lease.\(instance).\(boot).\(expires)"
    }

    static func expiry(ofName name: String) -> Int? {
        guard name.hasPrefix("ganger-lease."), let dot = name.lastIndex(of: ".") else { return nil }
        return Int(name[name.index(after: dot)...])
    }

    public enum Verdict: Sendable, Equatable {
        /// Nobody else holds it; these lapsed leases are to be removed.
        case free(lapsed: [String])
        /// Another live process holds it.
        case held(by: Record)
    }

    /// Before creating our lease: is the instance free on this daemon?
    public static func check(_ leases: [Record], boot: String, now: Int, host: String, pidAlive: (Int32) -> Bool) -> Verdict {
        var lapsed: [String] = []
        for lease in leases where lease.boot != boot {
            if lease.isLive(now: now, host: host, pidAlive: pidAlive) { return .held(by: lease) }
            lapsed.append(lease.id)
        }
        return .free(lapsed: lapsed)
    }

    /// After creating our lease: another live lease, if any (then ours must go: see above).
    public static func rival(_ leases: [Record], boot: String, now: Int, host: String, pidAlive: (Int32) -> Bool) -> Record? {
        leases.first { $0.boot != boot && $0.isLive(now: now, host: host, pidAlive: pidAlive) }
    }
}
