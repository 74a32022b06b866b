import EventLoop

/// When a pool (warm containers, network holders) tries again after a failed start: 1 s, then
/// doubling to 30 s, back to 1 s after a success. One timer at a time; while it runs the pool
/// starts nothing, so a broken image or a full daemon is not hammered.
final class RefillBackoff {
    private var delay: Duration?
    private var timer: TimerID?

    /// A retry is scheduled: refills wait for it.
    var isWaiting: Bool { timer != nil }

    /// A start succeeded: the next failure waits 1 s again.
    func succeeded() { delay = nil }

    /// A start failed: `retry` runs after the next delay (unless a retry is already due).
    func failed(on reactor: Reactor?, retry: @escaping () -> Void) {
        guard let reactor, timer == nil else { return }
        let next = min((delay ?? .milliseconds(500)) * 2, .seconds(30))
        delay = next
        timer = reactor.schedule(after: next) { [weak self] in
            self?.timer = nil
            retry()
        }
    }

    /// Drain or shutdown: no retry.
    func cancel(on reactor: Reactor?) {
        if let timer { reactor?.cancel(timer) }
        timer = nil
    }
}
