@testable import EventLoop
@testable import GangerCore
import Testing

/// What the new process refuses from the one it takes over (`TakeoverChecks`): each fault a
/// broken or foreign donor could send, and the honest description that must pass.
@Suite struct TakeoverChecksTests {
    static let now: UInt64 = 5_000_000_000
    static let id64 = String(repeating: "ab", count: 32)

    static func session(id: UInt64 = 7, toService: Int = 0, toClient: Int = 0) -> TakeoverSession {
        TakeoverSession(
            id: id, service: "echo", peer: "127.0.0.1:40000", source: "127.0.0.1", acceptedAt: 1_000_000_000,
            acceptedUnix: 1_800_000_000, daemon: "unix:///var/run/docker.sock", containerID: id64,
            holder: .init(containerID: "0123456789ab", address: "172.17.0.2:12345"), warm: false, relayDeadline: nil,
            relay: Relay.RelayState(
                toService: RelayDirectionState(bytes: 1 << 40, sourceEOF: false, finished: false, inFlight: toService),
                toClient: RelayDirectionState(bytes: 12, sourceEOF: true, finished: toClient == 0, inFlight: toClient),
                firstFIN: .service, firstByteToClientAt: 2_000_000_000),
            descriptors: 2 + (toService > 0 ? 2 : 0) + (toClient > 0 ? 2 : 0))
    }

    static func state() -> TakeoverState {
        TakeoverState(
            instance: "prod", boot: "b", pid: 42,
            listeners: [.init(service: "echo", asked: "127.0.0.1:0", bound: "127.0.0.1:5454"),
                        .init(service: "v6", asked: "[::1]:0", bound: "[::1]:6000")],
            statusListen: "127.0.0.1:5480", status: true, control: true, sessions: 3,
            counters: [.init(service: "echo", sessionsTotal: 10, sessionsMax: 4, bytesIn: 1 << 50, bytesOut: 9,
                             refusedQueueFull: 0, queueTimeouts: 1, refusedPerSource: 2, endReasons: ["client closed": 10])],
            startedUnix: 1_800_000_000)
    }

    @Test func anHonestDescription_passes() throws {
        try Self.state().check(instance: "prod", descriptors: 4)
        var seen: Set<UInt64> = []
        let batch = TakeoverSessions(sessions: [Self.session(id: 1), Self.session(id: 2, toService: 65536), Self.session(id: 3, toClient: 1)])
        try batch.check(descriptors: 2 + 4 + 4, seen: &seen, now: Self.now)
        #expect(seen == [1, 2, 3])
    }

    @Test(arguments: [
        ("another instance", "not prod's"),
        ("a descriptor short", "carries 3 descriptors, it describes 4"),
        ("negative sessions", "announces -1 sessions"),
        ("a listener that is no address", "is not an address"),
        ("a negative counter", "out of range"),
        ("a counter at the edge", "out of range"),
        ("a negative end reason count", "out of range"),
    ])
    func aFaultyState_isRefused(_ fault: String, _ expected: String) {
        var state = Self.state()
        var descriptors = 4
        switch fault {
        case "another instance": state.instance = "staging"
        case "a descriptor short": descriptors = 3
        case "negative sessions": state.sessions = -1
        case "a listener that is no address": state.listeners[1].bound = "localhost:6000"
        case "a negative counter": state.counters[0].sessionsTotal = -5
        case "a counter at the edge": state.counters[0].bytesOut = UInt64.max - 1
        default: state.counters[0].endReasons["reset"] = Int.min
        }
        #expect(throws: TakeoverError.self) { try state.check(instance: "prod", descriptors: descriptors) }
        do { try state.check(instance: "prod", descriptors: descriptors) } catch {
            #expect(error.description.contains(expected), "\(fault): \(error)")
        }
    }

