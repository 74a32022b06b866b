import Glibc
@testable import EventLoop

/// Runs blocking work on an OS thread of its own, never on Swift's cooperative pool (a blocked
/// pool thread could starve the very tasks the test waits for).
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let job = ThreadJob {
            do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
        }
        var thread = pthread_t()
        let raw = Unmanaged.passRetained(job).toOpaque()
        let rc = pthread_create(&thread, nil, { raw in
            Unmanaged<ThreadJob>.fromOpaque(raw!).takeRetainedValue().run()
            return nil
        }, raw)
        precondition(rc == 0, "pthread_create failed")
        pthread_detach(thread)
    }
}

private final class ThreadJob: @unchecked Sendable {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}

/// Holds loop-thread-only state inside `@Sendable` closures. Touch `value` on the loop only.
final class LoopBox<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}

extension ReactorThread {
    /// Runs `body` on the loop and returns its result to the waiting test.
    func run<T: Sendable>(_ body: @escaping @Sendable (Reactor) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            execute { reactor in
                do { continuation.resume(returning: try body(reactor)) } catch { continuation.resume(throwing: error) }
            }
        }
    }

    /// Polls `condition` on the loop until it holds or `timeout` passes; returns whether it held.
    func wait(timeout: Duration = .seconds(10), until condition: @escaping @Sendable (Reactor) -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await run(condition) { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return try await run(condition)
    }
}
