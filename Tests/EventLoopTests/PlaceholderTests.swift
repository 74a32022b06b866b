import Testing
@testable import EventLoop
@Test func placeholder() { #expect(1 == 1) }
