// A layered drawing of a directed graph (the lineage page's stages and files), computed
// without recursion and within fixed bounds, whatever the graph:
//
// 1. Order: Kahn's topological order; nodes left on a cycle (hostile records can make one)
//    follow in index order, and an edge that points backwards in that order is treated as
//    reversed for layering, so every graph gets layers.
// 2. Layers: longest path from a source (a node's layer is one past its deepest
//    predecessor's), so every edge points to a later layer.
// 3. Long edges: an edge that spans k > 1 layers gets k-1 dummy nodes, one per layer in
//    between, so that ordering sees it and it is drawn through free space (at most
//    `maxDummies` in all; edges past that are drawn straight).
// 4. Order within layers: a few sweeps down and up, each node moved to the barycenter (mean
//    position) of its neighbours in the layer before (after); the ordering with the fewest
//    crossings seen is kept.

public struct GraphLayout: Sendable {
    /// Real nodes are 0..<nodeCount; ids from nodeCount on are dummies on long edges.
    public let nodeCount: Int
    /// For every id (real and dummy): its layer and its position within the layer.
    public private(set) var layer: [Int]
    public private(set) var position: [Int]
    /// Ids in each layer, in drawing order.
    public private(set) var layers: [[Int]]
    /// For each distinct input edge (in input order, duplicates and self-loops dropped): the
    /// ids it passes through, from its source to its target.
    public private(set) var routes: [[Int]]
    /// Edges between adjacent layers after dummies (the ones crossings are counted on).
    private var segments: [(Int, Int)]

    public static let maxDummies = 20_000

    /// Lays out `nodeCount` nodes joined by `edges` (source, target); edges naming a node
    /// out of range are ignored.
    public init(nodeCount: Int, edges: [(Int, Int)], sweeps: Int = 4) {
        self.nodeCount = max(0, nodeCount)
        let n = self.nodeCount
        var seen = Set<Int>()
        var unique: [(Int, Int)] = []
        for (a, b) in edges where a != b && a >= 0 && b >= 0 && a < n && b < n {
            if seen.insert(a &* n &+ b).inserted { unique.append((a, b)) }
        }
        // 1. Topological order (cycles broken by index order).
        var indegree = [Int](repeating: 0, count: n)
        var out = [[Int]](repeating: [], count: n)
        for (a, b) in unique { out[a].append(b); indegree[b] += 1 }
        var order: [Int] = []
        order.reserveCapacity(n)
        var placed = [Bool](repeating: false, count: n)
        var queue: [Int] = (0..<n).filter { indegree[$0] == 0 }
        var head = 0
        var nextUnplaced = 0
        while order.count < n {
            if head == queue.count {
                // Only cycles are left: take the lowest unplaced node as if it were a source.
                while placed[nextUnplaced] { nextUnplaced += 1 }
                queue.append(nextUnplaced)
                indegree[nextUnplaced] = 0
            }
            let v = queue[head]; head += 1
            if placed[v] { continue }
            placed[v] = true
            order.append(v)
            for w in out[v] where !placed[w] {
                indegree[w] -= 1
                if indegree[w] == 0 { queue.append(w) }
            }
        }
        var rank = [Int](repeating: 0, count: n)
        for (i, v) in order.enumerated() { rank[v] = i }
        // 2. Longest-path layers, edges oriented along the order.
        var forward = [[Int]](repeating: [], count: n)
        for (a, b) in unique { if rank[a] < rank[b] { forward[a].append(b) } else { forward[b].append(a) } }
        var layerOf = [Int](repeating: 0, count: n)
        for v in order { for w in forward[v] { layerOf[w] = max(layerOf[w], layerOf[v] + 1) } }
        // 3. Dummies on long edges.
        var layerAll = layerOf
        var segs: [(Int, Int)] = []
        var routes: [[Int]] = []
        var dummies = 0
        for (a, b) in unique {
            let (s, t) = rank[a] < rank[b] ? (a, b) : (b, a)
            var route = [s]
            let span = layerAll[t] - layerAll[s]
            if span > 1 && dummies + span - 1 <= GraphLayout.maxDummies {
                var prev = s
                for l in (layerAll[s] + 1)..<layerAll[t] {
                    let d = layerAll.count
                    layerAll.append(l)
                    dummies += 1
                    segs.append((prev, d))
                    route.append(d)
                    prev = d
                }
                segs.append((prev, t))
            } else {
                segs.append((s, t))
            }
            route.append(t)
            routes.append(rank[a] < rank[b] ? route : route.reversed())
        }
        let total = layerAll.count
        let layerCount = (layerAll.max() ?? -1) + 1
        var layers = [[Int]](repeating: [], count: layerCount)
        for v in order { layers[layerAll[v]].append(v) }   // real nodes in topological order
        for d in n..<total { layers[layerAll[d]].append(d) }
        var pos = [Int](repeating: 0, count: total)
        for l in layers { for (i, v) in l.enumerated() { pos[v] = i } }
        self.layer = layerAll
        self.position = pos
        self.layers = layers
        self.routes = routes
        self.segments = segs
        // 4. Barycenter sweeps, keeping the best ordering.
        var up = [[Int]](repeating: [], count: total), down = [[Int]](repeating: [], count: total)
        for (a, b) in segs where layerAll[a] < layerAll[b] { down[a].append(b); up[b].append(a) }
        var best = (crossings: crossingCount(), layers: layers, position: pos)
        for _ in 0..<max(0, sweeps) where best.crossings > 0 {
            if layerCount > 1 {
                for l in 1..<layerCount { reorder(l, by: up) }
                for l in stride(from: layerCount - 2, through: 0, by: -1) { reorder(l, by: down) }
            }
            let c = crossingCount()
            if c < best.crossings { best = (c, self.layers, self.position) }
        }
        self.layers = best.layers
        self.position = best.position
    }

