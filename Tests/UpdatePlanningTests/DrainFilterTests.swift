import Testing
import UpdatePlanning

@Suite struct DrainFilterTests {
    let now: Int64 = 1_000_000
    let exists: (String, String) -> Bool = { _, name in name != "gone" }

    func verdict(_ pod: DrainCandidate, _ options: DrainOptions = DrainOptions()) -> DrainVerdict {
        drainVerdict(pod, options: options, now: now, daemonSetExists: exists)
    }

    @Test func managedPodsAreEvicted() {
        #expect(verdict(DrainCandidate(namespace: "a", name: "p", ownerKind: "ReplicaSet", ownerName: "rs")) == .evict)
        #expect(verdict(DrainCandidate(namespace: "a", name: "p", ownerKind: "StatefulSet", ownerName: "db")) == .evict)
    }

    @Test func daemonSetPods() {
        let ds = DrainCandidate(namespace: "kube-system", name: "agent-x", ownerKind: "DaemonSet", ownerName: "agent")
        #expect(verdict(ds) == .skip(warning: nil), "ignoreDaemonSets by default")
        if case .blocks = verdict(ds, DrainOptions(ignoreDaemonSets: false)) {} else { Issue.record("without ignoreDaemonSets a DaemonSet pod blocks") }
        var finished = ds
        finished.phase = .succeeded
        #expect(verdict(finished, DrainOptions(ignoreDaemonSets: false)) == .evict, "finished pods may go")
        let orphan = DrainCandidate(namespace: "a", name: "o", ownerKind: "DaemonSet", ownerName: "gone")
        if case .blocks(let why) = verdict(orphan) { #expect(why.contains("is gone")) } else { Issue.record("an orphan blocks without force") }
        if case .evictWithWarning = verdict(orphan, DrainOptions(force: true)) {} else { Issue.record("force evicts an orphan, with a warning") }
    }

    @Test func mirrorPodsAreLeftSilently() {
        #expect(verdict(DrainCandidate(namespace: "kube-system", name: "etcd-n1", isMirror: true)) == .skip(warning: nil))
    }

    @Test func emptyDirNeedsTheOption() {
        let pod = DrainCandidate(namespace: "a", name: "cache", ownerKind: "ReplicaSet", ownerName: "rs", hasEmptyDir: true)
        if case .blocks = verdict(pod) {} else { Issue.record("emptyDir blocks by default") }
        if case .evictWithWarning(let w) = verdict(pod, DrainOptions(deleteEmptyDirData: true)) { #expect(w.contains("emptyDir")) } else { Issue.record("") }
        var done = pod
        done.phase = .failed
        #expect(verdict(done) == .evict)
    }

    @Test func unmanagedPodsNeedForce() {
        let bare = DrainCandidate(namespace: "a", name: "bare")
        if case .blocks(let why) = verdict(bare) { #expect(why.contains("no controller")) } else { Issue.record("") }
        if case .evictWithWarning = verdict(bare, DrainOptions(force: true)) {} else { Issue.record("") }
    }

    @Test func ecosystemOptOuts() {
        let keep = DrainCandidate(namespace: "a", name: "k", ownerKind: "ReplicaSet", ownerName: "rs", doNotDisrupt: true)
        if case .blocks(let why) = verdict(keep, DrainOptions(force: true)) { #expect(why.contains("do-not-disrupt")) } else { Issue.record("do-not-disrupt blocks even with force") }
        let skip = DrainCandidate(namespace: "a", name: "s", ownerKind: "ReplicaSet", ownerName: "rs", drainSkip: true)
        if case .skip(let w) = verdict(skip) { #expect(w?.contains("drain=skip") == true) } else { Issue.record("") }
    }

    @Test func podsDeletedLongAgoNoLongerHoldTheDrain() {
        let stuck = DrainCandidate(namespace: "a", name: "z", ownerKind: "ReplicaSet", ownerName: "rs", deletionTime: now - 600)
        #expect(verdict(stuck) == .evict, "without the option a deleting pod is still waited for")
        if case .skip = verdict(stuck, DrainOptions(skipWaitForDeleteTimeoutSeconds: 300)) {} else { Issue.record("") }
        #expect(verdict(stuck, DrainOptions(skipWaitForDeleteTimeoutSeconds: 900)) == .evict)
    }

    @Test func oneBlockerMeansNothingIsEvicted() {
        let pods = [DrainCandidate(namespace: "a", name: "ok", ownerKind: "ReplicaSet", ownerName: "rs"), DrainCandidate(namespace: "a", name: "bare")]
        let d = decideDrain(pods, options: DrainOptions(), now: now, daemonSetExists: exists)
        #expect(!d.canStart && d.evict.isEmpty && d.blockers.count == 1)
        let forced = decideDrain(pods, options: DrainOptions(force: true), now: now, daemonSetExists: exists)
        #expect(forced.canStart && forced.evict.map(\.name) == ["bare", "ok"] && forced.warnings.count == 1)
    }
}
