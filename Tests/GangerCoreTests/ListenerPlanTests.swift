import Testing
@testable import GangerCore

/// `ListenerPlan`: which socket each service uses after a reload, decided without a socket.
struct ListenerPlanTests {
    private func hp(_ text: String) -> HostPort {
        let colon = text.lastIndex(of: ":")!
        return HostPort(host: String(text[..<colon]), port: UInt16(text[text.index(after: colon)...])!)
    }

    /// A socket of `service` that asked for `asked` and got `bound` (the same unless port 0).
    private func open(_ service: String, _ asked: String, bound: String? = nil) -> ListenerPlan.Current {
        .init(service: service, asked: hp(asked), bound: hp(bound ?? asked))
    }

    private func plan(_ current: [ListenerPlan.Current], _ new: [(String, String)]) -> ListenerPlan {
        ListenerPlan(current: current, new: new.map { (service: $0.0, listen: hp($0.1)) })
    }

    private func sources(_ plan: ListenerPlan) -> [String: ListenerPlan.Source] {
        Dictionary(uniqueKeysWithValues: plan.assignments.map { ($0.service, $0.source) })
    }

    @Test func unchangedAddresses_keepTheirSockets_nothingBoundOrClosed() {
        let p = plan([open("a", "127.0.0.1:7001"), open("b", "127.0.0.1:7002")],
                     [("a", "127.0.0.1:7001"), ("b", "127.0.0.1:7002")])
        #expect(sources(p) == ["a": .keep, "b": .keep])
        #expect(p.closed.isEmpty)
    }

    @Test func swappedPorts_eachTakesTheOthersSocket_noBind() {
        let p = plan([open("a", "127.0.0.1:7001"), open("b", "127.0.0.1:7002")],
                     [("a", "127.0.0.1:7002"), ("b", "127.0.0.1:7001")])
        #expect(sources(p) == ["a": .handOver(from: "b"), "b": .handOver(from: "a")])
        #expect(p.closed.isEmpty)
    }

    @Test func threeWayRotation_isAllHandOvers() {
        let p = plan([open("a", "127.0.0.1:7001"), open("b", "127.0.0.1:7002"), open("c", "127.0.0.1:7003")],
                     [("a", "127.0.0.1:7002"), ("b", "127.0.0.1:7003"), ("c", "127.0.0.1:7001")])
        #expect(p.assignments.map(\.source) == [.handOver(from: "b"), .handOver(from: "c"), .handOver(from: "a")])
        #expect(p.closed.isEmpty)
    }

    @Test func newAddress_isBoundAfresh_andTheOldSocketClosed() {
        let p = plan([open("a", "127.0.0.1:7001"), open("b", "127.0.0.1:7002")],
                     [("a", "127.0.0.1:7009"), ("b", "127.0.0.1:7002")])
        #expect(sources(p) == ["a": .bind(hp("127.0.0.1:7009")), "b": .keep])
        #expect(p.closed == ["a"])
    }

    @Test func removedServicesSocket_goesToANewServiceOnItsAddress_orIsClosed() {
        let p = plan([open("a", "127.0.0.1:7001"), open("b", "127.0.0.1:7002")],
                     [("c", "127.0.0.1:7001")])
        #expect(sources(p) == ["c": .handOver(from: "a")])
        #expect(p.closed == ["b"])
    }

    @Test func addedService_onAFreeAddress_isBound() {
        let p = plan([open("a", "127.0.0.1:7001")], [("a", "127.0.0.1:7001"), ("n", "0.0.0.0:7005")])
        #expect(p.assignments.map(\.source) == [.keep, .bind(hp("0.0.0.0:7005"))])
        #expect(p.closed.isEmpty)
    }

    @Test func portZero_keptWhenAskedAgain_orWhenTheKernelsPortIsNowWritten() {
        let current = [open("a", "127.0.0.1:0", bound: "127.0.0.1:40001"), open("b", "127.0.0.1:0", bound: "127.0.0.1:40002")]
        #expect(sources(plan(current, [("a", "127.0.0.1:0"), ("b", "127.0.0.1:40002")])) == ["a": .keep, "b": .keep])
    }

    @Test func portZero_swapByTheKernelsPorts_handsOver_butANewPortZeroNeverTakesAnotherSocket() {
        let current = [open("a", "127.0.0.1:0", bound: "127.0.0.1:40001"), open("b", "127.0.0.1:0", bound: "127.0.0.1:40002")]
        let swapped = plan(current, [("a", "127.0.0.1:40002"), ("b", "127.0.0.1:40001")])
        #expect(sources(swapped) == ["a": .handOver(from: "b"), "b": .handOver(from: "a")])
        // `b` is gone and `c` asks for any port: a fresh one, not b's.
        let fresh = plan(current, [("a", "127.0.0.1:0"), ("c", "127.0.0.1:0")])
        #expect(sources(fresh) == ["a": .keep, "c": .bind(hp("127.0.0.1:0"))])
        #expect(fresh.closed == ["b"])
    }

    @Test func anAddressOnlyOverlappingAnOpenSocket_isBound_andThatSocketIsNamedAsTheHolder() {
        // 0.0.0.0:7001 → 127.0.0.1:7001 is another address: bound afresh, which the kernel
        // refuses while the wildcard socket is open; the plan names that socket.
        let p = plan([open("a", "0.0.0.0:7001")], [("a", "127.0.0.1:7001")])
        #expect(sources(p) == ["a": .bind(hp("127.0.0.1:7001"))])
        #expect(p.closed == ["a"])
        #expect(p.holder(of: hp("127.0.0.1:7001"))?.service == "a")
        #expect(p.holder(of: hp("127.0.0.1:7002")) == nil)
    }

    @Test func aSocketIsHandedOverOnce_evenIfTwoServicesAskForItsAddress() {
        // Validation refuses such a configuration; the plan still never gives one socket twice.
        let p = plan([open("a", "127.0.0.1:7001")], [("b", "127.0.0.1:7001"), ("c", "127.0.0.1:7001")])
        #expect(p.assignments.map(\.source) == [.handOver(from: "a"), .bind(hp("127.0.0.1:7001"))])
    }
}
