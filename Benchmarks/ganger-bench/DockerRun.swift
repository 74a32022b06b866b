/// What every Docker-facing part of `ganger-bench ganger` shares: the Engine API connection
/// (raw floor, sweeps), the run's instance prefix (every container carries it, and the sweep at
/// the end removes by it), the rounds, and the work directory for configs and logs.
struct DockerRun {
    let api: EngineAPI
    let instance: String
    let settings: BenchSettings
    let directory: String
}
