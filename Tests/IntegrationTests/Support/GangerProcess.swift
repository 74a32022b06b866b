import Glibc
import TestSupport

/// The `ganger` binary SwiftPM built next to this test bundle (the test target depends on it).
let gangerBinary: String = {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    let path = String(decoding: buffer[0..<max(n, 0)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)]) + "/ganger"
}()

/// A configuration file in a directory of its own under /tmp, removed with the value.
final class ConfigFile: Sendable {
    let directory: String
    let path: String

    init(_ yaml: String) throws {
        var template = Array("/tmp/ganger-itest-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw HarnessError("mkdtemp: \(String(cString: strerror(errno)))")
        }
        directory = String(cString: made)
        path = directory + "/ganger.yml"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw HarnessError("open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let bytes = Array(yaml.utf8)
        guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
            throw HarnessError("write \(path): \(String(cString: strerror(errno)))")
        }
    }

    deinit {
        unlink(path)
        rmdir(directory)
    }
}

/// `ganger run -c FILE` as a child process.
///
/// The contract it is written against (issue 4 §7): one stdout line
/// `ganger: service <name> listening on <host:port>` per service, only after the startup checks
/// passed (with the real port when the config says `:0`); exit 0 after SIGTERM with every
/// container removed; exit 1 on a configuration error; exit 2 on a startup failure.
final class GangerProcess: Sendable {
    let instance: String
    let config: ConfigFile
    let process: SpawnedProcess

    /// Writes `yaml` to a file and starts `ganger run -c FILE` (`environment`: `NAME=value`
    /// entries that override the inherited ones). `wrapper`: a command that execs the rest in
    /// the same process (`/usr/bin/prlimit --nofile=256 --`), so `pid` is still ganger's.
    init(instance: String, yaml: String, environment: [String] = [], wrapper: [String] = []) throws {
        self.instance = instance
        config = try ConfigFile(yaml)
        guard access(gangerBinary, X_OK) == 0 else { throw HarnessError("\(gangerBinary) is missing: build the package first") }
        let command = wrapper + [gangerBinary, "run", "-c", config.path]
        process = try SpawnedProcess(command[0], Array(command.dropFirst()), environment: environment)
    }

    /// `ganger run -c FILE --takeover` on `old`'s configuration file: takes `old`'s instance over.
    init(takingOver old: GangerProcess, environment: [String] = []) throws {
        instance = old.instance
        config = old.config
        process = try SpawnedProcess(gangerBinary, ["run", "-c", config.path, "--takeover"], environment: environment)
    }

    /// Everything ganger wrote so far, for failure messages.
    var log: String { process.log }
    var stdout: String { process.stdout }
    var stderr: String { process.stderr }

    /// Waits until every service in `services` printed its listen line; returns `name → host:port`.
    /// Throws with the log if ganger exits first or `timeout` passes.
    func waitUntilListening(_ services: [String], timeout: Duration = .seconds(30)) throws -> [String: String] {
        var found: [String: String] = [:]
        let ok = try poll(timeout: timeout, interval: .milliseconds(20)) {
            found = Self.listenLines(stdout)
            if services.allSatisfy({ found[$0] != nil }) { return true }
            if let status = process.poll() {
                _ = process.wait(timeout: .seconds(1))  // collect the last of its output
                throw HarnessError("ganger ended (\(status)) before listening on \(services)\n\(log)")
            }
            return false
        }
        guard ok else {
            throw HarnessError("ganger: no listen line for \(services.filter { found[$0] == nil }) within \(timeout)\n\(log)")
        }
        return found
    }

    /// `ganger: service <name> listening on <address>` lines of `text`.
    static func listenLines(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ")
            guard words.count == 6, words[0] == "ganger:", words[1] == "service", words[3] == "listening", words[4] == "on"
            else { continue }
            result[String(words[2])] = String(words[5])
        }
        return result
    }

    /// Sends `signal` and waits up to `timeout` for the exit; SIGKILLs and throws on a timeout.
    @discardableResult
    func terminate(signal: Int32 = SIGTERM, timeout: Duration = .seconds(15)) throws -> ExitStatus {
        try process.terminate(signal: signal, timeout: timeout)
    }

    /// Waits up to `timeout` for ganger to exit on its own.
    func waitForExit(timeout: Duration) -> ExitStatus? { process.wait(timeout: timeout) }

    /// SIGKILL, as a crash would: no cleanup of its containers.
    func kill9() { process.kill9() }

    /// SIGKILL without reaping: the process stays a zombie until `waitForExit`, as a crashed
    /// Ganger does under a parent that is slow to wait for it.
    func kill9LeavingAZombie() { process.send(SIGKILL) }

    var hasExited: Bool { process.poll() != nil }
}

/// Runs a ganger subcommand to completion (`check`, `run` that must fail), bounded.
func ganger(_ arguments: [String], timeout: Duration = .seconds(60)) throws -> (status: ExitStatus, stdout: String, stderr: String) {
    try run(gangerBinary, arguments, timeout: timeout)
}

/// The YAML of one service, for `gangerConfig`.
struct ServiceYAML {
    var name: String
    var image: String
    /// Where it listens; a kernel-chosen loopback port unless a test needs a fixed one.
    var listen = "127.0.0.1:0"
    var port = 12345
    var pull = "never"
    /// More keys of this service, one per line, unindented (`ready: {attempts: 5}`).
    var extra: [String] = []

    var yaml: String {
        ([
            "  - name: \(name)",
            "    listen: \(listen)",
            "    image: \(image)",
            "    port: \(port)",
            "    pull: \(pull)",
        ] + extra.map { "    " + $0 }).joined(separator: "\n")
    }

    static func echo(_ name: String = "echo") -> ServiceYAML { ServiceYAML(name: name, image: "ganger-echo:latest") }
}

/// A whole configuration on one daemon (the default one unless `daemonURL` says), loopback only, kernel-chosen ports.
func gangerConfig(instance: String, services: [ServiceYAML], maxContainers: Int = 32,
                  shutdownGrace: String = "2s", daemonURL: String = DockerCLI.daemonURL, dockerTimeout: String = "30s",
                  extra: [String] = []) -> String {
    ([
        "instance: \(instance)",
        "daemons:",
        "  - url: \(daemonURL)",
        "    max_containers: \(maxContainers)",
        "services:",
    ] + services.map(\.yaml) + [
        "status: {listen: 127.0.0.1:0}",
        "docker_timeout: \(dockerTimeout)",
        "shutdown_grace: \(shutdownGrace)",
        "log: {level: debug, format: text}",
    ] + extra).joined(separator: "\n") + "\n"
}

/// A unique instance name per test and run, so tests judge (and remove) only their own containers.
func uniqueInstance(_ test: String) -> String { "itest-\(test)-\(randomTag())" }
