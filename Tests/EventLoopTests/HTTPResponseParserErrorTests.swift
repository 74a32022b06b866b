import Testing
@testable import EventLoop

@Suite struct HTTPResponseParserErrorTests {
    /// The error for `text`, required to be the same however the bytes are split.
    func error(_ text: String, eof: Bool = false, limits: HTTPResponseParser.Limits = .init()) -> HTTPParseError? {
        let input = bytes(text)
        let whole = responseError(input, eof: eof, limits: limits)
        // Splitting a long input every way is quadratic; its short cousins cover the splits.
        for pieces in input.count < 1000 ? everySplit(input) : [] {
            let split: HTTPParseError?
            do {
                _ = try parseResponses(pieces, eof: eof, limits: limits)
                split = nil
            } catch {
                split = error
            }
            #expect(split == whole, "pieces: \(pieces.map(\.count))")
        }
        return whole
    }

    @Test func malformedStatusLines() {
        #expect(error("SSH-2.0-OpenSSH_9.6\r\n\r\n") == .malformedStatusLine("SSH-2.0-OpenSSH_9.6"))
        #expect(error("HTTP/1.1 20 OK\r\n\r\n") == .malformedStatusLine("HTTP/1.1 20 OK"))
        #expect(error("HTTP/1.1 2000 OK\r\n\r\n") == .malformedStatusLine("HTTP/1.1 2000 OK"))
        #expect(error("http/1.1 200 OK\r\n\r\n") == .malformedStatusLine("http/1.1 200 OK"))
        #expect(error("HTTP/2.0 200 OK\r\n\r\n") == .unsupportedVersion("HTTP/2.0"))
        #expect(error("HTTP/1.1 200 \u{1}\r\n\r\n") == .malformedStatusLine("HTTP/1.1 200 \\x01"))
        #expect(error("HTTP/1.1 200 OK\r\n\r\n").map(\.statusCode) == nil)
    }

    @Test func malformedHeaders() {
        #expect(error("HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n") == .malformedHeader("No colon here"))
        #expect(error("HTTP/1.1 200 OK\r\nName : v\r\n\r\n") == .malformedHeader("Name : v"))
        #expect(error("HTTP/1.1 200 OK\r\n: v\r\n\r\n") == .malformedHeader(": v"))
        #expect(error("HTTP/1.1 200 OK\r\n folded\r\n\r\n") == .malformedHeader(" folded"))
        #expect(error("HTTP/1.1 200 OK\r\nA: b\u{0}c\r\n\r\n") == .malformedHeader("A: b\\x00c"))
    }

