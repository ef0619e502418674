import Compute
import Support

// The tree operators of ai.onnx.ml: TreeEnsembleClassifier and TreeEnsembleRegressor (versions
// 1 to 3, with the *_as_tensor attributes of version 3) and TreeEnsemble (version 5). Their
// attributes become a `TreeSource`, compiled once at load (ONNXTrees.swift).

extension ONNXNodeContext {
    /// A list of floats given as `name` or as the tensor attribute `name_as_tensor`.
    func floatsOrTensor(_ name: String) throws -> [Float]? {
        if let v = try floats(name) { return v }
        guard let t = try tensor(name + "_as_tensor") else { return nil }
        guard let f = t.asFloats else { throw ONNXRunError("attribute '\(name)_as_tensor' must be numeric") }
        return f
    }

    /// A numeric tensor attribute as floats.
    func tensorFloats(_ name: String) throws -> [Float]? {
        guard let t = try tensor(name) else { return nil }
        guard let f = t.asFloats else { throw ONNXRunError("attribute '\(name)' must be numeric") }
        return f
    }

    func required<T>(_ v: T?, _ name: String) throws -> T {
        guard let v else { throw ONNXRunError("attribute '\(name)' is missing") }
        return v
    }
}

/// Input 0 of a tree or linear operator as rows of floats: (values, rows, columns).
func featureRows(_ inputs: [ONNXValue?]) throws -> (x: [Float], rows: Int, width: Int) {
    let t = try tensorInput(inputs, 0)
    guard let f = t.asFloats else { throw ONNXRunError("input X must be numeric, not \(t.elementType.name)") }
    if t.rank <= 1 { return (f, 1, f.count) }
    let rows = t.shape[0]
    return (f, rows, rows == 0 ? ONNXK.product(t.shape.dropFirst()) : f.count / rows)
}

