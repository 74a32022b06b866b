import GangerCore
import Testing

/// The lease's rules without a daemon: who holds an instance, when a lease lapses, and what a
/// process does when another one created its lease at the same time.
@Suite struct InstanceLeaseRuleTests {
    func lease(_ boot: String, host: String = "h1", pid: Int32 = 100, expires: Int, id: String? = nil) -> InstanceLease.Record {
        InstanceLease.Record(id: id ?? "id-\(boot)", boot: boot, host: host, pid: pid, expires: expires, created: 0)
    }

    @Test func anotherBootsUnexpiredLease_onAnotherHost_holdsTheInstance() {
        let other = lease("b", host: "h2", expires: 1_030)
        #expect(InstanceLease.check([other], boot: "a", now: 1_000, host: "h1") { _ in false } == .held(by: other))
    }

    @Test func anExpiredLease_lapses_andIsToBeRemoved() {
        let old = lease("b", host: "h2", expires: 999)
        #expect(InstanceLease.check([old], boot: "a", now: 1_000, host: "h1") { _ in true } == .free(lapsed: [old.id]))
    }

    @Test func sameHost_holderPidGone_lapsesAtOnce_evenBeforeItsExpiry() {
        let killed = lease("b", host: "h1", pid: 4242, expires: 1_030)
        #expect(InstanceLease.check([killed], boot: "a", now: 1_000, host: "h1") { $0 != 4242 } == .free(lapsed: [killed.id]))
        #expect(InstanceLease.check([killed], boot: "a", now: 1_000, host: "h1") { _ in true } == .held(by: killed))
    }

    @Test func ourOwnLease_isNeitherHeldNorLapsed() {
        #expect(InstanceLease.check([lease("a", expires: 1)], boot: "a", now: 1_000, host: "h1") { _ in false } == .free(lapsed: []))
    }

    @Test func afterCreating_aLiveRival_meansOursMustGo_andBothRacersSeeingEachOtherBothGiveUp() {
        let mine = lease("a", expires: 1_030)
        let theirs = lease("b", host: "h2", expires: 1_030)
        #expect(InstanceLease.rival([mine, theirs], boot: "a", now: 1_000, host: "h1") { _ in true } == theirs)
        #expect(InstanceLease.rival([mine, theirs], boot: "b", now: 1_000, host: "h2") { _ in true } == mine)
        #expect(InstanceLease.rival([mine], boot: "a", now: 1_000, host: "h1") { _ in true } == nil)
    }

    @Test func aListedContainer_readsBackAsALease_fromItsLabelsAndName() throws {
        let summary = ContainerSummary(id: "c1", labels: [
            "ganger.role": "lease", "ganger.boot": "b", "ganger.host": "h2", "ganger.pid": "77", "ganger.lease": "shared",
        ], state: "created", names: ["/" + InstanceLease.name(instance: "shared", boot: "b", expires: 1_234)], created: 5)
        let record = try #require(InstanceLease.Record(summary))
        #expect(record == InstanceLease.Record(id: "c1", boot: "b", host: "h2", pid: 77, expires: 1_234, created: 5))
        #expect(InstanceLease.Record(ContainerSummary(id: "c2", labels: ["ganger.role": "holder"], state: "running")) == nil)
    }
}
