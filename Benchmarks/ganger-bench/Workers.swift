import Glibc
import Synchronization

/// Runs `sessions` jobs on `count` threads (each takes the next index until none is left);
/// returns the failures' messages. A job gets its worker's number (0..<count), e.g. to use that
/// worker's own Engine API connection.
func runWorkers(_ count: Int, sessions: Int, _ job: @escaping (Int) throws(BenchError) -> Void) -> [String] {
    let shared = WorkerShared(sessions: sessions, job: job)
    var threads: [pthread_t] = []
    for worker in 0..<count {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(WorkerContext(shared: shared, worker: worker)).toOpaque()
        guard pthread_create(&thread, nil, { raw in
            let context = Unmanaged<WorkerContext>.fromOpaque(raw!).takeRetainedValue()
            context.shared.work(context.worker)
            return nil
        }, context) == 0 else {
            Unmanaged<WorkerContext>.fromOpaque(context).release()
            continue
        }
        threads.append(thread)
    }
    for thread in threads { pthread_join(thread, nil) }
    return shared.failures.withLock { $0 }
}

private final class WorkerShared: @unchecked Sendable {
    let sessions: Int
    let job: (Int) throws(BenchError) -> Void
    let next = Mutex<Int>(0)
    let failures = Mutex<[String]>([])

    init(sessions: Int, job: @escaping (Int) throws(BenchError) -> Void) {
        self.sessions = sessions
        self.job = job
    }

    func work(_ worker: Int) {
        while true {
            let index = next.withLock { value -> Int in
                defer { value += 1 }
                return value
            }
            guard index < sessions else { return }
            do throws(BenchError) {
                try job(worker)
            } catch {
                failures.withLock { $0.append("session \(index): \(error)") }
            }
        }
    }
}

private final class WorkerContext {
    let shared: WorkerShared
    let worker: Int
    init(shared: WorkerShared, worker: Int) {
        self.shared = shared
        self.worker = worker
    }
}
