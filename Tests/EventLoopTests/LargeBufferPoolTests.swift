import Testing
@testable import EventLoop

@Suite struct LargeBufferPoolTests {
    @Test func take_stopsAtMaxBuffers_andAPutBufferIsLentAgain() {
        let pool = LargeBufferPool(maxBuffers: 2, bufferSize: 64 << 10, fatAfter: 1 << 20)
        let first = pool.take()
        let second = pool.take()
        #expect(first?.count == 64 << 10 && second?.count == 64 << 10)
        #expect(pool.take() == nil, "a third buffer beyond maxBuffers")
        #expect(pool.inUse == 2 && pool.lent == 2)
        pool.put(first!)
        let again = pool.take()
        #expect(again?.baseAddress == first?.baseAddress, "the buffer put back is reused, not reallocated")
        #expect(pool.inUse == 2 && pool.lent == 3)
        pool.put(again!)
        pool.put(second!)
        #expect(pool.inUse == 0)
    }

    @Test func offers_onlyToAFatDirection_whileABufferIsFree() {
        let pool = LargeBufferPool(maxBuffers: 1, bufferSize: 4096, fatAfter: 8 << 20)
        #expect(!pool.offers(after: (8 << 20) - 1))
        #expect(pool.offers(after: 8 << 20))
        let buffer = pool.take()!
        #expect(!pool.offers(after: 1 << 30), "none free")
        pool.put(buffer)
        #expect(pool.offers(after: 1 << 30))
        #expect(!LargeBufferPool(maxBuffers: 0).offers(after: .max), "0 buffers: fat streams off")
    }
}
