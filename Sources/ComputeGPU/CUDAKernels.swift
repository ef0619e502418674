import Compute
/// The GPU backend's kernels: CUDA C++ source, compiled at run time by NVRTC for the device's
/// architecture (cached by hash, see `KernelCache`), and compiled as host C++ by the
/// emulator in the tests. One source, so what the tests run is what the GPU runs.
///
/// Rules for this source (the emulator and the NVRTC tests hold it to them):
/// - every kernel is `extern "C" __global__ void mlr_NAME(...)` on one line up to the `{`,
///   its parameters of the types `KernelArgument` has: `T*`/`const T*` (T float, int,
///   double, unsigned int), `int`, `long long`, `float`, `double`;
/// - no atomics in reductions, no dynamic shared memory, no early `return` before a
///   `__syncthreads()`, warp shuffles only in full warps (blockDim.x a multiple of 32);
/// - results depend only on the shapes and the launch configuration the backend derives
///   from the shapes, never on the grid limit (`GPUBackend.maxGridBlocks`): loops over
///   elements are grid-stride loops, and reductions run over fixed blocks of rows.
public enum CUDAKernels {
    /// The source. `GPUBackend` launches these kernels by name.
    public static let source: String = #"""
// mlrepo GPU kernels (CUDA C++). See Sources/Compute/GPU/CUDAKernels.swift.

extern "C" __global__ void mlr_relu(float* x, long long n) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        float v = x[i];
        x[i] = v > 0.0f ? v : 0.0f;
    }
}
"""#

    /// One kernel's name and the C types of its parameters, in order.
    public struct Spec: Sendable, Equatable {
        public let name: String
        public let parameters: [String]
    }

    /// Every kernel in `source`, in source order.
    public static let specs: [Spec] = parseSpecs(source)

    /// The kernels declared in `text`: each line starting `extern "C" __global__ void`.
    static func parseSpecs(_ text: String) -> [Spec] {
        var out: [Spec] = []
        let prefix = "extern \"C\" __global__ void "
        for line in text.split(separator: "\n") where line.hasPrefix(prefix) {
            let rest = line.dropFirst(prefix.count)
            guard let open = rest.firstIndex(of: "("), let close = rest.firstIndex(of: ")") else { continue }
            let name = String(rest[..<open]).trimmingSpaces
            let params = rest[rest.index(after: open)..<close].split(separator: ",").map { p -> String in
                // "const float* __restrict__ x" → "const float*"; "long long n" → "long long"
                // Drop the parameter's name (the trailing identifier), then the qualifiers.
                var t = Substring(p.trimmingSpaces)
                while let c = t.last, c.isLetter || c.isNumber || c == "_" { t = t.dropLast() }
                let words = t.split(separator: " ").map(String.init).filter { $0 != "__restrict__" }
                return words.joined(separator: " ").replacingStarSpacing
            }
            out.append(Spec(name: name, parameters: params.filter { !$0.isEmpty }))
        }
        return out
    }

    /// The `KernelArgument` case a C parameter type takes: "pointer", "int32", "int64",
    /// "float" or "double"; nil for a type the launcher does not support.
    public static func argumentKind(_ cType: String) -> String? {
        if cType.hasSuffix("*") { return "pointer" }
        switch cType {
        case "int", "unsigned int": return "int32"
        case "long long", "unsigned long long": return "int64"
        case "float": return "float"
        case "double": return "double"
        default: return nil
        }
    }

    /// Whether `args` fit `spec`'s parameters (count and kinds).
    public static func matches(_ spec: Spec, _ args: [KernelArgument]) -> Bool {
        guard spec.parameters.count == args.count else { return false }
        for (p, a) in zip(spec.parameters, args) {
            let kind: String
            switch a {
            case .pointer: kind = "pointer"
            case .int32: kind = "int32"
            case .int64: kind = "int64"
            case .float: kind = "float"
            case .double: kind = "double"
            }
            if argumentKind(p) != kind { return false }
        }
        return true
    }
}

private extension StringProtocol {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}

private extension String {
    /// "float *" → "float*", so pointer types compare as written without a space.
    var replacingStarSpacing: String {
        var out = ""
        for c in self {
            if c == "*" { while out.last == " " { out.removeLast() } }
            out.append(c)
        }
        return out
    }
}
