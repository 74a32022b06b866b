import EventLoop
@testable import GangerCore
import Glibc
import Synchronization
import Testing
import TestSupport

/// GangerCore's `DockerClient` against the real dockerd (`make docker-up`, `make images`).
/// Every container carries Ganger's labels with an instance of its own, so nothing else ever
/// touches it, and every test removes its instance's containers and checks none is left.
@Suite(.timeLimit(.minutes(2)))
struct DockerClientTests {
    init() async throws {
        try await onThread { try DockerCLI.requireEnvironment() }
    }

    @Test func negotiate_picksAVersionBetween141AndOurs_andPingAnswers() async throws {
        try await withDockerClient { docker in
            let daemonVersion = try await docker.call { client, done in client.negotiate { done($0) } }
            let daemon = try daemonVersion.get()
            let inUse = try await docker.onLoop { $0.apiVersion }
            let version = try #require(inUse, "no API version after negotiate (daemon said \(daemon))")
            #expect(APIVersion(version) >= APIVersion("1.41"), "negotiated \(version)")
            #expect(APIVersion(version) <= APIVersion(DockerClient.ourAPIVersion), "negotiated \(version)")
            #expect(APIVersion(version) <= APIVersion(daemon), "negotiated \(version), daemon speaks \(daemon)")
            // And the daemon's default log driver, as `docker info` says it.
            let driver = try await docker.onLoop { $0.logDriver }
            let cli = try await onThread { try DockerCLI.docker(["info", "-f", "{{.LoggingDriver}}"]).trimmingSuffix("\n") }
            #expect(driver == cli && !cli.isEmpty, "negotiate learned \(String(describing: driver)), docker info says \(cli)")

            let ping = try await docker.call { client, done in client.ping { done($0) } }
            #expect(throws: Never.self) { try ping.get() }
        }
    }

    @Test func container_createStartInspectList_thenRemove_isGoneFromTheList() async throws {
        let instance = uniqueInstance("docker-lifecycle")
        let labels = ["ganger.managed=true", "ganger.instance=\(instance)"]
        do {
            try await withDockerClient { docker in
                _ = try await docker.call { client, done in client.negotiate { done($0) } }.get()
                let spec = ContainerSpec.plain("ganger-echo:latest", labels: gangerLabels(instance: instance))
                let id = try await docker.call { client, done in client.create(spec) { done($0) } }.get()
                #expect(!id.isEmpty)

                try await docker.call { client, done in client.start(id) { done($0) } }.get()
                let inspect = try await docker.call { client, done in client.inspect(id) { done($0) } }.get()
                #expect(inspect.id == id)
                #expect(inspect.state.running, "state \(inspect.state.status)")
                let ip = try #require(inspect.ipAddress(on: "bridge"), "no address on bridge: \(inspect.networkSettings)")
                #expect(ip.split(separator: ".").count == 4, "\(ip)")

                // The container is the real thing: its nc answers on the bridge address.
                try await onThread {
                    var lastError: (any Error)?
                    let served = poll(timeout: .seconds(10), interval: .milliseconds(100)) {
                        do {
                            try echoSession("\(ip):12345", payload: Array("ping \(instance)\n".utf8), timeout: .seconds(5))
                            return true
                        } catch {
                            lastError = error
                            return false
                        }
                    }
                    if !served { throw HarnessError("echo via the container's \(ip):12345: \(lastError.map { "\($0)" } ?? "")") }
                }

                let listed = try await docker.call { client, done in client.list(labels: labels) { done($0) } }.get()
                #expect(listed.map(\.id) == [id])
                #expect(listed.first?.labels["ganger.instance"] == instance)
                #expect(listed.first?.state == "running")

                try await docker.call { client, done in client.remove(id) { done($0) } }.get()
                let after = try await docker.call { client, done in client.list(labels: labels) { done($0) } }.get()
                #expect(after.isEmpty, "still listed after remove: \(after.map(\.id))")
                let cli = try await onThread { try DockerCLI.containers(instance: instance) }
                #expect(cli.isEmpty, "docker ps still shows \(cli)")
            }
        } catch {
            await removeContainers(instance: instance)
            throw error
        }
        await removeContainers(instance: instance)
    }

