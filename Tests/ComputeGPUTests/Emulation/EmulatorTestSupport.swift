import XCTest
import Compute
import Support

/// What the emulator tests share: one emulator for the kernel source per test process (it
/// compiles once), and random inputs.
extension XCTestCase {
    /// The emulator over CUDAKernels.source; skips the test where no C++ compiler is found.
    func emulator() throws -> EmulatedDevice {
        if let why = EmulatedDevice.unavailableReason { throw XCTSkip(why) }
        return try sharedEmulator.get()
    }

    /// n values uniform in [−scale, scale), from `seed`.
    static func random(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var g = SplitMix64(seed: seed)
        return (0..<n).map { _ in Float(g.nextDouble() * 2 - 1) * scale }
    }
}

private let sharedEmulator: Result<EmulatedDevice, Error> = Result { try EmulatedDevice() }
