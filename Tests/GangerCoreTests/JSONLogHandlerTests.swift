import Testing
@testable import GangerCore

@Suite struct JSONLogHandlerTests {
    @Test func quote_escapesWhatJSONRequires() {
        #expect(JSONLogHandler.quote("a\"b\\c\nd\u{01}é") == #""a\"b\\c\nd\u0001é""#)
    }

    @Test func timestamp_isRFC3339UTCWithMilliseconds() {
        let ts = JSONLogHandler.timestamp()
        #expect(ts.count == 24)
        #expect(ts.hasSuffix("Z"))
        #expect(ts.dropFirst(10).first == "T")
    }
}
