import Testing
@testable import EventLoop

@Suite struct HTTPResponseParserTests {
    /// Parses `input` delivered every possible way and requires identical results.
    func parsedEveryWay(
        _ input: [UInt8], methods: [HTTPMethod] = [], eof: Bool = false
    ) throws -> ParsedResponses {
        let whole = try parseResponses([input], methods: methods, eof: eof)
        for pieces in everySplit(input) {
            let split = try parseResponses(pieces, methods: methods, eof: eof)
            #expect(split == whole, "pieces: \(pieces.map(\.count))")
        }
        return whole
    }

    @Test func contentLength_everySplit_givesSameHeadAndBody() throws {
        let input = bytes("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{\"ok\":true}\n")
        let parsed = try parsedEveryWay(input)
        #expect(parsed.heads == [HTTPResponseHead(
            version: .http1_1, status: 200, reason: "OK",
            headers: ["Content-Type": "application/json", "Content-Length": "12"])])
        #expect(parsed.bodies == [bytes("{\"ok\":true}\n")])
        #expect(parsed.ends == 1)
        #expect(parsed.heads[0].headers["content-type"] == "application/json")
    }

    @Test func chunked_withExtensionsAndTrailers_everySplit_givesDecodedBody() throws {
        let input = bytes(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "5;name=value\r\nhello\r\n7 ; q=\"a;b\"\r\n, world\r\nA\r\n0123456789\r\n"
                + "0;last\r\nX-Trailer: one\r\nX-Other: two\r\n\r\n")
        let parsed = try parsedEveryWay(input)
        #expect(parsed.heads.map(\.status) == [200])
        #expect(parsed.bodies == [bytes("hello, world0123456789")])
        #expect(parsed.ends == 1)
    }

    @Test func closeDelimited_endsAtEOF_andConnectionIsNotReusable() throws {
        let input = bytes("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end\r\n\r\nof time")
        let parsed = try parsedEveryWay(input, eof: true)
        #expect(parsed.bodies == [bytes("until the end\r\n\r\nof time")])
        #expect(parsed.ends == 1)

        var parser = HTTPResponseParser()
        #expect(try parser.feed(input).last == .body(bytes("until the end\r\n\r\nof time")))
        #expect(try parser.finishOnEOF() == [.end])
        #expect(!parser.isConnectionReusable)
    }

    @Test func twoPipelinedKeepAliveResponses_inOneBuffer_bothParsed() throws {
        let input = bytes(
            "HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nfirst"
                + "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nsecond\r\n0\r\n\r\n")
        let parsed = try parsedEveryWay(input)
        #expect(parsed.heads.map(\.status) == [201, 200])
        #expect(parsed.heads.map(\.reason) == ["Created", "OK"])
        #expect(parsed.bodies == [bytes("first"), bytes("second")])
        #expect(parsed.ends == 2)

        var parser = HTTPResponseParser()
        let events = try parser.feed(input)
        #expect(events == [
            .head(HTTPResponseHead(status: 201, reason: "Created", headers: ["Content-Length": "5"])),
            .body(bytes("first")), .end,
            .head(HTTPResponseHead(status: 200, reason: "OK", headers: ["Transfer-Encoding": "chunked"])),
            .body(bytes("second")), .end,
        ])
        #expect(parser.isConnectionReusable)
    }

    @Test func continueThenFinalResponse_skipsTheInterimResponse() throws {
        let input = bytes(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nX: y\r\n\r\n"
                + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        let parsed = try parsedEveryWay(input, methods: [.post])
        #expect(parsed.heads.map(\.status) == [200])
        #expect(parsed.bodies == [bytes("ok")])
        #expect(parsed.ends == 1)
    }

    @Test func headResponse_hasNoBody_evenWithContentLength() throws {
        let input = bytes(
            "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
                + "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc")
        let parsed = try parsedEveryWay(input, methods: [.head, .get])
        #expect(parsed.heads.map { $0.headers["Content-Length"] } == ["10", "3"])
        #expect(parsed.bodies == [[], bytes("abc")])
        #expect(parsed.ends == 2)
    }

    @Test func noContentAndNotModified_haveNoBody() throws {
        let input = bytes(
            "HTTP/1.1 204 No Content\r\n\r\n"
                + "HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n"
                + "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        let parsed = try parsedEveryWay(input)
        #expect(parsed.heads.map(\.status) == [204, 304, 200])
        #expect(parsed.bodies == [[], [], []])
        #expect(parsed.ends == 3)
    }

    @Test func neverEndingChunkedStream_emitsEachChunkAsItArrives() throws {
        var parser = HTTPResponseParser()
        parser.expect(method: .get)
        let head = try parser.feed(bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"))
        #expect(head == [.head(HTTPResponseHead(status: 200, reason: "OK", headers: ["Transfer-Encoding": "chunked"]))])
        #expect(try parser.feed(bytes("1a\r\n{\"status\":\"start\",\"id\":1}\n\r\n"))
            == [.body(bytes("{\"status\":\"start\",\"id\":1}\n"))])
        // Half a chunk is delivered at once, not held back until the chunk completes.
        #expect(try parser.feed(bytes("18\r\n{\"status\":\"die\"")) == [.body(bytes("{\"status\":\"die\""))])
        #expect(try parser.feed(bytes(",\"id\":2}\n\r\n")) == [.body(bytes(",\"id\":2}\n"))])
        #expect(!parser.isConnectionReusable)
    }

    @Test func connectionReuse_followsVersionAndConnectionHeader() throws {
        func reusable(_ text: String) throws -> Bool {
            var parser = HTTPResponseParser()
            _ = try parser.feed(bytes(text))
            return parser.isConnectionReusable
        }
        #expect(try reusable("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
        #expect(try !reusable("HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n"))
        #expect(try !reusable("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"))
        #expect(try reusable("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n"))
        // Transfer-Encoding wins over Content-Length, but such a peer is not trusted again.
        #expect(try !reusable("HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"))
        // Mid-body the connection is busy.
        #expect(try !reusable("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab"))
        #expect(HTTPResponseParser().isConnectionReusable)
    }

    @Test func bareLineFeeds_andFoldedHeaders_areAccepted() throws {
        let input = bytes("HTTP/1.1 200 OK\nX-Folded: one\r\n  two\nContent-Length: 1\n\nz")
        let parsed = try parsedEveryWay(input)
        #expect(parsed.heads[0].headers == ["X-Folded": "one two", "Content-Length": "1"])
        #expect(parsed.bodies == [bytes("z")])
    }

    @Test func switchingProtocols_handsOverTheRestOfTheConnection() throws {
        let input = bytes("HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n\u{1}\u{0}raw")
        let parsed = try parsedEveryWay(input, eof: true)
        #expect(parsed.heads.map(\.status) == [101])
        #expect(parsed.bodies == [[1, 0] + bytes("raw")])
    }
}
