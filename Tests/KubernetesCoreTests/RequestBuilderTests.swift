import Foundation
import Testing
@testable import KubernetesCore

@Suite struct RequestBuilderTests {
    @Test func corePathsAndQueries() {
        #expect(RequestBuilder.get(Pod.resource, namespace: "shop", name: "web-1").pathAndQuery == "/api/v1/namespaces/shop/pods/web-1")
        #expect(RequestBuilder.list(Pod.resource, namespace: nil, options: ListOptions(fieldSelector: "spec.nodeName=n1", limit: 500)).pathAndQuery
            == "/api/v1/pods?fieldSelector=spec.nodeName%3Dn1&limit=500")
        #expect(RequestBuilder.get(Node.resource, namespace: "ignored", name: "n1").pathAndQuery == "/api/v1/nodes/n1")
    }

    @Test func groupPathsAndSubresources() {
        #expect(RequestBuilder.get(Deployment.resource, namespace: "shop", name: "web", subresource: "scale").path == "/apis/apps/v1/namespaces/shop/deployments/web/scale")
        let r = RequestBuilder.patch(Deployment.resource, namespace: "shop", name: "web", subresource: "status", type: .merge, body: Data("{}".utf8))
        #expect(r.method == "PATCH")
        #expect(r.contentType == "application/merge-patch+json")
        #expect(r.path == "/apis/apps/v1/namespaces/shop/deployments/web/status")
    }

    @Test func watchQuery() {
        let r = RequestBuilder.watch(Node.resource, namespace: nil, options: ListOptions(labelSelector: "pool in (a,b)", resourceVersion: "42", timeoutSeconds: 290, allowWatchBookmarks: true))
        #expect(r.isWatch)
        #expect(r.pathAndQuery == "/api/v1/nodes?watch=true&labelSelector=pool%20in%20%28a%2Cb%29&resourceVersion=42&timeoutSeconds=290&allowWatchBookmarks=true")
    }

    @Test func applyCarriesFieldManagerAndForce() {
        let r = RequestBuilder.apply(Lease.resource, namespace: "x", name: "l", body: Data(), fieldManager: "foresight", force: true)
        #expect(r.pathAndQuery == "/apis/coordination.k8s.io/v1/namespaces/x/leases/l?fieldManager=foresight&force=true")
        #expect(r.contentType == "application/apply-patch+yaml")
    }

    @Test func evictionBodyNamesPolicyVersion() throws {
        let r = RequestBuilder.evict(namespace: "shop", pod: "web-1", policyVersion: "v1beta1", options: DeleteOptions(gracePeriodSeconds: 30))
        #expect(r.path == "/api/v1/namespaces/shop/pods/web-1/eviction")
        let body = String(decoding: r.body!, as: UTF8.self)
        #expect(body == #"{"apiVersion":"policy/v1beta1","kind":"Eviction","metadata":{"name":"web-1","namespace":"shop"},"deleteOptions":{"apiVersion":"v1","kind":"DeleteOptions","gracePeriodSeconds":30}}"#)
    }

    @Test func deleteOptionsNegativeGraceMeansPodDefault() {
        #expect(DeleteOptions(gracePeriodSeconds: -1).json["gracePeriodSeconds"] == nil)
        #expect(DeleteOptions(gracePeriodSeconds: 0).json["gracePeriodSeconds"] == .int(0))
    }

    @Test func namesArePercentEscaped() {
        #expect(RequestBuilder.get(ConfigMap.resource, namespace: "a b", name: "x/y").path == "/api/v1/namespaces/a%20b/configmaps/x%2Fy")
    }
}

@Suite struct JSONValueTests {
    @Test func serialisesInInsertionOrderWithoutNulls() {
        let v: JSONValue = ["b": 1, "a": ["x": "q\"uote\n"], "c": [true, 1.5]]
        #expect(v.description == #"{"b":1,"a":{"x":"q\"uote\n"},"c":[true,1.5]}"#)
    }

    @Test func roundTripsThroughDecoder() throws {
        let text = #"{"a":[1,2.5,"s",null,false],"b":{"c":{}}}"#
        let v = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        #expect(v["a"]?.arrayValue?.count == 5)
        #expect(v["a"]?.arrayValue?[3] == .null)
        #expect(v["b"]?["c"] == .object([]))
    }
}

@Suite struct LabelSelectorTests {
    @Test func matchesLabelsAndExpressions() {
        let s = LabelSelector(matchLabels: ["app": "web"], matchExpressions: [
            .init(key: "tier", operator: "In", values: ["a", "b"]), .init(key: "canary", operator: "DoesNotExist"),
        ])
        #expect(s.matches(["app": "web", "tier": "a"]))
        #expect(!s.matches(["app": "web", "tier": "c"]))
        #expect(!s.matches(["app": "web", "tier": "a", "canary": "1"]))
        #expect(!s.matches(["tier": "a"]))
        #expect(LabelSelector().matches(nil))
        #expect(s.queryString == "app=web,tier in (a,b),!canary")
    }

    @Test func validationNamesTheField() {
        let s = LabelSelector(matchExpressions: [.init(key: "k", operator: "Is", values: [])])
        #expect(s.validate(field: "spec.nodeSelector") == #"spec.nodeSelector.matchExpressions[0].operator: unknown operator "Is" (In, NotIn, Exists, DoesNotExist)"#)
        #expect(LabelSelector(matchExpressions: [.init(key: "k", operator: "In")]).validate(field: "s") != nil)
    }
}

@Suite struct APIErrorTests {
    @Test func decodesStatusAndRetryAfter() {
        let body = Data(#"{"kind":"Status","status":"Failure","message":"Cannot evict pod as it would violate the pod's disruption budget.","reason":"TooManyRequests","code":429,"details":{"causes":[{"reason":"DisruptionBudget","message":"The disruption budget web needs 2 healthy pods"}]}}"#.utf8)
        let e = APIError.from(method: "POST", path: "/x", statusCode: 429, body: body, retryAfterHeader: "5")
        #expect(e.isTooManyRequests)
        #expect(e.retryAfter == .seconds(5))
        #expect(e.status.details?.causes?.first?.reason == "DisruptionBudget")
    }

    @Test func namespaceTerminatingCause() {
        let body = Data(#"{"kind":"Status","code":403,"reason":"Forbidden","details":{"causes":[{"reason":"NamespaceTerminating"}]}}"#.utf8)
        #expect(APIError.from(method: "POST", path: "/x", statusCode: 403, body: body, retryAfterHeader: nil).isNamespaceTerminating)
    }

    @Test func nonStatusBodyKeepsText() {
        let e = APIError.from(method: "GET", path: "/x", statusCode: 502, body: Data("bad gateway".utf8), retryAfterHeader: nil)
        #expect(e.status.message == "bad gateway")
        #expect(e.description.contains("502"))
    }
}
