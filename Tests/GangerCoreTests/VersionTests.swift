import Testing
@testable import GangerCore
@Test func version_isSemantic() { #expect(GangerVersion.string.split(separator: ".").count == 3) }
