import Testing
@testable import EventLoop

@Suite struct HTTPSerializationTests {
    @Test func requestHead_addsHostFirst_andContentLength() {
        let head = HTTPRequestHead(method: .post, target: "/containers/create?name=ganger-1",
                                   headers: ["Content-Type": "application/json"])
        #expect(head.serialized(host: "docker", contentLength: 2) == bytes(
            "POST /containers/create?name=ganger-1 HTTP/1.1\r\nHost: docker\r\n"
                + "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n"))
    }

    @Test func requestHead_keepsCallersHost_andOmitsLengthWithoutBody() {
        let head = HTTPRequestHead(method: .get, target: "/_ping", headers: ["host": "daemon:2375"])
        #expect(head.serialized(host: "docker") == bytes("GET /_ping HTTP/1.1\r\nhost: daemon:2375\r\n\r\n"))
    }

    @Test func requestHead_replacesCallersContentLength() {
        let head = HTTPRequestHead(method: .put, target: "/x", headers: ["Content-Length": "99"])
        #expect(head.serialized(host: "h", contentLength: 0) == bytes("PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"))
    }

    @Test func requestHead_escapesTargetAndHeaderInjection() {
        let head = HTTPRequestHead(method: .get, target: "/images/a b/json\r\n", headers: ["X\r\nEvil": "v\r\nInjected: 1"])
        #expect(head.serialized(host: "h") == bytes(
            "GET /images/a%20b/json%0D%0A HTTP/1.1\r\nHost: h\r\nX--Evil: v  Injected: 1\r\n\r\n"))
    }

    @Test func serializedRequest_parsesBackToTheSameHead() throws {
        let head = HTTPRequestHead(method: .delete, target: "/containers/abc?force=1", headers: ["User-Agent": "ganger"])
        var parser = HTTPRequestParser()
        let events = try parser.feed(head.serialized(host: "docker", contentLength: 0))
        #expect(events == [.head(HTTPRequestHead(
            method: .delete, target: "/containers/abc?force=1",
            headers: ["Host": "docker", "User-Agent": "ganger", "Content-Length": "0"])), .end])
    }

    @Test func responseHead_setsContentLengthAndConnection() {
        let head = HTTPResponseHead(status: 200, headers: ["Content-Type": "text/plain", "Connection": "x", "content-length": "1"])
        #expect(head.serialized(contentLength: 3, keepAlive: true) == bytes(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\n"))
        #expect(HTTPResponseHead(status: 431).serialized(contentLength: 0, keepAlive: false) == bytes(
            "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
    }

    @Test func noContentResponse_hasNoContentLength() {
        #expect(HTTPResponseHead(status: 204).serialized(contentLength: 0, keepAlive: true) == bytes(
            "HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n"))
        #expect(HTTPResponseHead(status: 299).reason == "")
    }

    @Test func serializedResponse_parsesBack() throws {
        let head = HTTPResponseHead(status: 404, headers: ["Content-Type": "text/plain"])
        let wire = head.serialized(contentLength: 9, keepAlive: false) + bytes("not found")
        let parsed = try parseResponses([wire], eof: true)
        #expect(parsed.heads == [HTTPResponseHead(status: 404, reason: "Not Found", headers: [
            "Content-Type": "text/plain", "Content-Length": "9", "Connection": "close"])])
        #expect(parsed.bodies == [bytes("not found")])
    }

    @Test func headers_lookupIgnoresCase_andKeepsOrder() {
        var headers: HTTPHeaders = ["Set-Cookie": "a=1", "X": "y", "set-cookie": "b=2"]
        #expect(headers["SET-COOKIE"] == "a=1")
        #expect(headers.values(for: "set-Cookie") == ["a=1", "b=2"])
        #expect(headers.contains("x") && !headers.contains("x-"))
        headers.replaceOrAdd(name: "set-cookie", value: "c=3")
        #expect(headers.map(\.name) == ["X", "set-cookie"])
        #expect(HTTPHeaders([("Connection", "Keep-Alive, , Upgrade")]).tokens(for: "connection") == ["keep-alive", "upgrade"])
    }
}
