import EventLoop
import FoundationEssentials
@testable import GangerCore

/// The takeover protocol as the new process reads it (`TakeoverHeir`): a frame, its JSON body
/// and the checks on the state and on each batch of sessions (`TakeoverChecks`). Input: one
/// message, header included. No descriptors come with a fuzz input: each check is run with the
/// count the message itself describes, and with one more.
///
/// Properties: nothing traps; a state or batch that passes is refused with one descriptor
/// more; a batch that passes gives each session exactly the descriptors its relay reads (2, 4
/// or 6) and no id twice; a state that passes encodes and decodes back to itself.
enum TakeoverTarget {
    static let now: UInt64 = 1 << 40

    static func run(_ input: [UInt8]) {
        guard let (kind, payload) = try? TakeoverFrame.decode(input) else { return }
        require(payload.count == input.count - TakeoverFrame.headerSize, "\(kind): a payload of \(payload.count) from \(input.count) bytes")
        if let hello = try? TakeoverFrame.body(TakeoverHello.self, payload), (try? hello.check()) != nil {
            require(!hello.version.contains("\n") && hello.version.utf8.count <= 64, "a hello passed with the version \(hello.version.debugDescription)")
        }
        _ = try? TakeoverFrame.body(TakeoverRefusal.self, payload)
        _ = try? TakeoverFrame.body(TakeoverEmpty.self, payload)
        if let state = try? TakeoverFrame.body(TakeoverState.self, payload) { check(state) }
        if let batch = try? TakeoverFrame.body(TakeoverSessions.self, payload) { check(batch) }
    }

    static func check(_ state: TakeoverState) {
        let described = state.expectedDescriptors
        guard (try? state.check(instance: state.instance, descriptors: described)) != nil else { return }
        require((try? state.check(instance: state.instance, descriptors: described + 1)) == nil, "a state passed with a descriptor too many")
        let again = (try? TakeoverFrame.encode(.state, state)).flatMap { try? TakeoverFrame.decode($0) }
            .flatMap { try? TakeoverFrame.body(TakeoverState.self, $0.payload) }
        // A state too big to encode again (over maxBytes) cannot have been sent whole either.
        if let again { require(again == state, "a state does not read back as itself") }
    }

    static func check(_ batch: TakeoverSessions) {
        var described = 0
        for session in batch.sessions {
            let (sum, overflow) = described.addingReportingOverflow(session.descriptors)
            guard !overflow else { return }
            described = sum
        }
        var seen: Set<UInt64> = []
        guard (try? batch.check(descriptors: described, seen: &seen, now: now)) != nil else { return }
        require(seen.count == batch.sessions.count, "\(batch.sessions.count) sessions passed with \(seen.count) ids")
        for session in batch.sessions {
            require([2, 4, 6].contains(session.descriptors) && session.descriptors == session.expectedDescriptors,
                    "session \(session.id) passed with \(session.descriptors) descriptors")
            require(session.id < UInt64.max && DockerID.isValid(session.containerID), "session \(session.id) passed with its id or container id")
        }
        var again: Set<UInt64> = []
        require((try? batch.check(descriptors: described + 1, seen: &again, now: now)) == nil, "a batch passed with a descriptor too many")
    }
}
