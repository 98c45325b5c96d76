extension Scenario {
    /// The key `embeddedDefault` names its trace by; `foresight simulate` supplies the trace
    /// embedded in its binary under it, tests the same file from `Tests/Data`.
    public static let embeddedTrace = "embedded:taylor"

    /// What `foresight simulate` replays without a scenario: electricity demand of England and
    /// Wales (2000, half-hourly) as one service's load, with a weekly update window at midday.
    /// The replay starts as soon as the trace holds the history a ZonePlan fits on by default (four
    /// weeks: `history` is left to its default), so it shows the forecasts a ZonePlan left at its
    /// defaults would make, and runs four weeks.
    public static let embeddedDefault = """
        name: electricity-demand-weekly-update
        nodePool: {initialNodes: 8, minNodes: 3, maxNodes: 24, cpuPerNode: "2", provisioningDelay: 5m}
        zones:
        - name: grid-api
          priority: 100
          trace: \(embeddedTrace)
          perReplica: 1000
          cpuPerReplica: 500m
          podStartDelay: 1m
          minReplicas: 4
          maxReplicas: 80
          targetUtilization: 0.8
          buffer: 10%
          quantile: 0.9
        updateWindow: {cron: "0 10 * * 2", timeZone: UTC, duration: 6h, maxUnavailable: 1, updateTime: 20m}
        days: 28
        seasons: [1d, 7d]
        """
}
