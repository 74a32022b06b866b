public import EventLoop

/// A plain TCP proxy on the reactor: every connection accepted on `listen` is joined to a new
/// connection to `target` by a `Relay`. The measuring stick for the relay (bench, probe, tests);
/// Ganger's sessions add containers in front of the same parts.
public final class RelayProxy {
    // Weak: an owner may outlive its loop (a test's loop thread ends first); its teardown then
    // has nothing left to deregister from.
    private weak var reactor: Reactor?
    private let pool: PipePool
    private let target: SocketAddress
    private let options: Relay.Options
    private let connectTimeout: Duration
    private var listener: Listener?
    private var relays: [ObjectIdentifier: Relay] = [:]
    private var connecting: [ObjectIdentifier: Connector] = [:]

    public var address: SocketAddress
    public var activeCount: Int { relays.count }
    /// The relays moving bytes now (tests look inside them).
    public var activeRelays: [Relay] { Array(relays.values) }
    public private(set) var closedCount = 0
    public private(set) var connectFailures = 0
    /// How relays ended, by `CloseReason.description`.
    public private(set) var closeReasons: [String: Int] = [:]
    /// Called after each relay ends, with its counters still readable.
    public var onRelayClosed: ((Relay, Relay.CloseReason) -> Void)?

    public init(
        reactor: Reactor, listen: SocketAddress, target: SocketAddress, pool: PipePool,
        options: Relay.Options = Relay.Options(), connectTimeout: Duration = .seconds(5), backlog: Int32 = 4096
    ) throws(SyscallError) {
        self.reactor = reactor
        self.pool = pool
        self.target = target
        self.options = options
        self.connectTimeout = connectTimeout
        address = listen
        let listener = try Listener(reactor: reactor, address: listen, backlog: backlog) { [unowned self] client, _ in
            accepted(client)
        }
        address = listener.address
        self.listener = listener
    }

    public var listenerStats: (accepted: Int, pauses: Int, calls: Int) {
        (listener?.acceptedCount ?? 0, listener?.exhaustionPauses ?? 0, listener?.acceptCalls ?? 0)
    }

    /// Stops accepting and ends every relay and pending connect.
    public func close() {
        listener?.close()
        listener = nil
        for connector in connecting.values { connector.cancel() }
        connecting.removeAll()
        for relay in Array(relays.values) { relay.close("proxy closed") }
    }

    private func accepted(_ client: consuming FileDescriptor) {
        guard let reactor else { return }
        // The client waits in a box until its service connection is up; a box lets the
        // completion closure (which must be copyable) own it.
        let box = FileDescriptorBox(client)
        let connector = Connector.connect(reactor: reactor, to: target, timeout: connectTimeout) { [unowned self] result in
            connecting.removeValue(forKey: ObjectIdentifier(box))
            guard let client = box.take() else { return }
            switch consume result {
            case let .connected(service):
                start(client: client, service: service)
            case .failed:
                connectFailures += 1
                client.close()
            }
        }
        connecting[ObjectIdentifier(box)] = connector
    }

    private func start(client: consuming FileDescriptor, service: consuming FileDescriptor) {
        guard let reactor else { return }
        do {
            let relay = try Relay(reactor: reactor, pool: pool, client: client, service: service, options: options) {
                [unowned self] relay, reason in
                relays.removeValue(forKey: ObjectIdentifier(relay))
                closedCount += 1
                closeReasons[reason.description, default: 0] += 1
                onRelayClosed?(relay, reason)
            }
            relays[ObjectIdentifier(relay)] = relay
        } catch {
            connectFailures += 1
        }
    }
}
