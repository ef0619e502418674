#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Support

// Tree ensembles of the ai.onnx.ml domain (TreeEnsembleClassifier, TreeEnsembleRegressor,
// TreeEnsemble), compiled at load into flat arrays and traversed a block of rows at a time.
//
// Compilation walks each tree from its root with an explicit stack (no recursion), gives every
// branch node a new index in preorder and every leaf a range of (target, weight) pairs. A
// branch node may be reached only once, so a cycle or a shared subtree is refused; as each
// child gets an index greater than its parent's, a traversal only moves forward and ends
// within `nodeCount` steps whatever the file says.
//
// Scoring follows onnxruntime (tree_ensemble_aggregator.h, ml_common.h): leaves add their
// weights per target in tree order in Float, then base values, the aggregate (SUM, AVERAGE,
// MIN, MAX), the post-transform and, for classifiers, the label and onnxruntime's binary rules
// (one scored class expands to two columns).

/// How a branch node compares the feature with its threshold.
enum TreeNodeMode: UInt8, Sendable {
    case leq = 0, lt, gte, gt, eq, neq, member

    init?(legacy s: String) {
        switch s {
        case "BRANCH_LEQ": self = .leq
        case "BRANCH_LT": self = .lt
        case "BRANCH_GTE": self = .gte
        case "BRANCH_GT": self = .gt
        case "BRANCH_EQ": self = .eq
        case "BRANCH_NEQ": self = .neq
        default: return nil
        }
    }
}

enum TreeAggregate: Sendable {
    case sum, average, min, max

    init?(name: String) {
        switch name {
        case "SUM": self = .sum
        case "AVERAGE": self = .average
        case "MIN": self = .min
        case "MAX": self = .max
        default: return nil
        }
    }
}

/// onnxruntime's post-transforms (ml_common.h).
enum PostTransform: Sendable {
    case none, softmax, logistic, softmaxZero, probit

    init?(name: String) {
        switch name {
        case "NONE": self = .none
        case "SOFTMAX": self = .softmax
        case "LOGISTIC": self = .logistic
        case "SOFTMAX_ZERO": self = .softmaxZero
        case "PROBIT": self = .probit
        default: return nil
        }
    }

    static func logistic(_ v: Float) -> Float {
        let e = 1 / (1 + expf(-abs(v)))
        return v < 0 ? 1 - e : e
    }

    static func erfInv(_ x0: Float) -> Float {
        let sgn: Float = x0 < 0 ? -1 : 1
        let x = (1 - x0) * (1 + x0)
        let l = logf(x)
        let v = 2 / (Float.pi * 0.147) + 0.5 * l
        let v2 = 1 / 0.147 * l
        let v3 = -v + (v * v - v2).squareRoot()
        return sgn * v3.squareRoot()
    }

    static func probit(_ v: Float) -> Float { Float(2).squareRoot() * erfInv(2 * v - 1) }

    /// Transforms a row of two or more scores in place.
    func apply(_ s: UnsafeMutableBufferPointer<Float>) {
        switch self {
        case .none: break
        case .logistic: for i in s.indices { s[i] = PostTransform.logistic(s[i]) }
        case .probit: for i in s.indices { s[i] = PostTransform.probit(s[i]) }
        case .softmax:
            var m = -Float.greatestFiniteMagnitude
            for v in s where v > m { m = v }
            var sum: Float = 0
            for i in s.indices { s[i] = expf(s[i] - m); sum += s[i] }
            for i in s.indices { s[i] /= sum }
        case .softmaxZero:
            var m = -Float.greatestFiniteMagnitude
            for v in s where v > m { m = v }
            let expNegMax = expf(-m)
            var sum: Float = 0
            for i in s.indices {
                if s[i] > 0.0000001 || s[i] < -0.0000001 { s[i] = expf(s[i] - m); sum += s[i] } else { s[i] *= expNegMax }
            }
            for i in s.indices { s[i] /= sum }
        }
    }

