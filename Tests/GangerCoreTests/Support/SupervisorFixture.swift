import EventLoop
@testable import GangerCore
import Glibc
import Logging
import Synchronization
import TestSupport

/// Log lines kept in memory: `level message metadata`, one string each.
final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])

    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
    func matching(_ text: String) -> [String] { all.filter { $0.contains(text) } }
}

/// A LogHandler that appends to `LogLines`, for tests that judge what Ganger logs.
struct CapturingLogHandler: LogHandler {
    let lines: LogLines
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        lines.append("\(event.level) \(event.message) \(merged.keys.sorted().map { "\($0)=\(merged[$0]!)" }.joined(separator: " "))")
    }
}

/// A Supervisor on a loop thread of its own, made from YAML, with its logs captured. It is
/// never started: no Docker is asked for anything up front (its daemon is a socket path where
/// nothing listens). `listenAll()` opens the services' listeners as startup would.
final class SupervisorFixture: Sendable {
    let loop: ReactorThread
    let logs = LogLines()
    let supervisor: LoopBox<Supervisor?>
    let directory: String

    /// `services`: YAML list entries (`- name: a` …) under `services:`.
    init(_ services: String) async throws {
        var template = Array("/tmp/ganger-unit-reload-XXXXXX".utf8CString)
        guard mkdtemp(&template) != nil else { throw ProcessFailure(description: "mkdtemp: errno \(errno)") }
        directory = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let config = try ConfigLoader.parse(yaml: Self.yaml(services, directory: directory), source: "<test>", environment: [:])
        loop = try ReactorThread()
        let supervisor = LoopBox<Supervisor?>(nil)
        self.supervisor = supervisor
        let logs = logs
        try await loop.run { reactor in
            let logger = Logger(label: "ganger") { _ in CapturingLogHandler(lines: logs) }
            supervisor.value = try Supervisor(config: config, reactor: reactor, logger: logger)
        }
    }

    /// A whole configuration around `services`.
    static func yaml(_ services: String, directory: String) -> String {
        """
        instance: unit-reload
        daemons:
          - url: unix://\(directory)/no-docker.sock
        services:
        \(services)
        status: {listen: 127.0.0.1:0}
        shutdown_grace: 1s
        """
    }

    /// Writes a configuration file around `services` and returns its path.
    func writeConfig(_ services: String, name: String = "ganger.yml") throws -> String {
        let path = directory + "/" + name
        let bytes = Array(Self.yaml(services, directory: directory).utf8)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ProcessFailure(description: "open \(path): errno \(errno)") }
        defer { close(fd) }
        guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
            throw ProcessFailure(description: "write \(path): errno \(errno)")
        }
        return path
    }

    /// Opens every service's listener, as startup does once the daemons are ready.
    func listenAll() async throws {
        let supervisor = supervisor
        try await loop.run { reactor in
            let running = supervisor.value!
            for service in running.services { try running.listen(service, reactor: reactor) }
        }
    }

    /// Each service's name, listener identity and bound address (nil when it has no listener).
    func listeners() async throws -> [String: (id: ObjectIdentifier?, address: String?)] {
        let supervisor = supervisor
        let rows = try await loop.run { _ in
            supervisor.value!.services.map { service in
                Row(name: service.config.name, id: service.listener.map(ObjectIdentifier.init),
                    address: service.listener.map { "\($0.address)" })
            }
        }
        return Dictionary(uniqueKeysWithValues: rows.map { ($0.name, ($0.id, $0.address)) })
    }

    private struct Row: Sendable {
        var name: String
        var id: ObjectIdentifier?
        var address: String?
    }

    /// The running configuration.
    func config() async throws -> GangerConfig {
        let supervisor = supervisor
        return try await loop.run { _ in supervisor.value!.config }
    }

    /// Closes the listeners, drops the supervisor, stops the loop, removes the directory.
    func tearDown() async throws {
        let supervisor = supervisor
        try await loop.run { _ in
            for service in supervisor.value?.services ?? [] { service.listener?.close() }
            supervisor.value = nil
        }
        loop.stop()
        let files = ["ganger.yml", "bad.yml", "next.yml"]
        for file in files { unlink(directory + "/" + file) }
        rmdir(directory)
    }
}
