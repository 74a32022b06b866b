/// Waits for `count` callbacks, then runs `done` once. Loop-thread only.
final class Join {
    private var remaining: Int
    private var done: (() -> Void)?

    init(_ count: Int, done: @escaping () -> Void) {
        remaining = count
        self.done = done
        if count == 0 { fire() }
    }

    func leave() {
        remaining -= 1
        if remaining == 0 { fire() }
    }

    private func fire() {
        let done = self.done
        self.done = nil
        done?()
    }
}