    /// onnxruntime's write_binary_scores: one score becomes two columns (or one for PROBIT
    /// and for `secondClass` -1).
    func writeBinary(_ sc: Float, secondClass: Int, into out: UnsafeMutablePointer<Float>) -> Int {
        if self == .probit { out[0] = PostTransform.probit(sc); return 1 }
        switch secondClass {
        case 0, 1: out[0] = 1 - sc; out[1] = sc
        case 2, 3:
            // (onnxruntime 1.32 writes -sc, sc for both, although its ml_common.h once wrote sc, -sc for 3.)
            if self == .logistic { out[0] = PostTransform.logistic(-sc); out[1] = PostTransform.logistic(sc) }
            else { out[0] = -sc; out[1] = sc }
        default: out[0] = sc; return 1
        }
        return 2
    }
}

/// A tree ensemble's structure as the operator's attributes give it, before compilation.
/// Children are references into `nodes`; leaves carry their (target, weight) pairs.
struct TreeSource {
    struct Node {
        var feature: Int64 = 0
        var threshold: Float = 0
        var mode: TreeNodeMode = .leq
        var isLeaf = false
        var missingTrue = false
        var trueChild = -1, falseChild = -1
        var members: [Float] = []
        var weights: [(target: Int32, weight: Float)] = []
    }
    var nodes: [Node] = []
    var roots: [Int] = []
}

/// The compiled ensemble, immutable and shared by threads.
final class CompiledTrees: Sendable {
    // Branch nodes, in preorder per tree.
    let feature: [Int32]
    let threshold: [Float]
    let mode: [UInt8]
    let missingTrue: [Bool]
    /// Child references: >= 0 a branch node, < 0 the leaf ~ref.
    let trueChild: [Int32]
    let falseChild: [Int32]
    /// For BRANCH_MEMBER nodes: their range in `members`.
    let memberStart: [Int32]
    let memberEnd: [Int32]
    let members: [Float]
    /// Leaves: their range in `leafTarget`/`leafWeight`.
    let leafStart: [Int32]
    let leafEnd: [Int32]
    let leafTarget: [Int32]
    let leafWeight: [Float]
    /// Each tree's root reference (as a child reference).
    let roots: [Int32]
    /// The branch nodes packed for traversal (feature, threshold, children: 16 bytes each),
    /// then one node no reference reaches, so that the array is never empty.
    let packed: [PackedTreeNode]
    /// Whether every leaf has exactly one weight (leaf l's is at index l).
    let oneWeightPerLeaf: Bool
    /// The target every leaf weight scores, when they all score the same one.
    let fixedTarget: Int32?
    /// The mode every branch node uses, for the fast paths; nil when the modes are mixed.
    let uniformMode: TreeNodeMode?
    /// The largest feature index any node reads (-1 when none).
    let maxFeature: Int
    let targets: Int

    var treeCount: Int { roots.count }

    /// Most nodes, leaves and weights a tree ensemble may declare (each array is checked
    /// against the attribute that holds it, so this only bounds what compilation allocates).
    static let maxNodes = 1 << 26

