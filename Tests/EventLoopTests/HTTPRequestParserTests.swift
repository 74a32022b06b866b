import Testing
@testable import EventLoop

@Suite struct HTTPRequestParserTests {
    /// Feeds `pieces` and returns every event; throws the parser's error.
    func events(_ pieces: [[UInt8]], limits: HTTPRequestParser.Limits = .init()) throws(HTTPParseError) -> [HTTPRequestEvent] {
        var parser = HTTPRequestParser(limits: limits)
        var result: [HTTPRequestEvent] = []
        for piece in pieces { result += try parser.feed(piece) }
        return result
    }

    /// Merges adjacent body events, whose boundaries depend on how the bytes arrived.
    func normalized(_ events: [HTTPRequestEvent]) -> [HTTPRequestEvent] {
        var result: [HTTPRequestEvent] = []
        for event in events {
            if case .body(let more) = event, case .body(let before)? = result.last {
                result[result.count - 1] = .body(before + more)
            } else {
                result.append(event)
            }
        }
        return result
    }

    /// The error for `text`, required to be the same however the bytes are split.
    func error(_ text: String, limits: HTTPRequestParser.Limits = .init()) -> HTTPParseError? {
        var found: [HTTPParseError?] = []
        for pieces in everySplit(bytes(text)) {
            do {
                _ = try events(pieces, limits: limits)
                found.append(nil)
            } catch {
                found.append(error)
            }
        }
        #expect(Set(found.map { $0.map(\.description) ?? "none" }).count == 1)
        return found[0]
    }

    @Test func pipelinedRequests_everySplit_giveTheSameEvents() throws {
        let input = bytes(
            "GET /status.json HTTP/1.1\r\nHost: localhost:5480\r\nAccept: */*\r\n\r\n"
                + "POST /reload HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody"
                + "\r\nGET /metrics HTTP/1.0\r\n\r\n")
        let expected: [HTTPRequestEvent] = [
            .head(HTTPRequestHead(method: .get, target: "/status.json", version: .http1_1,
                                  headers: ["Host": "localhost:5480", "Accept": "*/*"])),
            .end,
            .head(HTTPRequestHead(method: .post, target: "/reload", headers: ["Host": "x", "Content-Length": "4"])),
            .body(bytes("body")),
            .end,
            // The stray CRLF after the POST body is ignored (RFC 9112 §2.2).
            .head(HTTPRequestHead(method: .get, target: "/metrics", version: .http1_0)),
            .end,
        ]
        for pieces in everySplit(input) {
            #expect(try normalized(events(pieces)) == expected, "pieces: \(pieces.map(\.count))")
        }
    }

    @Test func keepAlive_followsVersionAndConnectionHeader() {
        #expect(HTTPRequestHead(method: .get, target: "/").isKeepAlive)
        #expect(!HTTPRequestHead(method: .get, target: "/", headers: ["Connection": "close"]).isKeepAlive)
        #expect(!HTTPRequestHead(method: .get, target: "/", version: .http1_0).isKeepAlive)
        #expect(HTTPRequestHead(method: .get, target: "/", version: .http1_0, headers: ["connection": "keep-alive"]).isKeepAlive)
    }

    @Test func isIdle_onlyBetweenRequests() throws {
        var parser = HTTPRequestParser()
        #expect(parser.isIdle)
        _ = try parser.feed(bytes("GET / HT"))
        #expect(!parser.isIdle)
        _ = try parser.feed(bytes("TP/1.1\r\n\r\n"))
        #expect(parser.isIdle)
    }

    /// Found by `make fuzz` (http-request): with a bad request line and a bad header, a request
    /// read whole failed on the header and one cut after the request line on the request line,
    /// so the answer's status (505 or 400) depended on how the network cut the bytes.
    @Test func badRequestLineAndBadHeader_failOnTheRequestLine_howeverCut() {
        // The fuzzer's input: "\x08\n\x04\xE3\n\n" (the \xE3 as a whole character here).
        #expect(error("\u{8}\n\u{4}\u{E3}\n\n") == .malformedRequestLine("\\x08"))
        #expect(error("GET / HTTP/2.0\r\nNo colon here\r\n\r\n").map(\.statusCode) == 505)
    }