    @Test func create_withAMissingImage_is404AndTheDaemonNamesTheImage() async throws {
        let instance = uniqueInstance("docker-missing")
        let image = "ganger-missing-\(randomTag()):latest"
        try await withDockerClient { docker in
            _ = try await docker.call { client, done in client.negotiate { done($0) } }.get()
            let spec = ContainerSpec.plain(image, labels: gangerLabels(instance: instance))
            let result = try await docker.call { client, done in client.create(spec) { done($0) } }
            guard case let .failure(error) = result else {
                Issue.record("create of \(image) succeeded: \(result)")
                return
            }
            #expect(error.isNotFound, "\(error)")
            guard case .status(404) = error.kind else { Issue.record("kind \(error.kind), expected status 404"); return }
            #expect(error.message.contains(image.split(separator: ":")[0]), "daemon message: \(error.message)")
            #expect(error.daemon == DockerCLI.daemonURL)
            #expect(error.call == "POST /containers/create")
            #expect(error.description.contains(DockerCLI.daemonURL), "\(error)")
        }
        await removeContainers(instance: instance)
    }

    @Test func imageExists_isTrueForABuiltImage_andFalseForAMissingOne() async throws {
        try await withDockerClient { docker in
            _ = try await docker.call { client, done in client.negotiate { done($0) } }.get()
            let present = try await docker.call { client, done in client.imageExists("ganger-echo:latest") { done($0) } }
            #expect(try present.get() == true)
            let missing = "ganger-missing-\(randomTag()):latest"
            let absent = try await docker.call { client, done in client.imageExists(missing) { done($0) } }
            #expect(try absent.get() == false)
        }
    }

    @Test func events_deliverStartThenDieAndDestroy_forALabelledContainer() async throws {
        let instance = uniqueInstance("docker-events")
        let actions = EventLog()
        do {
            try await withDockerClient { docker in
                _ = try await docker.call { client, done in client.negotiate { done($0) } }.get()
                let stream = LoopBox<HTTPRequestTask?>(nil)
                try await docker.onLoop { client in
                    stream.value = client.events(labels: ["ganger.instance=\(instance)"],
                                                 onEvent: { actions.append($0.action, id: $0.actor.id) },
                                                 completion: { actions.finish($0.map { "\($0)" } ?? "clean end") })
                }
                // The daemon registers the subscription when it reads the request; nothing in the
                // API says when that happened. A pause keeps a fast create+start from racing it.
                try await Task.sleep(for: .milliseconds(500))

                let spec = ContainerSpec.plain("ganger-echo:latest", labels: gangerLabels(instance: instance))
                let id = try await docker.call { client, done in client.create(spec) { done($0) } }.get()
                try await docker.call { client, done in client.start(id) { done($0) } }.get()
                let started = try await onThread { poll(timeout: .seconds(10)) { actions.actions(for: id).contains("start") } }
                #expect(started, "events for \(id): \(actions.actions(for: id))")

                try await docker.call { client, done in client.remove(id) { done($0) } }.get()
                let ended = try await onThread {
                    poll(timeout: .seconds(10)) { actions.actions(for: id).contains("destroy") }
                }
                let seen = actions.actions(for: id)
                #expect(ended, "events for \(id): \(seen)")
                #expect(seen.contains("die"), "events for \(id): \(seen)")
                if let start = seen.firstIndex(of: "start"), let die = seen.firstIndex(of: "die") {
                    #expect(start < die, "order: \(seen)")
                }
                #expect(actions.ending == nil, "stream ended early: \(actions.ending ?? "")")

                try await docker.onLoop { _ in stream.value?.cancel() }
                let finished = try await onThread { poll(timeout: .seconds(5)) { actions.ending != nil } }
                #expect(finished, "cancel did not end the events stream")
            }
        } catch {
            await removeContainers(instance: instance)
            throw error
        }
        await removeContainers(instance: instance)
    }

    @Test func remove_ofAnUnknownId_succeeds() async throws {
        try await withDockerClient { docker in
            _ = try await docker.call { client, done in client.negotiate { done($0) } }.get()
            let unknown = String(repeating: "0", count: 52) + randomTag(12)
            let result = try await docker.call { client, done in client.remove(unknown) { done($0) } }
            #expect(throws: Never.self) { try result.get() }
        }
    }
}

/// An Engine API version, "1.41", ordered by its numbers.
struct APIVersion: Comparable {
    let parts: [Int]
    init(_ text: String) { parts = text.split(separator: ".").map { Int($0) ?? -1 } }
    static func < (a: APIVersion, b: APIVersion) -> Bool { a.parts.lexicographicallyPrecedes(b.parts) }
}

/// Event actions per container id, appended from the loop, read by the test.
final class EventLog: Sendable {
    private struct State {
        var actions: [String: [String]] = [:]
        var ending: String?
    }
    private let state = Mutex(State())

    func append(_ action: String, id: String) { state.withLock { $0.actions[id, default: []].append(action) } }
    func finish(_ why: String) { state.withLock { $0.ending = why } }
    func actions(for id: String) -> [String] { state.withLock { $0.actions[id] ?? [] } }
    var ending: String? { state.withLock { $0.ending } }
}
