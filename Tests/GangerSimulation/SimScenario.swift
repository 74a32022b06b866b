public import GangerCore

/// Everything a seed decides before the run: daemons, services, clients, fault rates, and whether
/// the scenario reloads or shuts down early. Drawn from its own RNG stream so changing how the
/// run consumes randomness never changes the scenario's shape.
public struct SimScenario: Sendable {
    public struct Daemon: Sendable {
        public var capacity: Int
        public var publishes: Bool
        public var rank: Int
    }

    public struct Service: Sendable {
        /// Stable across reloads (indices are not).
        public var uid: Int
        public var policy: Scheduler.Policy
        public var settings: SessionMachine.Settings
        public var warm: Int
    }

    public struct Client: Sendable {
        public var id: UInt64
        public var connectAt: UInt64
        /// Picks the service among those listening when it connects.
        public var serviceChoice: Int
        public var source: String
        public var finAfter: UInt64?
        public var resetAfter: UInt64?
        /// The owner closes it (an idle timeout, say) after this long.
        public var closeAfter: UInt64?
        /// How long the client keeps its relay open before it closes.
        public var relayFor: UInt64
    }

    public struct Faults: Sendable {
        public var error = 0.0
        public var transport = 0.0
        public var hang = 0.0
        public var lostCreate = 0.0
        public var portTaken = 0.0
        public var eventDrop = 0.0
        public var eventDuplicate = 0.0
        public var eventLate = 0.0
        public var die = 0.0
        public var oom = 0.0
        public var neverOpens = 0.0
        public var maxRefusals = 0
        /// Daemon deaths: (daemon, at, for how long).
        public var daemonDeaths: [(daemon: Int, at: UInt64, length: UInt64)] = []
        /// A daemon that stops answering for a while (frozen, deadlocked): every call made meanwhile
        /// is held, then done and answered when it thaws, or timed out first; its pings go
        /// unanswered, and the health check (on in such scenarios) marks it down.
        public var freezes: [(daemon: Int, at: UInt64, length: UInt64)] = []
        /// A daemon that answers every create with an error for a while (its image removed, its
        /// disk full): the launch breaker's case (`LaunchBreaker`).
        public var refusing: [(daemon: Int, at: UInt64, length: UInt64)] = []
        /// A daemon that answers pings, creates and inspects but holds every start and removal
        /// for a while (dockerd's libnetwork deadlock): `StallWatch`'s case.
        public var stalls: [(daemon: Int, at: UInt64, length: UInt64)] = []
        /// Discovery: a daemon leaves the set (retired: no new placements) and rejoins.
        public var retirements: [(daemon: Int, at: UInt64, length: UInt64)] = []
    }

    public var seed: UInt64
    public var daemons: [Daemon]
    public var services: [Service]
    public var clients: [Client]
    public var faults: Faults
    /// A reload at this time (some services kept with new settings, some removed, some added).
    public var reloadAt: UInt64?
    public var reloadServices: [Service] = []
    /// `drain` at this time, `closeAll` after the grace.
    public var shutdownAt: UInt64?
    public var grace: UInt64
    public var callTimeout: UInt64
    public var settleTime: UInt64
    /// The launch window (`Lifecycle.setLaunchWindow`) from the start; nil: off.
    public var window: LaunchWindow?
    /// Starts a second each daemon serves under the congestion model (`SimCongestion`); nil:
    /// create and start answer after plain drawn latencies.
    public var startCapacity: Double?
    /// A burst scenario (`burst(seed:windowed:)`): its goodput and work conservation are checked too.
    public var isBurst = false

