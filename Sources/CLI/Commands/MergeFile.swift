#if canImport(Glibc)
import Glibc
#endif
import Support

// `merge-file`: git's plumbing three-way merge of one file, on plain files outside the store.

/// The largest input merge-file reads (each of the three files).
let mergeFileMaxBytes = 256 << 20

let mergeFileCommand = Command(
    name: "merge-file", kind: .plumbing, summary: "three-way merge of one file, as git merge-file",
    usage: """
    mlrepo merge-file [-p] [--diff3] [--ours | --theirs | --union] [--marker-size N] [-q]
                      [-L OURS_LABEL [-L BASE_LABEL [-L THEIRS_LABEL]]] OURS BASE THEIRS

    Merges the changes from BASE to THEIRS into OURS, line by line, and writes the result
    into OURS (-p/--stdout: to standard output instead). Conflicts are marked as git marks
    them (<<<<<<< OURS_LABEL, ======= and >>>>>>> THEIRS_LABEL; with --diff3 also
    ||||||| BASE_LABEL and the base's lines); the labels default to the file names.
    --ours, --theirs, --union resolve each conflict with that side (or both, ours first).
    The output is byte for byte that of git merge-file (see docs/diffs.md).
    Exit status: the number of conflicts (at most 127), 0 for a clean merge; 255 for an
    error (a file missing, binary or over 256 MiB), with one line naming the file.
    """,
    flags: ["print": ["-p", "--stdout"], "diff3": ["--diff3"], "ours": ["--ours"], "theirs": ["--theirs"],
            "union": ["--union"], "quiet": ["-q", "--quiet"]],
    options: ["label": ["-L"], "markerSize": ["--marker-size"]]
) { a, ctx in
    func fail(_ message: String) -> Int32 {
        ctx.out.flush()
        ctx.err.line("error: " + Quote.controls(message)); ctx.err.flush()
        return 255
    }
    guard a.positional.count == 3 else { return fail("merge-file takes three files: OURS BASE THEIRS") }
    let labels = a.values("label")
    guard labels.count <= 3 else { return fail("-L may be given at most three times") }
    let favors = ["ours", "theirs", "union"].filter { a.has($0) }
    guard favors.count <= 1 else { return fail("--ours, --theirs and --union exclude each other") }
    var options = TextMergeOptions(style: a.has("diff3") ? .diff3 : .merge,
                                   favor: favors.first.flatMap(TextMergeOptions.Favor.init(rawValue:)) ?? .none)
    if let m = a.value("markerSize") {
        guard let n = Int(m), n > 0, n <= 1024 else { return fail("--marker-size takes a number from 1 to 1024, not '\(m)'") }
        options.markerSize = n
    }
    let files = a.positional
    options.oursLabel = labels.count > 0 ? labels[0] : files[0]
    options.baseLabel = labels.count > 1 ? labels[1] : files[1]
    options.theirsLabel = labels.count > 2 ? labels[2] : files[2]
    var inputs: [[UInt8]] = []
    for name in files {
        let path = name.hasPrefix("/") ? name : Path.join(ctx.cwd, name)
        switch readMergeInput(path) {
        case .success(let b):
            if b.prefix(8000).contains(0) { return fail("cannot merge binary files: \(name)") }
            inputs.append(b)
        case .failure(let e): return fail("\(name): \(e.description)")
        }
    }
    let result = TextMerge.merge(base: inputs[1], ours: inputs[0], theirs: inputs[2], options: options)
    if a.has("print") {
        ctx.out.flush()
        result.bytes.withUnsafeBytes { ctx.out.writeBytes($0) }
    } else {
        var path = files[0].hasPrefix("/") ? files[0] : Path.join(ctx.cwd, files[0])
        // A symlink is written through, as git does: the new file replaces its target.
        if FS.lstat(path)?.isSymlink == true {
            guard let target = FS.realpath(path) else { return fail("\(files[0]): cannot resolve the symbolic link") }
            path = target
        }
        guard FS.stat(path)?.isRegular != false else { return fail("\(files[0]): not a regular file, cannot write the result there (use -p)") }
        let mode = FS.stat(path).map { mode_t($0.mode & 0o7777) } ?? 0o644
        do { try FS.atomicWrite(path, result.bytes, mode: mode) } catch { return fail("\(files[0]): \(error)") }
    }
    return Int32(min(result.conflicts, 127))
}

struct MergeInputError: Error, CustomStringConvertible { let description: String }

/// A whole file of at most `mergeFileMaxBytes` bytes: a regular file, or another readable
/// file (`/dev/null`, a character device, a pipe) read to its end.
func readMergeInput(_ path: String) -> Result<[UInt8], MergeInputError> {
    guard let st = FS.stat(path) else { return .failure(MergeInputError(description: "no such file")) }
    guard !st.isDirectory else { return .failure(MergeInputError(description: "is a directory")) }
    guard st.isRegular else { return readToEnd(path) }
    guard st.size <= UInt64(mergeFileMaxBytes) else {
        return .failure(MergeInputError(description: "larger than 256 MiB, the most merge-file reads"))
    }
    do {
        let f = try FileDescriptor(path: path, flags: O_RDONLY)
        // Read at most one byte past the limit, in case the file grew since stat.
        let cap = Int(st.size) + 1
        var bytes = [UInt8](repeating: 0, count: cap)
        let n = try bytes.withUnsafeMutableBytes { try f.readFully(into: $0.baseAddress!, count: cap) }
        if n > mergeFileMaxBytes { return .failure(MergeInputError(description: "larger than 256 MiB, the most merge-file reads")) }
        bytes.removeSubrange(n...)
        return .success(bytes)
    } catch {
        return .failure(MergeInputError(description: "\(error)"))
    }
}

/// Reads a non-regular file to its end, 64 KiB at a time, failing once past the limit.
private func readToEnd(_ path: String) -> Result<[UInt8], MergeInputError> {
    do {
        let f = try FileDescriptor(path: path, flags: O_RDONLY)
        var bytes: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = try buf.withUnsafeMutableBytes { try f.read(into: $0.baseAddress!, count: $0.count) }
            if n <= 0 { break }
            guard bytes.count + n <= mergeFileMaxBytes else {
                return .failure(MergeInputError(description: "larger than 256 MiB, the most merge-file reads"))
            }
            bytes += buf[0..<n]
        }
        return .success(bytes)
    } catch {
        return .failure(MergeInputError(description: "\(error)"))
    }
}
