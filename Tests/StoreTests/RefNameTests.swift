import Foundation
import XCTest
import TestHelpers
@testable import Store
@testable import Support

/// Ref names against git's own `check-ref-format`, the one checked place where a ref name
/// becomes a path, and fsck's view of refs (issue 13 #1, #10).
final class RefNameTests: XCTestCase {
    /// Names that probe every rule, plus random ones over an alphabet of the characters the
    /// rules are about.
    func sampleNames() -> [String] {
        var names = ["main", "a/b", "a/b/c", "refs/heads/main", "a.", "a./b", "a/b.", ".a", "a/.b", "a..b", "a/../b",
                     "a.lock", "a.lock/b", "a/b.lock", "lock", ".lock", "a.lockx", "a@{1}", "a@b", "@", "@/a", "a/@",
                     "a{b}", "a//b", "/a", "a/", "-a", "a-", "HEAD", "a b", "a\tb", "a\u{7f}b", "a\u{1b}b", "a~b", "a^b",
                     "a:b", "a?b", "a*b", "a[b", "a]b", "a\\b", "ü", "日本/語", "a\u{2028}b", "x@{", "a..", "..", ".",
                     "a/./b", "a/.", "refs/heads/../../../../tmp/x/EVIL", "a,b", "a!b", "a#b", "a%b", "a'b", "a\"b", "a|b"]
        var rng = SplitMix(seed: 0x5EF5)
        let alphabet: [String] = ["a", "b", ".", ".", "/", "/", "@", "{", "-", "~", "^", ":", "?", "*", "[", "\\", " ",
                                  "\t", "\u{7f}", "l", "o", "c", "k", ".lock", "é", "}"]
        for _ in 0..<400 {
            var s = ""
            for _ in 0..<(1 + Int(rng.next() % 8)) { s += alphabet[Int(rng.next() % UInt64(alphabet.count))] }
            names.append(s)
        }
        return names
    }

