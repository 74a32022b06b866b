import EventLoop
import Logging

/// Log lines for refused clients, few whatever the flood, and never none.
///
/// A refused client (per-source limit or rate, queue full, accept rate, descriptor budget,
/// draining) is closed at once; the client only sees a reset. The first refusal of a kind
/// (service and reason) is logged at once, with its client. Later ones are counted, and each
/// `window` one line per kind sums them up; a window with none closes that kind, and its next
/// refusal is logged at once again. A flood therefore writes one line per kind per window, and
/// the tail of a burst is still reported (by the timer, not by the next refusal hours later).
///
/// Pure: the supervisor calls `refused` for each and `tick` when the timer it arms (while
/// `needsTick`) fires, and logs what they return.
struct RefusalDigest {
    struct Kind: Hashable, Comparable {
        let service: String
        let reason: String
        static func < (a: Kind, b: Kind) -> Bool { (a.service, a.reason) < (b.service, b.reason) }
    }

    /// Kinds with an open window, and what each refused since its last line.
    private var open: [Kind: Int] = [:]

    /// Counts `kind`'s refusal; true when it opens a window (log this one now, and arm the tick
    /// if none is armed).
    mutating func refused(_ kind: Kind) -> Bool {
        if let count = open[kind] {
            open[kind] = count + 1
            return false
        }
        open[kind] = 0
        return true
    }

    /// A window ended: the kinds with refusals since their last line, to sum up (sorted, so the
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
    /// How long refusals of one kind are summed up before their line.
    static let refusalWindow: Duration = .seconds(10)

    /// A client refused at once (counted by the caller): logged through `refusals`, the first
    /// of its kind now with its client and reason, the rest summed up every `refusalWindow`.
    func logRefusal(service: String, client: SocketAddress, category: String, reason: String, level: Logger.Level = .notice) {
        if refusals.refused(.init(service: service, reason: category)) {
            logger.log(level: level, "client refused", metadata: [
                "service": "\(service)", "client": "\(client)", "reason": "\(reason)",
                "note": "more refused for this reason are summed up every \(Self.refusalWindow)",
            ])
        }
        armRefusalTick()
    }

    private func armRefusalTick() {
        guard refusalTick == nil, refusals.needsTick, let reactor else { return }
        refusalTick = reactor.schedule(after: Self.refusalWindow) { [weak self] in
            guard let self else { return }
            refusalTick = nil
            for (kind, count) in refusals.tick() {
                logger.notice("clients refused", metadata: [
                    "service": "\(kind.service)", "reason": "\(kind.reason)", "count": "\(count)", "within": "\(Self.refusalWindow)",
                ])
            }
            armRefusalTick()
        }
    }
}
