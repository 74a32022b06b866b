import EventLoop
import Glibc

/// Work for a detached OS thread.
final class ThreadJob: @unchecked Sendable {
    // Handed to the new thread exactly once and run there.
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}

/// Starts a detached pthread running `job`.
func startThread(_ job: ThreadJob) {
    var thread = pthread_t()
    let raw = Unmanaged.passRetained(job).toOpaque()
    let rc = pthread_create(&thread, nil, { raw in
        Unmanaged<ThreadJob>.fromOpaque(raw!).takeRetainedValue().run()
        return nil
    }, raw)
    precondition(rc == 0, "pthread_create failed: \(rc)")
    pthread_detach(thread)
}

/// Runs blocking work on an OS thread of its own, never on Swift's cooperative pool: on two
/// cores the pool has two threads, and a blocked one starves the tasks the test waits for.
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        startThread(ThreadJob {
            do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
        })
    }
}

/// Runs `count` blocking jobs at once, each on its own thread; returns their results in order.
func onThreads<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) throws -> T) async throws -> [T] {
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
}

/// Polls `condition` (blocking, on the calling thread) every `interval` until it holds or
/// `timeout` passes; returns whether it held.
func poll(timeout: Duration, interval: Duration = .milliseconds(100), until condition: () throws -> Bool) rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while true {
        if try condition() { return true }
        if ContinuousClock.now >= deadline { return false }
        let micros = interval.components.seconds * 1_000_000 + interval.components.attoseconds / 1_000_000_000_000
        usleep(UInt32(micros))
    }
}

/// A random lowercase hex string, for names no other test (or run) uses.
func randomTag(_ length: Int = 8) -> String {
    String((0..<length).map { _ in "0123456789abcdef".randomElement()! })
}

private let urandom = open("/dev/urandom", O_RDONLY | O_CLOEXEC)

/// Random bytes from the kernel.
func randomBytes(_ count: Int) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: count)
    bytes.withUnsafeMutableBytes { raw in
        var offset = 0
        while offset < raw.count {
            let n = Glibc.read(urandom, raw.baseAddress! + offset, raw.count - offset)
            if n < 0 && errno == EINTR { continue }
            precondition(n > 0, "/dev/urandom")
            offset += n
        }
    }
    return bytes
}