    public init(seed: UInt64) {
        var rng = SimRandom(seed: seed)
        self.seed = seed
        let sec: UInt64 = 1_000_000_000
        daemons = (0..<rng.int(1...3)).map { _ in
            Daemon(capacity: rng.chance(0.1) ? -1 : rng.int(1...4), publishes: rng.chance(0.25), rank: rng.chance(0.2) ? 1 : 0)
        }
        if !daemons.contains(where: { $0.rank == 0 }) { daemons[0].rank = 0 }
        var uid = 0
        func service() -> Service {
            uid += 1
            let policy = Scheduler.Policy(queueMax: rng.chance(0.1) ? rng.int(10...40) : rng.int(0...6),
                                          queueTimeout: rng.chance(0.1) ? 0 : rng.millis(300, 8000),
                                          perSourceLimit: rng.chance(0.3) ? rng.int(1...3) : 0)
            let launch = LaunchMachine.Settings(readyTimeout: .milliseconds(rng.int(500...8000)), attempts: rng.chance(0.2) ? rng.int(1...2) : rng.int(3...10),
                                                interval: .milliseconds(rng.int(20...400)), network: "sim", holders: rng.chance(0.3))
            // The client's budget as `SessionMachine.Settings(ServiceConfig)` derives it.
            let settings = SessionMachine.Settings(abortOnClose: rng.chance(0.5),
                                                   maxDuration: rng.chance(0.3) ? rng.millis(200, 6000) : 0, launch: launch,
                                                   clientBudget: policy.queueTimeout > 0 ? policy.queueTimeout : 300 * sec)
            return Service(uid: uid, policy: policy, settings: settings, warm: rng.chance(0.3) ? rng.int(1...2) : 0)
        }
        services = (0..<rng.int(1...3)).map { _ in service() }
        let horizon = rng.millis(1000, 20000)
        let sources = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
        // Now and then a crowd, some of it arriving in one burst.
        let crowd = rng.chance(0.06)
        let burst = rng.next() % horizon
        clients = (0..<(crowd ? rng.int(30...60) : rng.int(2...24))).map { index in
            Client(id: UInt64(index + 1), connectAt: crowd && rng.chance(0.3) ? burst : rng.next() % horizon, serviceChoice: rng.int(0...7),
                   source: rng.pick(sources), finAfter: rng.chance(0.3) ? rng.millis(0, 4000) : nil,
                   resetAfter: rng.chance(0.15) ? rng.millis(0, 6000) : nil, closeAfter: rng.chance(0.05) ? rng.millis(0, 5000) : nil,
                   relayFor: rng.millis(1, 4000))
        }
        clients.sort { ($0.connectAt, $0.id) < ($1.connectAt, $1.id) }
        var faults = Faults()
        if rng.chance(0.85) {
            faults.error = rng.chance(0.5) ? rng.unit() * 0.08 : 0
            faults.transport = rng.chance(0.5) ? rng.unit() * 0.06 : 0
            faults.hang = rng.chance(0.3) ? rng.unit() * 0.04 : 0
            faults.lostCreate = rng.chance(0.4) ? rng.unit() * 0.1 : 0
            faults.portTaken = rng.chance(0.3) ? rng.unit() * 0.3 : 0
            faults.eventDrop = rng.chance(0.4) ? rng.unit() * 0.5 : 0
            faults.eventDuplicate = rng.chance(0.4) ? rng.unit() * 0.5 : 0
            faults.eventLate = rng.chance(0.4) ? rng.unit() * 0.5 : 0
            faults.die = rng.chance(0.5) ? rng.unit() * 0.4 : 0
            faults.oom = rng.chance(0.3) ? rng.unit() * 0.5 : 0
            faults.neverOpens = rng.chance(0.3) ? rng.unit() * 0.2 : 0
            faults.maxRefusals = rng.chance(0.5) ? rng.int(1...4) : 0
            for _ in 0..<(rng.chance(0.3) ? rng.int(1...3) : 0) {
                faults.daemonDeaths.append((daemon: rng.int(0...daemons.count - 1), at: rng.next() % (horizon + sec),
                                            length: rng.millis(100, 6000)))
            }
            for _ in 0..<(rng.chance(0.15) ? rng.int(1...2) : 0) {
                faults.retirements.append((daemon: rng.int(0...daemons.count - 1), at: rng.next() % (horizon + sec),
                                           length: rng.millis(100, 8000)))
            }
        }
        // Freezes come from a stream of their own, so that every other draw of a seed (and the
        // regression seeds in docs/testing.md) stays what it was.
        var freezeRNG = SimRandom(seed: seed ^ 0x5EED_F7EE_2E00_0001)
        if freezeRNG.chance(0.12) {
            for _ in 0..<freezeRNG.int(1...2) {
                faults.freezes.append((daemon: freezeRNG.int(0...daemons.count - 1), at: freezeRNG.next() % (horizon + sec),
                                       length: freezeRNG.millis(500, 9000)))
            }
        }
        // Refusing daemons too (a stream of their own, for the same reason).
        var refusingRNG = SimRandom(seed: seed ^ 0x5EED_2EF0_5E00_0001)
        if refusingRNG.chance(0.12) {
            for _ in 0..<refusingRNG.int(1...2) {
                faults.refusing.append((daemon: refusingRNG.int(0...daemons.count - 1), at: refusingRNG.next() % (horizon + sec),
                                        length: refusingRNG.millis(500, 20000)))
            }
        }
        // Stuck daemons too (a stream of their own). Their calls may wait up to 30 s, as with a
        // long `docker_timeout`: with 3 s a stuck start ends in a timeout before a stall shows.
        var stallRNG = SimRandom(seed: seed ^ 0x5EED_57A1_1000_0001)
        var stallTimeout: UInt64?
        if stallRNG.chance(0.12) {
            for _ in 0..<stallRNG.int(1...2) {
                faults.stalls.append((daemon: stallRNG.int(0...daemons.count - 1), at: stallRNG.next() % (horizon + sec),
                                      length: stallRNG.millis(2000, 40000)))
            }
            stallTimeout = 30 * sec
        }
        self.faults = faults
        callTimeout = stallTimeout ?? 3 * sec
        settleTime = 50_000_000
        grace = rng.millis(0, 3000)
        if rng.chance(0.25) {
            reloadAt = rng.next() % horizon
            var next: [Service] = []
            for old in services where rng.chance(0.7) {
                var kept = service()
                kept.uid = old.uid
                next.append(kept)
            }
            if next.isEmpty || rng.chance(0.3) { next.append(service()) }
            for index in next.indices.reversed() { next.swapAt(index, rng.int(0...index)) }
            reloadServices = next
        }
        shutdownAt = rng.chance(0.3) ? rng.next() % (horizon + sec) : nil
        // Drawn last, so the shapes above stay those of the seeds recorded before windows.
        if rng.chance(0.4) {
            let minimum = rng.int(1...2)
            window = LaunchWindow(minimum: minimum, maximum: rng.int(minimum...6), initial: rng.int(1...4))
        }
        if rng.chance(0.3) { startCapacity = Double(rng.int(3...10)) }
    }

