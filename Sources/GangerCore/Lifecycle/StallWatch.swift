/// Tells a daemon that answers its pings but does no launch work from one that is only busy.
///
/// Found on this project's own test daemon: dockerd 20.10's libnetwork deadlocked (a container
/// start took a network's lock, then the controller's; a container exit held them the other way
/// round). From then on `/_ping` and container listings answered at once, every create's start
/// and every removal waited forever, and `/info` too. The health check saw a daemon up; the
/// launches placed there waited out their client's budget (`queue.timeout`, a minute by
/// default) and their clients were closed, a daemon's worth of them every minute.
///
/// A busy dockerd (a burst at its start rate) answers some call of each kind every fraction of
/// a second, however long each one takes. So: a launch call (create, start, inspect) out for
/// `after` on a daemon where no call of its kind got any answer during that time says the
/// daemon is stuck. Per kind, because the deadlock above let creates through: they answered
/// all along while every start hung. The lifecycle then places its launches again elsewhere
/// and holds its services off it (`LaunchBreaker`): one trial launch per service when the hold
/// runs out finds out whether it works again. A pure value: times are the caller's monotonic
/// nanoseconds.
public struct StallWatch: Sendable {
    /// How long a launch call may wait while the daemon answers no call of its kind. Far above
    /// a start under a burst here (the window keeps a few in flight; one answers every 0.1–1 s).
    public static let after: UInt64 = 10_000_000_000

    /// The launch calls watched.
    public enum Call: String, Sendable, Hashable {
        case create, start, inspect
    }

    struct Key: Hashable, Sendable {
        let daemon: Int
        let call: Call
    }

    /// Per daemon and call: when such a call there last got an answer (an error answer counts;
    /// one that timed out or failed in transport does not).
    private(set) var lastAnswer: [Key: UInt64] = [:]

    public init() {}

    /// A `call` on `daemon` got an answer at `now`.
    public mutating func answered(_ call: Call, daemon: Int, now: UInt64) {
        let key = Key(daemon: daemon, call: call)
        lastAnswer[key] = max(lastAnswer[key] ?? 0, now)
    }

    /// Whether a `call` on `daemon` out since `since` shows it stuck at `now`: out for `after`,
    /// and no such call there answered during the last `after`.
    public func isStalled(_ call: Call, daemon: Int, callSince since: UInt64, now: UInt64) -> Bool {
        now >= since &+ Self.after && now >= (lastAnswer[Key(daemon: daemon, call: call)] ?? 0) &+ Self.after
    }

    /// Forgets a daemon index (given to a newcomer).
    public mutating func forget(daemon: Int) {
        lastAnswer = lastAnswer.filter { $0.key.daemon != daemon }
    }
}
