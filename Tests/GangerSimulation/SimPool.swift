/// The warm-pool stand-in for one service: containers created and started through the simulated
/// engine on slots from `acquireForPool`, announced with `.warmAdded` once their port opens,
/// handed out on `.takeWarm`, taken back on `.giveBackWarm`.
final class SimPool {
    let uid: Int
    var target: Int
    /// Ready containers (daemon, id), oldest first.
    var ready: [(daemon: Int, id: String)] = []
    /// Launches under way (their ids once created).
    var launching = 0
    var launchingIDs: Set<String> = []
    /// Its service left in a reload or shutdown began: what it holds is removed.
    var retired = false
    /// No refill before this time (after a failure).
    var retryAt: UInt64 = 0

    init(uid: Int, target: Int) {
        self.uid = uid
        self.target = target
    }
}