    /// Exit statuses of `git check-ref-format --allow-onelevel NAME` for each name, in
    /// order (one xargs run, names NUL-separated); nil when git is not installed.
    func gitVerdicts(_ names: [String]) throws -> [Bool]? {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/git") else { return nil }
        let tmp = TempDir("refnames"); defer { tmp.cleanup() }
        let input = tmp.sub("names")
        var data = Data()
        for n in names { data.append(Data(n.utf8)); data.append(0) }
        try data.write(to: URL(fileURLWithPath: input))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "xargs -0 -n1 sh -c 'if git check-ref-format --allow-onelevel \"$0\"; then echo 1; else echo 0; fi' < \"$1\"", "sh", input]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let d = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let v = String(decoding: d, as: UTF8.self).split(separator: "\n").map { $0 == "1" }
        XCTAssertEqual(v.count, names.count, "one verdict per name")
        return v
    }

    func testFormatMatchesGitCheckRefFormat() throws {
        let names = sampleNames()
        // git would take a leading '-' for an option: ask about "x/-…" instead (same verdict).
        let asked = names.map { $0.hasPrefix("-") ? "x/" + $0 : $0 }
        guard let git = try gitVerdicts(asked) else { throw XCTSkip("git is not installed") }
        var disagree: [String] = []
        for (n, (q, g)) in zip(names, zip(asked, git)) {
            if (RefName.formatProblem(q) == nil) != g { disagree.append("'\(RefName.printable(q))' git: \(g)") }
            // Branch and tag names: git's rules, and not "-x" or "HEAD".
            let short = g && !n.hasPrefix("-") && n != "HEAD"
            if Refs.isValidName(n) != short { disagree.append("short '\(RefName.printable(n))' git: \(g)") }
        }
        XCTAssertEqual(disagree, [], "\(disagree.count) of \(names.count) names judged unlike git")
    }

    func testLengthBoundsAndFullNames() {
        let c255 = String(repeating: "a", count: 255)
        XCTAssertNil(RefName.formatProblem("refs/heads/" + c255))
        XCTAssertNotNil(RefName.formatProblem("refs/heads/" + c255 + "a"), "a component longer than 255 bytes")
        let long = (0..<200).map { _ in "abcd" }.joined(separator: "/")  // 999 bytes
        XCTAssertNil(RefName.formatProblem(long))
        XCTAssertNotNil(RefName.formatProblem(long + "/abcdefghijklmnopqrstuvwxyz"), "over 1024 bytes in all")
        for ok in ["HEAD", "refs/heads/main", "refs/heads/feature/x", "refs/tags/v1.0", "refs/remotes/origin/main",
                   "refs/remotes/origin/a/b", "refs/aliases/production"] {
            XCTAssertNil(RefName.fullProblem(ok), ok)
        }
        for bad in ["main", "refs/main", "refs/heads", "refs/heads/", "refs/notes/x", "refs/remotes/origin", "refs/aliases/a/b",
                    "refs/heads/-x", "refs/heads/HEAD", "refs/heads/../../config", "refs/heads/a\nb", "logs/HEAD", "head"] {
            XCTAssertNotNil(RefName.fullProblem(bad), bad)
        }
        XCTAssertEqual(RefName.printable("a\u{1b}[31m\nb'"), "a\\033[31m\\nb'")
    }

    func testEveryRefPathIsChecked() throws {
        let tmp = TempDir("refs"); defer { tmp.cleanup() }
        let refs = Refs(dir: tmp.sub(".mlrepo"), durable: false)
        try FS.mkdirs(tmp.sub(".mlrepo/refs/heads"))
        try FS.atomicWrite(tmp.sub(".mlrepo/HEAD"), text: "ref: refs/heads/main\n")
        var rng = SplitMix(seed: 1)
        let id = rng.id()
        let who = Signature(name: "T", email: "t@x", time: 1, tzOffsetMinutes: 0)
        let escape = "refs/heads/" + String(repeating: "../", count: 8) + String(tmp.sub("EVIL").dropFirst())
        for bad in [escape, "refs/heads/../../config", "refs/heads/x.lock", "refs/heads/a\u{1b}b", "refs/x", "../HEAD"] {
            XCTAssertThrowsError(try refs.update(bad, to: id, who: who, message: "m"), bad)
            XCTAssertThrowsError(try refs.read(bad), bad)
            XCTAssertThrowsError(try refs.delete(bad), bad)
            XCTAssertThrowsError(try refs.log(bad), bad)
        }
        XCTAssertThrowsError(try refs.setHead(.branch("../../x"), who: who, message: "m"))
        XCTAssertFalse(FS.exists(tmp.sub("EVIL")))
        XCTAssertEqual(try FS.list(tmp.path).map(\.name), [".mlrepo"], "nothing written outside .mlrepo")
        // Planted files: skipped by list, reported by check.
        try refs.update("refs/heads/main", to: id, who: who, message: "m")
        try FS.atomicWrite(tmp.sub(".mlrepo/refs/heads/bad\u{1b}x"), text: id.hex + "\n")
        try FS.atomicWrite(tmp.sub(".mlrepo/refs/heads/ok.lock"), text: id.hex + "\n")
        XCTAssertEqual(symlink(tmp.sub(".mlrepo/HEAD"), tmp.sub(".mlrepo/refs/heads/link")), 0)
        XCTAssertEqual(try refs.list("heads").map(\.name), ["main"])
        let problems = refs.check()
        XCTAssertEqual(problems.count, 3, "\(problems)")
        XCTAssertTrue(problems.allSatisfy { !$0.contains("\u{1b}") }, "\(problems)")
        // HEAD naming an invalid branch is corrupt, not followed.
        try FS.atomicWrite(tmp.sub(".mlrepo/HEAD"), text: "ref: refs/heads/../../config\n")
        guard case .corruptFile? = storeError(try refs.head()) else { return XCTFail() }
        XCTAssertEqual(refs.check().count, 4)
    }

    /// fsck of a repository opened (packs listed) before another writer published a pack
    /// and the index naming its objects: those objects are not missing.
    func testFsckSeesAPackPublishedAfterItOpenedTheRepository() throws {
        let tmp = TempDir("fsckrace"); defer { tmp.cleanup() }
        let writer = try Repository.create(at: tmp.path, settings: StoreSettings(fsync: false))
        try FS.atomicWrite(tmp.sub("a.txt"), text: "one\n", durable: false)
        _ = try writer.add([""])
        _ = try writer.commit(message: "one")
        let checker = try Repository(root: writer.root, settings: StoreSettings(fsync: false))  // lists the packs now
        try FS.atomicWrite(tmp.sub("b.txt"), text: "two\n", durable: false)
        _ = try writer.add([""])  // a new pack, then the index that names it
        let r = try checker.fsck()
        XCTAssertEqual(r.problems.map(\.description), [])
    }
}

final class RemoteRefNameTests: XCTestCase {
    /// The check a remote listing passes before any ref is read or written.
    func testRemoteListingChecks() throws {
        let tmp = TempDir("remoterefs"); defer { tmp.cleanup() }
        let repo = try Repository.create(at: tmp.sub("repo"), settings: StoreSettings(fsync: false))
        try repo.addRemote(RemoteSpec(name: "origin", url: tmp.sub("remote")))
        let sync = try RemoteSync(repo: repo, remote: "origin", create: true)
        XCTAssertNoThrow(try sync.checkRemoteRefNames(["refs/heads/main", "refs/heads/a/b", "refs/tags/v1.0", "refs/aliases/prod",
                                                        "refs/remotes/up/main", "refs/notes/x"]))
        for bad in [["refs/heads/a", "refs/heads/a/b"], ["refs/aliases/a/b"], ["refs/heads/../../x"], ["refs/heads/-x"],
                    ["refs/heads/HEAD"], ["HEAD"], ["packs/x"], ["refs/heads/"], ["refs/tags/t\u{1b}[2J"]] {
            XCTAssertThrowsError(try sync.checkRemoteRefNames(bad), "\(bad)") { e in
                let m = "\(e)"
                XCTAssertTrue(m.hasPrefix(tmp.sub("remote") + ": refusing the remote's ref '"), m)
                XCTAssertFalse(m.contains("\n") || m.contains("\u{1b}"), m)
            }
        }
        // Remote names from a hand-edited config never become paths.
        try FS.atomicWrite(repo.dotDir + "/config", text: "[remote]\n\t...url = /x\n\torigin.url = /y\n")
        XCTAssertEqual(try Repository(root: repo.root).remotes().map(\.name), ["origin"])
    }
}
