import EventLoop
import Synchronization
@testable import GangerCore
import TestSupport

/// A reactor on a thread of its own with `DockerClient`s living on it. Clients are made, called
/// and shut down on the loop only; the test awaits each call's result.
final class DockerClientHarness: Sendable {
    let loop: ReactorThread
    private let clients = LoopBox<[DockerClient]>([])

    init() throws {
        loop = try ReactorThread()
    }

    /// Makes a client on the loop; returns its index for `call`.
    func addClient(url: DaemonURL = .localSocket, timeout: Duration = .seconds(30)) async throws -> Int {
        let clients = self.clients
        return try await loop.run { reactor in
            clients.value.append(try DockerClient(reactor: reactor, url: url, timeout: timeout))
            return clients.value.count - 1
        }
    }

    /// Runs `start` with client `index` on the loop and awaits the value it hands to its
    /// completion. Bounded twice, so a broken client fails the test instead of hanging it: a
    /// completion released without ever being called fails at once, one never called within
    /// `limit` fails then.
    func call<T: Sendable>(_ index: Int = 0, limit: Duration = .seconds(60),
                           _ start: @escaping @Sendable (DockerClient, @escaping @Sendable (T) -> Void) -> Void) async throws -> T {
        let clients = self.clients
        return try await run(limit: limit) { _, done in start(clients.value[index], done) }
    }

    /// `call` for work that needs the reactor itself rather than a client (`Cleanup.run`).
    func run<T: Sendable>(limit: Duration = .seconds(60),
                          _ start: @escaping @Sendable (Reactor, @escaping @Sendable (T) -> Void) -> Void) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let shot = OneShot(continuation)
            let watchdog = Task {
                try await Task.sleep(for: limit)
                shot.resume(.failure(HarnessError("DockerClient: no completion within \(limit)")))
            }
            loop.execute { reactor in
                let guardian = CompletionGuard(shot)
                start(reactor) { value in
                    watchdog.cancel()
                    guardian.shot.resume(.success(value))
                }
            }
        }
    }

    /// Runs `body` with client `index` on the loop and returns its result.
    func onLoop<T: Sendable>(_ index: Int = 0, _ body: @escaping @Sendable (DockerClient) throws -> T) async throws -> T {
        let clients = self.clients
        return try await loop.run { _ in try body(clients.value[index]) }
    }

    /// Shuts every client down and stops the loop (blocking join, so on a thread of its own).
    func close() async {
        let clients = self.clients
        _ = try? await loop.run { _ in
            for client in clients.value { client.shutdown() }
            clients.value.removeAll()
        }
        let loop = self.loop
        _ = try? await onThread { loop.stop() }
    }
}

/// Runs `body` with a harness whose client 0 speaks to the default daemon, closing it afterwards.
func withDockerClient<T: Sendable>(timeout: Duration = .seconds(30),
                                   _ body: (DockerClientHarness) async throws -> T) async throws -> T {
    let harness = try DockerClientHarness()
    do {
        _ = try await harness.addClient(timeout: timeout)
        let result = try await body(harness)
        await harness.close()
        return result
    } catch {
        await harness.close()
        throw error
    }
}

extension ContainerSpec {
    /// A plain container of `image` with `labels`, on the default bridge.
    static func plain(_ image: String, labels: [String: String]) -> ContainerSpec {
        ContainerSpec(image: image, cmd: nil, env: [], labels: labels, exposedPorts: ["12345/tcp": .init()],
                      hostConfig: .init(memory: nil, nanoCpus: nil, pidsLimit: nil, securityOpt: [],
                                        networkMode: "bridge", restartPolicy: ["Name": "no"], autoRemove: false,
                                        portBindings: nil, capDrop: nil, capAdd: nil, readonlyRootfs: nil, tmpfs: nil))
    }
}

/// The labels Ganger itself would put on a container of `instance`.
func gangerLabels(instance: String, service: String = "itest") -> [String: String] {
    ["ganger.managed": "true", "ganger.instance": instance, "ganger.service": service, "ganger.client": "127.0.0.1:1"]
}

/// Resumes a continuation at most once, whoever comes first.
final class OneShot<T: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<T, any Error>?>
    init(_ continuation: CheckedContinuation<T, any Error>) { self.continuation = Mutex(continuation) }

    func resume(_ result: Result<T, any Error>) {
        let taken = continuation.withLock { value -> CheckedContinuation<T, any Error>? in
            defer { value = nil }
            return value
        }
        taken?.resume(with: result)
    }
}

/// Captured only by the completion handed to the client: if the client lets go of that
/// completion without calling it, this dies with it and fails the call.
final class CompletionGuard<T: Sendable>: Sendable {
    let shot: OneShot<T>
    init(_ shot: OneShot<T>) { self.shot = shot }
    deinit { shot.resume(.failure(HarnessError("DockerClient released the completion without calling it"))) }
}
