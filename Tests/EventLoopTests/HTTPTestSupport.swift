@testable import EventLoop

/// What a parser reported, flattened so runs with different feed boundaries can be compared:
/// body events may be cut anywhere, but each response's bytes must be identical.
struct ParsedResponses: Equatable {
    var heads: [HTTPResponseHead] = []
    var bodies: [[UInt8]] = []
    var ends = 0
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// Feeds `pieces` in order (then EOF if asked) and collects the events; records an
/// event order violation (body or end without a head) as a thrown error.
func parseResponses(
    _ pieces: [[UInt8]], methods: [HTTPMethod] = [], eof: Bool = false,
    limits: HTTPResponseParser.Limits = .init()
) throws(HTTPParseError) -> ParsedResponses {
    var parser = HTTPResponseParser(limits: limits)
    for method in methods { parser.expect(method: method) }
    var result = ParsedResponses()
    var events: [HTTPResponseEvent] = []
    for piece in pieces { events += try parser.feed(piece) }
    if eof { events += try parser.finishOnEOF() }
    for event in events {
        switch event {
        case .head(let head):
            precondition(result.heads.count == result.ends, "head before the previous end")
            result.heads.append(head)
            result.bodies.append([])
        case .body(let chunk):
            precondition(result.heads.count == result.ends + 1 && !chunk.isEmpty, "body outside a response")
            result.bodies[result.bodies.count - 1] += chunk
        case .end:
            precondition(result.heads.count == result.ends + 1, "end without a head")
            result.ends += 1
        }
    }
    return result
}

/// Every way to deliver `input`: in one piece, split in two at each byte boundary, and one
/// byte at a time.
func everySplit(_ input: [UInt8]) -> [[[UInt8]]] {
    var ways: [[[UInt8]]] = [[input]]
    for cut in 0...input.count {
        ways.append([Array(input[..<cut]), Array(input[cut...])])
    }
    ways.append(input.map { [$0] })
    return ways
}

/// The error that parsing `input` (then EOF if asked) throws, or nil.
func responseError(
    _ input: [UInt8], methods: [HTTPMethod] = [], eof: Bool = false, limits: HTTPResponseParser.Limits = .init()
) -> HTTPParseError? {
    do {
        _ = try parseResponses([input], methods: methods, eof: eof, limits: limits)
        return nil
    } catch {
        return error
    }
}