    @Test func badContentLengths() {
        #expect(error("HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n") == .invalidContentLength("12a"))
        #expect(error("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n") == .invalidContentLength("-1"))
        #expect(error("HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n") == .invalidContentLength(""))
        #expect(error("HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456789\r\n\r\n")
            == .invalidContentLength("1234567890123456789"))
        #expect(error("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n")
            == .conflictingContentLength("3", "4"))
        #expect(error("HTTP/1.1 200 OK\r\nContent-Length: 3, 5\r\n\r\n") == .conflictingContentLength("3", "5"))
        // Identical duplicates are one length (RFC 9110 §8.6).
        #expect(error("HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\nabc") == nil)
    }

    @Test func badChunkFraming() {
        let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        #expect(error(head + "xyz\r\n") == .invalidChunkSize("expected a hex digit, got \"x\""))
        #expect(error(head + "5x\r\nhello\r\n") == .invalidChunkSize("unexpected \"x\" after the size"))
        #expect(error(head + "\r\n") == .invalidChunkSize("expected a hex digit, got \"\\x0D\""))
        #expect(error(head + "1000000000000000\r\n") == .invalidChunkSize("more than 15 hex digits"))
        #expect(error(head + "3\r\nabcd\r\n") == .malformedChunk("chunk data longer than its declared size (no CRLF after it)"))
        #expect(error(head + "3\r\nabc\rX") == .malformedChunk("CR without LF after chunk data"))
        let longExtension = "1;" + String(repeating: "e", count: 5000) + "\r\n"
        #expect(error(head + longExtension) == .malformedChunk("chunk-size line longer than 4096 bytes"))
        let hugeTrailer = "0\r\nX: " + String(repeating: "t", count: 17000) + "\r\n\r\n"
        #expect(error(head + hugeTrailer) == .trailersTooLarge(limit: 16 * 1024))
    }

    @Test func chunkSizeLine_mustEndInCRLF_andItsExtensionsFollowTheGrammar() {
        let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        // A bare CR, a bare LF.
        #expect(error(head + "5\rhello\r\n0\r\n\r\n") == .malformedChunk("CR without LF at the end of a chunk-size line"))
        #expect(error(head + "5\nhello\r\n0\r\n\r\n") == .malformedChunk("bare LF in a chunk-size line (it must end in CRLF)"))
        #expect(error(head + "5;a=b\nhello\r\n0\r\n\r\n") == .malformedChunk("bare LF in a chunk-size line (it must end in CRLF)"))
        #expect(error(head + "5;a\r\rhello\r\n") == .malformedChunk("CR without LF at the end of a chunk-size line"))
        // Bytes no extension may hold: control bytes, a name that is not a token, `=` without a value.
        #expect(error(head + "5;a\u{01}b\r\nhello\r\n") == .malformedChunk("chunk extension: unexpected \"\\x01\""))
        #expect(error(head + "5;\"q\"\r\nhello\r\n") == .malformedChunk("chunk extension: unexpected \"\"\""))
        #expect(error(head + "5;a=\r\nhello\r\n") == .malformedChunk("chunk extension: unexpected \"\\x0D\""))
        #expect(error(head + "5;a=b c\r\nhello\r\n") == .malformedChunk("chunk extension: unexpected \"c\""))
        #expect(error(head + "5;a=\"x\u{7F}\"\r\nhello\r\n") == .malformedChunk("chunk extension: unexpected \"\\x7F\""))
        #expect(error(head + "5 x\r\nhello\r\n") == .invalidChunkSize("unexpected \"x\" after the size"))
        // What the grammar allows: BWS around `;` and `=`, several extensions, quoted strings
        // with escapes and `;`, names without values.
        for line in ["5;a", "5 ;a", "5\t; a = b", "5;a=b;c", "5;a=\"x;y\\\"z\";b", "5;a=\"\"", "5;a ;b=c "] {
            #expect(error(head + line + "\r\nhello\r\n0\r\n\r\n") == nil, "\(line)")
        }
    }

    @Test func oversizeHead_isRejectedAtTheLimit() {
        let small = HTTPResponseParser.Limits(maxHeadBytes: 40, maxHeaderCount: 100)
        // 40 bytes exactly, including the final CRLF: accepted.
        #expect(error("HTTP/1.1 200 OK\r\nX: 1234567890123456\r\n\r\n", limits: small) == nil)
        #expect(error("HTTP/1.1 200 OK\r\nX: 12345678901234567\r\n\r\n", limits: small) == .headTooLarge(limit: 40))
        #expect(error(String(repeating: "A", count: 41), limits: small) == .headTooLarge(limit: 40))

        let big = "HTTP/1.1 200 OK\r\nX-Big: " + String(repeating: "b", count: 64 * 1024) + "\r\n\r\n"
        #expect(responseError(bytes(big)) == .headTooLarge(limit: 64 * 1024))
        #expect(responseError(bytes(big))?.statusCode == 431)
    }

    @Test func tooManyHeaders() {
        let limits = HTTPResponseParser.Limits(maxHeadBytes: 1024, maxHeaderCount: 2)
        #expect(error("HTTP/1.1 204 No Content\r\nA: 1\r\nB: 2\r\n\r\n", limits: limits) == nil)
        #expect(error("HTTP/1.1 204 No Content\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", limits: limits)
            == .tooManyHeaders(limit: 2))
    }

    @Test func connectionClosedEarly_isReportedWithCounts() {
        #expect(error("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", eof: true)
            == .bodyCutShort(received: 3, expected: 10))
        #expect(error("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n2\r\nx", eof: true)
            == .bodyCutShort(received: 5, expected: nil))
        #expect(error("HTTP/1.1 200 OK\r\nContent-", eof: true) == .headCutShort(received: 25))
        #expect(error("", eof: true) == nil)
    }

    /// Found by `make fuzz` (http-response): with a bad status line and a bad header, a reply
    /// read whole failed on the header and one cut after the status line on the status line.
    @Test func badStatusLineAndBadHeader_failOnTheStatusLine_howeverCut() {
        // The fuzzer's input after its control byte: "\0\x0E\n[\n\n".
        #expect(error("\u{0}\u{0E}\n[\n\n") == .malformedStatusLine("\\x00\\x0E"))
        #expect(error("HTTP/2.0 200 OK\r\nNo colon here\r\n\r\n") == .unsupportedVersion("HTTP/2.0"))
    }

    /// Found by `make fuzz` (http-response): a head over the header-count limit failed on the
    /// limit when read whole and on its bad status line when cut after it.
    @Test func badStatusLineOverTheLimits_failsOnTheStatusLine_howeverCut() {
        let limits = HTTPResponseParser.Limits(maxHeadBytes: 4096, maxHeaderCount: 3)
        let head = "HTT\u{7F}P/1.1 409 Conflict\r\n" + String(repeating: "A: b\r\n", count: 5) + "\r\n"
        #expect(error(head, limits: limits) == .malformedStatusLine("HTT\\x7FP/1.1 409 Conflict"))
        let long = "HTTP/2.0 200 OK\r\nA: " + String(repeating: "b", count: 5000) + "\r\n\r\n"
        #expect(error(long, limits: limits) == .unsupportedVersion("HTTP/2.0"))
    }

    @Test func nonHTTPBanner_failsAsSoonAsItsFirstLineEnds() {
        // A service on the wrong port greets and waits; the head would never complete.
        var parser = HTTPResponseParser()
        #expect(throws: HTTPParseError.malformedStatusLine("SSH-2.0-OpenSSH_9.6")) {
            try parser.feed(bytes("SSH-2.0-OpenSSH_9.6\r\n"))
        }
    }

    @Test func afterAnError_everyCallThrowsIt() {
        var parser = HTTPResponseParser()
        #expect(throws: HTTPParseError.malformedStatusLine("garbage")) { try parser.feed(bytes("garbage\r\n")) }
        #expect(throws: HTTPParseError.malformedStatusLine("garbage")) {
            try parser.feed(bytes("HTTP/1.1 204 No Content\r\n\r\n"))
        }
        #expect(throws: HTTPParseError.malformedStatusLine("garbage")) { try parser.finishOnEOF() }
        #expect(!parser.isConnectionReusable)
    }

    @Test func descriptions_sayWhatIsWrong() {
        #expect(HTTPParseError.invalidContentLength("12a").description
            == "invalid Content-Length \"12a\": expected a decimal number of bytes")
        #expect(HTTPParseError.bodyCutShort(received: 3, expected: 10).description.hasPrefix(
            "connection closed after 3 of 10 body bytes"))
    }
}
