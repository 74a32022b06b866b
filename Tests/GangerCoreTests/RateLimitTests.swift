import GangerCore
import Testing

/// New-connection rates (xinetd's `cps`, HAProxy's `rate-limit sessions`) in the scheduler, with
/// a manual clock.
@Suite struct RateLimitTests {
    static let second: UInt64 = 1_000_000_000

    static func scheduler(sourceRate: Double = 0, sourceBurst: Int = 0, acceptRate: Double = 0, acceptBurst: Int = 0) -> Scheduler {
        Scheduler(placement: Placement(capacities: [1000]), policies: [
            .init(queueMax: 1000, queueTimeout: 0, perSourceLimit: 0, sourceRate: sourceRate, sourceBurst: sourceBurst,
                  acceptRate: acceptRate, acceptBurst: acceptBurst),
        ])
    }

    @Test func aSourcePastItsBurst_isRefused_untilItsBucketRefills_otherSourcesAreNot() {
        var s = Self.scheduler(sourceRate: 2, sourceBurst: 3)
        for id in 0..<3 { #expect(s.admit(UInt64(id), service: 0, source: "a", now: 0) == .admitted(.daemon(0))) }
        #expect(s.admit(3, service: 0, source: "a", now: 0) == .refused(.sourceRate))
        #expect(s.admit(4, service: 0, source: "b", now: 0) == .admitted(.daemon(0)))
        // Half a second at 2/s is one token.
        #expect(s.admit(5, service: 0, source: "a", now: Self.second / 2) == .admitted(.daemon(0)))
        #expect(s.admit(6, service: 0, source: "a", now: Self.second / 2) == .refused(.sourceRate))
        // A refused client is not counted against its source's connections.
        #expect(s.perSource(0, "a") == 4)
    }

    @Test func theServiceAcceptRate_boundsEverySourceTogether() {
        var s = Self.scheduler(acceptRate: 10, acceptBurst: 2)
        #expect(s.admit(0, service: 0, source: "a", now: 0) == .admitted(.daemon(0)))
        #expect(s.admit(1, service: 0, source: "b", now: 0) == .admitted(.daemon(0)))
        #expect(s.admit(2, service: 0, source: "c", now: 0) == .refused(.acceptRate))
        #expect(s.admit(3, service: 0, source: "c", now: Self.second / 10) == .admitted(.daemon(0)))
    }

    @Test func rate0_isUnlimited() {
        var s = Self.scheduler()
        for id in 0..<500 { #expect(s.admit(UInt64(id), service: 0, source: "a", now: 0) == .admitted(.daemon(0))) }
    }

    @Test func theDefaults_are20ASecondFromOneSource_burst40_and500ForTheService() {
        let policy = Scheduler.Policy(ServiceConfig(name: "s", listen: HostPort(host: "127.0.0.1", port: 0), image: "i", port: 1))
        #expect(policy.sourceRate == 20 && policy.sourceBurst == 40)
        #expect(policy.acceptRate == 500 && policy.acceptBurst == 1000)
    }
}
