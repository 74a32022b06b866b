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
        eventStreams[index] = daemon.events(labels: GangerLabels.filters(instance: instance), onEvent: { [weak self] event in
            self?.containerEvent(event)
        }, completion: { [weak self] error in
            guard let self, !draining else { return }
            if let error { logger.debug("event stream ended", metadata: ["daemon": "\(daemon.name)", "error": "\(error)"]) }
            reactor?.schedule(after: .seconds(1)) { [weak self] in self?.followEvents(index) }
        })
    }

    func stopEventStreams() {
        for task in eventStreams.values { task.cancel() }
        eventStreams.removeAll()
    }

    private func containerEvent(_ event: DockerEvent) {
        guard event.action == "die" || event.action == "oom" else { return }
        let id = event.actor.id
        let oom = event.action == "oom"
        let exitCode = Int(event.actor.attributes?["exitCode"] ?? "") ?? -1
        if let session = sessions.values.first(where: { $0.containerID == id || $0.launch?.containerID == id }) {
            if oom { session.containerNote = "out of memory" } else if session.containerNote == nil { session.containerNote = "exit code \(exitCode)" }
            if !oom { session.containerDied(exitCode: exitCode, oom: session.containerNote == "out of memory") }
            return
        }
        if !oom { for service in services where service.pool.containerDied(id, exitCode: exitCode, oom: false) { return } }
        if !oom { for service in services where service.holders.containerDied(id) { return } }
    }
}
