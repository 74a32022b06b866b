import EventLoop
@testable import GangerCore
import Glibc
import Testing
import TestSupport

/// `DockerClient` against a FAKE daemon (`FakeDaemon`, a blocking unix-socket server in this
/// process): a real dockerd will not send garbage or hang on demand. Everything else about the
/// client is tested against the real daemon in `DockerClientTests`.
@Suite(.timeLimit(.minutes(1)))
struct DockerClientFaultTests {
    @Test func garbageInsteadOfHTTP_isATransportErrorSayingMalformedResponse() async throws {
        let fake = try FakeDaemon(.garbage(Array("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\nnot http at all\r\n\r\n".utf8)))
        defer { fake.stop() }
        let harness = try DockerClientHarness()
        do {
            _ = try await harness.addClient(url: .unix(path: fake.path), timeout: .seconds(5))
            let result = try await harness.call { client, done in client.ping { done($0) } }
            guard case let .failure(error) = result else {
                Issue.record("ping of a garbage-speaking daemon succeeded")
                await harness.close()
                return
            }
            guard case let .transport(what) = error.kind else {
                Issue.record("kind \(error.kind), expected transport: \(error)")
                await harness.close()
                return
            }
            #expect(what.contains("malformed response"), "\(error)")
            #expect(error.isTransport)
            #expect(error.daemon == fake.url)
            #expect(error.description.contains(fake.url), "\(error)")
            #expect(error.description.contains("GET /_ping"), "\(error)")
            #expect(fake.acceptedCount == 1)
        } catch {
            await harness.close()
            throw error
        }
        await harness.close()
    }

    @Test func silentDaemon_callFailsAfterItsTimeout_andTheLoopKeepsServingAGoodDaemon() async throws {
        try await onThread { try DockerCLI.requireEnvironment() }
        let fake = try FakeDaemon(.silent)
        defer { fake.stop() }
        let harness = try DockerClientHarness()
        do {
            let silent = try await harness.addClient(url: .unix(path: fake.path), timeout: .milliseconds(300))
            let good = try await harness.addClient(url: .localSocket, timeout: .seconds(30))
            let clock = ContinuousClock()
            let start = clock.now

            // Both calls in flight at once on the one loop: the good one must not wait for the hung one.
            async let hung = harness.call(silent) { client, done in client.ping { done(($0, ContinuousClock.now)) } }
            async let served = harness.call(good) { client, done in client.ping { done(($0, ContinuousClock.now)) } }
            let (hungResult, hungAt) = try await hung
            let (servedResult, servedAt) = try await served

            #expect(throws: Never.self, "ping of the real daemon beside the hung call") { try servedResult.get() }
            #expect(servedAt < hungAt, "the good call answered only after the hung call failed")
            guard case let .failure(error) = hungResult else {
                Issue.record("ping of a silent daemon succeeded")
                await harness.close()
                return
            }
            let elapsed = hungAt - start
            #expect(error.isTransport, "\(error)")
            #expect(error.message.contains("no complete response within"), "\(error)")
            #expect(elapsed >= .milliseconds(300), "failed after \(elapsed), before its 300 ms timeout")
            #expect(elapsed < .seconds(3), "failed only after \(elapsed) with a 300 ms timeout")
            #expect(fake.acceptedCount == 1)

            // And afterwards the loop still serves the good daemon.
            let again = try await harness.call(good) { client, done in client.negotiate { done($0) } }
            #expect(throws: Never.self) { try again.get() }
        } catch {
            await harness.close()
            throw error
        }
        await harness.close()
    }

    /// A pull from a daemon that never answers, with these bounds: its error (nil: it
    /// succeeded) and how long it took.
    private func pullFromSilentDaemon(timeout: Duration, stall: Duration?) async throws -> (DockerError?, Duration) {
        let fake = try FakeDaemon(.silent)
        defer { fake.stop() }
        let harness = try DockerClientHarness()
        do {
            let client = try await harness.addClient(url: .unix(path: fake.path), timeout: .seconds(60))
            let start = ContinuousClock.now
            let (result, end) = try await harness.call(client) { client, done in
                client.pull("ganger-hangs:latest", timeout: timeout, stall: stall, progress: { _ in }) { done(($0, ContinuousClock.now)) }
            }
            await harness.close()
            guard case let .failure(error) = result else { return (nil, end - start) }
            return (error, end - start)
        } catch {
            await harness.close()
            throw error
        }
    }

    /// A pull whose daemon goes silent is given up after `stall` of silence, long before its
    /// overall deadline, with a reason that says so.
    @Test func silentPull_isGivenUpAfterItsProgressTimeout_notItsDeadline() async throws {
        let (error, elapsed) = try await pullFromSilentDaemon(timeout: .seconds(60), stall: .milliseconds(300))
        #expect(error?.description.contains("no progress for 300ms (pull_progress_timeout)") == true, "\(String(describing: error))")
        #expect(elapsed >= .milliseconds(300) && elapsed < .seconds(5), "failed after \(elapsed) with 300 ms of silence allowed")
    }

    /// A pull whose daemon never answers (a registry that hangs, a wedged daemon) ends at its
    /// deadline (`pull_timeout`), so a startup cannot hang on it; the client's own call timeout
    /// (here a minute) does not apply to pulls.
    @Test func hangingPull_failsAtItsDeadline() async throws {
        let (error, elapsed) = try await pullFromSilentDaemon(timeout: .milliseconds(400), stall: nil)
        #expect(error?.description.contains("POST /images/create") == true, "\(String(describing: error))")
        #expect(elapsed >= .milliseconds(400) && elapsed < .seconds(5), "failed after \(elapsed) with a 400 ms deadline")
    }
}