/// The legacy operators' nodes (tree id, node id) and leaf weights as a `TreeSource`.
private func legacySource(_ c: ONNXNodeContext, weightPrefix p: String) throws -> TreeSource {
    let treeIds = try c.required(c.ints("nodes_treeids"), "nodes_treeids")
    let nodeIds = try c.required(c.ints("nodes_nodeids"), "nodes_nodeids")
    let features = try c.required(c.ints("nodes_featureids"), "nodes_featureids")
    let modes = try c.required(c.strings("nodes_modes"), "nodes_modes")
    let values = try c.floatsOrTensor("nodes_values") ?? []
    let trues = try c.required(c.ints("nodes_truenodeids"), "nodes_truenodeids")
    let falses = try c.required(c.ints("nodes_falsenodeids"), "nodes_falsenodeids")
    let missing = try c.ints("nodes_missing_value_tracks_true") ?? []
    let n = treeIds.count
    for (name, count) in [("nodes_nodeids", nodeIds.count), ("nodes_featureids", features.count), ("nodes_modes", modes.count),
                          ("nodes_values", values.count), ("nodes_truenodeids", trues.count), ("nodes_falsenodeids", falses.count)]
    where count != n {
        throw ONNXRunError("attribute '\(name)' has \(count) values for \(n) nodes")
    }
    guard missing.isEmpty || missing.count == n else {
        throw ONNXRunError("attribute 'nodes_missing_value_tracks_true' has \(missing.count) values for \(n) nodes")
    }
    var src = TreeSource()
    src.nodes.reserveCapacity(n)
    var index: [Pair: Int] = [:]
    index.reserveCapacity(n)
    var treeOrder: [Int64] = []
    var treeSeen = Set<Int64>()
    for i in 0..<n {
        let key = Pair(treeIds[i], nodeIds[i])
        guard index[key] == nil else { throw ONNXRunError("tree \(treeIds[i]) has node id \(nodeIds[i]) twice") }
        index[key] = i
        if treeSeen.insert(treeIds[i]).inserted { treeOrder.append(treeIds[i]) }
        var node = TreeSource.Node()
        if modes[i] == "LEAF" {
            node.isLeaf = true
        } else {
            guard let m = TreeNodeMode(legacy: modes[i]) else { throw ONNXRunError("node mode '\(modes[i])' is not a tree node mode") }
            node.mode = m
            node.feature = features[i]
            node.threshold = values[i]
            node.missingTrue = !missing.isEmpty && missing[i] != 0
        }
        src.nodes.append(node)
    }
    var isChild = [Bool](repeating: false, count: n)
    for i in 0..<n where !src.nodes[i].isLeaf {
        for (side, id) in [(true, trues[i]), (false, falses[i])] {
            guard let j = index[Pair(treeIds[i], id)] else {
                throw ONNXRunError("node \(nodeIds[i]) of tree \(treeIds[i]) has a child \(id) that does not exist")
            }
            if side { src.nodes[i].trueChild = j } else { src.nodes[i].falseChild = j }
            isChild[j] = true
        }
    }
    // Weights.
    let wTree = try c.required(c.ints(p + "_treeids"), p + "_treeids")
    let wNode = try c.required(c.ints(p + "_nodeids"), p + "_nodeids")
    let wIds = try c.required(c.ints(p + "_ids"), p + "_ids")
    let w = try c.required(c.floatsOrTensor(p + "_weights"), p + "_weights")
    for (name, count) in [(p + "_nodeids", wNode.count), (p + "_ids", wIds.count), (p + "_weights", w.count)] where count != wTree.count {
        throw ONNXRunError("attribute '\(name)' has \(count) values for \(wTree.count) weights")
    }
    for k in 0..<wTree.count {
        guard let j = index[Pair(wTree[k], wNode[k])] else {
            throw ONNXRunError("a weight names node \(wNode[k]) of tree \(wTree[k]), which does not exist")
        }
        guard src.nodes[j].isLeaf else { throw ONNXRunError("a weight names node \(wNode[k]) of tree \(wTree[k]), which is not a leaf") }
        guard wIds[k] >= 0, wIds[k] < Int64(Int32.max) else { throw ONNXRunError("a weight names target or class \(wIds[k])") }
        src.nodes[j].weights.append((Int32(wIds[k]), w[k]))
    }
    // Each tree's root: its one node that no node of the tree points to.
    var rootOf: [Int64: Int] = [:]
    for i in 0..<n where !isChild[i] {
        guard rootOf[treeIds[i]] == nil else { throw ONNXRunError("tree \(treeIds[i]) has more than one root") }
        rootOf[treeIds[i]] = i
    }
    for t in treeOrder {
        guard let r = rootOf[t] else { throw ONNXRunError("tree \(t) has no root (a cycle)") }
        src.roots.append(r)
    }
    return src
}

private struct Pair: Hashable {
    let a: Int64, b: Int64
    init(_ a: Int64, _ b: Int64) { self.a = a; self.b = b }
}

private func postTransform(_ c: ONNXNodeContext) throws -> PostTransform {
    let s = try c.string("post_transform", "NONE")
    guard let p = PostTransform(name: s) else { throw ONNXRunError("attribute 'post_transform' is '\(s)', not one of NONE, SOFTMAX, LOGISTIC, SOFTMAX_ZERO, PROBIT") }
    return p
}

/// Most classes or targets a tree or linear operator may declare.
let maxMLTargets = 1 << 16

