@testable import EventLoop
@testable import GangerCore
import Glibc
import Testing
import TestSupport

/// `Supervisor.reload(file:environment:)` on a real supervisor with real listening sockets on
/// loopback, never started (no Docker needed): a reload applies whole or changes nothing.
@Suite struct SupervisorReloadTests {
    static func service(_ name: String, listen: String = "127.0.0.1:0", image: String = "unit-a:latest") -> String {
        """
          - name: \(name)
            listen: \(listen)
            image: \(image)
            port: 1
            pull: never
        """
    }

    static let twoServices = service("a") + "\n" + service("b", image: "unit-b:latest")

    @Test func aBadFile_isRefusedWithEveryProblem_andNothingChanges() async throws {
        let fixture = try await SupervisorFixture(Self.twoServices)
        try await fixture.listenAll()
        let before = try await fixture.listeners()
        let config = try await fixture.config()
        let bad = try fixture.writeConfig(Self.service("a") + "\n    colour: blue\n" + Self.service("b", image: "unit-b:latest")
            .replacing("port: 1", with: "port: 70000"), name: "bad.yml")
        let supervisor = fixture.supervisor
        let outcome = try await fixture.loop.run { _ in supervisor.value!.reload(file: bad, environment: [:]) }

        guard case let .refused(problems) = outcome else { Issue.record("a bad file was applied: \(outcome)"); return }
        #expect(problems.count == 2, "\(problems)")
        #expect(problems.contains { $0.contains("services[0].colour") } && problems.contains { $0.contains("70000") }, "\(problems)")
        #expect(problems.allSatisfy { $0.hasPrefix(bad + ": ") }, "\(problems)")
        #expect(fixture.logs.matching("reload refused: nothing changed").count == 2, "\(fixture.logs.all)")
        #expect(try await fixture.config() == config)
        #expect(try await fixture.listeners().mapValues(\.id) == before.mapValues(\.id))
        try await fixture.tearDown()
    }

    @Test func beforeTheServicesListen_aReloadIsRefused_andNothingChanges() async throws {
        let fixture = try await SupervisorFixture(Self.twoServices)
        let config = try await fixture.config()
        let next = try fixture.writeConfig(Self.service("a", image: "unit-c:latest"))
        let supervisor = fixture.supervisor
        let outcome = try await fixture.loop.run { _ in supervisor.value!.reload(file: next, environment: [:]) }
        guard case let .refused(problems) = outcome else { Issue.record("applied while starting: \(outcome)"); return }
        #expect(problems.count == 1 && problems[0].contains("still starting"), "\(problems)")
        #expect(try await fixture.config() == config)
        #expect(try await fixture.listeners().values.allSatisfy { $0.id == nil })
        try await fixture.tearDown()
    }

    /// The relay's buffers are shared by every running session: fixed for the process's life.
    @Test func aChangedRelaySection_isRefused_andNothingChanges() async throws {
        let fixture = try await SupervisorFixture(Self.twoServices)
        try await fixture.listenAll()
        let config = try await fixture.config()
        let supervisor = fixture.supervisor
        #expect(try await fixture.loop.run { _ in supervisor.value!.pipes.largeBuffers.maxBuffers } == 0)
        #expect(try await fixture.loop.run { _ in supervisor.value!.snapshot().relay?.largeBuffersMax } == 0)
        let next = try fixture.writeConfig(Self.twoServices + "\nrelay: {large_buffers: 8}")
        let outcome = try await fixture.loop.run { _ in supervisor.value!.reload(file: next, environment: [:]) }
        guard case let .refused(problems) = outcome else { Issue.record("a new relay section was applied: \(outcome)"); return }
        #expect(problems.count == 1 && problems[0].contains("relay cannot change on reload"), "\(problems)")
        #expect(try await fixture.config() == config)
        try await fixture.tearDown()
    }

