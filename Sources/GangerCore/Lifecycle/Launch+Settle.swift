import EventLoop

/// Readiness through a published port. The daemon's proxy (docker-proxy, or podman's) accepts
/// the connection itself, before the container's service listens; it then dials the container,
/// and when that is refused it closes the connection it accepted. A connect that succeeds is
/// therefore no proof there: the connection counts once it has lived `publishedSettle` without a
/// hang-up, or has brought bytes (a service that speaks first). Without this, a client's first
/// bytes went to a proxy that was about to reset ("service reset", 0 bytes back).
extension Launch {
    /// The proxy's refusal comes back within a round trip to the daemon's host plus its own
    /// (local) dial; this much more cold-start time is the price on published ports only.
    static let publishedSettle = Duration.milliseconds(50)

    /// A connection waiting out the settle time, with its hang-up watch and its timer.
    final class Settling {
        let socket: FileDescriptorBox
        var watch: Registration?
        var timer: TimerID?
        init(_ socket: FileDescriptorBox) { self.socket = socket }
    }

    func settle(address: SocketAddress, socket: consuming FileDescriptor) {
        guard let reactor = supervisor.reactor else { return socket.close() }
        let pending = Settling(FileDescriptorBox(socket))
        guard let fd = pending.socket.rawValue else { return }
        settling = pending
        pending.timer = reactor.schedule(after: Self.publishedSettle) { [weak self] in
            self?.settled(pending, address: address, hungUp: false)
        }
        do {
            pending.watch = try reactor.register(fd, interest: [.readable, .readHangup]) { [weak self] events in
                // Bytes alone prove a service; a hang-up or an error is the proxy giving up.
                self?.settled(pending, address: address, hungUp: !events.intersection([.readHangup, .hangup, .error]).isEmpty)
            }
        } catch {
            settled(pending, address: address, hungUp: false)
        }
    }

    private func settled(_ pending: Settling, address: SocketAddress, hungUp: Bool) {
        guard settling === pending else { return }
        stopSettling(keepSocket: true)
        guard !isDone, let socket = pending.socket.take() else { return }
        guard hungUp else { return succeed(address: address, socket: socket) }
        socket.close()
        guard attempts < settings.ready.attempts else {
            return fail("not ready after \(attempts) attempts (the published port's proxy closed each connection)")
        }
        recheck(address)
    }

    /// Ends a settle in progress: watch and timer gone; its socket closed unless `keepSocket`.
    func stopSettling(keepSocket: Bool = false) {
        guard let pending = settling else { return }
        settling = nil
        if let watch = pending.watch { supervisor.reactor?.deregister(watch) }
        if let timer = pending.timer { supervisor.reactor?.cancel(timer) }
        if !keepSocket { pending.socket.take()?.close() }
    }
}
