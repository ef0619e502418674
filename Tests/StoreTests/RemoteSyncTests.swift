import Foundation
import XCTest
import TestHelpers
@testable import Store
@testable import Support

/// A remote held in memory: keys → bytes, with hooks that fail transfers on cue (an outage
/// from the Nth pack upload or download on) and that let another writer move a ref between
/// a push's read and its compare-and-swap.
final class MemoryTransport: RemoteTransport, @unchecked Sendable {
    struct Entry { var data: [UInt8]; var tag: String; var modified: Double }
    private let lock = NSLock()
    private var objects: [String: Entry] = [:]
    private var version = 0
    /// Every whole-file upload (`putFile`), in order, failed ones included.
    private(set) var uploads: [String] = []
    /// Every whole-file download (`getFile`), in order, failed ones included.
    private(set) var downloads: [String] = []
    /// From this many completed `putFile`s on, every upload fails (nil: never).
    var failUploadsFrom: Int?
    /// From this many completed `getFile`s on, every download fails (nil: never).
    var failDownloadsFrom: Int?
    /// Called with the key before a conditional write to `refs/…` checks its condition.
    var beforeRefWrite: ((String) -> Void)?

    var display: String { "memory:" }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock(); defer { lock.unlock() }
        return try body()
    }

    var keys: [String] { locked { objects.keys.sorted() } }
    func data(_ key: String) -> [UInt8]? { locked { objects[key]?.data } }
    func count(_ key: String, in list: [String]) -> Int { list.filter { $0 == key }.count }

    private func store(_ key: String, _ data: [UInt8]) {
        version += 1
        objects[key] = Entry(data: data, tag: "v\(version)", modified: Date().timeIntervalSince1970)
    }

    func list(_ prefix: String) throws -> [RemoteObject] {
        locked {
            objects.filter { $0.key.hasPrefix(prefix) }.sorted { $0.key < $1.key }
                .map { RemoteObject(key: $0.key, size: $0.value.data.count, tag: $0.value.tag, modified: $0.value.modified) }
        }
    }

    func get(_ key: String) throws -> (data: [UInt8], tag: String)? {
        locked { objects[key].map { ($0.data, $0.tag) } }
    }

    func get(_ key: String, range: Range<Int>) throws -> [UInt8] {
        try locked {
            guard let d = objects[key]?.data, range.upperBound <= d.count else {
                throw RemoteError(.read, remote: display, subject: key, "'\(key)' is shorter than expected")
            }
            return Array(d[range])
        }
    }

    @discardableResult
    func put(_ key: String, _ data: [UInt8], condition: WriteCondition) throws -> Bool {
        if key.hasPrefix("refs/"), condition != .none, let hook = beforeRefWrite { hook(key) }
        return locked {
            switch condition {
            case .none: break
            case .absent: if objects[key] != nil { return false }
            case .tag(let t): if objects[key]?.tag != t { return false }
            }
            store(key, data)
            return true
        }
    }

    func putFile(_ key: String, path: String) throws {
        let bytes = try FS.readFile(path)
        try locked {
            uploads.append(key)
            if let n = failUploadsFrom, uploads.count > n {
                throw RemoteError(.write, remote: display, subject: key, "uploading '\(key)' failed", cause: "connection reset")
            }
            store(key, bytes)
        }
    }

    func getFile(_ key: String, to path: String) throws {
        let bytes: [UInt8] = try locked {
            downloads.append(key)
            if let n = failDownloadsFrom, downloads.count > n {
                throw RemoteError(.read, remote: display, subject: key, "downloading '\(key)' failed", cause: "connection reset")
            }
            guard let d = objects[key]?.data else { throw RemoteError(.read, remote: display, subject: key, "'\(key)' is missing") }
            return d
        }
        try FS.atomicWrite(path, bytes, durable: false)
    }

    func delete(_ key: String) throws { locked { objects[key] = nil } }

    /// Sets a ref as another writer would (a plain write, no condition).
    func setRef(_ key: String, _ id: ObjectId) { locked { store(key, Array((id.hex + "\n").utf8)) } }
}

/// RemoteSync against an in-memory remote: negotiation, compare-and-swap of refs, and
/// interrupted pushes and fetches.
final class RemoteSyncTests: XCTestCase {
    var tmp: TempDir!

    override func setUpWithError() throws {
        tmp = TempDir("remotesync")
    }

    override func tearDown() { tmp.cleanup() }

    func makeRepo(_ name: String) throws -> Repository {
        try Repository.create(at: tmp.sub(name), settings: StoreSettings(fsync: false, identity: Identity(name: "Sync Test", email: "sync@test")))
    }

