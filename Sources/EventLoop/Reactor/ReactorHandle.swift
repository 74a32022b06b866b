import CGangerShims
import Glibc
import Synchronization

/// The thread-safe door into a reactor: queue a task or ask it to stop, from any thread.
///
/// Tasks sit in a mutex-guarded queue; a write to an eventfd wakes the loop, which drains the
/// queue on its own thread. The handle owns the eventfd, so a late `execute` after the loop is
/// gone writes to a live descriptor, never to a reused number.
public final class ReactorHandle: Sendable {
    private struct State {
        var tasks: [@Sendable (Reactor) -> Void] = []
        var stop = false
    }

    private let state = Mutex(State())
    private let wakeFD: FileDescriptor

    init() throws(SyscallError) {
        wakeFD = FileDescriptor(taking: try syscall("eventfd") {
            ganger_eventfd(0, GANGER_EFD_NONBLOCK | GANGER_EFD_CLOEXEC)
        })
    }

    var eventFD: CInt { wakeFD.rawValue }
    var stopRequested: Bool { state.withLock { $0.stop } }

    /// Runs `task` on the loop thread, soon.
    public func execute(_ task: @escaping @Sendable () -> Void) {
        executeOnLoop { _ in task() }
    }

    /// Runs `task` on the loop thread, soon, with the reactor itself.
    public func executeOnLoop(_ task: @escaping @Sendable (Reactor) -> Void) {
        state.withLock { $0.tasks.append(task) }
        wake()
    }

    /// Asks the loop to return from `run()` after its current round.
    public func stop() {
        state.withLock { $0.stop = true }
        wake()
    }

    private func wake() {
        var one: UInt64 = 1
        // EAGAIN means the counter is saturated: the loop is already due to wake.
        _ = withUnsafeBytes(of: &one) { Glibc.write(wakeFD.rawValue, $0.baseAddress, 8) }
    }

    /// Loop side: resets the eventfd counter and takes the queued tasks.
    func drain() -> [@Sendable (Reactor) -> Void] {
        var counter: UInt64 = 0
        _ = withUnsafeMutableBytes(of: &counter) { Glibc.read(wakeFD.rawValue, $0.baseAddress, 8) }
        return state.withLock { state in
            defer { state.tasks.removeAll() }
            return state.tasks
        }
    }
}
