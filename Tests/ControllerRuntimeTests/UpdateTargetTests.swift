import ForesightAPI
import Foundation
import KubernetesCore
@testable import Reconcilers
import Testing

/// Which nodes a window takes as already on its target: every part the target names must match;
/// a window without a target (or naming nothing) updates every node.
@Suite struct UpdateTargetTests {
    func info(_ os: String?, _ kernel: String?) throws -> NodeSystemInfo {
        var fields: [String] = []
        if let os { fields.append("\"osImage\": \"\(os)\"") }
        if let kernel { fields.append("\"kernelVersion\": \"\(kernel)\"") }
        return try JSONDecoder().decode(NodeSystemInfo.self, from: Data("{\(fields.joined(separator: ", "))}".utf8))
    }

    func target(_ os: String?, _ kernel: String?) -> UpdateWindow.Update.Target {
        var t = try! JSONDecoder().decode(UpdateWindow.Update.Target.self, from: Data("{}".utf8))
        t.osImage = os
        t.kernelVersion = kernel
        return t
    }

    @Test func everyNamedPartMustMatch() throws {
        let node = try info("Debian 13", "6.12")
        #expect(UpdateWindowReconciler.isOnTarget(node, target("Debian 13", "6.12")))
        #expect(UpdateWindowReconciler.isOnTarget(node, target("Debian 13", nil)), "only the image named")
        #expect(UpdateWindowReconciler.isOnTarget(node, target(nil, "6.12")), "only the kernel named")
        #expect(!UpdateWindowReconciler.isOnTarget(node, target("Debian 13", "6.13")), "the kernel differs")
        #expect(!UpdateWindowReconciler.isOnTarget(try info(nil, "6.12"), target("Debian 13", nil)), "an image not reported is not the target")
        #expect(!UpdateWindowReconciler.isOnTarget(node, target(nil, nil)), "a target naming nothing updates every node")
        #expect(!UpdateWindowReconciler.isOnTarget(node, nil), "so does a window without one")
    }
}
