// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Foresight",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "foresight", targets: ["foresight"]),
        .executable(name: "foresight-node-simulator", targets: ["foresight-node-simulator"]),
        .executable(name: "foresight-bench", targets: ["foresight-bench"]),
        .library(name: "KubernetesClient", targets: ["KubernetesClient"]),
        .library(name: "ControllerRuntime", targets: ["ControllerRuntime"]),
        .library(name: "Forecasting", targets: ["Forecasting"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // C libraries, as system packages.
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        // glibc's allocator statistics, for the cache-size benchmark.
        .systemLibrary(name: "CMalloc"),

        // Thin Swift layers over them; nothing above bypasses these.
        .target(name: "HTTPTransport", dependencies: ["CCurl"]),
        .target(name: "YAML", dependencies: ["CYAML"]),

        // Kubernetes: pure types and request building; then config + client; then the runtime.
        .target(name: "KubernetesCore"),
        .target(name: "KubernetesClient", dependencies: [
            "KubernetesCore", "HTTPTransport", "YAML",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "ControllerRuntime", dependencies: [
            "KubernetesClient",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),

        // Forecasting: pure Swift, no Kubernetes; history sources separate.
        .target(name: "Forecasting"),
        .target(name: "ForecastSources", dependencies: ["Forecasting", "HTTPTransport", "KubernetesClient"]),

        // Test support that is also shipped: the node simulator (plays kubelets and node agents).
        .target(name: "NodeSimulator", dependencies: [
            "KubernetesClient", "ControllerRuntime", "UpdatePlanning", "YAML", .product(name: "Logging", package: "swift-log"),
        ]),

        // Capacity planning: zone sizing, stabilisation, partitioning by priority (pure; the
        // controller and the simulator call the same functions).
        .target(name: "CapacityPlanning"),
        // Update windows: schedules (cron with time zones), drain filtering, node order (pure).
        .target(name: "UpdatePlanning", dependencies: ["KubernetesCore"]),
        // The agent side of the node-update handshake (`foresight node-agent`).
        .target(name: "NodeAgent", dependencies: [
            "KubernetesClient", "ControllerRuntime", "UpdatePlanning", .product(name: "Logging", package: "swift-log"),
        ]),

        // The custom resources: types and the checks a schema cannot express (pure).
        .target(name: "ForesightAPI", dependencies: ["KubernetesCore", "Forecasting"]),
        // `foresight simulate`: a scenario replayed in virtual time under Foresight's planners and the usual alternatives.
        .target(name: "Simulation", dependencies: ["Forecasting", "CapacityPlanning", "UpdatePlanning", "ForesightAPI", "Reconcilers", "YAML"]),
        .target(name: "Reconcilers", dependencies: [
            "ForesightAPI", "CapacityPlanning", "UpdatePlanning", "ForecastSources", "KubernetesClient", "ControllerRuntime", "Forecasting", .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "foresight", dependencies: [
            "KubernetesClient", "ControllerRuntime", "Forecasting", "ForecastSources", "Reconcilers", "UpdatePlanning", "NodeAgent", "Simulation",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], resources: [.embedInCode("Resources/taylor.csv")]),
        .executableTarget(name: "foresight-node-simulator", dependencies: [
            "NodeSimulator",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        .executableTarget(name: "foresight-bench", dependencies: [
            "CMalloc", "KubernetesClient", "ControllerRuntime", "NodeSimulator", "Reconcilers", "ForesightAPI", "UpdatePlanning", "Forecasting",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        .testTarget(name: "KubernetesCoreTests", dependencies: ["KubernetesCore", "TestSupport"]),
        .testTarget(name: "SimulationTests", dependencies: ["Simulation", "Forecasting", "ForesightAPI", "TestSupport"]),
        // Helpers the test targets share: a deterministic generator for fuzzing, child processes.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "NodeSimulatorTests", dependencies: ["NodeSimulator", "TestSupport"]),
        .testTarget(name: "CapacityPlanningTests", dependencies: ["CapacityPlanning", "TestSupport"]),
        .testTarget(name: "UpdatePlanningTests", dependencies: ["UpdatePlanning", "NodeAgent", "ControllerRuntime", "KubernetesCore", "KubernetesClient", "TestSupport"]),
        .testTarget(name: "KubernetesClientTests", dependencies: ["KubernetesClient", "YAML", "HTTPTransport", "TestSupport"]),
        .testTarget(name: "ControllerRuntimeTests", dependencies: ["ControllerRuntime", "KubernetesClient", "Reconcilers", "ForesightAPI", "YAML", "TestSupport"]),
        .testTarget(name: "ForecastingTests", dependencies: ["Forecasting", "ForecastSources", "TestSupport"]),
        .testTarget(name: "EndToEndTests", dependencies: ["KubernetesClient", "ControllerRuntime", "TestSupport"]),
    ]
)
