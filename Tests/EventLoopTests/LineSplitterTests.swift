import Testing
@testable import EventLoop

@Suite struct LineSplitterTests {
    @Test func jsonLines_everySplit_giveTheSameLines() throws {
        let input = bytes("{\"status\":\"create\"}\n{\"status\":\"start\"}\r\n\n{\"status\":\"die\"}")
        for pieces in everySplit(input) {
            var splitter = LineSplitter()
            var lines: [[UInt8]] = []
            for piece in pieces { lines += try splitter.feed(piece) }
            #expect(lines == [bytes("{\"status\":\"create\"}"), bytes("{\"status\":\"start\"}")])
            #expect(splitter.finish() == bytes("{\"status\":\"die\"}"))
        }
    }

    @Test func lineIsReturned_whenItsNewlineArrives() throws {
        var splitter = LineSplitter()
        #expect(try splitter.feed(bytes("{\"progress\":")) == [])
        #expect(try splitter.feed(bytes("\"[==>  ]\"}\n{\"id\"")) == [bytes("{\"progress\":\"[==>  ]\"}")])
        #expect(try splitter.feed(bytes(":1}\n")) == [bytes("{\"id\":1}")])
        #expect(splitter.finish() == nil)
    }

    @Test func lineLongerThanTheLimit_throws() throws {
        var exact = LineSplitter(maxLineLength: 4)
        #expect(try exact.feed(bytes("abcd\r\nef")) == [bytes("abcd")])
        var partial = LineSplitter(maxLineLength: 4)
        _ = try partial.feed(bytes("abc"))
        #expect(throws: LineSplitterError.lineTooLong(limit: 4)) { try partial.feed(bytes("de")) }
        var whole = LineSplitter(maxLineLength: 4)
        #expect(throws: LineSplitterError.lineTooLong(limit: 4)) { try whole.feed(bytes("abcde\n")) }
        #expect(LineSplitterError.lineTooLong(limit: 4).description.hasPrefix("a line of the stream exceeds 4 bytes"))
    }
}
