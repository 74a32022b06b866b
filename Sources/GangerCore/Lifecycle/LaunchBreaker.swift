/// Which daemons a service's launches are held off, because Docker there refused them: an
/// error answer to create or start (its image gone, a full disk, a broken runtime). A daemon
/// that fails every launch at once frees its slot at once, so least-loaded placement would
/// otherwise keep choosing it and fail most clients while other daemons have room (HAProxy's
/// `observe layer4` + `on-error mark-down`, per service and daemon).
///
/// A circuit breaker per (service, daemon), as a pure value: the first refusal holds the pair off
/// for `initialHold`, each refusal after a trial doubles it up to `maxHold`. When the hold runs
/// out, one launch is let through as a trial (the pair is held off again while it runs); once
/// it reaches the service the breaker closes, a refusal opens it again, any other end (the
/// client left, no answer, the service not ready) lets the next launch try. A launch that
/// reaches the service on the pair closes it whatever its state. Per service, because one
/// service's image may be missing where another's is not.
public struct LaunchBreaker: Sendable {
    public typealias ClientID = Scheduler.ClientID

    public struct Pair: Hashable, Sendable, Comparable {
        public let service: Int
        public let daemon: Int
        public init(service: Int, daemon: Int) {
            self.service = service
            self.daemon = daemon
        }
        public static func < (a: Self, b: Self) -> Bool { (a.service, a.daemon) < (b.service, b.daemon) }
    }

    public enum Phase: Sendable, Equatable {
        /// Held off until `until` (monotonic nanoseconds).
        case open(until: UInt64)
        /// The hold ran out: the next launch placed there is the trial.
        case probation
        /// That client's launch is the trial; the pair is held off meanwhile.
        case trial(ClientID)
    }

    public struct Entry: Sendable, Equatable {
        public var phase: Phase
        /// The hold the next opening gets (doubled by each refusal of a trial).
        public var hold: UInt64
        /// What Docker answered the last refused launch.
        public var error: String
    }

    /// What the caller must do to placement.
    public enum Change: Sendable, Equatable {
        /// Hold the pair off (no placement of the service there) until `until`: call `due` then.
        case opened(until: UInt64, hold: UInt64, first: Bool)
        /// Let placement use the pair again (a trial may go there, or it is closed).
        case resumed(closed: Bool)
    }

    public static let initialHold: UInt64 = 1_000_000_000
    public static let maxHold: UInt64 = 30_000_000_000

    public private(set) var entries: [Pair: Entry] = [:]

    public init() {}

    public var isEmpty: Bool { entries.isEmpty }

    /// Whether placement must skip the pair now (open, or a trial running).
    public func holdsOff(_ pair: Pair) -> Bool {
        switch entries[pair]?.phase {
        case .open, .trial: true
        case .probation, nil: false
        }
    }

    /// Docker refused a launch of `pair.service` on `pair.daemon` with `error`.
    public mutating func refused(_ pair: Pair, error: String, now: UInt64) -> Change? {
        guard var entry = entries[pair] else {
            let until = now &+ Self.initialHold
            entries[pair] = Entry(phase: .open(until: until), hold: min(Self.initialHold * 2, Self.maxHold), error: error)
            return .opened(until: until, hold: Self.initialHold, first: true)
        }
        entry.error = error
        // Launches placed before the pair opened may still be refused: the hold stands.
        if case .open = entry.phase {
            entries[pair] = entry
            return nil
        }
        let hold = entry.hold
        let until = now &+ hold
        entry.phase = .open(until: until)
        entry.hold = min(hold * 2, Self.maxHold)
        entries[pair] = entry
        return .opened(until: until, hold: hold, first: false)
    }

    /// A launch of the pair's service reached its container there: the daemon serves it.
    public mutating func succeeded(_ pair: Pair) -> Change? {
        guard entries.removeValue(forKey: pair) != nil else { return nil }
        return .resumed(closed: true)
    }

    /// `client`'s launch ended or left its daemon without reaching the service and without a
    /// refusal (it left, the daemon did not answer, the service was not ready): where it was
    /// the trial, the next launch tries instead.
    public mutating func ended(client: ClientID) -> [(Pair, Change)] {
        var out: [(Pair, Change)] = []
        for (pair, entry) in entries.sorted(by: { $0.key < $1.key }) where entry.phase == .trial(client) {
            entries[pair]?.phase = .probation
            out.append((pair, .resumed(closed: false)))
        }
        return out
    }

    /// `client`'s launch was placed on the pair: on probation, it is the trial.
    /// Returns whether the pair is now held off for the trial.
    public mutating func placed(_ pair: Pair, client: ClientID) -> Bool {
        guard var entry = entries[pair], entry.phase == .probation else { return false }
        entry.phase = .trial(client)
        entries[pair] = entry
        return true
    }

    /// The hold of `pair` ran out by `now`: on probation (placement may use it again).
    public mutating func due(_ pair: Pair, now: UInt64) -> Change? {
        guard var entry = entries[pair], case let .open(until) = entry.phase, until <= now else { return nil }
        entry.phase = .probation
        entries[pair] = entry
        return .resumed(closed: false)
    }

    /// Forgets a daemon index (given to a newcomer).
    public mutating func forget(daemon: Int) {
        entries = entries.filter { pair, _ in pair.daemon != daemon }
    }

    /// Forgets every pair (a reload renumbers the services, and tries every daemon afresh).
    public mutating func reset() { entries = [:] }
}