    init(_ src: TreeSource, targets: Int) throws {
        guard targets >= 1 else { throw ONNXRunError("the ensemble has \(targets) targets or classes") }
        var feature: [Int32] = [], threshold: [Float] = [], mode: [UInt8] = [], missing: [Bool] = []
        var tc: [Int32] = [], fc: [Int32] = [], mStart: [Int32] = [], mEnd: [Int32] = [], members: [Float] = []
        var lStart: [Int32] = [], lEnd: [Int32] = [], lTarget: [Int32] = [], lWeight: [Float] = []
        var leafRef = [Int32](repeating: 0, count: src.nodes.count)   // compiled ref per source node, 0 = none yet
        var reached = [Bool](repeating: false, count: src.nodes.count)
        var maxFeature = -1
        var roots: [Int32] = []
        var modesSeen = Set<UInt8>()

        func leaf(_ i: Int) throws -> Int32 {
            if leafRef[i] != 0 { return leafRef[i] }
            let n = src.nodes[i]
            let l = Int32(lStart.count)
            lStart.append(Int32(lTarget.count))
            for (t, w) in n.weights {
                guard t >= 0, Int(t) < targets else {
                    throw ONNXRunError("a leaf weight names target or class \(t), beyond the \(targets) declared")
                }
                lTarget.append(t); lWeight.append(w)
            }
            lEnd.append(Int32(lTarget.count))
            leafRef[i] = ~l
            return ~l
        }

        for root in src.roots {
            guard root >= 0, root < src.nodes.count else { throw ONNXRunError("a tree root refers to node \(root), which does not exist") }
            if src.nodes[root].isLeaf { roots.append(try leaf(root)); continue }
            // (source node, compiled parent, true side?) — the parent is patched when the child gets its index.
            var stack: [(Int, Int, Bool)] = [(root, -1, false)]
            while let (i, parent, isTrue) = stack.popLast() {
                let n = src.nodes[i]
                let ref: Int32
                if n.isLeaf {
                    ref = try leaf(i)
                } else {
                    guard !reached[i] else {
                        throw ONNXRunError("node \(i) is reached twice (a cycle or a shared subtree)")
                    }
                    reached[i] = true
                    guard feature.count < CompiledTrees.maxNodes else { throw ONNXRunError("the ensemble has too many nodes") }
                    guard n.feature >= 0, n.feature <= Int64(Int32.max) else {
                        throw ONNXRunError("node \(i) reads feature \(n.feature), which is out of range")
                    }
                    ref = Int32(feature.count)
                    feature.append(Int32(n.feature)); threshold.append(n.threshold); mode.append(n.mode.rawValue)
                    missing.append(n.missingTrue)
                    tc.append(0); fc.append(0)
                    mStart.append(Int32(members.count)); members.append(contentsOf: n.members); mEnd.append(Int32(members.count))
                    maxFeature = max(maxFeature, Int(n.feature))
                    modesSeen.insert(n.mode.rawValue)
                    for c in [n.falseChild, n.trueChild] {
                        guard c >= 0, c < src.nodes.count else {
                            throw ONNXRunError("node \(i) has a child \(c) that does not exist")
                        }
                    }
                    stack.append((n.falseChild, Int(ref), false))
                    stack.append((n.trueChild, Int(ref), true))
                }
                if parent < 0 { roots.append(ref) } else if isTrue { tc[parent] = ref } else { fc[parent] = ref }
            }
        }
        self.feature = feature; self.threshold = threshold; self.mode = mode; self.missingTrue = missing
        self.trueChild = tc; self.falseChild = fc; memberStart = mStart; memberEnd = mEnd; self.members = members
        leafStart = lStart; leafEnd = lEnd; leafTarget = lTarget; leafWeight = lWeight
        self.roots = roots
        packed = (0..<feature.count).map {
            PackedTreeNode(feature: feature[$0] | (missing[$0] ? Int32.min : 0), threshold: threshold[$0], trueChild: tc[$0], falseChild: fc[$0])
        } + [PackedTreeNode(feature: 0, threshold: 0, trueChild: -1, falseChild: -1)]
        oneWeightPerLeaf = zip(lStart, lEnd).enumerated().allSatisfy { l, r in r.1 - r.0 == 1 && Int(r.0) == l }
        fixedTarget = lTarget.isEmpty || lTarget.contains(where: { $0 != lTarget[0] }) ? nil : lTarget[0]
        self.maxFeature = maxFeature
        self.targets = targets
        uniformMode = modesSeen.count == 1 ? TreeNodeMode(rawValue: modesSeen.first!) : (modesSeen.isEmpty ? .leq : nil)
    }

    /// Rows of a block traverse every tree before the next block starts.
    static let blockRows = 64

    /// Adds, for rows `rows` of `x` (row-major, `width` columns), each tree's leaf weights into
    /// `scores` and marks `has` (both `rows.count * targets`, row-major), per `aggregate`.
    func accumulate(_ x: UnsafeBufferPointer<Float>, width: Int, rows: Range<Int>, aggregate: TreeAggregate,
                    scores: UnsafeMutablePointer<Float>, has: UnsafeMutablePointer<UInt8>) {
        packed.withUnsafeBufferPointer { nodes in
            let p = nodes.baseAddress!   // never empty: see `packed`
            if let m = uniformMode {
                switch m {
                case .leq: return accumulate(UniformWalk<LEQ>(nodes: p), x, width, rows, aggregate, scores, has)
                case .lt: return accumulate(UniformWalk<LT>(nodes: p), x, width, rows, aggregate, scores, has)
                case .gte: return accumulate(UniformWalk<GTE>(nodes: p), x, width, rows, aggregate, scores, has)
                case .gt: return accumulate(UniformWalk<GT>(nodes: p), x, width, rows, aggregate, scores, has)
                case .eq: return accumulate(UniformWalk<EQ>(nodes: p), x, width, rows, aggregate, scores, has)
                case .neq: return accumulate(UniformWalk<NEQ>(nodes: p), x, width, rows, aggregate, scores, has)
                case .member: break
                }
            }
            accumulate(GeneralWalk(trees: self, nodes: p), x, width, rows, aggregate, scores, has)
        }
    }

