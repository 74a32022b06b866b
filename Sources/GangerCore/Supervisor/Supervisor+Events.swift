import EventLoop
import Logging

extension Supervisor {
    /// Follows each daemon's container events for this instance. A container that dies while
    /// its session waits for readiness is replaced at once; one that dies while relayed gets
    /// its exit code (or OOM) into the session's end reason. The stream reconnects after errors.
    func startEventStreams() {
        for index in daemons.indices { followEvents(index) }
    }

    func followEvents(_ index: Int) {
        guard !draining else { return }
        let daemon = daemons[index]
        daemon.events = daemon.engine.events(labels: GangerLabels.filters(instance: instance), onEvent: { [weak self] event in
            self?.containerEvent(event)
        }, completion: { [weak self] error in
            guard let self, !draining, isCurrent(daemon, index) else { return }
            if let error { logger.debug("event stream ended", metadata: ["daemon": "\(daemon.name)", "error": "\(error)"]) }
            reactor?.schedule(after: .seconds(1)) { [weak self] in self?.followEvents(index) }
        })
    }

    func stopEventStreams() {
        for daemon in daemons {
            daemon.events?.cancel()
            daemon.events = nil
        }
    }

    private func containerEvent(_ event: DockerEvent) {
        guard event.action == "die" || event.action == "oom" else { return }
        let exitCode = Int(event.actor.attributes?["exitCode"] ?? "") ?? -1
        send(.containerDied(containerID: event.actor.id, exitCode: exitCode, oom: event.action == "oom"))
    }
}