    @Test func swappedPorts_eachServiceTakesTheOthersSocket_noneIsClosedOrBound() async throws {
        let fixture = try await SupervisorFixture(Self.twoServices)
        try await fixture.listenAll()
        let before = try await fixture.listeners()
        let a = try #require(before["a"]?.address), b = try #require(before["b"]?.address)
        let next = try fixture.writeConfig(Self.service("a", listen: b) + "\n" + Self.service("b", listen: a, image: "unit-b:latest"))
        let supervisor = fixture.supervisor
        let outcome = try await fixture.loop.run { _ in supervisor.value!.reload(file: next, environment: [:]) }

        #expect(outcome == .applied(changes: [
            "service a updated (now on \(b), the socket of service b handed over)",
            "service b updated (now on \(a), the socket of service a handed over)",
        ]))
        let after = try await fixture.listeners()
        #expect(after["a"]?.address == b && after["b"]?.address == a)
        #expect(after["a"]?.id == before["b"]?.id && after["b"]?.id == before["a"]?.id, "the sockets were not handed over")
        #expect(try await fixture.config().services.map(\.listen.description) == [b, a])
        #expect(fixture.logs.matching("configuration reloaded").count == 1)
        try await fixture.tearDown()
    }

    @Test func aNewPortAlreadyHeld_refusesTheWholeReload_eventheOtherServicesMove() async throws {
        let fixture = try await SupervisorFixture(Self.twoServices)
        try await fixture.listenAll()
        let before = try await fixture.listeners()
        let config = try await fixture.config()
        let held = try HeldPort()
        defer { held.close() }
        let free = try HeldPort()
        let freeAddress = free.address
        free.close()
        let next = try fixture.writeConfig(Self.service("a", listen: "\(freeAddress)", image: "unit-c:latest") + "\n"
            + Self.service("b", listen: "\(held.address)", image: "unit-b:latest"))
        let supervisor = fixture.supervisor
        let outcome = try await fixture.loop.run { _ in supervisor.value!.reload(file: next, environment: [:]) }

        guard case let .refused(problems) = outcome else { Issue.record("applied onto a held port: \(outcome)"); return }
        #expect(problems == ["cannot listen on \(held.address) for service b: bind: Address already in use (errno \(EADDRINUSE))"])
        #expect(try await fixture.config() == config)
        let after = try await fixture.listeners()
        #expect(after.mapValues(\.id) == before.mapValues(\.id) && after.mapValues(\.address) == before.mapValues(\.address))
        // The socket bound for `a` was closed with the refusal: its port is free again.
        try HeldPort(freeAddress).close()
        try await fixture.tearDown()
    }

    @Test func aRemovedServicesSocket_goesToTheServiceAddedOnItsAddress() async throws {
        let fixture = try await SupervisorFixture(Self.twoServices)
        try await fixture.listenAll()
        let before = try await fixture.listeners()
        let b = try #require(before["b"]?.address)
        let next = try fixture.writeConfig(Self.service("a") + "\n" + Self.service("c", listen: b, image: "unit-c:latest"))
        let supervisor = fixture.supervisor
        let outcome = try await fixture.loop.run { _ in supervisor.value!.reload(file: next, environment: [:]) }

        #expect(outcome == .applied(changes: [
            "service c added on \(b) (the socket of service b handed over)",
            "service b removed (its running sessions finish)",
        ]))
        let after = try await fixture.listeners()
        #expect(Set(after.keys) == ["a", "c"])
        #expect(after["a"]?.id == before["a"]?.id && after["c"]?.id == before["b"]?.id)
        try await fixture.tearDown()
    }
}

/// A listening socket of the test's own on 127.0.0.1 (`address`: a given one, or a free port).
private final class HeldPort {
    private var fd: CInt
    let address: SocketAddress

    init(_ address: SocketAddress? = nil) throws {
        let socket = try Socket.stream(family: AF_INET)
        try Socket.bind(socket.rawValue, to: address ?? SocketAddress(host: "127.0.0.1", port: 0))
        try Socket.listen(socket.rawValue, backlog: 8)
        self.address = try Socket.localAddress(socket.rawValue)
        fd = socket.release()
    }

    /// Idempotent.
    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    deinit { close() }
}
