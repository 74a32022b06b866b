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
            guard let self, isCurrent(daemon, index) else { return }
            containerEvent(event, on: index)
        }, subscribed: { [weak self] in
            guard let self, isCurrent(daemon, index) else { return }
            removePredecessorsContainers(on: index)
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

    private func containerEvent(_ event: DockerEvent, on index: Int) {
        // A container event names a container id; anything else (a broken or hostile daemon)
        // must not reach a request path (`DockerID`).
        guard DockerID.isValid(event.actor.id) else { return }
        if event.action == "create", isPredecessors(event.actor.attributes?[GangerLabels.boot]) {
            return removePredecessorsContainers([event.actor.id], on: index)
        }
        if event.action == "create", let name = event.actor.attributes?["name"] {
            return lateCreate(event.actor.id, name: name, on: index)
        }
        guard event.action == "die" || event.action == "oom" else { return }
        let exitCode = Int(event.actor.attributes?["exitCode"] ?? "") ?? -1
        send(.containerDied(containerID: event.actor.id, exitCode: exitCode, oom: event.action == "oom"))
    }

    /// A container made under a name whose create was given up and removed by name already
    /// (`DaemonRuntime.lostNames`): dockerd made it late, after that removal found nothing, and
    /// nothing counts or owns it. Removed now; it held no slot.
    func lateCreate(_ id: String, name: String, on index: Int) {
        guard daemons[index].lostNames.take(name), !removing.contains(id) else { return }
        logger.notice("removing a container created after its launch gave it up", metadata: [
            "daemon": "\(daemons[index].name)", "container": "\(DockerID.short(id))", "name": "\(name)",
        ])
        removeContainer(id, on: index) {}
    }

    /// A container of this instance made by another process (another boot id, or none). While
    /// this process holds the instance's lease, that is a lapsed predecessor's: a create it had
    /// on the wire when it was killed can land after the startup sweep (dockerd still does the
    /// work), and nothing else would ever remove it.
    private func isPredecessors(_ owner: String?) -> Bool { owner != boot }

    /// On each (re)subscription to `index`'s events (the stream misses what happens while it is
    /// down), and for each `create` event of a predecessor's container: removes those containers,
    /// only while this process holds the instance there, never one it holds itself (sessions
    /// taken over from the previous process run in that process's containers), and not while a
    /// takeover is under way (the previous process still runs its own; `predecessorGone` sweeps
    /// what it left).
    func removePredecessorsContainers(_ ids: [String]? = nil, on index: Int) {
        guard !draining, heir == nil, daemons[index].leaseID != nil else { return }
        if let ids {
            let held = heldContainers
            let strays = ids.filter { !removing.contains($0) && !held.contains($0) }
            guard !strays.isEmpty else { return }
            logger.notice("removing a predecessor's container created after the startup sweep", metadata: [
                "daemon": "\(daemons[index].name)", "count": "\(strays.count)",
            ])
            for id in strays { removeContainer(id, on: index) {} }
            return
        }
        daemons[index].engine.list(labels: GangerLabels.filters(instance: instance)) { [self] result in
            guard case let .success(containers) = result else { return }
            removePredecessorsContainers(containers.filter { isPredecessors($0.labels[GangerLabels.boot]) }.map(\.id), on: index)
            // Late creates whose event the stream missed while it was down.
            for container in containers where !isPredecessors(container.labels[GangerLabels.boot]) {
                if let name = container.names?.first { lateCreate(container.id, name: name, on: index) }
            }
        }
    }
}
