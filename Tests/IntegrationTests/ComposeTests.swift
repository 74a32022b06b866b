import GangerCore
import Glibc
import Testing
import TestSupport

/// Examples/container/compose.yaml with Debian's docker-compose on the real dockerd: up, one
/// echo session through the published loopback port, the status listener healthy, down; then
/// nothing of the project or of ganger's instance is left (containers, networks).
///
/// The image is `GangerImage` (ganger:itest, from the debug binary, as ContainerTests use it),
/// not `make image`'s release build; the project and instance are named per run.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct ComposeTests {
    static let compose = "/usr/bin/docker-compose"

    @Test func composeUp_servesASession_composeDown_leavesNothing() async throws {
        let checks = Checks()
        defer { checks.report() }
        try #require(access(Self.compose, X_OK) == 0, "\(Self.compose) missing: scripts/test-deps.sh installs docker-compose")
        let project = "itest-compose-\(randomTag())"
        try await onThread {
            try DockerCLI.requireEnvironment()
            try GangerImage.ensure()
            let config = try ConfigFile(containerConfig(instance: project, shutdownGrace: "3s"))
            let port = try freeLoopbackPort()
            let environment = ["GANGER_IMAGE=\(GangerImage.name)", "GANGER_CONFIG_FILE=\(config.path)",
                               "GANGER_PORT=\(port)", "DOCKER_HOST=\(DockerCLI.daemonURL)"]
            let file = "\(repositoryRoot)/Examples/container/compose.yaml"
            func compose(_ arguments: [String]) throws -> (status: ExitStatus, log: String) {
                let child = try SpawnedProcess(Self.compose, ["-p", project, "-f", file] + arguments, environment: environment)
                guard let status = child.wait(timeout: .seconds(90)) else {
                    child.kill9()
                    throw HarnessError("docker-compose \(arguments): no exit within 90 s\n\(child.log)")
                }
                return (status, child.log)
            }
            var downed = false
            defer {
                if !downed { _ = try? compose(["down", "--timeout", "15"]) }
                _ = try? DockerCLI.removeAll(instance: project)
            }
            let up = try compose(["up", "-d"])
            guard up.status == .exited(0) else { throw HarnessError("docker-compose up: \(up.log)") }

            var lastError = ""
            let served = try poll(timeout: .seconds(40), interval: .milliseconds(250)) {
                do {
                    try echoSession("127.0.0.1:\(port)", payload: Array("through compose\n".utf8) + randomBytes(8 << 10), timeout: .seconds(10))
                    return true
                } catch {
                    lastError = "\(error)"
                    return false
                }
            }
            let logs = (try? compose(["logs", "--no-color"]).log) ?? ""
            checks.expect(served, "no echo session through 127.0.0.1:\(port): \(lastError)\n\(logs)")
            let ganger = try DockerCLI.containers(labels: ["com.docker.compose.project=\(project)"])
            checks.expect(ganger.count == 1, "compose containers: \(ganger)")
            // The status listener is on the container's own loopback (docs/security.md): the
            // image's health check runs inside it, and so does this one.
            let health = try run(DockerCLI.path, ["-H", DockerCLI.daemonURL, "exec", ganger.first ?? "", "/ganger", "status", "--health",
                                                  "--url", "http://127.0.0.1:5480", "--timeout", "2"], timeout: .seconds(20))
            checks.expect(health.status == .exited(0), "status not healthy: \(health.status) \(health.stderr)\n\(logs)")

            let down = try compose(["down", "--timeout", "15"])
            downed = true
            checks.expect(down.status == .exited(0), "docker-compose down: \(down.log)")
            checks.expect(try DockerCLI.containers(labels: ["com.docker.compose.project=\(project)"]).isEmpty)
            checks.expect(try waitForNoContainers(labels: ["ganger.instance=\(project)"], timeout: .seconds(10)).isEmpty)
            let networks = try DockerCLI.docker(["network", "ls", "--filter", "label=com.docker.compose.project=\(project)", "-q"])
            checks.expect(networks.isEmpty, "networks left: \(networks)")
        }
    }
}