    func write(_ repo: Repository, _ rel: String, _ bytes: [UInt8]) throws {
        try FS.mkdirs(Path.dirname(repo.root + "/" + rel))
        try FS.atomicWrite(repo.root + "/" + rel, bytes, durable: false)
    }

    /// Adds and commits `files` (path → bytes).
    @discardableResult
    func commit(_ repo: Repository, _ files: [String: [UInt8]], _ message: String) throws -> ObjectId {
        for (p, b) in files { try write(repo, p, b) }
        _ = try repo.add(Array(files.keys))
        return try repo.commit(message: message)
    }

    func random(_ n: Int, seed: UInt64) -> [UInt8] {
        var g = SplitMix(seed: seed)
        var out = [UInt8](repeating: 0, count: n)
        var i = 0
        while i < n {
            var w = g.next()
            for _ in 0..<8 where i < n { out[i] = UInt8(truncatingIfNeeded: w); w >>= 8; i += 1 }
        }
        return out
    }

    func sync(_ repo: Repository, _ remote: MemoryTransport, jobs: Int = 1) throws -> RemoteSync {
        let s = try RemoteSync(repo: repo, spec: RemoteSpec(name: "origin", url: "memory:"), transport: remote)
        s.jobs = jobs
        return s
    }

    func assertClean(_ repo: Repository, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try repo.fsck()
        XCTAssertTrue(r.problems.isEmpty, r.problems.map(\.description).joined(separator: "; "), file: file, line: line)
    }

