import EventLoop
import GangerCore

/// A simulated client as the world sees it: when it connects, what it does, how it ended.
final class SimClient {
    let spec: SimScenario.Client
    var accepted = false
    var acceptedAt: UInt64 = 0
    /// The service it connected to (stable across reloads).
    var serviceUID = 0
    /// The latest time it may still be waiting (the liveness bound).
    var deadline: UInt64 = .max
    /// `.ended` actions seen for it (exactly one is right).
    var ends = 0
    var relaying = false
    var relayEnded = false
    var relayContainer: String?
    /// Bumped by `.stopWaiting`: a connect or settle result for an older value is dropped.
    var waitToken = 0
    /// The address of its launch's latest connection attempt (what `.settle` watches).
    var probeAddress: SocketAddress?
    /// Its position in its service's queue while it waits there (FIFO check).
    var queueSequence: UInt64?

    init(_ spec: SimScenario.Client) { self.spec = spec }

    var id: UInt64 { spec.id }
    var live: Bool { accepted && ends == 0 }
}


/// A network holder on a daemon (a namespace a container may join): the stand-in for the holder
/// pool. One container at a time; a holder released unclean is replaced by a fresh one.
final class SimHolder {
    var ref: LaunchMachine.HolderRef
    /// The container that joined it, or "" while its create is under way; nil when free.
    var user: String?

    init(_ ref: LaunchMachine.HolderRef) { self.ref = ref }
}
