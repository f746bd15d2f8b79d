extension Snapshot {
    /// Refuses the whole snapshot when any path is unsafe (SnapshotPathRules), for callers that
    /// narrow the node list before restoring: a tampered snapshot stays refused whole.
    public func checkPathsAreSafe() throws {
        try SnapshotPathRules.validate(nodes)
    }
}