    /// A burst (issue 19): `clients` (10-1,000 when nil, drawn by the seed) connect within 100 ms
    /// to 1-3 daemons with caps above the burst, one service (`queue.timeout` 60 s,
    /// `ready.timeout` 10 s, a queue that holds everyone, no per-source limit), no faults but the
    /// congestion model (7 starts a second per daemon); the launch window as `ganger`'s default
    /// (2…32, first 4) when `windowed`.
    public static func burst(seed: UInt64, windowed: Bool, clients count: Int? = nil, daemons wanted: Int? = nil) -> SimScenario {
        var scenario = SimScenario(seed: seed)
        var rng = SimRandom(seed: seed ^ 0xB0B5)
        let sec: UInt64 = 1_000_000_000
        let clients = count ?? (rng.chance(0.5) ? rng.int(10...200) : rng.int(10...1000))
        // At least ten launches per daemon: the goodput of a daemon is measured over its own.
        let drawn = rng.int(1...max(1, min(3, clients / 10)))
        let daemons = wanted ?? drawn
        scenario.isBurst = true
        // Equal caps: placement compares an unlimited daemon by raw load against a notional cap
        // of a million, so next to a capped one it would take nearly everything.
        let cap = rng.chance(0.5) ? -1 : clients + rng.int(0...50)
        scenario.daemons = (0..<daemons).map { _ in Daemon(capacity: cap, publishes: false, rank: 0) }
        let policy = Scheduler.Policy(queueMax: clients + 10, queueTimeout: 60 * sec, perSourceLimit: 0)
        let launch = LaunchMachine.Settings(readyTimeout: .seconds(10), attempts: 10, interval: .milliseconds(100), network: "sim", holders: false)
        let settings = SessionMachine.Settings(abortOnClose: false, maxDuration: 0, launch: launch, clientBudget: 60 * sec)
        scenario.services = [Service(uid: 1, policy: policy, settings: settings, warm: 0)]
        scenario.clients = (0..<clients).map { index in
            Client(id: UInt64(index + 1), connectAt: index == 0 ? 0 : rng.millis(0, 100), serviceChoice: 0,
                   source: "10.1.\(index / 250).\(index % 250 + 1)", finAfter: nil, resetAfter: nil, closeAfter: nil,
                   relayFor: rng.millis(100, 5000))
        }
        scenario.clients.sort { ($0.connectAt, $0.id) < ($1.connectAt, $1.id) }
        scenario.faults = Faults()
        scenario.reloadAt = nil
        scenario.reloadServices = []
        scenario.shutdownAt = nil
        scenario.grace = 0
        scenario.callTimeout = 300 * sec  // docker_timeout's default; each call gets what the budget leaves
        scenario.window = windowed ? LaunchWindow(minimum: 2, maximum: 32, initial: 4) : nil
        scenario.startCapacity = 7
        return scenario
    }
}
