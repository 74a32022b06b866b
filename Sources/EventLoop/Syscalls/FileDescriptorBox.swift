/// A `FileDescriptor` parked in a class, so that copyable closures (a connect's completion, a
/// timer, a readiness handler) can share it and hand it on exactly once.
///
/// The box owns what it holds: `take()` moves the descriptor out, after which the box is empty
/// and its deinit has nothing to close; whatever is still inside when the last reference goes
/// is closed then. Like everything on a reactor, it is used from the loop's thread only.
public final class FileDescriptorBox {
    private var descriptor: FileDescriptor?

    /// Takes ownership of `descriptor`.
    public init(_ descriptor: consuming FileDescriptor) { self.descriptor = consume descriptor }

    /// An empty box (nothing to hand on).
    public init() { descriptor = nil }

    /// The held descriptor's number, borrowed for a call (e.g. registering it); nil once taken.
    public var rawValue: CInt? {
        switch descriptor {
        case let .some(fd): fd.rawValue
        case .none: nil
        }
    }

    /// The descriptor, once; nil afterwards. The caller now owns it.
    public func take() -> FileDescriptor? { descriptor.take() }

    /// Closes the held descriptor now, if the box still holds one.
    public func close() { descriptor.take()?.close() }

    // The stored Optional<FileDescriptor> closes what is left when the box goes away.
}
