/// The names of containers whose create got no answer (see `DaemonRuntime.lostNames`), in the
/// order they were given up, at most `limit`: a daemon that swallows creates for hours must not
/// grow this without bound, and a create lands within minutes of its request or not at all.
struct LostNames {
    static let limit = 1024
    private var order: [String] = []
    private var names: Set<String> = []

    var count: Int { names.count }

    mutating func insert(_ name: String) {
        guard names.insert(name).inserted else { return }
        order.append(name)
        if order.count > Self.limit {
            let dropped = order.count - Self.limit
            for old in order.prefix(dropped) { names.remove(old) }
            order.removeFirst(dropped)
        }
    }

    /// Whether `name` (with or without dockerd's leading "/") was given up; it is forgotten.
    mutating func take(_ name: String) -> Bool {
        let bare = name.hasPrefix("/") ? String(name.dropFirst()) : name
        guard names.remove(bare) != nil else { return false }
        order.removeAll { $0 == bare }
        return true
    }
}
