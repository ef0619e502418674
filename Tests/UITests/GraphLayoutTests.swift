import Foundation
import XCTest
@testable import UI

final class GraphLayoutTests: XCTestCase {
    /// Every route's consecutive ids are one layer apart, going forward (after the reversal
    /// of back edges), and every id has a distinct position in its layer.
    func assertWellFormed(_ g: GraphLayout, file: StaticString = #filePath, line: UInt = #line) {
        for (i, l) in g.layers.enumerated() {
            XCTAssertEqual(Set(l.map { g.position[$0] }), Set(0..<l.count), "positions are a permutation", file: file, line: line)
            for v in l where g.layer[v] != i { XCTFail("\(v) is listed in layer \(i) but says \(g.layer[v])", file: file, line: line) }
        }
        for r in g.routes {
            XCTAssertGreaterThanOrEqual(r.count, 2, file: file, line: line)
            for (a, b) in zip(r, r.dropFirst()) where a >= g.nodeCount || b >= g.nodeCount {
                XCTAssertEqual(abs(g.layer[a] - g.layer[b]), 1, "dummies sit one layer apart", file: file, line: line)
            }
        }
    }

    func testChainIsOneNodePerLayerWithoutCrossings() {
        let g = GraphLayout(nodeCount: 5, edges: [(0, 1), (1, 2), (2, 3), (3, 4)])
        XCTAssertEqual(g.layer.prefix(5).map { $0 }, [0, 1, 2, 3, 4])
        XCTAssertEqual(g.layers.map(\.count), [1, 1, 1, 1, 1])
        XCTAssertEqual(g.crossingCount(), 0)
        XCTAssertEqual(g.routes, [[0, 1], [1, 2], [2, 3], [3, 4]])
        assertWellFormed(g)
    }

    func testLongEdgesPastTheDummyBudgetDoNotBreakTheCrossingCount() {
        // Found by review: a 300-node chain, 100 nodes after it, and an edge from the first
        // node to each of them (a pipeline whose many report stages all read the raw data)
        // goes past the dummy-node budget; the long edges kept whole indexed the crossing
        // count's tree out of range.
        var edges: [(Int, Int)] = (0..<299).map { ($0, $0 + 1) }
        for k in 300..<400 { edges.append((299, k)); edges.append((0, k)) }
        let g = GraphLayout(nodeCount: 400, edges: edges)
        XCTAssertEqual(g.layers.count, 301)
        XCTAssertGreaterThanOrEqual(g.crossingCount(), 0)
    }

    func testDiamondHasThreeLayersAndNoCrossings() {
        // 0 -> 1, 0 -> 2, 1 -> 3, 2 -> 3
        let g = GraphLayout(nodeCount: 4, edges: [(0, 1), (0, 2), (1, 3), (2, 3)])
        XCTAssertEqual(Array(g.layer.prefix(4)), [0, 1, 1, 2])
        XCTAssertEqual(g.crossingCount(), 0)
        XCTAssertEqual(g.nodeCount, g.layer.count, "no dummies in a diamond")
        assertWellFormed(g)
    }

    func testLongEdgeGetsDummiesAndLayersAreLongestPaths() {
        // 0 -> 1 -> 2 -> 3 and a shortcut 0 -> 3: node 3 is in layer 3, the shortcut passes
        // through two dummies.
        let g = GraphLayout(nodeCount: 4, edges: [(0, 1), (1, 2), (2, 3), (0, 3)])
        XCTAssertEqual(Array(g.layer.prefix(4)), [0, 1, 2, 3])
        XCTAssertEqual(g.layer.count, 6)
        XCTAssertEqual(g.routes[3].first, 0)
        XCTAssertEqual(g.routes[3].last, 3)
        XCTAssertEqual(g.routes[3].count, 4)
        assertWellFormed(g)
    }

    func testSweepsRemoveCrossingsTheInputOrderHas() {
        // Sources 0, 1, 2; targets 3, 4. Node 0 feeds both targets, 1 feeds 4, 2 feeds 3. The
        // topological order puts 4 above 3, so 0->3 crosses 1->4; moving 1 above 0 (its
        // barycenter) removes the crossing.
        let edges = [(0, 3), (0, 4), (1, 4), (2, 3)]
        let none = GraphLayout(nodeCount: 5, edges: edges, sweeps: 0)
        XCTAssertEqual(none.crossingCount(), 1, "the unswept order does cross (the test sees the difference)")
        let g = GraphLayout(nodeCount: 5, edges: edges)
        XCTAssertEqual(g.crossingCount(), 0)
        assertWellFormed(g)
    }

    func testCyclesDuplicatesSelfLoopsAndBadIdsStillLayOut() {
        let g = GraphLayout(nodeCount: 3, edges: [(0, 1), (1, 2), (2, 0), (0, 1), (1, 1), (5, 0), (-1, 2)])
        XCTAssertEqual(g.routes.count, 3, "the duplicate, the self-loop and the bad ids are dropped")
        XCTAssertEqual(Set(g.layer.prefix(3)).count, 3, "a cycle is cut into a chain of layers")
        assertWellFormed(g)
        let empty = GraphLayout(nodeCount: 0, edges: [])
        XCTAssertEqual(empty.layers.count, 0)
        XCTAssertEqual(empty.crossingCount(), 0)
    }

    func testLargeGraphIsBoundedAndIterative() {
        // A 3,000-long chain (recursion would be deep) plus a fan: lays out quickly.
        var edges: [(Int, Int)] = []
        for i in 0..<2999 { edges.append((i, i + 1)) }
        for i in 1..<400 { edges.append((0, 3000 + i)); edges.append((3000 + i, 2999)) }
        let started = Date()
        let g = GraphLayout(nodeCount: 3400, edges: edges)
        XCTAssertLessThan(Date().timeIntervalSince(started), 20)
        XCTAssertEqual(g.layer[2999], 2999)
        XCTAssertLessThanOrEqual(g.layer.count - g.nodeCount, GraphLayout.maxDummies)
        assertWellFormed(g)
    }
}
