public import EventLoop
import Glibc

// Shared by every test target (EventLoopTests, GangerCoreTests, IntegrationTests): test targets
// are separate modules, and each had grown its own copy of these.

/// Work for a detached OS thread.
public final class ThreadJob: @unchecked Sendable {
    // Handed to the new thread exactly once and run there.
    let run: () -> Void
    public init(_ run: @escaping () -> Void) { self.run = run }
}

/// Starts a detached pthread running `job`.
public func startThread(_ job: ThreadJob) {
    var thread = pthread_t()
    let raw = Unmanaged.passRetained(job).toOpaque()
    let rc = pthread_create(&thread, nil, { raw in
        Unmanaged<ThreadJob>.fromOpaque(raw!).takeRetainedValue().run()
        return nil
    }, raw)
    precondition(rc == 0, "pthread_create failed: \(rc)")
    pthread_detach(thread)
}

/// Runs blocking work (sockets, child processes, the docker CLI) on an OS thread of its own,
/// never on Swift's cooperative pool: on two cores the pool has two threads, and a blocked one
/// starves the very tasks the test waits for.
public func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        startThread(ThreadJob {
            do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
        })
    }
}

/// Runs `count` blocking jobs at once, each on its own thread; returns their results in order.
public func onThreads<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) throws -> T) async throws -> [T] {
    try await withThrowingTaskGroup(of: (Int, T).self) { group in
        for i in 0..<count {
            group.addTask { (i, try await onThread { try body(i) }) }
        }
        var results: [T?] = Array(repeating: nil, count: count)
        for try await (i, result) in group { results[i] = result }
        return results.map { $0! }
    }
}

/// Holds loop-thread-only state inside `@Sendable` closures. Touch `value` on the loop only.
public final class LoopBox<T>: @unchecked Sendable {
    public var value: T
    public init(_ value: T) { self.value = value }
}

extension ReactorThread {
    /// Runs `body` on the loop and returns its result to the waiting test.
    public func run<T: Sendable>(_ body: @escaping @Sendable (Reactor) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            execute { reactor in
                do { continuation.resume(returning: try body(reactor)) } catch { continuation.resume(throwing: error) }
            }
        }
    }

    /// Polls `condition` on the loop until it holds or `timeout` passes; returns whether it held.
    public func wait(timeout: Duration = .seconds(10), until condition: @escaping @Sendable (Reactor) -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await run(condition) { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return try await run(condition)
    }
}

/// Polls `condition` (blocking, on the calling thread) every `interval` until it holds or
/// `timeout` passes; returns whether it held.
public func poll(timeout: Duration, interval: Duration = .milliseconds(100), until condition: () throws -> Bool) rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while true {
        if try condition() { return true }
        if ContinuousClock.now >= deadline { return false }
        let micros = interval.components.seconds * 1_000_000 + interval.components.attoseconds / 1_000_000_000_000
        usleep(UInt32(micros))
    }
}
