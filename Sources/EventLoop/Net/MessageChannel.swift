import Glibc

/// Whole messages with descriptors, both ways, over a connected unix `SOCK_SEQPACKET` socket on
/// the reactor (DescriptorPassing): what the control socket speaks.
///
/// Outgoing messages wait in a bounded queue while the peer's buffer is full, each owning the
/// descriptors it carries (closed once sent). A message over `maxBytes` or `maxDescriptors`, the
/// peer's close, an error or a queue overflow ends the channel: `onClose` runs once, with why.
public final class MessageChannel {
    public typealias MessageHandler = (_ bytes: [UInt8], _ descriptors: [FileDescriptorBox]) -> Void
    public typealias CloseHandler = (String) -> Void

    private weak var reactor: Reactor?
    private var socket: FileDescriptor?
    private var registration: Registration?
    private var outgoing: [(bytes: [UInt8], descriptors: [FileDescriptorBox])] = []
    private var writable = true
    private var onMessage: MessageHandler?
    private var onClose: CloseHandler?
    public let maxBytes: Int
    public let maxDescriptors: Int
    /// Messages that may wait to be sent before the channel gives up.
    public let maxQueued: Int
    public private(set) var isClosed = false

    public init(reactor: Reactor, socket: consuming FileDescriptor, maxBytes: Int, maxDescriptors: Int, maxQueued: Int = 4096,
                onMessage: @escaping MessageHandler, onClose: @escaping CloseHandler) throws(SyscallError) {
        self.reactor = reactor
        self.maxBytes = maxBytes
        self.maxDescriptors = min(maxDescriptors, DescriptorPassing.kernelMaxDescriptors)
        self.maxQueued = maxQueued
        self.onMessage = onMessage
        self.onClose = onClose
        let fd = socket.rawValue
        self.socket = consume socket
        registration = try reactor.register(fd, interest: .all) { [unowned self] events in handle(events) }
        reactor.soon { [weak self] in self?.handle([.readable]) }
    }

    /// The connected peer's uid and pid (SO_PEERCRED).
    public func peer() throws(SyscallError) -> (uid: UInt32, pid: Int32) { try DescriptorPassing.peer(socket.rawValueOrInvalid) }

    /// Queues a message; `descriptors` are the channel's now (closed once sent, or on close).
    public func send(_ bytes: [UInt8], descriptors: [FileDescriptorBox] = []) {
        guard !isClosed else { return }
        guard bytes.count <= maxBytes, descriptors.count <= maxDescriptors else {
            return close(because: "message over the limits (\(bytes.count) bytes, \(descriptors.count) descriptors)")
        }
        guard outgoing.count < maxQueued else { return close(because: "peer not reading: \(maxQueued) messages queued") }
        outgoing.append((bytes, descriptors))
        flush()
    }

    /// Messages not yet handed to the kernel.
    public var queued: Int { outgoing.count }

    /// Ends the channel without calling `onClose`; queued messages are dropped.
    public func close() {
        onClose = nil
        close(because: "closed")
    }

    private func handle(_ events: IOEvents) {
        guard !isClosed else { return }
        if !events.intersection([.writable, .error, .hangup]).isEmpty { writable = true }
        flush()
        guard !isClosed else { return }
        readAll()
        if !isClosed && events.contains(.hangup) && outgoing.isEmpty { close(because: "peer closed") }
    }

    private func flush() {
        while writable, !isClosed, let first = outgoing.first {
            do {
                switch try DescriptorPassing.send(socket.rawValueOrInvalid, first.bytes, descriptors: first.descriptors.compactMap(\.rawValue)) {
                case .wouldBlock:
                    writable = false
                case .processed:
                    outgoing.removeFirst()
                    for descriptor in first.descriptors { descriptor.close() }
                }
            } catch {
                // What the peer said before it left (a refusal, say) is still to be read.
                if error.isPeerGone { readAll() }
                return close(because: error.isPeerGone ? "peer closed" : "send: \(error)")
            }
        }
    }

    private func readAll() {
        // Bounded per wake-up: a peer that floods cannot hold the loop.
        var resetSeen = false
        for _ in 0..<64 {
            guard !isClosed else { return }
            let received: DescriptorPassing.Received
            do {
                guard let message = try DescriptorPassing.receive(socket.rawValueOrInvalid, maxBytes: maxBytes,
                                                                  maxDescriptors: maxDescriptors) else { return }
                received = message
            } catch where error.isPeerGone && !resetSeen {
                // A peer that closed with our messages unread reports ECONNRESET once; what it
                // sent before (a refusal, say) is still queued here.
                resetSeen = true
                continue
            } catch {
                return close(because: error.isPeerGone ? "peer closed" : "receive: \(error)")
            }
            if received.bytes.isEmpty && received.descriptors.isEmpty && !received.truncated { return close(because: "peer closed") }
            if received.truncated {
                for descriptor in received.descriptors { descriptor.close() }
                return close(because: "message over the limits (\(maxBytes) bytes, \(maxDescriptors) descriptors)")
            }
            onMessage?(received.bytes, received.descriptors)
        }
        reactor?.soon { [weak self] in self?.handle([]) }
    }

    private func close(because why: String) {
        guard !isClosed else { return }
        isClosed = true
        if let registration { reactor?.deregister(registration) }
        registration = nil
        for message in outgoing { for descriptor in message.descriptors { descriptor.close() } }
        outgoing = []
        socket = nil
        onMessage = nil
        let handler = onClose
        onClose = nil
        handler?(why)
    }
}
