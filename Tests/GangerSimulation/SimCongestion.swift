/// The congestion model of one simulated daemon's create and start calls, calibrated to the
/// measured dockerd (issue 19): start throughput is flat and latency grows with what is in
/// flight. The daemon is a processor-sharing server: a create+start needs `1 / capacity`
/// seconds of daemon time (30 % the create, 70 % the start), and with k calls in it each one
/// progresses at 1/k of the daemon's speed. So 4 launches in flight take about 0.57 s each,
/// 16 about 2.3 s, 60 about 8.6 s, at `capacity` (7) starts a second whatever the load
/// (measured: 7.1/s and p50 0.53 s with 4, 7.1/s and 2.0 s with 16, 8.7/s and 5.4 s with 60).
final class SimCongestion {
    private struct Job {
        let id: Int
        /// The virtual time at which it is done.
        let finish: Double
        let done: () -> Void
    }

    /// Starts a second at full load.
    let capacity: Double
    private let queue: SimQueue
    private var jobs: [Job] = []
    /// Work done per job since the start, in nanoseconds of daemon time (advances at 1/k).
    private var virtual: Double = 0
    private var updatedAt: UInt64 = 0
    private var sequence = 0
    /// Bumped whenever the next completion moves: an older wake-up is dropped.
    private var wake = 0

    init(capacity: Double, queue: SimQueue) {
        self.capacity = capacity
        self.queue = queue
    }

    /// Daemon time (nanoseconds) one create+start needs; `share` of it for one call.
    func work(share: Double) -> Double { share * 1e9 / capacity }

    var inFlight: Int { jobs.count }

    /// A call needing `work` nanoseconds of daemon time enters; `done` runs when it completes.
    /// Returns its id (for `withdraw`).
    @discardableResult
    func enter(work: Double, done: @escaping () -> Void) -> Int {
        advance()
        sequence += 1
        jobs.append(Job(id: sequence, finish: virtual + work, done: done))
        reschedule()
        return sequence
    }

    /// A call is dropped before it completes (its caller gave up on a create): it frees its share.
    func withdraw(_ id: Int) {
        advance()
        guard let index = jobs.firstIndex(where: { $0.id == id }) else { return }
        jobs.remove(at: index)
        reschedule()
    }

    private func advance() {
        let now = queue.now
        if !jobs.isEmpty { virtual += Double(now &- updatedAt) / Double(jobs.count) }
        updatedAt = now
    }

    /// Schedules a wake-up at the next completion (when the earliest-finishing job is done at
    /// the current sharing).
    private func reschedule() {
        wake += 1
        guard let first = jobs.min(by: { ($0.finish, $0.id) < ($1.finish, $1.id) }) else { return }
        let token = wake
        let delay = max(first.finish - virtual, 0) * Double(jobs.count)
        queue.after(UInt64(delay.rounded(.up))) { [self] in
            guard token == wake else { return }
            advance()
            // Everything whose work is done (within rounding) completes now, in entry order.
            let due = jobs.filter { $0.finish <= virtual + 0.5 }
            jobs.removeAll { $0.finish <= virtual + 0.5 }
            reschedule()
            for job in due { job.done() }
        }
    }
}
