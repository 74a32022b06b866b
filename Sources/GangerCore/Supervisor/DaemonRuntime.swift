import EventLoop

/// One daemon as Ganger runs it: its engine client and what Ganger knows of its health beside
/// the scheduler's view (up, cap, load, rank, drained live in `Placement`). One object per
/// daemon instead of parallel per-index dictionaries; its index in `Supervisor.daemons` is the
/// scheduler's daemon index. A daemon that leaves is drained; once nothing is left on it, it
/// is forgotten (`forgotten`: no more pings or events) and a later newcomer gets its index.
final class DaemonRuntime {
    let client: DockerClient
    /// The calls the lifecycle makes (`Engine`), through this daemon's client.
    var engine: any Engine { client }
    var name: String { client.name }
    var url: DaemonURL { client.url }
    /// A remote daemon's host, resolved once when its client was made (no DNS on the loop).
    var hostAddress: SocketAddress? { client.hostAddress }
    /// Remote daemons publish the service port on their host; a unix socket's daemon is local
    /// and its containers are reached at their address on their network.
    var publishesPorts: Bool {
        if case .unix = client.url { return false }
        return true
    }
    /// Marked down (no answer): logged once when it goes down, once when it is back. The
    /// lifecycle may take it out of placement first (a launch's call got no answer).
    var down = false
    /// A launch's call on it got no answer within its time while the daemon still answers
    /// (pings, other calls): a daemon that stalls on create. Shown in the status until a launch
    /// on it succeeds again; placement is unchanged (a busy daemon looks the same for a while).
    var degraded = false
    /// Containers whose removal was given up (five failed attempts) while the daemon counted as
    /// up: retried after each ping it answers, so a daemon that is slow or refuses for a while
    /// (never marked down, so never reconciled) does not keep them for good.
    var unremoved: Set<String> = []
    /// Names of containers whose create got no answer, removed by name already: dockerd may
    /// still make one later (a frozen or overloaded daemon works through its backlog), after
    /// that removal found nothing. Its `create` event, or the listing on a resubscription,
    /// names it, and it is removed then (`Supervisor.lateCreate`). The oldest go past 1,024.
    var lostNames = LostNames()
    /// The current ping back-off while it is down; nil while up.
    var backoff: Duration?
    /// The last error it gave (a failed call or ping), for the status page.
    var lastError: String?
    /// When it entered its current state (wall clock, display only); nil: since startup.
    var since: Double?
    /// This process's instance lease on it (InstanceLease), once held.
    var leaseID: String?
    /// Its `/events` stream, while followed.
    var events: HTTPRequestTask?
    /// Left the catalog with nothing on it: its timers and callbacks stop at their next turn.
    var forgotten = false
    /// Shutting down, it had calls out and answered none for `ShutdownWatch.silence`: its calls
    /// were failed and nothing more is asked of it (`Supervisor.watchShutdown`).
    var givenUpAtShutdown = false
    /// Shutting down: since when it has had calls out without answering one (nil: answering,
    /// or nothing asked).
    var silentSince: UInt64?

    init(client: DockerClient) {
        self.client = client
    }
}
