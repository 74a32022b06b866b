@testable import EventLoop
@testable import GangerCore

/// HTTPRequestParser and the status server's answers. Input: the bytes a client sends.
///
/// Properties: the same events and error whether the bytes arrive whole, cut, or in small pieces;
/// no request carries Transfer-Encoding, an ambiguous Content-Length or a folded header line
/// (checked against a reference reading of the first head: a head with any of these smuggling
/// shapes, CL.CL, TE.CL, TE.TE or obs-fold, is refused, never passed on); a request body is
/// exactly its Content-Length; every answer, error answers included, reads back through
/// HTTPResponseParser as one response with the same status and exactly its body.
enum RequestTarget {
    static func run(_ input: [UInt8]) {
        var richest: Outcome
        let whole = parse([input])
        let cut = parse(Split.twoPieces(input, at: Split.point(input, count: input.count)))
        require(whole.agrees(with: cut), "events differ when cut: \(whole) vs \(cut)")
        // The properties below look at the run that got the most events out before an error.
        richest = cut.events.count > whole.events.count ? cut : whole
        let bytewise = parse(Split.small(input))
        require(whole.agrees(with: bytewise), "events differ in small pieces: \(whole) vs \(bytewise)")
        if bytewise.events.count > richest.events.count { richest = bytewise }
        if let shape = SmugglingShape.ofFirstHead(input) {
            require(!richest.events.contains { if case .head = $0 { true } else { false } },
                    "a head with \(shape) was accepted: \(richest.events)")
        }
        var current: HTTPRequestHead?
        var body = 0
        for event in richest.events {
            switch event {
            case .head(let head):
                require(!head.headers.contains("transfer-encoding"), "a request with Transfer-Encoding: \(head)")
                require((try? head.headers.contentLength()) != nil || !head.headers.contains("content-length"),
                        "an ambiguous Content-Length passed: \(head)")
                current = head
                body = 0
            case .body(let bytes):
                body += bytes.count
            case .end:
                guard let head = current else { return require(false, "an end without a head") }
                let length = (try? head.headers.contentLength()) ?? 0
                require(body == length, "Content-Length \(length) but \(body) body bytes")
                answer(head)
                current = nil
            }
        }
        if let error = richest.error {
            roundTrip(.plain(error.statusCode, error.description), method: .get, keepAlive: false)
        }
    }

    typealias Outcome = ParseOutcome<HTTPRequestEvent>

    static func parse(_ pieces: [[UInt8]]) -> Outcome {
        var parser = HTTPRequestParser(limits: .init(maxHeadBytes: 8 * 1024, maxHeaderCount: 64, maxBodyBytes: 64 * 1024))
        var outcome = Outcome()
        do {
            for piece in pieces {
                for event in try parser.feed(piece) {
                    if case .body(let more) = event, case .body(let earlier)? = outcome.events.last {
                        outcome.events[outcome.events.count - 1] = .body(earlier + more)
                    } else {
                        outcome.events.append(event)
                    }
                }
            }
            try parser.finishOnEOF()
        } catch {
            outcome.error = error
        }
        return outcome
    }

    /// What HTTPServer answers (405 for other methods, else StatusServer's route), read back.
    static func answer(_ head: HTTPRequestHead) {
        let response = head.method == .get || head.method == .head
            ? StatusServer.route(head, snapshot: { snapshot })
            : .plain(405, "method \(head.method) not allowed: use GET or HEAD", headers: ["Allow": "GET, HEAD"])
        let (path, _) = StatusServer.splitTarget(head.target)
        if head.method == .get || head.method == .head {
            let known = ["/", "/index.html", "/status.json", "/metrics", "/healthz"].contains(path)
            require(known || response.status == 404, "\(path) answered \(response.status)")
        }
        roundTrip(response, method: head.method, keepAlive: head.isKeepAlive)
    }

    /// Serializes `response` as HTTPServerConnection does and parses it back.
    static func roundTrip(_ response: HTTPServerResponse, method: HTTPMethod, keepAlive: Bool) {
        let head = HTTPResponseHead(status: response.status, headers: response.headers)
        var wire = head.serialized(contentLength: response.body.count, keepAlive: keepAlive)
        if method != .head { wire += response.body }
        var parser = HTTPResponseParser()
        parser.expect(method: method)
        var events: [HTTPResponseEvent] = []
        do {
            ResponseTarget.append(try parser.feed(wire), to: &events)
        } catch {
            return require(false, "our own answer does not parse: \(error)")
        }
        guard case .head(let parsed)? = events.first else { return require(false, "no head in our answer: \(events)") }
        require(parsed.status == response.status, "status \(response.status) read back as \(parsed.status)")
        let expected: [HTTPResponseEvent] = method == .head || response.body.isEmpty
            ? [.head(parsed), .end] : [.head(parsed), .body(response.body), .end]
        require(events == expected, "our answer reads back as \(events)")
    }

    static let snapshot = StatusSnapshot.sample()
}

/// The request-smuggling shapes a reference reading of a head finds (RFC 9112 §6.3, §11.2, §5.2).
enum SmugglingShape: CustomStringConvertible {
    case foldedLine
    case transferEncoding
    case conflictingContentLength

    var description: String {
        switch self {
        case .foldedLine: "a folded header line"
        case .transferEncoding: "Transfer-Encoding"
        case .conflictingContentLength: "conflicting Content-Length values"
        }
    }

    /// The first shape found in the first complete head of `bytes`, nil when none is (or no
    /// head is complete). Lines end at LF, a CR before it dropped; empty lines before the
    /// request line are skipped.
    static func ofFirstHead(_ bytes: [UInt8]) -> SmugglingShape? {
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        var complete = false
        while let newline = bytes[start...].firstIndex(of: 0x0A) {
            var line = bytes[start..<newline]
            start = newline + 1
            if line.last == 0x0D { line = line.dropLast() }
            if line.isEmpty {
                if lines.isEmpty { continue }
                complete = true
                break
            }
            lines.append(line)
        }
        guard complete else { return nil }
        var lengths: Set<String> = []
        for line in lines.dropFirst() {
            if line.first == 0x20 || line.first == 0x09 { return .foldedLine }
            guard let colon = line.firstIndex(of: 0x3A) else { continue }
            let name = String(decoding: line[..<colon], as: UTF8.self).lowercased()
            let value = String(decoding: line[(colon + 1)...], as: UTF8.self)
            if name == "transfer-encoding" { return .transferEncoding }
            if name == "content-length" {
                for element in value.split(separator: ",", omittingEmptySubsequences: false) {
                    let digits = element.trimmingPrefix { $0 == " " || $0 == "\t" }
                    let trimmed = String(digits.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
                    lengths.insert(Int(trimmed).map(String.init) ?? "not a number: \(trimmed)")
                }
            }
        }
        return lengths.count > 1 ? .conflictingContentLength : nil
    }
}
