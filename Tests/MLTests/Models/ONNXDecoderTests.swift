import XCTest
@testable import ML

/// The bounded protobuf reader and the ONNX structure decoder (issue 15's first step), against
/// a file written by the `onnx` package (Tests/Fixtures/onnx/make_onnx_fixtures.py, pinned) and
/// against hostile bytes.
final class ONNXDecoderTests: XCTestCase {
    static let fixtures: String = {
        var url = URL(fileURLWithPath: #filePath)
        while url.lastPathComponent != "Tests" { url.deleteLastPathComponent() }
        return url.appendingPathComponent("Fixtures/onnx").path
    }()

    func testDecodesTheLogisticRegressionFixture() throws {
        let m = try ONNXModel.load(path: Self.fixtures + "/logreg.onnx")
        XCTAssertEqual(m.irVersion, 8)
        XCTAssertEqual(m.producerName, "mlrepo-fixture")
        XCTAssertEqual(m.producerVersion, "1.0")
        XCTAssertEqual(m.opsetVersion(""), 13)
        XCTAssertEqual(m.opsetVersion("ai.onnx"), 13)
        XCTAssertNil(m.opsetVersion("ai.onnx.ml"))
        XCTAssertEqual(m.metadata["features"], "a,b,c,d")
        let g = m.graph
        XCTAssertEqual(g.name, "logreg")
        XCTAssertEqual(g.nodes.map(\.opType), ["MatMul", "Add", "Softmax"])
        XCTAssertEqual(g.nodes.map(\.name), ["matmul", "add", "softmax"])
        XCTAssertEqual(g.nodes[0].inputs, ["X", "W"])
        XCTAssertEqual(g.nodes[2].outputs, ["Y"])
        XCTAssertEqual(g.nodes[2].attribute("axis"), .int(1))
        XCTAssertEqual(g.inputs, [ONNXValueInfo(name: "X", kind: .tensor, elementType: 1, shape: [.symbol("N"), .size(4)])])
        XCTAssertEqual(g.outputs, [ONNXValueInfo(name: "Y", kind: .tensor, elementType: 1, shape: [.symbol("N"), .size(3)])])
        XCTAssertEqual(g.feedInputs.map(\.name), ["X"])
        let byName = Dictionary(uniqueKeysWithValues: g.initializers.map { ($0.name, $0) })
        // W: raw_data, arange(12) / 8 as float32, 4×3.
        XCTAssertEqual(byName["W"]?.dims, [4, 3])
        XCTAssertEqual(byName["W"]?.values, .floats((0..<12).map { Float($0) / 8 }))
        // B: float_data.
        XCTAssertEqual(byName["B"]?.values, .floats([0.5, -0.25, 1.0]))
        // shape: int64_data, with a negative value.
        XCTAssertEqual(byName["shape"]?.dataType, ONNXElementType.int64.rawValue)
        XCTAssertEqual(byName["shape"]?.values, .ints([-1, 3]))
        // labels: string_data.
        XCTAssertEqual(byName["labels"]?.values, .strings([Array("x".utf8), Array("y".utf8), Array("z".utf8)]))
    }

    func testProtobufWireTypes() throws {
        // field 1 varint 150 (the protobuf docs' example), field 2 "testing", field 3 fixed32,
        // field 4 fixed64, field 5 packed varints [3, 270, 86942].
        var b: [UInt8] = [0x08, 0x96, 0x01, 0x12, 0x07] + Array("testing".utf8)
        b += [0x1D, 0x00, 0x00, 0x80, 0x3F]                     // 1.0 as float
        b += [0x21] + withUnsafeBytes(of: (2.5).bitPattern.littleEndian, Array.init)
        b += [0x2A, 0x06, 0x03, 0x8E, 0x02, 0x9E, 0xA7, 0x05]
        try b.withUnsafeBytes { buf in
            var r = ProtobufReader(buf)
            var got: [(Int, ProtobufValue)] = []
            while let f = try r.next() { got.append(f) }
            XCTAssertEqual(got.map(\.0), [1, 2, 3, 4, 5])
            XCTAssertEqual(got[0].1, .varint(150))
            guard case .bytes(let s) = got[1].1 else { return XCTFail("field 2") }
            XCTAssertEqual(r.string(s), "testing")
            XCTAssertEqual(got[2].1, .fixed32(Float(1).bitPattern))
            XCTAssertEqual(got[3].1, .fixed64((2.5).bitPattern))
            var ints: [Int64] = []
            try r.appendVarints(got[4].1, to: &ints, limit: 10, field: "x")
            XCTAssertEqual(ints, [3, 270, 86942])
            XCTAssertThrowsError(try r.appendVarints(got[4].1, to: &ints, limit: 4, field: "x"))
        }
    }

    /// Hostile bytes: every failure is a one-line MLError naming the byte offset, never a
    /// crash, a hang or an allocation the bytes do not back.
    func testHostileInputsAreRefused() throws {
        let good = try XCTUnwrap(FileManager.default.contents(atPath: Self.fixtures + "/logreg.onnx"))
        let bytes = [UInt8](good)
        func refused(_ b: [UInt8], _ fragment: String, line: UInt = #line) {
            do {
                _ = try ONNXModel.decode(b, path: "m.onnx")
                XCTFail("accepted", line: line)
            } catch let e as MLError {
                XCTAssertTrue(e.description.hasPrefix("'m.onnx': invalid ONNX model: "), e.description, line: line)
                XCTAssertTrue(e.description.contains(fragment), e.description, line: line)
                XCTAssertFalse(e.description.contains("\n"), line: line)
            } catch { XCTFail("\(error)", line: line) }
        }
        // Every truncation of the file fails cleanly (or, where it cuts between whole top-level
        // fields, decodes a smaller model).
        for n in 0..<bytes.count {
            do { _ = try ONNXModel.decode(Array(bytes[0..<n])) } catch is MLError {} catch { XCTFail("\(error)") }
        }
        refused([], "no graph")
        refused([0x08, 0x08], "no graph")
        refused([0x08, 0x02, 0x3A, 0x00], "IR version 2")
        refused([0x3A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F], "claims 4294967295 bytes")          // graph, 4 GiB claimed
        refused([0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], "varint")
        refused([0x0B], "wire type 3")                                                     // a group
        refused([0x00, 0x00], "invalid field number 0")
        // A tensor whose dims claim 2^40 elements, with 4 bytes of data.
        var t: [UInt8] = [0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0x10, 0x01, 0x22, 0x04, 0, 0, 0, 0, 0x42, 0x01, 0x54]
        var g: [UInt8] = [0x2A, UInt8(t.count)] + t
        refused([0x08, 0x08, 0x3A, UInt8(g.count)] + g, "more than 2147483648 elements")
        // dims 2×2 with one float.
        t = [0x08, 0x02, 0x08, 0x02, 0x10, 0x01, 0x22, 0x04, 0, 0, 0, 0, 0x42, 0x01, 0x54]
        g = [0x2A, UInt8(t.count)] + t
        refused([0x08, 0x08, 0x3A, UInt8(g.count)] + g, "1 values for dims [2, 2]")
        // raw_data of the wrong length.
        t = [0x08, 0x03, 0x10, 0x01, 0x4A, 0x08] + [UInt8](repeating: 0, count: 8)
        g = [0x2A, UInt8(t.count)] + t
        refused([0x08, 0x08, 0x3A, UInt8(g.count)] + g, "8 bytes of raw_data for 3 elements")
        // Graphs nested in If attributes deeper than the limit.
        var inner: [UInt8] = []
        for _ in 0...(ONNXModel.maxGraphDepth + 1) {
            let attr: [UInt8] = [0x0A, 0x01, 0x67, 0xA0, 0x01, 0x05] + [0x32] + varint(inner.count) + inner
            let node: [UInt8] = [0x22, 0x02, 0x49, 0x66] + [0x2A] + varint(attr.count) + attr
            inner = [0x0A] + varint(node.count) + node
        }
        refused([0x08, 0x08, 0x3A] + varint(inner.count) + inner, "nested more than 16 deep")
    }

    func varint(_ n: Int) -> [UInt8] {
        var v = UInt64(n), out: [UInt8] = []
        while v >= 0x80 { out.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
        return out + [UInt8(v)]
    }
}