    private func accumulate<W: TreeWalk>(_ walk: W, _ x: UnsafeBufferPointer<Float>, _ width: Int, _ rows: Range<Int>,
                                         _ aggregate: TreeAggregate,
                                         _ scores: UnsafeMutablePointer<Float>, _ has: UnsafeMutablePointer<UInt8>) {
        leafStart.withUnsafeBufferPointer { ls in
        leafEnd.withUnsafeBufferPointer { le in
        leafTarget.withUnsafeBufferPointer { lt in
        leafWeight.withUnsafeBufferPointer { lw in
            let nt = targets
            let x0 = x.baseAddress! + rows.lowerBound * width
            let count = rows.count
            if oneWeightPerLeaf, aggregate == .sum || aggregate == .average {
                // Every leaf adds one weight: its target and weight sit at the leaf's index.
                @inline(__always) func add(_ l: Int, _ r: Int) {
                    let j = r * nt + Int(lt[l])
                    scores[j] += lw[l]
                    has[j] = 1
                }
                if count < 4 {
                    // Few rows: four trees at a time per row, summed in a register where every
                    // leaf scores the same target (the trees' order of summing stays the same).
                    roots.withUnsafeBufferPointer { rb in
                        let rp = rb.baseAddress!
                        for r in 0..<count {
                            let xr = x0 + r * width
                            var t = 0
                            if let target = fixedTarget, !rb.isEmpty {
                                var acc: Float = 0
                                while t + 4 <= rb.count {
                                    let (a, b, c, d) = walk.leaves(rp + t, xr)
                                    acc += lw[a]; acc += lw[b]; acc += lw[c]; acc += lw[d]
                                    t += 4
                                }
                                while t < rb.count { acc += lw[walk.leaf(rp[t], xr)]; t += 1 }
                                scores[r * nt + Int(target)] += acc
                                has[r * nt + Int(target)] = 1
                                continue
                            }
                            while t + 4 <= rb.count {
                                let (a, b, c, d) = walk.leaves(rp + t, xr)
                                add(a, r); add(b, r); add(c, r); add(d, r)
                                t += 4
                            }
                            while t < rb.count { add(walk.leaf(rp[t], xr), r); t += 1 }
                        }
                    }
                    return
                }
                for root in roots {
                    for r in 0..<count { add(walk.leaf(root, x0 + r * width), r) }
                }
                return
            }
            for root in roots {
                for r in 0..<count {
                    let leaf = walk.leaf(root, x0 + r * width)
                    let base = r * nt
                    for k in Int(ls[leaf])..<Int(le[leaf]) {
                        let j = base + Int(lt[k]), w = lw[k]
                        switch aggregate {
                        case .sum, .average: scores[j] += w
                        case .min: if has[j] == 0 || w < scores[j] { scores[j] = w }
                        case .max: if has[j] == 0 || w > scores[j] { scores[j] = w }
                        }
                        has[j] = 1
                    }
                }
            }
        }}}}
    }

    @inline(__always) func goesTrue(_ n: Int, _ v: Float) -> Bool {
        let t = threshold[n]
        let go: Bool
        switch TreeNodeMode(rawValue: mode[n])! {
        case .leq: go = v <= t
        case .lt: go = v < t
        case .gte: go = v >= t
        case .gt: go = v > t
        case .eq: go = v == t
        case .neq: go = v != t
        case .member:
            var found = false
            for k in Int(memberStart[n])..<Int(memberEnd[n]) where members[k] == v { found = true; break }
            go = found
        }
        return go || (v.isNaN && missingTrue[n])
    }
}

