import EventLoop
import Logging

/// What launches ask of the process: the daemons' clients, addresses, holders, slots, disposal.
extension Supervisor: LaunchOwner {
    func engine(_ daemon: Int) -> any Engine { daemons[daemon].engine }

    func takeHolder(service: String, daemon: Int, _ done: @escaping (LaunchMachine.HolderRef?) -> Void) {
        guard let runtime = services.first(where: { $0.config.name == service }) else { return done(nil) }
        runtime.holders.take(on: daemon) { [self] holder in
            guard let holder else { return done(nil) }
            lentHolders[holder.containerID] = holder
            done(LaunchMachine.HolderRef(containerID: holder.containerID, address: holder.address, sharedFiles: holder.sharedFiles))
        }
    }

    func giveBackUnused(_ holder: LaunchMachine.HolderRef) {
        guard let lent = lentHolders.removeValue(forKey: holder.containerID) else { return }
        holderPool(of: lent)?.giveBack(lent)
    }

    func answeredRecently(_ daemon: Int) -> Bool { isBusy(daemon) }

    func nextContainerName() -> String {
        containerSerial += 1
        return "ganger-\(instance)-\(boot)-\(containerSerial)"
    }

    func acquireSlot() -> Int? { draining ? nil : lifecycle.acquire() }

    func launchSettled(_ daemon: Int, _ outcome: Scheduler.LaunchOutcome) {
        control { $0.launchSettled(daemon, outcome, now: $1) }
    }

    func launchRefused(service: Int, daemon: Int, error: String) {
        control { $0.poolLaunchRefused(service: service, daemon: daemon, error: error, now: $1) }
    }
}
