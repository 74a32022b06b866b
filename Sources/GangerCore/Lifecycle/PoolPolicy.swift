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

    /// Whether a holder taken after `served` sessions stays counted toward `netns.holders`
    /// while it is out: only while a session is left for it after the next one. So its
    /// replacement starts when its second-to-last session joins it, and is ready when its last
    /// ends. Under load a holder's start (a network setup, waiting its turn in the daemon's
    /// launch window) takes longer than a session, so a replacement begun at the last session
    /// came too late for the client that session's end frees, which then took the normal path
    /// (bench/README.md (j)). The pool holds one holder more than `netns.holders` from then
    /// until the retirement.
    static func holderCounts(served: Int, reuse: Int) -> Bool { served + 2 < reuse }

    /// Whether a ready holder that has `served` sessions is a spare: its replacement was
    /// started when its second-to-last session took it (`holderCounts`), and it has its last
    /// session left. Under load the next client uses it up; an idle pool keeps it only
    /// `spareIdle` (`surplus`), or the pool would stay above `netns.holders` after every
    /// burst — up to twice its size, for as long as no client comes.
    static func holderIsSpare(served: Int, reuse: Int) -> Bool {
        served > 0 && served < reuse && !holderCounts(served: served - 1, reuse: reuse)
    }

    /// How long a spare holder may stay ready and unused before it is retired: long enough for
    /// the next client of a steady stream (a closed loop takes it within milliseconds of its
    /// return), short against an operator's look at an idle pool.
    static let spareIdle: Duration = .seconds(2)

    /// Holders on a daemon beyond `target`, counting the ready, the starting and those on loan
    /// that come back: at most that many idle spares are retired.
    static func surplus(target: Int, ready: Int, starting: Int, onLoan: Int) -> Int {
        max(0, ready + starting + onLoan - target)
    }

    /// How long a cold launch that found no ready holder waits for one, or nil (the normal
    /// path now). It waits `returnWait` while more holders are on their way back than launches
    /// already wait (each waiter is owed one); otherwise `startWait` while more holders are owed
    /// (`owedHolders`: on their way back or being started) than launches wait. A zero wait
    /// turns its kind off.
    static func holderWait(returning: Int, starting: Int, waiting: Int,
                           returnWait: Duration, startWait: Duration) -> Duration? {
        if returnWait > .zero && returning > waiting { return returnWait }
        let owed = owedHolders(returning: returning, starting: starting, returnWait: returnWait, startWait: startWait)
        if startWait > .zero && owed > waiting { return startWait }
        return nil
    }

    /// Holders that launches may wait for: those on their way back unless `returnWait` is zero,
    /// and those being started unless `startWait` is.
    static func owedHolders(returning: Int, starting: Int, returnWait: Duration, startWait: Duration) -> Int {
        (returnWait > .zero ? returning : 0) + (startWait > .zero ? starting : 0)
    }

    /// Waiting launches that no holder is owed to any more (one came back retired, a start
    /// failed, or the pool drained): they go on to the normal path now rather than at their
    /// timeout.
    static func excessWaiters(owed: Int, waiting: Int) -> Int { max(0, waiting - owed) }

    /// After a session: `served` counts it; `clean` says it ended without trouble; `current`
    /// says the entry was made with the pool's current settings (no reload or shutdown since).
    static func afterSession(served: Int, reuse: Int, clean: Bool, current: Bool) -> AfterSession {
        guard clean else { return .discard }
        guard served < reuse else { return .retire }
        return current ? .serveAgain : .discard
    }
}
