import Forecasting
import Foundation
import KubernetesCore

/// The `foresight.dev/v1alpha1` group.
public enum ForesightGroup {
    public static let group = "foresight.dev"
    public static let version = "v1alpha1"
    public static let apiVersion = "foresight.dev/v1alpha1"
}

/// A ZonePlan, as the controller reads it (see `crds/foresight.dev_zoneplans.yaml` for every field).
public struct ZonePlan: KubernetesResource {
    public static let resource = APIResource(group: ForesightGroup.group, version: ForesightGroup.version, plural: "zoneplans", kind: "ZonePlan", namespaced: false)
    public var metadata: ObjectMeta
    public var spec: Spec?
    public var status: JSONValue?

    public struct Spec: Codable, Sendable {
        public var mode: String?
        public var nodePools: [NodePool]?
        public var forecast: Forecast?
        public var zones: [Zone]?
        public var generalPurpose: GeneralPurpose?
        public var overflow: Overflow?
        public var scaleDown: ScaleDown?
        public init() {}
    }

    public struct NodePool: Codable, Sendable {
        public var name: String?
        public var nodeSelector: LabelSelector?
        public var scaleTargetRef: ScaleTargetRef?
        public var minNodes: Int?
        public var maxNodes: Int?
        public var provisioningLeadTime: String?
    }

    public struct ScaleTargetRef: Codable, Sendable {
        public var apiVersion: String?
        public var kind: String?
        public var namespace: String?
        public var name: String?
    }

    public struct Forecast: Codable, Sendable {
        public var source: Source?
        /// How much history each fit reads. Default `defaultHistory`.
        public var history: String?
        public var horizon: String?
        public var step: String?
        /// How often the models are chosen and fitted again; every step in between, new
        /// observations update the forecast. Default: the shortest seasonality.
        public var refitEvery: String?
        public var seasonalities: [String]?
        public var quantile: Double?
        public var holidays: [String]?
        public var minimumAccuracy: Double?
        public init() {}

        /// Four weeks, as the CRD's default: two cycles of the default longest season (a week),
        /// which the weekly models need to be fitted at all, and an inner span (a quarter of the
        /// history) holding every day of the week once, so that the engine tests its models and
        /// intervals on each. With two weeks the weekly models could not be fitted and tested, and
        /// the forecast fell back to repeating a cycle (benchmarks/forecast.md, "The default
        /// history").
        public static let defaultHistory: Int64 = 28 * 86400

        /// `history` in seconds, `defaultHistory` when it is not given.
        public var historySeconds: Int64 { history.flatMap(DurationParser.seconds) ?? Self.defaultHistory }

        public struct Source: Codable, Sendable {
            public var prometheus: Prometheus?
            public var configMap: ConfigMapRef?
            public struct Prometheus: Codable, Sendable { public var url: String? }
            public struct ConfigMapRef: Codable, Sendable { public var namespace: String?; public var name: String? }
        }
    }

    public struct Zone: Codable, Sendable {
        public var name: String?
        public var priority: Int?
        public var priorityClassName: String?
        public var workloads: Workloads?
        public var load: Load?
        public var buffer: IntOrString?
        public var minReplicas: Int?
        public var maxReplicas: Int?
        /// Set the zone's PriorityClass on its Deployments' pod templates (a rollout: their pods are
        /// replaced). Off by default: a Deployment using another class is only reported.
        public var assignPriorityClass: Bool?
        public init() {}

        public struct Workloads: Codable, Sendable {
            public var namespaceSelector: LabelSelector?
            public var selector: LabelSelector?
        }
        public struct Load: Codable, Sendable {
            public var query: String?
            public var configMapKey: String?
            public var perReplica: Double?
            /// This zone's load follows another zone's (a backend driven by a frontend): it is sized
            /// from that zone's forecast times the ratio of the two loads learned from their histories.
            public var follows: Follows?
            public init() {}
            public struct Follows: Codable, Sendable { public var zone: String? }
        }
    }

    public struct GeneralPurpose: Codable, Sendable { public var zone: String? }
    public struct Overflow: Codable, Sendable {
        public var policy: String?
        public init(policy: String? = nil) { self.policy = policy }
    }
    public struct ScaleDown: Codable, Sendable { public var stabilizationWindow: String?; public var maxStepPercent: Int? }
}

/// An UpdateWindow, as the controller reads it (see `crds/foresight.dev_updatewindows.yaml`).
public struct UpdateWindow: KubernetesResource {
    public static let resource = APIResource(group: ForesightGroup.group, version: ForesightGroup.version, plural: "updatewindows", kind: "UpdateWindow", namespaced: false)
    public var metadata: ObjectMeta
    public var spec: Spec?
    public var status: JSONValue?

    public struct Spec: Codable, Sendable {
        public var nodeSelector: LabelSelector?
        public var nodes: [String]?
        public var zonePlanRef: Reference?
        public var schedule: Schedule?
        public var maxUnavailable: IntOrString?
        public var order: String?
        public var preScale: Bool?
        public var drain: Drain?
        public var update: Update?
        public var verify: Verify?
        public var maxFailedNodes: Int?
        public var paused: Bool?
    }

    public struct Reference: Codable, Sendable { public var name: String? }
    public struct Schedule: Codable, Sendable {
        public var start: String?
        public var cron: String?
        public var timeZone: String?
        public var duration: String?
    }
    public struct Drain: Codable, Sendable {
        public var timeout: String?
        public var gracePeriodSeconds: Int?
        public var deleteEmptyDirData: Bool?
        public var force: Bool?
        public var ignoreDaemonSets: Bool?
        public var podSelector: String?
        public var skipWaitForDeleteTimeoutSeconds: Int?
    }
    public struct Update: Codable, Sendable {
        public var target: Target?
        public var nodeTimeout: String?
        public struct Target: Codable, Sendable { public var osImage: String?; public var kernelVersion: String? }
    }
    public struct Verify: Codable, Sendable { public var settle: String? }
}
