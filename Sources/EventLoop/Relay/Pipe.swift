/// A kernel pipe used as a splice buffer: owns both ends, closes them on deinit.
struct Pipe: ~Copyable {
    let readEnd: CInt
    let writeEnd: CInt
    /// Bytes the pipe can hold, as granted by F_SETPIPE_SZ.
    let capacity: Int

    init(readEnd: CInt, writeEnd: CInt, capacity: Int) {
        self.readEnd = readEnd
        self.writeEnd = writeEnd
        self.capacity = capacity
    }

    deinit {
        FileDescriptor.closeRaw(readEnd)
        FileDescriptor.closeRaw(writeEnd)
    }

    /// Gives both ends back without closing them (for the pool to keep).
    consuming func release() -> (CInt, CInt, Int) {
        let ends = (readEnd, writeEnd, capacity)
        discard self
        return ends
    }
}