struct PackedTreeNode: Sendable {
    /// The feature index; the top bit set where a missing value (NaN) goes to the true child.
    var feature: Int32
    var threshold: Float
    var trueChild: Int32
    var falseChild: Int32
}

protocol TreeCompare { static func go(_ v: Float, _ t: Float) -> Bool }
enum LEQ: TreeCompare { @inline(__always) static func go(_ v: Float, _ t: Float) -> Bool { v <= t } }
enum LT: TreeCompare { @inline(__always) static func go(_ v: Float, _ t: Float) -> Bool { v < t } }
enum GTE: TreeCompare { @inline(__always) static func go(_ v: Float, _ t: Float) -> Bool { v >= t } }
enum GT: TreeCompare { @inline(__always) static func go(_ v: Float, _ t: Float) -> Bool { v > t } }
enum EQ: TreeCompare { @inline(__always) static func go(_ v: Float, _ t: Float) -> Bool { v == t } }
enum NEQ: TreeCompare { @inline(__always) static func go(_ v: Float, _ t: Float) -> Bool { v != t } }

/// Finds the leaf a row reaches from a root reference. Child indices only grow along a path
/// (compilation guarantees it), so every walk ends.
protocol TreeWalk {
    func leaf(_ root: Int32, _ xr: UnsafePointer<Float>) -> Int
    /// One row's leaves in four trees, walked together where that pays.
    func leaves(_ roots: UnsafePointer<Int32>, _ xr: UnsafePointer<Float>) -> (Int, Int, Int, Int)
}

extension TreeWalk {
    @inline(__always) func leaves(_ roots: UnsafePointer<Int32>, _ xr: UnsafePointer<Float>) -> (Int, Int, Int, Int) {
        (leaf(roots[0], xr), leaf(roots[1], xr), leaf(roots[2], xr), leaf(roots[3], xr))
    }
}

/// Every node compares the same way; a NaN goes to the true child where the node's feature
/// has its top bit set (missing values tracking true).
struct UniformWalk<C: TreeCompare>: TreeWalk {
    let nodes: UnsafePointer<PackedTreeNode>
    @inline(__always) func leaf(_ root: Int32, _ xr: UnsafePointer<Float>) -> Int {
        var n = root
        while n >= 0 {
            let node = nodes[Int(n)]
            let v = xr[Int(node.feature & Int32.max)]
            n = C.go(v, node.threshold) || (node.feature < 0 && v.isNaN) ? node.trueChild : node.falseChild
        }
        return Int(~n)
    }

    /// Four trees in lockstep for one row, so that their loads overlap instead of each
    /// waiting on the last (a single row is otherwise bound by the latency of each step). A
    /// walk that reached its leaf keeps its negative reference until all four have.
    @inline(__always) func leaves(_ roots: UnsafePointer<Int32>, _ xr: UnsafePointer<Float>) -> (Int, Int, Int, Int) {
        var a = roots[0], b = roots[1], c = roots[2], d = roots[3]
        @inline(__always) func step(_ n: Int32) -> Int32 {
            let node = nodes[Int(max(n, 0))]
            let v = xr[Int(node.feature & Int32.max)]
            let next = C.go(v, node.threshold) || (node.feature < 0 && v.isNaN) ? node.trueChild : node.falseChild
            return n < 0 ? n : next
        }
        while (a & b & c & d) >= 0 { a = step(a); b = step(b); c = step(c); d = step(d) }
        return (Int(~a), Int(~b), Int(~c), Int(~d))
    }
}

/// Mixed modes, BRANCH_MEMBER or missing-value tracking: per-node rules.
struct GeneralWalk: TreeWalk {
    let trees: CompiledTrees
    let nodes: UnsafePointer<PackedTreeNode>
    @inline(__always) func leaf(_ root: Int32, _ xr: UnsafePointer<Float>) -> Int {
        var n = root
        while n >= 0 {
            let node = nodes[Int(n)]
            n = trees.goesTrue(Int(n), xr[Int(node.feature & Int32.max)]) ? node.trueChild : node.falseChild
        }
        return Int(~n)
    }
}

