import EventLoop
import Logging

/// What launches ask of the process: the daemons' clients, addresses, holders, slots, disposal.
extension Supervisor: LaunchOwner {
    func engine(_ daemon: Int) -> any Engine { daemons[daemon].engine }

    func takeHolder(service: String, daemon: Int) -> LaunchMachine.HolderRef? {
        guard let runtime = services.first(where: { $0.config.name == service }),
              let holder = runtime.holders.take(on: daemon) else { return nil }
        lentHolders[holder.containerID] = holder
        return LaunchMachine.HolderRef(containerID: holder.containerID, address: holder.address, sharedFiles: holder.sharedFiles)
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
}
