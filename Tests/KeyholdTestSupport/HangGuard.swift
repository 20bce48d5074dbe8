import Testing

extension Trait where Self == TimeLimitTrait {
    /// The time limit of a test that drives processes (kills, stops, pipes, terminals): a guard
    /// against a hang, not a measure of speed. On a loaded 2-core machine such a test can wait
    /// minutes for a CPU, so the limit is far above what it takes on a quiet one (seconds to a
    /// minute); speed is the benchmark's to judge.
    public static var hangGuard: Self { .timeLimit(.minutes(10)) }
}