/// What a tree operator computes from the accumulated scores: a regressor's values or a
/// classifier's label and scores (onnxruntime's aggregators).
struct TreeScorer: Sendable {
    let trees: CompiledTrees
    let aggregate: TreeAggregate
    let post: PostTransform
    let baseValues: [Float]
    /// Classifiers: the labels' count (targets), and onnxruntime's binary flags.
    let classifier: Bool
    let binaryCase: Bool
    let weightsAllPositive: Bool

    /// Score columns per row in the output.
    var outputColumns: Int { trees.targets == 1 && classifier ? 2 : trees.targets }

    init(trees: CompiledTrees, aggregate: TreeAggregate, post: PostTransform, baseValues: [Float], classifier: Bool) throws {
        self.trees = trees; self.aggregate = aggregate; self.post = post; self.baseValues = baseValues
        self.classifier = classifier
        let n = trees.targets
        if classifier {
            guard baseValues.count <= max(n, 2) else {
                throw ONNXRunError("attribute 'base_values' has \(baseValues.count) values for \(n) classes")
            }
        } else {
            guard baseValues.isEmpty || baseValues.count == 1 || baseValues.count == n else {
                throw ONNXRunError("attribute 'base_values' has \(baseValues.count) values for \(n) targets")
            }
        }
        var classes = Set<Int32>()
        var positive = true
        for (t, w) in zip(trees.leafTarget, trees.leafWeight) { classes.insert(t); if w < 0 { positive = false } }
        binaryCase = n == 2 && classes.count == 1
        weightsAllPositive = positive
    }

    /// Runs rows `0..<rowCount` of `x`: fills `out` (rowCount * outputColumns) and, for
    /// classifiers, `labels` with class indices (-1 stands for onnxruntime's literal labels 0
    /// and 1, see `literalLabel`).
    func run(_ x: [Float], rows rowCount: Int, width: Int, threads: Int, out: inout [Float], labels: inout [Int]) throws {
        guard trees.maxFeature < width else {
            throw ONNXRunError("the trees read feature \(trees.maxFeature), but the input has \(width) columns")
        }
        let nt = trees.targets, cols = outputColumns
        _ = try ONNXK.count([rowCount, cols], "\(rowCount) rows of \(cols) scores", width: 4)
        out = [Float](repeating: 0, count: rowCount * cols)
        labels = [Int](repeating: 0, count: classifier ? rowCount : 0)
        let block = CompiledTrees.blockRows
        let blocks = (rowCount + block - 1) / block
        // Large batches run blocks in parallel; each row's result is the same either way.
        let workers = rowCount * trees.treeCount >= 20_000 ? threads : 1
        x.withUnsafeBufferPointer { xb in
        out.withUnsafeMutableBufferPointer { ob in
        labels.withUnsafeMutableBufferPointer { lb in
            nonisolated(unsafe) let o = ob, l = lb
            Parallel.forEachWorker(blocks, threads: workers) { b, _ in
                let lo = b * block, hi = min(rowCount, lo + block)
                var scores = [Float](repeating: 0, count: (hi - lo) * nt)
                var has = [UInt8](repeating: 0, count: (hi - lo) * nt)
                scores.withUnsafeMutableBufferPointer { s in
                has.withUnsafeMutableBufferPointer { h in
                    trees.accumulate(xb, width: width, rows: lo..<hi, aggregate: aggregate, scores: s.baseAddress!, has: h.baseAddress!)
                    var row = [Float](repeating: 0, count: max(nt, 2))
                    var rowHas = [UInt8](repeating: 0, count: max(nt, 2))
                    for r in lo..<hi {
                        for j in 0..<nt { row[j] = s[(r - lo) * nt + j]; rowHas[j] = h[(r - lo) * nt + j] }
                        let label = finish(&row, &rowHas, into: o.baseAddress! + r * cols)
                        if classifier { l[r] = label }
                    }
                }}
            }
        }}}
    }

