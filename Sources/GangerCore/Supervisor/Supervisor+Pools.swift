/// The supervisor as the pools' host: the scheduler's slots and launch-window places, and the
/// daemons that take placements.
extension Supervisor: PoolHost {
    func reserveLaunch(_ daemon: Int) -> Bool { lifecycle.reserveLaunch(daemon) }

    var placeableDaemons: [Int] {
        placement.daemons.indices.filter { placement.daemons[$0].healthy && !placement.daemons[$0].retired }
    }
}
