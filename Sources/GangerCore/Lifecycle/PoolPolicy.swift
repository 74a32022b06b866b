/// The decisions both pools make — the warm pool per service, the holder pool per daemon — as
/// pure functions: how many to start, whether a taken entry comes back, and what an entry does
/// after a session. The pools (`WarmPool`, `HolderPool`) are the drivers that carry them out.
enum PoolPolicy {
    /// What an entry does once a session it served has ended.
    enum AfterSession: Equatable {
        /// Back to ready: it has sessions left and nothing went wrong.
        case serveAgain
        /// Its last session (`reuse`) is done: removed, replaced.
        case retire
        /// Something went wrong, or it predates a reload or shutdown: removed, replaced.
        case discard
    }

    /// Starts needed to reach `target` (`pool.warm`, `netns.holders`). Entries on loan count:
    /// they come back, so starting one in their place would grow the pool past its size after
    /// every session.
    static func wanted(target: Int, ready: Int, starting: Int, onLoan: Int) -> Int {
        max(0, target - ready - starting - onLoan)
    }

    /// Whether an entry taken after `served` sessions will come back (and so stays counted).
    static func lends(served: Int, reuse: Int) -> Bool { served + 1 < reuse }

    /// Whether a cold launch that found no ready holder waits (at most `wait`) for one on its
    /// way back: only while more are returning than launches already wait for (each waiter
    /// is owed one), and never with a zero wait.
    static func waitsForReturning(returning: Int, waiting: Int, wait: Duration) -> Bool {
        wait > .zero && returning > waiting
    }

    /// Waiting launches that no returning holder is owed to any more (one came back retired, or
    /// the pool drained): they go on to the normal path now rather than at their timeout.
    static func excessWaiters(returning: Int, waiting: Int) -> Int { max(0, waiting - returning) }

    /// After a session: `served` counts it; `clean` says it ended without trouble; `current`
    /// says the entry was made with the pool's current settings (no reload or shutdown since).
    static func afterSession(served: Int, reuse: Int, clean: Bool, current: Bool) -> AfterSession {
        guard clean else { return .discard }
        guard served < reuse else { return .retire }
        return current ? .serveAgain : .discard
    }
}
