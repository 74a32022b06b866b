import Glibc

/// A reactor running on a thread of its own, for tests, benchmarks and embedding. The daemon
/// itself runs its reactor on the main thread.
public final class ReactorThread: Sendable {
    public let handle: ReactorHandle
    private let thread: pthread_t

    private final class Start: @unchecked Sendable {
        // Handed from the creating thread to the new one exactly once, then used only there.
        let reactor: Reactor
        let setup: (Reactor) -> Void
        init(reactor: Reactor, setup: @escaping (Reactor) -> Void) {
            self.reactor = reactor
            self.setup = setup
        }
    }

    /// Creates a reactor, runs `setup` on the new thread, then the loop until `stop()`.
    public init(setup: @escaping @Sendable (Reactor) -> Void = { _ in }) throws {
        let reactor = try Reactor()
        handle = reactor.handle
        let start = Unmanaged.passRetained(Start(reactor: reactor, setup: setup)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            let start = Unmanaged<Start>.fromOpaque(raw!).takeRetainedValue()
            start.setup(start.reactor)
            do { try start.reactor.run() } catch { fatalError("reactor: \(error)") }
            return nil
        }, start)
        guard rc == 0 else {
            Unmanaged<Start>.fromOpaque(start).release()
            throw SyscallError("pthread_create", errno: rc)
        }
        self.thread = thread
    }

    /// Runs `task` on the loop thread.
    public func execute(_ task: @escaping @Sendable (Reactor) -> Void) {
        handle.executeOnLoop(task)
    }

    /// Stops the loop and waits for the thread to end.
    public func stop() {
        handle.stop()
        pthread_join(thread, nil)
    }
}
