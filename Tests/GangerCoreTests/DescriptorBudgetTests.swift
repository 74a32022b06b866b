import EventLoop
import Glibc
import Testing
@testable import GangerCore

@Suite struct DescriptorBudgetTests {
    @Test func admitsUntilOpenPlusReserveReachesTheLimit_thenRefuses_untilARecountFindsRoom() {
        var open = 100
        let budget = DescriptorBudget(limit: 256, count: { open })
        // Reserve for 4 more sessions: 32 + 5 × 4 = 52; room for 256 - 100 - 52 = 104 clients.
        #expect(budget.reserve(capacity: 4) == 52)
        var admitted = 0
        while admitted < 1000, budget.admit(now: 1, capacity: 4) { admitted += 1 }
        #expect(admitted == 104)
        #expect(!budget.admit(now: 50_000_000, capacity: 4), "no recount within 100 ms: still full")
        open = 120
        #expect(budget.admit(now: 200_000_000, capacity: 4), "a recount finds room again")
    }

    @Test func reserve_isAtMostHalfTheLimit_soASmallLimitStillAdmits() {
        let budget = DescriptorBudget(limit: 256, count: { 10 })
        #expect(budget.reserve(capacity: 1_000_000) == 128)
        #expect(budget.admit(now: 0, capacity: 1_000_000))
    }

    @Test func countOpen_countsThisProcesssDescriptors() throws {
        let open = try #require(DescriptorBudget.countOpen())
        #expect(open >= 3 && open < DescriptorBudget.raiseLimit().now, "\(open)")
    }

    @Test func raiseLimit_softReachesHard() {
        let limits = DescriptorBudget.raiseLimit()
        #expect(limits.now == limits.hard && limits.before <= limits.now)
    }
}

@Suite struct LocalShortageTests {
    @Test func emfileOnTheWayToTheDaemon_isLocal_notTransport() {
        for code in [EMFILE, ENFILE, ENOBUFS, ENOMEM] {
            let error = DockerError.transport("tcp://10.0.0.1:2376", "create", .io(SyscallError("socket", errno: code)))
            #expect(error.isLocal && !error.isTransport, "errno \(code)")
            #expect(!LaunchMachine.CallFailure(error).isTransport)
            #expect(error.description.contains("not the daemon's fault"))
        }
        let refused = DockerError.transport("tcp://10.0.0.1:2376", "create", .io(SyscallError("connect", errno: ECONNREFUSED)))
        #expect(refused.isTransport && !refused.isLocal)
        #expect(DockerError.transport("d", "ping", .timedOut(.seconds(2))).isTransport)
    }

    // What the launch breaker counts (`LaunchBreaker`): an answer that made nothing usable, an
    // error status or a body of the wrong shape; never a local shortage or silence.
    @Test func refusals_areErrorStatusesAndWrongShapes_neverShortagesOrSilence() {
        let status = DockerError(daemon: "d", call: "create", kind: .status(404), message: "No such image: echo:latest")
        let shape = DockerError(daemon: "d", call: "create", kind: .decoding("no Id"), message: "create: the answer has no Id")
        let local = DockerError.transport("d", "create", .io(SyscallError("socket", errno: EMFILE)))
        let silent = DockerError.transport("d", "create", .timedOut(.seconds(2)))
        #expect(status.isRefusal && LaunchMachine.CallFailure(status).isRefusal)
        #expect(shape.isRefusal && LaunchMachine.CallFailure(shape).isRefusal)
        #expect(!local.isRefusal && !LaunchMachine.CallFailure(local).isRefusal)
        #expect(!silent.isRefusal && !LaunchMachine.CallFailure(silent).isRefusal)
    }
}

/// The names of creates given up (`DaemonRuntime.lostNames`): found with or without dockerd's
/// leading "/", once, and never more than `LostNames.limit` (the oldest go first).
@Suite struct LostNamesTests {
    @Test func aNameIsTakenOnce_withOrWithoutTheSlash() {
        var names = LostNames()
        names.insert("ganger-i-b-1")
        names.insert("ganger-i-b-2")
        let first = names.take("/ganger-i-b-1")
        let again = names.take("ganger-i-b-1")
        let second = names.take("ganger-i-b-2")
        #expect(first && !again && second)
        #expect(names.count == 0)
    }

    @Test func theOldestGo_pastTheLimit() {
        var names = LostNames()
        for i in 0..<(LostNames.limit + 10) { names.insert("n\(i)") }
        #expect(names.count == LostNames.limit)
        let oldest = [names.take("n0"), names.take("n9")]
        let kept = [names.take("n10"), names.take("n\(LostNames.limit + 9)")]
        #expect(oldest == [false, false] && kept == [true, true])
    }
}