    @Test(arguments: [
        ("negative descriptors", "-2 descriptors, its relay needs 2"),
        ("descriptors for a pipe it does not have", "4 descriptors, its relay needs 2"),
        ("negative bytes in flight", "-1 bytes in flight to the service"),
        ("a gigabyte and more in flight", "bytes in flight to the client"),
        ("bytes delivered at the edge", "bytes delivered to the service"),
        ("finished with bytes in flight", "finished to the client before its end or with bytes in flight"),
        ("the last id", "no room for another id"),
        ("a container id with a path in it", "is not a container id"),
        ("a holder id with a newline", "is not a container id"),
        ("accepted in the future", "accepted after now"),
        ("first byte before the accept", "first byte outside its life"),
        ("no service", "no service or daemon"),
    ])
    func aFaultySession_isRefused(_ fault: String, _ expected: String) {
        var session = Self.session()
        switch fault {
        case "negative descriptors": session.descriptors = -2
        case "descriptors for a pipe it does not have": session.descriptors = 4
        case "negative bytes in flight": session.relay.toService.inFlight = -1
        case "a gigabyte and more in flight":
            session.relay.toClient = RelayDirectionState(bytes: 0, sourceEOF: false, finished: false, inFlight: (1 << 30) + 1)
            session.descriptors = 4
        case "bytes delivered at the edge": session.relay.toService.bytes = UInt64.max
        case "finished with bytes in flight":
            session.relay.toClient.inFlight = 3
            session.descriptors = 4
        case "the last id": session.id = UInt64.max
        case "a container id with a path in it": session.containerID = "abc/../../images/create?fromImage=x"
        case "a holder id with a newline": session.holder?.containerID = "abc\r\nHost: x"
        case "accepted in the future": session.acceptedAt = Self.now + 1
        case "first byte before the accept": session.relay.firstByteToClientAt = 10
        default: session.service = ""
        }
        var seen: Set<UInt64> = []
        do {
            try TakeoverSessions(sessions: [session]).check(descriptors: max(session.descriptors, 0), seen: &seen, now: Self.now)
            Issue.record("\(fault): passed")
        } catch {
            #expect(error.description.contains(expected), "\(fault): \(error)")
        }
    }

    @Test func aHello_withAVersionThatIsNotOne_orNoPid_isRefused() throws {
        try TakeoverHello(instance: "prod", pid: 9, version: "0.1.0").check()
        for hello in [TakeoverHello(instance: "prod", pid: 9, version: "0.1\nfake log line"),
                      TakeoverHello(instance: "prod", pid: 9, version: String(repeating: "9", count: 65)),
                      TakeoverHello(instance: "prod", pid: 9, version: ""),
                      TakeoverHello(instance: "prod", pid: 0, version: "0.1.0")] {
            #expect(throws: TakeoverError.self, "\(hello)") { try hello.check() }
        }
    }

    @Test func aBatch_whoseDescriptorsDoNotAddUp_orThatRepeatsAnId_isRefused() {
        var seen: Set<UInt64> = [1]
        let repeated = TakeoverSessions(sessions: [Self.session(id: 2), Self.session(id: 1)])
        #expect(throws: TakeoverError.self) { try repeated.check(descriptors: 4, seen: &seen, now: Self.now) }
        seen = []
        let twice = TakeoverSessions(sessions: [Self.session(id: 5), Self.session(id: 5)])
        do { try twice.check(descriptors: 4, seen: &seen, now: Self.now) } catch { #expect(error.description.contains("described twice")) }
        seen = []
        let short = TakeoverSessions(sessions: [Self.session(id: 8), Self.session(id: 9, toService: 1)])
        do {
            try short.check(descriptors: 5, seen: &seen, now: Self.now)
            Issue.record("a batch one descriptor short passed")
        } catch {
            #expect(error.description.contains("carries 5 descriptors, its sessions need 6"), "\(error)")
        }
    }

    @Test(arguments: [
        ("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", true),
        ("0123456789ab", true),
        ("", false),
        (String(repeating: "a", count: 65), false),
        ("ABCDEF", false),
        ("abc/../x", false),
        ("abc?x=1", false),
        ("abc\r\n", false),
        ("sha256:abc", false),
    ])
    func dockerID_acceptsOnlyLowercaseHexUpTo64(_ id: String, _ valid: Bool) {
        #expect(DockerID.isValid(id) == valid, "\(id.debugDescription)")
    }

    /// The fuzzer's seeds are honest messages (so it starts from inputs that reach past the
    /// checks): they decode, and the state and the batch pass with the descriptors they describe.
    @Test func theFuzzSeeds_decodeAndPass() throws {
        func body(_ name: String) throws -> (TakeoverFrame.Kind, [UInt8]) {
            let bytes = try #require(readFile(packageRoot() + "/Fuzz/seeds/takeover/" + name), "Fuzz/seeds/takeover/\(name)")
            return try TakeoverFrame.decode(bytes)
        }
        let (stateKind, statePayload) = try body("state")
        #expect(stateKind == .state)
        let state = try TakeoverFrame.body(TakeoverState.self, statePayload)
        try state.check(instance: state.instance, descriptors: state.listeners.count + 2)
        let (sessionsKind, sessionsPayload) = try body("sessions")
        #expect(sessionsKind == .sessions)
        let batch = try TakeoverFrame.body(TakeoverSessions.self, sessionsPayload)
        var seen: Set<UInt64> = []
        try batch.check(descriptors: batch.sessions.reduce(0) { $0 + $1.descriptors }, seen: &seen, now: 1 << 40)
        #expect(batch.sessions.count == 3 && seen.count == 3)
    }
}