    /// Sorts layer `l` by the mean position of each node's neighbours in `nbrs` (nodes with
    /// none keep their place), stably.
    private mutating func reorder(_ l: Int, by nbrs: [[Int]]) {
        let ids = layers[l]
        let keyed = ids.enumerated().map { i, v -> (Double, Int, Int) in
            let ns = nbrs[v]
            let b = ns.isEmpty ? Double(i) : Double(ns.reduce(0) { $0 + position[$1] }) / Double(ns.count)
            return (b, i, v)
        }.sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        layers[l] = keyed.map(\.2)
        for (i, v) in layers[l].enumerated() { position[v] = i }
    }

    /// Edge crossings between adjacent layers: pairs of segments whose ends are in opposite
    /// orders, counted with a Fenwick tree (E log V per layer pair).
    public func crossingCount() -> Int {
        var byLayer: [Int: [(Int, Int)]] = [:]
        for (a, b) in segments {
            let (s, t) = layer[a] < layer[b] ? (a, b) : (b, a)
            // Only segments between adjacent layers are counted: a long edge kept whole (past
            // the dummy-node budget) would index the next layer's tree out of range.
            guard layer[t] == layer[s] + 1 else { continue }
            byLayer[layer[s], default: []].append((position[s], position[t]))
        }
        var total = 0
        for (l, segs) in byLayer {
            let width = l + 1 < layers.count ? layers[l + 1].count : 0
            guard width > 0 else { continue }
            let sorted = segs.sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
            var tree = [Int](repeating: 0, count: width + 1)
            var inserted = 0
            for (_, t) in sorted {
                // Segments already inserted whose target lies strictly after t cross this one.
                var i = t + 1, atMost = 0
                while i > 0 { atMost += tree[i]; i -= i & -i }
                total += inserted - atMost
                i = t + 1
                while i <= width { tree[i] += 1; i += i & -i }
                inserted += 1
            }
        }
        return total
    }
}