let treeOperators: [String: ONNXOperatorFactory] = [
    "TreeEnsembleRegressor": { c in
        let targets = try c.int("n_targets", 1)
        guard targets >= 1, targets <= maxMLTargets else { throw ONNXRunError("attribute 'n_targets' is \(targets)") }
        let aggName = try c.string("aggregate_function", "SUM")
        guard let agg = TreeAggregate(name: aggName) else { throw ONNXRunError("attribute 'aggregate_function' is '\(aggName)', not one of SUM, AVERAGE, MIN, MAX") }
        let trees = try CompiledTrees(legacySource(c, weightPrefix: "target"), targets: Int(targets))
        let scorer = try TreeScorer(trees: trees, aggregate: agg, post: postTransform(c),
                                    baseValues: c.floatsOrTensor("base_values") ?? [], classifier: false)
        return { inputs, backend in
            let (x, rows, width) = try featureRows(inputs)
            var out: [Float] = [], labels: [Int] = []
            try scorer.run(x, rows: rows, width: width, threads: backend.threads, out: &out, labels: &labels)
            return [.tensor(ONNXArray(floats: out, shape: [rows, scorer.outputColumns]))]
        }
    },
    "TreeEnsembleClassifier": { c in
        let ints = try c.ints("classlabels_int64s")
        let strs = try c.strings("classlabels_strings")
        guard (ints == nil) != (strs == nil) else { throw ONNXRunError("exactly one of 'classlabels_int64s' and 'classlabels_strings' must be given") }
        let classes = ints?.count ?? strs!.count
        guard classes >= 1, classes <= maxMLTargets else { throw ONNXRunError("the classifier has \(classes) class labels") }
        // One string label cannot name the binary decision's second class (onnxruntime aborts).
        guard strs == nil || classes >= 2 else { throw ONNXRunError("the classifier has one string class label; it needs at least 2") }
        let trees = try CompiledTrees(legacySource(c, weightPrefix: "class"), targets: classes)
        let scorer = try TreeScorer(trees: trees, aggregate: .sum, post: postTransform(c),
                                    baseValues: c.floatsOrTensor("base_values") ?? [], classifier: true)
        return { inputs, backend in
            let (x, rows, width) = try featureRows(inputs)
            var out: [Float] = [], labels: [Int] = []
            try scorer.run(x, rows: rows, width: width, threads: backend.threads, out: &out, labels: &labels)
            let y: ONNXArray
            // Labels are indices into the class labels (or the literal 0 and 1): each is checked,
            // so a label the class list cannot name is an error, never a trap.
            func index(_ l: Int) throws -> Int {
                let i = l == TreeScorer.literal1 ? 1 : (l == TreeScorer.literal0 ? 0 : l)
                guard i >= 0, i < classes else { throw ONNXRunError("the predicted class \(i) is not one of the \(classes) class labels") }
                return i
            }
            if let strs {
                y = ONNXArray(strings: try labels.map { strs[try index($0)] }, shape: [rows])
            } else {
                y = ONNXArray(int64s: try labels.map { l in
                    l == TreeScorer.literal1 ? 1 : (l == TreeScorer.literal0 ? 0 : ints![try index(l)])
                }, shape: [rows])
            }
            return [.tensor(y), .tensor(ONNXArray(floats: out, shape: [rows, scorer.outputColumns]))]
        }
    },
    "TreeEnsemble": { c in
        let targets = try c.int("n_targets", 0)
        guard targets >= 1, targets <= Int64(maxMLTargets) else { throw ONNXRunError("attribute 'n_targets' is \(targets)") }
        let aggCode = try c.int("aggregate_function", 1)
        let aggs: [TreeAggregate] = [.average, .sum, .min, .max]
        guard aggCode >= 0, aggCode < 4 else { throw ONNXRunError("attribute 'aggregate_function' is \(aggCode), not 0 to 3") }
        let postCode = try c.int("post_transform", 0)
        let posts: [PostTransform] = [.none, .softmax, .logistic, .softmaxZero, .probit]
        guard postCode >= 0, postCode < 5 else { throw ONNXRunError("attribute 'post_transform' is \(postCode), not 0 to 4") }
        let features = try c.required(c.ints("nodes_featureids"), "nodes_featureids")
        let splits = try c.required(c.tensorFloats("nodes_splits"), "nodes_splits")
        guard let modeT = try c.tensor("nodes_modes"), let modes = modeT.asInt64s else { throw ONNXRunError("attribute 'nodes_modes' is missing") }
        let trues = try c.required(c.ints("nodes_truenodeids"), "nodes_truenodeids")
        let falses = try c.required(c.ints("nodes_falsenodeids"), "nodes_falsenodeids")
        let trueLeaf = try c.required(c.ints("nodes_trueleafs"), "nodes_trueleafs")
        let falseLeaf = try c.required(c.ints("nodes_falseleafs"), "nodes_falseleafs")
        let missing = try c.ints("nodes_missing_value_tracks_true") ?? []
        let members = try c.tensorFloats("membership_values") ?? []
        let leafTargets = try c.required(c.ints("leaf_targetids"), "leaf_targetids")
        let leafWeights = try c.required(c.tensorFloats("leaf_weights"), "leaf_weights")
        let roots = try c.required(c.ints("tree_roots"), "tree_roots")
        let n = features.count
        for (name, count) in [("nodes_splits", splits.count), ("nodes_modes", modes.count), ("nodes_truenodeids", trues.count),
                              ("nodes_falsenodeids", falses.count), ("nodes_trueleafs", trueLeaf.count), ("nodes_falseleafs", falseLeaf.count)]
        where count != n {
            throw ONNXRunError("attribute '\(name)' has \(count) values for \(n) nodes")
        }
        guard missing.isEmpty || missing.count == n else {
            throw ONNXRunError("attribute 'nodes_missing_value_tracks_true' has \(missing.count) values for \(n) nodes")
        }
        guard leafWeights.count == leafTargets.count else {
            throw ONNXRunError("attribute 'leaf_weights' has \(leafWeights.count) values for \(leafTargets.count) leaves")
        }
        // Source nodes: the branch nodes, then the leaves.
        var src = TreeSource()
        src.nodes.reserveCapacity(n + leafTargets.count)
        var m = 0   // next membership value
        for i in 0..<n {
            var node = TreeSource.Node()
            guard modes[i] >= 0, modes[i] <= 6, let mode = TreeNodeMode(rawValue: UInt8(modes[i])) else {
                throw ONNXRunError("node \(i) has mode \(modes[i]), not 0 to 6")
            }
            node.mode = mode
            node.feature = features[i]
            node.threshold = splits[i]
            node.missingTrue = !missing.isEmpty && missing[i] != 0
            if mode == .member {
                while m < members.count, !members[m].isNaN { node.members.append(members[m]); m += 1 }
                guard m < members.count || !node.members.isEmpty else {
                    throw ONNXRunError("node \(i) is BRANCH_MEMBER but 'membership_values' has no set left for it")
                }
                m += 1
            }
            for (isLeaf, id) in [(trueLeaf[i] != 0, trues[i]), (falseLeaf[i] != 0, falses[i])] {
                let limit = isLeaf ? leafTargets.count : n
                guard id >= 0, id < limit else {
                    throw ONNXRunError("node \(i) has a \(isLeaf ? "leaf" : "node") child \(id) that does not exist")
                }
            }
            node.trueChild = trueLeaf[i] != 0 ? n + Int(trues[i]) : Int(trues[i])
            node.falseChild = falseLeaf[i] != 0 ? n + Int(falses[i]) : Int(falses[i])
            src.nodes.append(node)
        }
        for (t, w) in zip(leafTargets, leafWeights) {
            var leaf = TreeSource.Node()
            leaf.isLeaf = true
            guard t >= 0, t < targets else { throw ONNXRunError("a leaf names target \(t), beyond the \(targets) declared") }
            leaf.weights = [(Int32(t), w)]
            src.nodes.append(leaf)
        }
        for r in roots {
            guard r >= 0, r < n else { throw ONNXRunError("a tree root refers to node \(r), which does not exist") }
            let i = Int(r)
            // A tree that is one leaf: a root whose two children are the same leaf.
            if trueLeaf[i] != 0, falseLeaf[i] != 0, trues[i] == falses[i] { src.roots.append(n + Int(trues[i])) } else { src.roots.append(i) }
        }
        let trees = try CompiledTrees(src, targets: Int(targets))
        let scorer = try TreeScorer(trees: trees, aggregate: aggs[Int(aggCode)], post: posts[Int(postCode)], baseValues: [], classifier: false)
        return { inputs, backend in
            let xt = try tensorInput(inputs, 0)
            let (x, rows, width) = try featureRows(inputs)
            var out: [Float] = [], labels: [Int] = []
            try scorer.run(x, rows: rows, width: width, threads: backend.threads, out: &out, labels: &labels)
            let shape = [rows, scorer.outputColumns]
            if xt.elementType == .double { return [.tensor(ONNXArray(shape: shape, storage: .double(out.map { Double($0) })))] }
            return [.tensor(ONNXArray(floats: out, shape: shape))]
        }
    },
]
