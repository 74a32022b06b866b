import Testing
@testable import GangerCore

@Suite struct TakeoverFrameTests {
    private struct Body: Codable, Equatable { var text: String; var number: Int }

    @Test func roundTrip() throws {
        let frame = try TakeoverFrame.encode(.hello, Body(text: "x", number: 3))
        #expect(Array(frame.prefix(4)) == Array("GNGT".utf8))
        let (kind, payload) = try TakeoverFrame.decode(frame)
        #expect(kind == .hello)
        #expect(try TakeoverFrame.body(Body.self, payload) == Body(text: "x", number: 3))
    }

    @Test func anotherVersionIsRefused() throws {
        var frame = try TakeoverFrame.encode(.ready, Body(text: "", number: 0))
        frame[5] &+= 1
        #expect(throws: TakeoverError.self) { try TakeoverFrame.decode(frame) }
        do { _ = try TakeoverFrame.decode(frame) } catch { #expect(error.description.contains("version")) }
    }

    @Test func garbageIsRefused() throws {
        #expect(throws: TakeoverError.self) { try TakeoverFrame.decode(Array("GET / HTTP/1.1\r\n\r\n".utf8)) }
        #expect(throws: TakeoverError.self) { try TakeoverFrame.decode([]) }
        var frame = try TakeoverFrame.encode(.ready, Body(text: "", number: 0))
        frame[6] = 99  // unknown kind
        #expect(throws: TakeoverError.self) { try TakeoverFrame.decode(frame) }
        var short = try TakeoverFrame.encode(.ready, Body(text: "abc", number: 0))
        short.removeLast()  // the length says one byte more
        #expect(throws: TakeoverError.self) { try TakeoverFrame.decode(short) }
        let (_, payload) = try TakeoverFrame.decode(try TakeoverFrame.encode(.ready, ["not": "a body"]))
        #expect(throws: TakeoverError.self) { try TakeoverFrame.body(Body.self, payload) }
    }

    @Test func oversizedMessagesAreNotEncoded() {
        let big = String(repeating: "a", count: TakeoverFrame.maxBytes)
        #expect(throws: TakeoverError.self) { try TakeoverFrame.encode(.state, Body(text: big, number: 0)) }
    }
}