    /// Found by `make fuzz` (http-request): a head over the header-count limit with a bad
    /// request line got 431 when read whole and 400 when cut after the request line.
    @Test func badRequestLineOverTheLimits_failsOnTheRequestLine_howeverCut() {
        let limits = HTTPRequestParser.Limits(maxHeadBytes: 4096, maxHeaderCount: 3)
        // The fuzzer's input began "GEPOST G\n\r\nTo\n…" with more than 64 header lines.
        let head = "GEPOST G\n" + String(repeating: "A: b\r\n", count: 5) + "\r\n"
        #expect(error(head, limits: limits) == .malformedRequestLine("GEPOST G"))
        #expect(error("GET / HTTP/2.0\r\nA: " + String(repeating: "b", count: 5000) + "\r\n\r\n", limits: limits)
            .map(\.statusCode) == 505)
    }

    @Test func malformedRequestLines_answer400() {
        #expect(error("GET /\r\n\r\n") == .malformedRequestLine("GET /"))
        #expect(error("GET  / HTTP/1.1\r\n\r\n") == .malformedRequestLine("GET  / HTTP/1.1"))
        #expect(error("GET / HTTP/1.1 \r\n\r\n") == .malformedRequestLine("GET / HTTP/1.1 "))
        #expect(error("G(T / HTTP/1.1\r\n\r\n") == .malformedRequestLine("G(T / HTTP/1.1"))
        #expect(error("GET / FTP/1.1\r\n\r\n") == .malformedRequestLine("GET / FTP/1.1"))
        #expect(error("\u{16}\u{3}\u{1}\r\n") == .malformedRequestLine("\\x16\\x03\\x01"))
        #expect(error("GET / HTTP/1.1\r\n\r\n") == nil)
        #expect(HTTPParseError.malformedRequestLine("x").statusCode == 400)
    }

    @Test func otherVersions_answer505() {
        #expect(error("PRI * HTTP/2.0\r\n\r\n") == .unsupportedVersion("HTTP/2.0"))
        #expect(error("GET / HTTP/1.10\r\n\r\n") == .unsupportedVersion("HTTP/1.10"))
        #expect(HTTPParseError.unsupportedVersion("HTTP/2.0").statusCode == 505)
    }

    @Test func malformedHeaders_andFolding_answer400() {
        #expect(error("GET / HTTP/1.1\r\nHost : x\r\n\r\n") == .malformedHeader("Host : x"))
        #expect(error("GET / HTTP/1.1\r\nA: 1\r\n continued\r\n\r\n") == .malformedHeader(" continued"))
        #expect(error("GET / HTTP/1.1\r\nA: 1\r2\r\n\r\n") == .malformedHeader("A: 1\\x0D2"))
    }

    @Test func oversizeHeadAndTooManyHeaders_answer431() {
        let limits = HTTPRequestParser.Limits(maxHeadBytes: 32, maxHeaderCount: 1, maxBodyBytes: 10)
        #expect(error("GET / HTTP/1.1\r\nA: 123456789\r\n\r\n", limits: limits) == nil)  // 32 bytes
        #expect(error("GET / HTTP/1.1\r\nA: 1234567890\r\n\r\n", limits: limits) == .headTooLarge(limit: 32))
        #expect(error("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n", limits: limits) == .tooManyHeaders(limit: 1))
        let defaultLimit = "GET / HTTP/1.1\r\nX: " + String(repeating: "x", count: 16 * 1024) + "\r\n\r\n"
        #expect(throws: HTTPParseError.headTooLarge(limit: 16 * 1024)) { try events([bytes(defaultLimit)]) }
        #expect(HTTPParseError.headTooLarge(limit: 1).statusCode == 431)
        #expect(HTTPParseError.tooManyHeaders(limit: 1).statusCode == 431)
    }

    @Test func bodies_areBoundedAndMustHaveALength() {
        let limits = HTTPRequestParser.Limits(maxHeadBytes: 1024, maxHeaderCount: 10, maxBodyBytes: 10)
        #expect(error("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789", limits: limits) == nil)
        #expect(error("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", limits: limits)
            == .bodyTooLarge(length: 11, limit: 10))
        #expect(error("POST / HTTP/1.1\r\nContent-Length: ten\r\n\r\n") == .invalidContentLength("ten"))
        #expect(error("POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n") == .chunkedRequestBody)
        #expect(error("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")
            == .unsupportedTransferEncoding("gzip, chunked"))
        #expect(error("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n")
            == .contentLengthWithTransferEncoding)
        #expect(HTTPParseError.bodyTooLarge(length: 11, limit: 10).statusCode == 413)
        #expect(HTTPParseError.chunkedRequestBody.statusCode == 411)
        #expect(HTTPParseError.unsupportedTransferEncoding("gzip").statusCode == 501)
        #expect(HTTPParseError.contentLengthWithTransferEncoding.statusCode == 400)
    }

    @Test func eofInsideARequest_isReported() throws {
        var parser = HTTPRequestParser()
        _ = try parser.feed(bytes("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab"))
        #expect(throws: HTTPParseError.bodyCutShort(received: 2, expected: 5)) { try parser.finishOnEOF() }

        var idle = HTTPRequestParser()
        _ = try idle.feed(bytes("GET / HTTP/1.1\r\n\r\n"))
        try idle.finishOnEOF()
    }
}
