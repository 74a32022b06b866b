import Glibc
import Testing
@testable import EventLoop

/// The box closes what it holds exactly once: on deinit or `close()` if it still holds it,
/// never after `take()`. Closure is seen from the socket's peer (EOF), which no other test's
/// descriptor numbers can disturb. (`#expect` cannot hold a non-copyable value, hence the
/// locals.)
@Suite struct FileDescriptorBoxTests {
    @Test func deinit_closesTheDescriptorItStillHolds() throws {
        let (raw, peer) = try socketPair()
        defer { close(peer) }
        var box: FileDescriptorBox? = FileDescriptorBox(FileDescriptor(taking: raw))
        #expect(box?.rawValue == raw)
        #expect(peek(peer).errno == EAGAIN)
        box = nil
        #expect(peek(peer).result == 0, "the peer sees EOF once the box is gone")
    }

    @Test func take_movesTheDescriptorOut_onceOnly_andDeinitThenClosesNothing() throws {
        let (raw, peer) = try socketPair()
        defer { close(peer) }
        var box: FileDescriptorBox? = FileDescriptorBox(FileDescriptor(taking: raw))
        var taken = box!.take()
        let takenRaw = taken.rawValueOrInvalid
        let second = box!.take() == nil
        #expect(takenRaw == raw)
        #expect(second, "a second take gets nothing")
        #expect(box?.rawValue == nil)
        box = nil
        // Still open after the box went: the peer sees no EOF and bytes get through.
        #expect(peek(peer).errno == EAGAIN)
        #expect(send(raw, "x", 1, Int32(MSG_NOSIGNAL)) == 1)
        #expect(peek(peer).result == 1)
        // Closing it now would trip FileDescriptor's EBADF precondition had the box closed it too.
        taken.take()?.close()
        var byte: UInt8 = 0
        #expect(recv(peer, &byte, 1, Int32(MSG_DONTWAIT)) == 1)
        #expect(peek(peer).result == 0)
    }

    @Test func close_closesNow_andAgainIsHarmless() throws {
        let (raw, peer) = try socketPair()
        defer { close(peer) }
        let box = FileDescriptorBox(FileDescriptor(taking: raw))
        box.close()
        #expect(peek(peer).result == 0)
        let empty = box.take() == nil
        #expect(box.rawValue == nil)
        #expect(empty)
        box.close()
    }
}