    /// onnxruntime's FinalizeScores / FinalizeScores1 for one row; returns the label index.
    func finish(_ s: inout [Float], _ has: inout [UInt8], into z: UnsafeMutablePointer<Float>) -> Int {
        let n = trees.targets
        let nTrees = Float(trees.treeCount)
        if !classifier {
            if n == 1 {
                let origin: Float = baseValues.count == 1 ? baseValues[0] : 0
                var v: Float
                switch aggregate {
                case .sum: v = s[0] + origin
                case .average: v = s[0] / nTrees + origin
                case .min, .max: v = has[0] != 0 ? s[0] + origin : origin
                }
                if post == .probit { v = PostTransform.probit(v) }
                z[0] = v
                return 0
            }
            let useBase = baseValues.count == n
            for j in 0..<n {
                switch aggregate {
                case .sum: s[j] += useBase ? baseValues[j] : 0
                case .average: s[j] = s[j] / nTrees + (useBase ? baseValues[j] : 0)
                case .min, .max: s[j] = (useBase ? baseValues[j] : 0) + (has[j] != 0 ? s[j] : 0)
                }
                // A target no leaf scored is written as 0, base value or not (onnxruntime's ScoreValue).
                z[j] = has[j] != 0 ? s[j] : 0
            }
            post.apply(UnsafeMutableBufferPointer(start: z, count: n))
            return 0
        }
        if n == 1 {
            // FinalizeScores1 of the classifier: one class label.
            var secondClass = -1
            if baseValues.count == 2 {
                let p = s[0] + baseValues[1]
                let label = binaryLabel(&secondClass, -p, 1, p, 1)
                z[0] = -p; z[1] = p
                post.apply(UnsafeMutableBufferPointer(start: z, count: 2))
                return label
            }
            if baseValues.count == 1 { s[0] += baseValues[0] }
            let label = binaryLabel(&secondClass, s[0], 1, 0, 0)
            if post.writeBinary(s[0], secondClass: secondClass, into: z) == 1 { z[1] = 0 }
            return label
        }
        if n > 2 {
            for k in 0..<min(baseValues.count, n) {
                if has[k] == 0 { has[k] = 1; s[k] = baseValues[k] } else { s[k] += baseValues[k] }
            }
            var maxClass = -1
            var maxWeight: Float = 0
            for k in 0..<n where has[k] != 0 && (maxClass == -1 || s[k] > maxWeight) { maxClass = k; maxWeight = s[k] }
            for k in 0..<n { z[k] = has[k] != 0 ? s[k] : 0 }
            post.apply(UnsafeMutableBufferPointer(start: z, count: n))
            return max(maxClass, 0)
        }
        // Two classes.
        var secondClass = -1
        var count = 2
        if baseValues.count == 2 {
            if has[1] != 0 {
                s[1] = baseValues[1] + s[0]
                s[0] = -s[1]
            } else {
                s[1] += baseValues[1]
                s[0] += baseValues[0]
            }
        } else if baseValues.count == 1 {
            s[0] += baseValues[0]
            if has[1] == 0 { count = 1 }
        } else {
            secondClass = 3
            if has[1] == 0 { count = 1 }
        }
        let label = count == 2 && has[1] != 0
            ? binaryLabel(&secondClass, s[0], has[0], s[1], has[1])
            : binaryLabel(&secondClass, s[0], has[0], 0, 0)
        if count == 1 {
            if post.writeBinary(has[0] != 0 ? s[0] : 0, secondClass: secondClass, into: z) == 1 { z[1] = 0 }
        } else {
            z[0] = has[0] != 0 ? s[0] : 0; z[1] = has[1] != 0 ? s[1] : 0
            post.apply(UnsafeMutableBufferPointer(start: z, count: 2))
        }
        return label
    }

    /// onnxruntime's _set_score_binary: the label (index into the class labels, or
    /// `literal0`/`literal1` for its literal 0 and 1) and how the second score is written.
    private func binaryLabel(_ secondClass: inout Int, _ s0: Float, _ h0: UInt8, _ s1: Float, _ h1: UInt8) -> Int {
        let pos: Float = h1 != 0 ? s1 : (h0 != 0 ? s0 : 0)
        if binaryCase {
            if weightsAllPositive {
                if pos > 0.5 { secondClass = 0; return 1 }
                secondClass = 1; return 0
            }
            if pos > 0 { secondClass = 2; return 1 }
            secondClass = 3; return 0
        }
        return pos > 0 ? TreeScorer.literal1 : TreeScorer.literal0
    }

    /// onnxruntime returns the literal labels 1 and 0 (not the class labels) for two classes
    /// whose weights name both classes without base values.
    static let literal0 = -1, literal1 = -2
}
