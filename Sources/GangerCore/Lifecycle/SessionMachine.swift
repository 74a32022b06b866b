/// One client connection's life as a value: queued → launching (a `LaunchMachine`) or a warm
/// container taken → relaying → over. `Lifecycle` owns every session machine and feeds it; the
/// machine records what exists only in its phase (a queue ticket, a launch, a container).
public struct SessionMachine: Sendable {
    public typealias ClientID = Scheduler.ClientID

    public enum Phase: String, Sendable {
        case queued, launching, relaying, over
    }

    /// What a session keeps of its service's settings when it arrives: a reload changes what
    /// later sessions get, never this one.
    public struct Settings: Sendable, Equatable {
        /// A FIN (after some bytes) while queued ends the wait (`queue.abort_on_close`); a client
        /// that closes before sending any byte leaves whatever this says (the driver reports it
        /// as `.clientLeft`).
        public var abortOnClose: Bool
        /// Nanoseconds; 0 = none.
        public var maxDuration: UInt64
        public var launch: LaunchMachine.Settings
        /// How long the client may wait for a running container, from its connect (nanoseconds):
        /// its queue time and Docker's create and start together (`queue.timeout`; five minutes
        /// when that is 0).
        public var clientBudget: UInt64

        public init(abortOnClose: Bool, maxDuration: UInt64, launch: LaunchMachine.Settings, clientBudget: UInt64 = 60_000_000_000) {
            self.abortOnClose = abortOnClose
            self.maxDuration = maxDuration
            self.launch = launch
            self.clientBudget = clientBudget
        }

        public init(_ service: ServiceConfig) {
            self.init(abortOnClose: service.queue.abortOnClose, maxDuration: service.session.maxDuration.nanoseconds,
                      launch: LaunchMachine.Settings(service),
                      clientBudget: service.queue.timeout > .zero ? service.queue.timeout.nanoseconds : 300_000_000_000)
        }
    }

    /// The container a session holds once launched or taken warm (with its slot).
    public struct Container: Sendable, Equatable {
        public let daemon: Int
        public let id: String
        public let holder: LaunchMachine.HolderRef?
        /// Taken from the warm pool: handed back to it at the end, not removed.
        public let warm: Bool
    }

    public let id: ClientID
    /// The service's index; -1 once a reload removed the service (its sessions finish).
    public internal(set) var service: Int
    public let source: String
    public let acceptedAt: UInt64
    public let settings: Settings
    public internal(set) var phase: Phase = .queued
    /// Its place in its service's queue while queued (later tickets come after).
    public internal(set) var ticket: Scheduler.Ticket?
    var launch: LaunchMachine?
    /// The last generation its launches used: a launch after a readmission continues from here,
    /// so answers for the containers of the failed one cannot reach it.
    var launchGenerations = 0
    public internal(set) var container: Container?
    /// The client sent its FIN before its container was ready (it keeps its place by default).
    public internal(set) var clientFIN = false
    /// What Docker said of the container (exit code, OOM), added to the end reason.
    public internal(set) var containerNote: String?
    /// What Docker answered the last launch it refused (the client was placed again): said
    /// when the client's wait runs out.
    var refusal: String?
    /// When the launch's Docker call now out (create, start, inspect) went out: a stall check
    /// for that call finds it still out only while this is unchanged (`StallWatch`).
    var callSince: UInt64?
    /// When the relay must end (`session.max_duration`), once relaying.
    var relayDeadline: UInt64?

    init(id: ClientID, service: Int, source: String, acceptedAt: UInt64, settings: Settings) {
        self.id = id
        self.service = service
        self.source = source
        self.acceptedAt = acceptedAt
        self.settings = settings
    }

    /// The daemon its launch holds a slot on, while launching.
    public var launchDaemon: Int? { launch?.daemon }

    /// The container this session holds or its launch is bringing up.
    public var containerID: String? { container?.id ?? launch?.containerID }

    /// Whether a launch that failed for want of an answer may be placed again: within the
    /// client's budget, which bounds its queue time and Docker's part (readiness counts from
    /// the container's start, so a client that waited in the queue longer than `ready.timeout`
    /// still has a try left).
    func mayPlaceAgain(now: UInt64) -> Bool { now < budgetEnd }

    /// When the client's budget runs out: a client placed again waits in the queue until then
    /// at most.
    var budgetEnd: UInt64 { acceptedAt &+ max(settings.clientBudget, settings.launch.readyTimeout.nanoseconds) }

    /// The end reason with what Docker said of the container, if anything.
    func reason(_ base: String) -> String {
        containerNote.map { "\(base) (container: \($0))" } ?? base
    }
}
