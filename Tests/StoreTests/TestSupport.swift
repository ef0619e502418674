import Foundation
import XCTest
import TestHelpers
@testable import Store
@testable import Support

extension SplitMix {
    mutating func id() -> ObjectId { ObjectId(w0: next(), w1: next(), w2: next(), w3: next()) }
}

/// A fresh temp directory, removed by `cleanup()` (call it in a defer).
final class TempDir {
    let path: String
    init(_ tag: String = "store") {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("mlrepo-\(tag)-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
    func sub(_ p: String) -> String { path + "/" + p }
}

/// The StoreError a throwing expression threw, failing the test when it threw nothing or something else.
func storeError<T>(_ body: @autoclosure () throws -> T, file: StaticString = #filePath, line: UInt = #line) -> StoreError? {
    do {
        _ = try body()
        XCTFail("expected a StoreError, got success", file: file, line: line)
    } catch let e as StoreError {
        return e
    } catch {
        XCTFail("expected a StoreError, got \(type(of: error)): \(error)", file: file, line: line)
    }
    return nil
}

func sha(_ b: [UInt8]) -> [UInt8] { SHA256Hasher.digest(b) }

/// Flips one byte of a file in place (pack files are created read-only; we are allowed to).
func flipByte(_ path: String, at offset: Int) throws {
    chmod(path, 0o644)
    let h = try XCTUnwrap(FileHandle(forUpdatingAtPath: path))
    defer { try? h.close() }
    try h.seek(toOffset: UInt64(offset))
    let b = try XCTUnwrap(h.readData(ofLength: 1).first)
    try h.seek(toOffset: UInt64(offset))
    h.write(Data([b ^ 0x5A]))
}
