import XCTest
@testable import ML

/// `ModelFormat.detect`: a model artifact's format from its name and first bytes. The heads
/// below are the first bytes of files the real tools wrote (scikit-learn 1.9.1 through
/// pickle / joblib, lightgbm 4.7 and xgboost 3.2 `save_model`, torch 2.15 `torch.save` and
/// `torch.jit.save`), so a change that stops recognising them fails here.
final class ModelFormatTests: XCTestCase {
    static func hex(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        var i = s.startIndex
        while i < s.endIndex {
            let j = s.index(i, offsetBy: 2)
            out.append(UInt8(s[i..<j], radix: 16)!)
            i = j
        }
        return out
    }

    // pickle.dump(LogisticRegression) / joblib.dump: protocol 4.
    static let pickle = hex("800495d5020000000000008c1e736b6c6561726e2e6c696e6561725f6d6f64656c2e5f6c6f676973746963948c124c6f67697374696352656772657373696f6e9493942981947d94288c0770656e616c7479")
    // lightgbm Booster.save_model("lgb.txt")
    static let lightgbm = hex("747265650a76657273696f6e3d76340a6e756d5f636c6173733d310a6e756d5f747265655f7065725f697465726174696f6e3d310a6c6162656c5f696e6465783d300a")
    // xgboost Booster.save_model("x.json") and ("x.ubj")
    static let xgbJSON = hex("7b226c6561726e6572223a7b2261747472696275746573223a7b7d2c22666561747572655f6e616d6573223a5b5d2c22666561747572655f7479706573223a5b5d2c")
    static let xgbUBJ = hex("7b4c00000000000000076c6561726e65727b4c000000000000000a617474726962757465737b7d4c000000000000000d666561747572655f6e616d65735b234c")
    // torch.save(state_dict, "t.pt"): the pickle (t/data.pkl) comes first.
    static let torchSave = hex("504b0304000008080000000000000000000000000000000000000a001800742f646174612e706b6c464214005a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a800263636f6c6c656374696f6e730a4f726465726564446963740a7100295271")
    // torch.jit.save(torch.jit.script(nn.Sequential(nn.Linear(4, 2))), "ts.pt"): tensors
    // (ts/data/0) come first, code/ far later.
    static let torchScript = hex("504b0304000008080000000000000000000000000000000000000900190074732f646174612f30464215005a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5af0fc003da4b4163ec8fcb6be04000d3e5875e4be")
    // torch.jit.save of a module without parameters: data.pkl, then ts0/code/ within 200 bytes.
    static let torchScriptNoParams = hex("504b0304000008080000000000000000000000000000000000000c0016007473302f646174612e706b6c464212005a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a8002635f5f746f7263685f5f0a460a710029817d285808000000747261696e696e6771018858160000005f69735f66756c6c5f6261636b776172645f686f6f6b71024e756271032e504b0708e2691c5b4800000048000000504b030414000808080000000000000000000000000000000000150035007473302f636f64652f5f5f746f7263685f5f")
    static let hdf5: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a] + [UInt8](repeating: 0, count: 56)

    func detect(_ name: String, _ head: [UInt8]) -> ModelFormat? { ModelFormat.detect(name: name, head: head) }

    func testRecognisesEachFormatByItsBytes() {
        XCTAssertEqual(detect("model.pkl", Self.pickle), .pickle)
        XCTAssertEqual(detect("model", Self.pickle), .pickle, "a pickle's protocol header, whatever the name")
        XCTAssertEqual(detect("model.bin", Self.pickle), .pickle)
        XCTAssertEqual(detect("model.joblib", Self.pickle), .joblib)
        XCTAssertEqual(detect("model.txt", Self.lightgbm), .lightgbm)
        XCTAssertEqual(detect("booster.model", Self.lightgbm), .lightgbm)
        XCTAssertEqual(detect("xgb.json", Self.xgbJSON), .xgboost)
        XCTAssertEqual(detect("xgb.ubj", Self.xgbUBJ), .xgboost)
        XCTAssertEqual(detect("xgb.model", Self.xgbUBJ), .xgboost, "UBJSON saved under another name")
        XCTAssertEqual(detect("xgb.txt", Self.xgbJSON), .xgboost)
        XCTAssertEqual(detect("m.mlmodel", ModelFile.magic + [0, 0, 0, 0]), .mlmodel)
        XCTAssertEqual(detect("m.bin", ModelFile.magic + [0, 0, 0, 0]), .mlmodel, "the magic wins over the name")
        XCTAssertEqual(detect("m.keras", Self.hdf5), .keras)
        XCTAssertEqual(detect("m.h5", Self.hdf5), .hdf5)
        XCTAssertEqual(detect("weights", Self.hdf5), .hdf5)
        // safetensors: an 8-byte little-endian header length, then the JSON header.
        let json = Array(#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#.utf8)
        var st: [UInt8] = []
        for k in 0..<8 { st.append(UInt8(truncatingIfNeeded: json.count >> (8 * k))) }
        XCTAssertEqual(detect("weights.bin", st + json), .safetensors)
        XCTAssertEqual(detect("weights.safetensors", []), .safetensors)
    }

    /// torch.save and torch.jit.save both write zip files; TorchScript writes its tensors
    /// first, so "/code/" is not in the first bytes of a model with parameters (it was taken
    /// for a plain checkpoint before).
    func testTellsTorchScriptFromACheckpoint() {
        XCTAssertEqual(detect("t.pt", Self.torchSave), .torch)
        XCTAssertEqual(detect("ckpt.pth", Self.torchSave), .torch)
        XCTAssertEqual(detect("ts.pt", Self.torchScript), .torchscript)
        XCTAssertEqual(detect("ts0.pt", Self.torchScriptNoParams), .torchscript)
        XCTAssertEqual(detect("ts0.pt", Array(Self.torchScriptNoParams.prefix(64))), .torch, "code/ beyond the head: cannot tell")
        XCTAssertEqual(ModelFormat.firstZipEntry(Self.torchScript), "ts/data/0")
        XCTAssertNil(ModelFormat.firstZipEntry(Array(Self.torchScript.prefix(31))), "a name cut off is not read")
        XCTAssertNil(ModelFormat.firstZipEntry([0x50, 0x4b, 0x03, 0x04]))
    }

    func testByNameAlone() {
        for (name, f) in [("m.onnx", ModelFormat.onnx), ("m.pkl", .pickle), ("m.pickle", .pickle), ("m.joblib", .joblib), ("m.pt", .torch),
                          ("m.pth", .torch), ("m.ckpt", .torch), ("m.safetensors", .safetensors), ("m.keras", .keras), ("m.h5", .hdf5),
                          ("m.hdf5", .hdf5), ("m.mlmodel", .mlmodel), ("m.bst", .xgboost), ("m.ubj", .xgboost), ("DIR/M.ONNX", .onnx)] {
            XCTAssertEqual(detect(name, []), f, name)
        }
    }

    func testOtherFilesAreNotModels() {
        XCTAssertNil(detect("data.csv", Array("a,b\n1,2\n".utf8)))
        XCTAssertNil(detect("metrics.json", Array(#"{"accuracy": 0.97}"#.utf8)))
        XCTAssertNil(detect("notes.txt", Array("tree-lined avenue\n".utf8)), "not a LightGBM header")
        XCTAssertNil(detect("model.txt", []))
        XCTAssertNil(detect("x", []))
        XCTAssertNil(detect("x", [0x80]), "a lone 0x80 is no pickle header")
        XCTAssertNil(detect("x", [0x80, 0x09]), "no pickle protocol 9")
        // A length that claims more than 100 MiB of header is not taken for safetensors.
        XCTAssertNil(detect("x", [0, 0, 0, 0, 0, 1, 0, 0, UInt8(ascii: "{"), UInt8(ascii: "}")]))
        XCTAssertNil(detect(".pkl", Array(Self.lightgbm.prefix(4)) + [0]), "a dot file has no extension")
    }
}
