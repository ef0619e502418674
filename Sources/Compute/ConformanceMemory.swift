/// The conformance suite's memory checks: allocation, uploads and downloads, borrowing,
/// gathers, indices held by the backend, and the backend's properties. All exact (bit for
/// bit: nothing is computed).
extension BackendConformance {
    static func memoryCases(_ size: Size) -> [Case] {
        var cases: [Case] = []
        let full = size == .full

        cases.append(Case(["kind", "deviceName", "threads", "environment"], "properties (kind, deviceName, threads, environment)") { ck in
            _ = ck.twice { be in
                ck.expect(be.kind == "cpu" || be.kind == "gpu", "kind is \"\(be.kind)\", not cpu or gpu")
                ck.expect(!be.deviceName.isEmpty, "deviceName is empty")
                ck.expect(be.threads >= 1, "threads is \(be.threads)")
                for (k, v) in be.environment.sorted(by: { $0.key < $1.key }) {
                    ck.expect(!k.isEmpty && !v.isEmpty, "environment has an empty key or value: \"\(k)\" = \"\(v)\"")
                }
                return [.i("threads", [Int32(truncatingIfNeeded: be.threads)])]
            }
        })

        // Zero-filled, also where memory was used before (a device allocator may reuse it).
        var zeroShapes = [(0, 0), (1, 1), (3, 5), (0, 7), (7, 0), (64, 65)]
        if full { zeroShapes.append((1000, 1000)) }
        cases.append(Case(["tensor", "download"], "tensor zero-filled " + zeroShapes.map { dims($0.0, $0.1) }.joined(separator: ", ")) { ck in
            var g = ck.inputs()
            let junk = zeroShapes.map { g.floats($0.0 * $0.1, scale: 1e30) }
            let outs = ck.twice { be in
                var o: [Output] = []
                for (n, (r, c)) in zeroShapes.enumerated() {
                    do { _ = be.upload(junk[n], rows: r, cols: c) }   // made and freed
                    let t = be.tensor(rows: r, cols: c)
                    ck.expect(t.rows == r && t.cols == c, "tensor(rows: \(r), cols: \(c)) is \(t.rows)×\(t.cols)")
                    o.append(.f(dims(r, c), be.download(t), cols: c))
                }
                return o
            }
            for (n, (r, c)) in zeroShapes.enumerated() where n < outs.count {
                ck.exact(outs[n], [Float](repeating: 0, count: r * c))
            }
        })

        // Round trip of every kind of float: −0, subnormals, infinities, NaNs with payloads.
        var tripShapes = [(1, 1), (3, 7), (1, 9), (0, 4), (64, 65)]
        if full { tripShapes.append((1000, 1000)) }
        for (r, c) in tripShapes {
            cases.append(Case(["upload", "download"], "upload/download \(dims(r, c))") { ck in
                var g = ck.inputs()
                var v = g.floats(r * c, scale: 100)
                let special: [Float] = [-0.0, .leastNonzeroMagnitude, -Float.leastNormalMagnitude / 64 /* a negative subnormal */, .infinity, -.infinity, .nan,
                                        Float(bitPattern: 0x7FC0_1234), Float(bitPattern: 0xFF80_0001),
                                        .greatestFiniteMagnitude, .leastNormalMagnitude]
                for i in 0..<min(v.count, special.count) { v[i] = special[i] }
                let outs = ck.twice { be in [.f("", be.download(be.upload(v, rows: r, cols: c)), cols: c)] }
                if let o = outs.first { ck.sameBits(o, v) }
            })
        }

        var intoShapes = [(6, 4, 3, 2), (33, 17, 0, 33), (33, 17, 32, 1), (5, 1, 2, 3)]   // rows, cols, at row, rows written
        if full { intoShapes.append((4096, 128, 1000, 256)) }
        for (r, c, at, n) in intoShapes {
            cases.append(Case(["upload(into:row:)"], "upload(into:row:) \(n) rows at row \(at) of \(dims(r, c))") { ck in
                var g = ck.inputs()
                let v = g.floats(r * c), part = g.floats(n * c)
                let outs = ck.twice { be in
                    let t = be.upload(v, rows: r, cols: c)
                    part.withUnsafeBufferPointer { be.upload($0, into: t, row: at) }
                    return [.f("", be.download(t), cols: c)]
                }
                var want = v
                for i in 0..<(n * c) { want[at * c + i] = part[i] }
                if let o = outs.first { ck.sameBits(o, want) }
            })
        }

        var borrowShapes = [(0, 0), (1, 3), (5, 40)]
        if full { borrowShapes.append((1000, 1000)) }
        for (r, c) in borrowShapes {
            cases.append(Case(["borrow"], "borrow \(dims(r, c))") { ck in
                var g = ck.inputs()
                let v = g.floats(r * c)
                let keep = v
                let outs = ck.twice { be in
                    let t = be.borrow(v, rows: r, cols: c)
                    ck.expect(t.rows == r && t.cols == c, "borrow gave \(t.rows)×\(t.cols)")
                    var o: [Output] = [.f("download", be.download(t), cols: c)]
                    // Read as an operand, the array keeps its values.
                    let y = be.tensor(rows: r, cols: 1)
                    be.gemm(t, transA: false, be.tensor(rows: c, cols: 1), transB: false, into: y, alpha: 1, beta: 0)
                    o.append(.f("host array after use", v, cols: c))
                    return o
                }
                if outs.count == 2 { ck.sameBits(outs[0], keep); ck.sameBits(outs[1], keep) }
            })
        }

        var uninitShapes = [(0, 0), (1, 2), (7, 30)]
        if full { uninitShapes.append((1000, 1000)) }
        for (r, c) in uninitShapes {
            cases.append(Case(["uninitializedTensor", "download(taking:)"], "uninitializedTensor + download(taking:) \(dims(r, c))") { ck in
                var g = ck.inputs()
                let v = g.floats(r * c)
                let outs = ck.twice { be in
                    var o: [Output] = []
                    // Filled by an upload, then taken.
                    let t = be.uninitializedTensor(rows: r, cols: c)
                    ck.expect(t.rows == r && t.cols == c, "uninitializedTensor gave \(t.rows)×\(t.cols)")
                    if r > 0 && c > 0 { v.withUnsafeBufferPointer { be.upload($0, into: t, row: 0) } }
                    o.append(.f("uploaded", be.download(taking: t), cols: c))
                    // A tensor of any other origin gives its values too.
                    o.append(.f("taken from upload", be.download(taking: be.upload(v, rows: r, cols: c)), cols: c))
                    return o
                }
                if outs.count == 2 { ck.sameBits(outs[0], v); ck.sameBits(outs[1], v) }
            })
        }

        var takingShapes = [(0, 0), (1, 3), (5, 40)]
        if full { takingShapes.append((1000, 1000)) }
        for (r, c) in takingShapes {
            cases.append(Case(["upload(taking:)"], "upload(taking:) \(dims(r, c))") { ck in
                var g = ck.inputs()
                let v = g.floats(r * c)
                let outs = ck.twice { be in
                    var h = v
                    let t = be.upload(taking: &h, rows: r, cols: c)
                    ck.expect(h.isEmpty, "upload(taking:) left \(h.count) values in the host array")
                    ck.expect(t.rows == r && t.cols == c, "upload(taking:) gave \(t.rows)×\(t.cols)")
                    return [.f("", be.download(t), cols: c), .f("original array", v, cols: c)]
                }
                if outs.count == 2 { ck.sameBits(outs[0], v); ck.sameBits(outs[1], v) }
            })
        }

        // dst rows past the gathered ones stay as they were (zero).
        var gathers = [(1, 1, 1), (10, 3, 4), (50, 37, 70), (5, 4, 0)]   // source rows, cols, indices
        if full { gathers += [(5000, 37, 3000), (20000, 100, 4096)] }
        for (rows, cols, count) in gathers {
            cases.append(Case(["gatherRows"], "gatherRows \(count) of \(dims(rows, cols))") { ck in
                var g = ck.inputs()
                let src = g.floats(rows * cols)
                var idx = [Int32](repeating: 0, count: count)
                for r in 0..<count { idx[r] = Int32(g.int(rows)) }
                if count > 1 { idx[count - 1] = Int32(rows - 1); idx[0] = 0 }
                let outs = ck.twice { be in
                    let dst = be.tensor(rows: count + 2, cols: cols)
                    be.gatherRows(be.upload(src, rows: rows, cols: cols), idx, into: dst)
                    return [.f("", be.download(dst), cols: cols)]
                }
                var want = [Float](repeating: 0, count: (count + 2) * cols)
                for r in 0..<count { for j in 0..<cols { want[r * cols + j] = src[Int(idx[r]) * cols + j] } }
                if let o = outs.first { ck.sameBits(o, want) }
            })
        }

        // Indices kept on the device, a window of them gathered.
        var held = [(1, 1, 1, 0, 1), (40, 5, 20, 5, 9), (40, 5, 20, 0, 20), (40, 5, 20, 20, 0)]   // rows, cols, indices, offset, count
        if full { held.append((20000, 100, 1_000_000, 500_000, 4096)) }
        for (rows, cols, n, offset, count) in held {
            cases.append(Case(["uploadIndices", "gatherRows(indices:)"],
                              "uploadIndices + gatherRows(indices:) \(count) at offset \(offset) of \(n), from \(dims(rows, cols))") { ck in
                var g = ck.inputs()
                let src = g.floats(rows * cols)
                var idx = [Int32](repeating: 0, count: n)
                for r in 0..<n { idx[r] = Int32(g.int(rows)) }
                let outs = ck.twice { be in
                    let dst = be.tensor(rows: count + 3, cols: cols)
                    let ti = be.uploadIndices(idx)
                    be.gatherRows(be.upload(src, rows: rows, cols: cols), indices: ti, offset: offset, count: count, into: dst)
                    return [.f("", be.download(dst), cols: cols)]
                }
                var want = [Float](repeating: 0, count: (count + 3) * cols)
                for r in 0..<count { for j in 0..<cols { want[r * cols + j] = src[Int(idx[offset + r]) * cols + j] } }
                if let o = outs.first { ck.sameBits(o, want) }
            })
        }

        cases.append(Case(["synchronize"], "synchronize after queued work") { ck in
            var g = ck.inputs()
            let x = g.floats(33 * 17), y = g.floats(33 * 17)
            let outs = ck.twice { be in
                let tx = be.upload(x, rows: 33, cols: 17), ty = be.upload(y, rows: 33, cols: 17)
                be.scale(tx, 0.5)
                be.sub(ty, tx, into: ty)
                be.synchronize()
                return [.f("", be.download(ty), cols: 17)]
            }
            if let o = outs.first { ck.exact(o, (0..<x.count).map { y[$0] - x[$0] * 0.5 }) }
        })
        return cases
    }
}
