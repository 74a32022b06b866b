import EventLoop
import Logging

/// Log lines for events that can come in floods, few whatever the flood, and never none: refused
/// clients, and removals given up while a daemon is gone.
///
/// The first event of a kind (a subject, such as a service or a daemon, and a reason) is logged
/// at once, with its details. Later ones are counted, and each window one line per kind sums
/// them up; a window with none closes that kind, and its next event is logged at once again. A
/// flood therefore writes one line per kind per window, and the tail of a burst is still
/// reported (by the timer, not by the next event hours later).
///
/// Pure: the supervisor calls `counted` for each and `tick` when the timer it arms (while
/// `needsTick`) fires, and logs what they return.
struct LogDigest {
    struct Kind: Hashable, Comparable {
        let subject: String
        let reason: String
        static func < (a: Kind, b: Kind) -> Bool { (a.subject, a.reason) < (b.subject, b.reason) }
    }

    /// Kinds with an open window, and what each counted since its last line.
    private var open: [Kind: Int] = [:]

    /// Counts one event of `kind`; true when it opens a window (log this one now, and arm the
    /// tick if none is armed).
    mutating func counted(_ kind: Kind) -> Bool {
        if let count = open[kind] {
            open[kind] = count + 1
            return false
        }
        open[kind] = 0
        return true
    }

    /// A window ended: the kinds with events since their last line, to sum up (sorted, so the
    /// log reads the same each time); those with none close.
    mutating func tick() -> [(kind: Kind, count: Int)] {
        let due = open.filter { $0.value > 0 }
        open = due.mapValues { _ in 0 }
        return due.map { (kind: $0.key, count: $0.value) }.sorted { $0.kind < $1.kind }
    }

    /// Whether a window is open, so a tick must come.
    var needsTick: Bool { !open.isEmpty }
}

extension Supervisor {
    /// A client refused at once (counted by the caller): logged through `refusals`, the first
    /// of its kind now with its client and reason, the rest summed up every `digestWindow`.
    func logRefusal(service: String, client: SocketAddress, category: String, reason: String, level: Logger.Level = .notice) {
        if refusals.counted(.init(subject: service, reason: category)) {
            logger.log(level: level, "client refused", metadata: [
                "service": "\(service)", "client": "\(client)", "reason": "\(reason)",
                "note": "more refused for this reason are summed up every \(digestWindow)",
            ])
        }
        armDigestTick()
    }

    /// A removal given up for now on `daemon` (retried once it answers a ping): the first of a
    /// daemon's logged now with its container and error, the rest summed up every
    /// `digestWindow`, so a daemon gone with a thousand sessions writes a few lines, not
    /// thousands.
    func logRemovalGivenUp(daemon: String, container: String, error: String, attempts: Int) {
        if removalsGivenUp.counted(.init(subject: daemon, reason: "removal")) {
            logger.warning("cannot remove container: given up for now, retried once the daemon answers", metadata: [
                "daemon": "\(daemon)", "container": "\(container)", "error": "\(error)", "attempts": "\(attempts)",
                "note": "more given up on this daemon are summed up every \(digestWindow)",
            ])
        }
        armDigestTick()
    }

    /// One timer for both digests while either has a window open.
    private func armDigestTick() {
        guard digestTick == nil, refusals.needsTick || removalsGivenUp.needsTick, let reactor else { return }
        digestTick = reactor.schedule(after: digestWindow) { [weak self] in
            guard let self else { return }
            digestTick = nil
            for (kind, count) in refusals.tick() {
                logger.notice("clients refused", metadata: [
                    "service": "\(kind.subject)", "reason": "\(kind.reason)", "count": "\(count)", "within": "\(digestWindow)",
                ])
            }
            for (kind, count) in removalsGivenUp.tick() {
                logger.warning("containers not removed: given up for now, retried once the daemon answers", metadata: [
                    "daemon": "\(kind.subject)", "count": "\(count)", "within": "\(digestWindow)",
                ])
            }
            armDigestTick()
        }
    }
}
