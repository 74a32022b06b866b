/// What the warm pool and the holder pool need from whoever runs them (the supervisor; a test
/// double in unit tests): slots and launch-window places from the scheduler, the daemons that
/// take placements, container removal, and a way to tell the lifecycle what they hold. The pools
/// keep no reference to the supervisor itself.
protocol PoolHost: LaunchOwner {
    /// Shutting down: pools start nothing and give nothing back.
    var draining: Bool { get }
    /// A slot for a pool launch of `service`, only while no client waits, off the daemons its
    /// launches are held off (`Scheduler.acquireForPool`).
    func acquireForPool(service: Int) -> Int?
    /// Docker on `daemon` refused a pool launch of `service` (`Lifecycle.poolLaunchRefused`).
    func launchRefused(service: Int, daemon: Int, error: String)
    /// A place in `daemon`'s launch window for a holder's start (`Scheduler.reserveLaunch`).
    func reserveLaunch(_ daemon: Int) -> Bool
    /// Daemons that take placements now (healthy, not retired), by index.
    var placeableDaemons: [Int] { get }
    /// Tells the lifecycle (`.warmAdded`, `.warmRemoved`), one event at a time.
    func send(_ event: Lifecycle.Event)
    /// Removes a container that holds a slot; the slot is freed (`.slotFreed`) once it is gone.
    func disposeContainer(_ id: String, on daemon: Int)
    /// Removes a container that holds no slot (a holder), then calls `done`.
    func removeContainer(_ id: String, on daemon: Int, attempt: Int, then done: @escaping () -> Void)
}