    func remoteError(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> RemoteError? {
        do { try body(); XCTFail("expected a RemoteError", file: file, line: line) } catch let e as RemoteError { return e } catch {
            XCTFail("expected a RemoteError, got \(error)", file: file, line: line)
        }
        return nil
    }

    /// Objects reachable from `tip`.
    func closure(_ repo: Repository, _ tip: ObjectId) throws -> Set<ObjectId> {
        let s = try sync(repo, MemoryTransport())
        return Set(try s.missing(from: [tip]))
    }

    // MARK: Negotiation

    func testPushSendsOnlyWhatTheRemoteLacks() throws {
        let a = try makeRepo("a"), remote = MemoryTransport()
        let c1 = try commit(a, ["x.txt": Array("x\n".utf8), "big.bin": random(300_000, seed: 1)], "one")
        let first = try sync(a, remote).push(["refs/heads/main"], force: false)
        XCTAssertEqual(first.objects, try closure(a, c1).count)
        XCTAssertEqual(first.updated.map(\.ref), ["refs/heads/main"])
        let uploadsAfterFirst = remote.uploads.count

        // A second commit changes one small file: only its blob, the new tree and the commit go.
        let c2 = try commit(a, ["y.txt": Array("y\n".utf8)], "two")
        let second = try sync(a, remote).push(["refs/heads/main"], force: false)
        let new = try closure(a, c2).subtracting(try closure(a, c1))
        XCTAssertEqual(second.objects, new.count)
        XCTAssertEqual(second.objects, 3, "blob, tree, commit")
        XCTAssertEqual(second.packs, 1)
        XCTAssertEqual(remote.uploads.count - uploadsAfterFirst, 3, "one pack: its .pack, .midx and .idx")
        XCTAssertEqual(String(decoding: remote.data("refs/heads/main") ?? [], as: UTF8.self), c2.hex + "\n")

        // Nothing new: nothing sent.
        let third = try sync(a, remote).push(["refs/heads/main"], force: false)
        XCTAssertEqual(third.objects, 0)
        XCTAssertEqual(third.upToDate, ["refs/heads/main"])

        // A fetch into a repository that has the first commit downloads only the pack it lacks.
        let b = try makeRepo("b")
        let sb = try sync(b, remote)
        let f = try sb.fetch()
        XCTAssertEqual(try b.refs.read("refs/remotes/origin/main"), c2)
        XCTAssertEqual(f.packs, 2)
        let again = try sync(b, remote).fetch()
        XCTAssertEqual(again.objects, 0)
        XCTAssertTrue(again.refs.isEmpty)
        try assertClean(b)
    }

    // MARK: Compare-and-swap

    func testRefMovedByAnotherPushIsRefusedWithoutLosingIt() throws {
        let a = try makeRepo("a"), b = try makeRepo("b"), remote = MemoryTransport()
        try commit(a, ["x.txt": Array("x\n".utf8)], "base")
        _ = try sync(a, remote).push(["refs/heads/main"], force: false)
        _ = try sync(b, remote).fetch()
        let base = try XCTUnwrap(try b.refs.read("refs/remotes/origin/main"))
        _ = try b.fastForward(branch: "main", to: base, message: "ff")
        let theirs = try commit(a, ["a.txt": Array("a\n".utf8)], "from a")
        let ours = try commit(b, ["b.txt": Array("b\n".utf8)], "from b")
        XCTAssertNotEqual(theirs, ours)

        // b read the remote's ref (base); a's push lands before b's compare-and-swap.
        remote.beforeRefWrite = { key in
            remote.beforeRefWrite = nil
            do { _ = try self.sync(a, remote).push([key], force: false) } catch { XCTFail("a's push: \(error)") }
        }
        let e = remoteError { _ = try sync(b, remote).push(["refs/heads/main"], force: false) }
        XCTAssertEqual(e?.operation, .push)
        XCTAssertEqual(e?.subject, "refs/heads/main")
        XCTAssertTrue(e?.message.contains("moved on the remote during this push") == true, e?.message ?? "")
        XCTAssertEqual(String(decoding: remote.data("refs/heads/main") ?? [], as: UTF8.self), theirs.hex + "\n", "a's update is kept")

        // Pushed again (the remote now has a commit b lacks): "fetch first", nothing moves.
        let e2 = remoteError { _ = try sync(b, remote).push(["refs/heads/main"], force: false) }
        XCTAssertTrue(e2?.message.contains("fetch first") == true, e2?.message ?? "")
        XCTAssertEqual(String(decoding: remote.data("refs/heads/main") ?? [], as: UTF8.self), theirs.hex + "\n")

        // A ref another writer created meanwhile (absent → present) is refused too.
        try b.refs.update("refs/heads/feature", to: ours, who: b.signature(), message: "branch")
        remote.beforeRefWrite = { key in remote.beforeRefWrite = nil; remote.setRef(key, theirs) }
        XCTAssertNotNil(remoteError { _ = try sync(b, remote).push(["refs/heads/feature"], force: false) })
        XCTAssertEqual(String(decoding: remote.data("refs/heads/feature") ?? [], as: UTF8.self), theirs.hex + "\n")
    }

    // MARK: Interruptions

    /// Three 200 KB random files in 64 KiB packs: several packs per push.
    func seedLarge(_ a: Repository) throws -> ObjectId {
        try commit(a, ["x.txt": Array("x\n".utf8)], "one")
        var files: [String: [UInt8]] = [:]
        for i in 0..<3 { files["more\(i).bin"] = random(200_000, seed: UInt64(i + 10)) }
        return try commit(a, files, "more")
    }

    func testInterruptedPushLeavesTheRemoteConsistentAndARetryCompletes() throws {
        let a = try makeRepo("a"), remote = MemoryTransport()
        let tip = try seedLarge(a)
        remote.failUploadsFrom = 2
        let s = try sync(a, remote)
        s.packLimit = 1 << 16
        let e = remoteError { _ = try s.push(["refs/heads/main"], force: false) }
        XCTAssertEqual(e?.operation, .write)
        let packs = remote.keys.filter { $0.hasPrefix("packs/") }
        XCTAssertEqual(packs.filter { $0.hasSuffix(".pack") }.count, 2, "two packs made it before the outage")
        XCTAssertTrue(packs.filter { $0.hasSuffix(".idx") || $0.hasSuffix(".midx") }.isEmpty, "no index: nothing visible yet")
        XCTAssertNil(remote.data("refs/heads/main"), "the ref did not move")

        // Meanwhile the remote reads as empty: a fetch gets nothing and leaves a clean store.
        let b = try makeRepo("b")
        let early = try sync(b, remote).fetch()
        XCTAssertTrue(early.refs.isEmpty)
        XCTAssertEqual(early.objects, 0)

        // The retry completes and does not upload the two packs again.
        remote.failUploadsFrom = nil
        let uploaded = remote.uploads.count
        let s2 = try sync(a, remote)
        s2.packLimit = 1 << 16
        let r = try s2.push(["refs/heads/main"], force: false)
        XCTAssertEqual(r.updated.map(\.new), [tip])
        let retried = Array(remote.uploads[uploaded...])
        for p in packs { XCTAssertEqual(remote.count(p, in: retried), 0, "\(p) was uploaded again") }
        let after = remote.keys.filter { $0.hasPrefix("packs/") }
        XCTAssertGreaterThan(after.filter { $0.hasSuffix(".pack") }.count, 2)
        XCTAssertEqual(after.filter { $0.hasSuffix(".pack") }.count, after.filter { $0.hasSuffix(".idx") }.count)

        _ = try sync(b, remote).fetch()
        XCTAssertEqual(try b.refs.read("refs/remotes/origin/main"), tip)
        try assertClean(b)
        XCTAssertEqual(try b.fsck().objectsChecked, try closure(a, tip).count)
    }

    func testInterruptedFetchLeavesTheStoreCleanAndARetryResumes() throws {
        let a = try makeRepo("a"), remote = MemoryTransport()
        let tip = try seedLarge(a)
        let s = try sync(a, remote)
        s.packLimit = 1 << 16
        _ = try s.push(["refs/heads/main"], force: false)
        let packCount = remote.keys.filter { $0.hasSuffix(".pack") }.count
        XCTAssertGreaterThan(packCount, 3)

        // An outage after the pack indexes (the listing's) and three packs (each an .idx and
        // a .pack): a pack installed by an earlier round stays, the ones downloaded in the
        // failed round but not yet verified stay in the incoming folder.
        let c = try makeRepo("c")
        remote.failDownloadsFrom = remote.downloads.count + packCount + 3 * 2
        let e = remoteError { _ = try sync(c, remote).fetch() }
        XCTAssertEqual(e?.operation, .read)
        XCTAssertNil(try c.refs.read("refs/remotes/origin/main"), "no ref moved")
        XCTAssertTrue(FS.exists(c.dotDir + "/FETCH_INCOMPLETE"))
        try assertClean(c)

        // The retry reuses the two complete downloads and completes the store.
        remote.failDownloadsFrom = nil
        let before = remote.downloads.count
        let r = try sync(c, remote).fetch()
        XCTAssertGreaterThan(r.packsResumed, 0)
        XCTAssertEqual(remote.downloads.count - before, 2 * (packCount - 3), "the three complete packs are not downloaded again")
        XCTAssertEqual(try c.refs.read("refs/remotes/origin/main"), tip)
        XCTAssertFalse(FS.exists(c.dotDir + "/FETCH_INCOMPLETE"))
        try assertClean(c)
        XCTAssertEqual(try c.fsck().objectsChecked, try closure(a, tip).count)
    }

    // MARK: Clone

    func testCloneChecksOutTheDefaultBranchAndCleansUpAfterAFailure() throws {
        let a = try makeRepo("a")
        let tip = try commit(a, ["x.txt": Array("x\n".utf8), "d/y.bin": random(50_000, seed: 3)], "one")
        let settings = StoreSettings(fsync: false, identity: Identity(name: "Sync Test", email: "sync@test"))

        // A relative folder URL and directory, both taken from cwd.
        let r = try Repository.clone(from: "a", into: "b", cwd: tmp.path, options: CloneOptions(jobs: 2), settings: settings)
        XCTAssertEqual(r.repository.root, FS.realpath(tmp.sub("b")))
        XCTAssertEqual(r.branch, "main")
        XCTAssertEqual(try r.repository.refs.read("refs/heads/main"), tip)
        XCTAssertEqual(try r.repository.remote("origin").url, tmp.sub("a"))
        XCTAssertEqual(try FS.readFile(tmp.sub("b/d/y.bin")), random(50_000, seed: 3))
        XCTAssertEqual(r.objects, try closure(a, tip).count)
        try assertClean(r.repository)

        // --no-checkout: the branch, no files; a lazy clone counts what its checkout fetched.
        let n = try Repository.clone(from: tmp.sub("a"), into: tmp.sub("n"), cwd: "/", options: CloneOptions(noCheckout: true), settings: settings)
        XCTAssertEqual(try n.repository.refs.read("refs/heads/main"), tip)
        XCTAssertFalse(FS.exists(tmp.sub("n/x.txt")))
        let l = try Repository.clone(from: tmp.sub("a"), into: tmp.sub("l"), cwd: "/", options: CloneOptions(lazy: true), settings: settings)
        XCTAssertEqual(try FS.readFile(tmp.sub("l/d/y.bin")), random(50_000, seed: 3))
        XCTAssertEqual(l.objects, try closure(a, tip).count, "metadata by the fetch, file data by the checkout")

        // A branch the remote lacks: an error, and the new folder is gone again.
        let e = storeError(try Repository.clone(from: tmp.sub("a"), into: tmp.sub("c"), cwd: "/", options: CloneOptions(branch: "nope"),
                                                settings: settings))
        XCTAssertEqual(e?.description, "the remote has no branch 'nope'")
        XCTAssertFalse(FS.exists(tmp.sub("c")))
        // A folder that is not empty is refused before anything is written; a bad URL too.
        XCTAssertEqual(storeError(try Repository.clone(from: tmp.sub("a"), into: "b", cwd: tmp.path, settings: settings))?.description,
                       "'b' already exists and is not empty")
        XCTAssertNotNil(remoteError { _ = try Repository.clone(from: tmp.sub("nowhere"), into: tmp.sub("d"), cwd: "/", settings: settings) })
        XCTAssertFalse(FS.exists(tmp.sub("d")))
    }
}
