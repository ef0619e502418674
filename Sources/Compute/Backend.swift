#if canImport(Glibc)
import Glibc
#endif
/// A 2-D float32 tensor, row-major, living on a backend (host memory for the CPU backend,
/// device memory for a GPU backend). Vectors are 1×n. Freed when the last reference goes.
public final class Tensor: @unchecked Sendable {
    public let rows: Int
    public let cols: Int
    public var count: Int { rows * cols }
    public unowned let backend: any Backend
    /// Backend-specific storage (the CPU backend: an aligned host allocation).
    public let storage: TensorStorage

    public init(rows: Int, cols: Int, backend: any Backend, storage: TensorStorage) {
        self.rows = rows; self.cols = cols; self.backend = backend; self.storage = storage
    }
}

/// What a backend keeps for a tensor. Backends subclass it.
open class TensorStorage: @unchecked Sendable {
    public init() {}
}

/// A failure of the compute core (bad shapes, a device error), one line.
public struct ComputeError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The operations models are written against. Every operation is deterministic: the same
/// inputs give bit-identical outputs whatever the thread count (reductions run in a fixed
/// order). Shapes are checked by the caller's contract; a mismatch is a programming error.
public protocol Backend: AnyObject, Sendable {
    /// "cpu" or "gpu".
    var kind: String { get }
    /// The device in words: the CPU model, or the GPU's name.
    var deviceName: String { get }
    /// Worker threads (CPU) used for large operations.
    var threads: Int { get }

    // MARK: Memory
    /// A zero-filled tensor.
    func tensor(rows: Int, cols: Int) -> Tensor
    /// A tensor holding `host` (rows × cols values, row-major).
    func upload(_ host: [Float], rows: Int, cols: Int) -> Tensor
    /// A tensor holding `host`, which is left empty: a backend that can use host memory as it
    /// is (the CPU) takes the array's buffer over instead of copying it, so the caller never
    /// holds the matrix twice.
    func upload(taking host: inout [Float], rows: Int, cols: Int) -> Tensor
    /// Copies `host` into `t` starting at row `row` (host.count must be a multiple of t.cols).
    func upload(_ host: UnsafeBufferPointer<Float>, into t: Tensor, row: Int)
    func download(_ t: Tensor) -> [Float]
    /// A tensor that reads `host` (rows × cols values, row-major) in place where the backend
    /// can (the CPU: the array's buffer, kept alive by the tensor), else a copy. Read-only: it
    /// must never be the output of a kernel, since the array's other holders share it. For
    /// constants prepared once and read by many runs and threads, and for inputs held as
    /// arrays.
    func borrow(_ host: [Float], rows: Int, cols: Int) -> Tensor
    /// A tensor whose contents are unspecified, for an output every element of which a kernel
    /// writes (no zero-fill).
    func uninitializedTensor(rows: Int, cols: Int) -> Tensor
    /// The values of `t`, which the caller gives up: a backend whose tensor already is a host
    /// array (the CPU, for `uninitializedTensor`) hands that array over without a copy. `t`
    /// must not be used afterwards.
    func download(taking t: Tensor) -> [Float]
    /// dst[r, :] = src[indices[r], :] for every r < indices.count (a minibatch gather).
    func gatherRows(_ src: Tensor, _ indices: [Int32], into dst: Tensor)
    /// Waits for queued work (a no-op on the CPU).
    func synchronize()

    // MARK: Kernels
    /// c = alpha · op(a) · op(b) + beta · c, op = transpose when asked. With beta 0, c's old
    /// contents are ignored (NaN included).
    func gemm(_ a: Tensor, transA: Bool, _ b: Tensor, transB: Bool, into c: Tensor, alpha: Float, beta: Float)
    /// y = alpha · x · op(w) + bias: x m×k; w k×n, or n×k with `transW`; bias 1×n (added to
    /// every row) or nil; y m×n, its old contents ignored. Each element is one product sum in
    /// a fixed order, scaled, then the bias added; which loop computes it depends only on the
    /// shapes (the CPU reads w in place for small m or narrow y), never on the thread count.
    func linear(_ x: Tensor, _ w: Tensor, transW: Bool, bias: Tensor?, alpha: Float, into y: Tensor)
    /// x[i, j] += v[0, j].
    func addRowVector(_ x: Tensor, _ v: Tensor)
    /// x = max(x, 0), in place.
    func relu(_ x: Tensor)
    /// grad[i] = activation[i] > 0 ? grad[i] : 0.
    func reluBackward(_ grad: Tensor, activation: Tensor)
    /// x = 1 / (1 + exp(-x)), in place.
    func sigmoid(_ x: Tensor)
    /// Each row replaced by its softmax (max-subtracted), in place.
    func softmaxRows(_ x: Tensor)
    /// Each row replaced by its log-softmax, in place.
    func logSoftmaxRows(_ x: Tensor)
    /// y += alpha · x.
    func axpy(_ alpha: Float, _ x: Tensor, _ y: Tensor)
    /// x *= alpha.
    func scale(_ x: Tensor, _ alpha: Float)
    /// c = a − b (c may be a or b).
    func sub(_ a: Tensor, _ b: Tensor, into c: Tensor)
    /// out[0, j] = Σ_i x[i, j], summed in a fixed order.
    func columnSums(_ x: Tensor, into out: Tensor)
    /// The index of the largest value of each row (first on ties).
    func rowArgmax(_ x: Tensor) -> [Int32]
    /// d[i, k] = ‖x_i − c_k‖² for x (n×d) and centers (k×d), d n×k.
    func squaredDistances(_ x: Tensor, _ centers: Tensor, into d: Tensor)
    /// For each row of x (n×d): the index of the nearest of `centers` (k×d; first on ties)
    /// and its squared distance, computed as squaredDistances does.
    func nearestCenters(_ x: Tensor, _ centers: Tensor) -> (labels: [Int32], distances: [Float])
    /// Per cluster: Σ of the rows of x labelled c (k×d, row-major, in Double) and the count,
    /// summed in a fixed order.
    func clusterSums(_ x: Tensor, labels: [Int32], k: Int) -> (sums: [Double], counts: [Int])
    /// g = alpha · xᵀx (m×m for x n×m), symmetric: backends may compute one triangle and
    /// mirror it.
    func gram(_ x: Tensor, into g: Tensor, alpha: Float)
    /// Softmax cross-entropy of a linear model over all rows of x (n×m), with its gradient, in
    /// one pass: z_i = x_i·W + b (W m×k row-major, b k values, on the host), p_i = softmax(z_i),
    /// loss = Σ_i −log p_i[labels_i], gradW = Σ_i x_iᵀ(p_i − e_labels_i), gradB = Σ_i (p_i −
    /// e_labels_i). Summed over fixed row blocks merged in order (Double), so the result does
    /// not depend on the thread count.
    func softmaxLinearGradient(_ x: Tensor, weights: [Float], bias: [Float], classes k: Int,
                               labels: [Int32]) -> (loss: Double, gradW: [Double], gradB: [Double])
    /// One Adam step (bias-corrected, `step` counts from 1) with decoupled weight decay 0
    /// unless given (L2 added to the gradient: grad + weightDecay·param).
    func adamStep(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, lr: Float, beta1: Float, beta2: Float,
                  eps: Float, step: Int, weightDecay: Float)
    /// velocity = momentum·velocity + (grad + weightDecay·param); param −= lr·velocity.
    func sgdStep(param: Tensor, grad: Tensor, velocity: Tensor, lr: Float, momentum: Float, weightDecay: Float)
    /// Σ x², accumulated in Double in a fixed order.
    func sumSquares(_ x: Tensor) -> Double

    // MARK: Fused and device-resident operations
    // A GPU is launch-bound on small models: these do in one launch what the defaults below
    // do in several, and keep minibatch indices on the device. The defaults are exactly the
    // unfused sequence, so the CPU's results do not change.

    /// Indices held by the backend for `gatherRows(_:indices:offset:count:into:)`: a 1×n
    /// tensor of Int32 bit patterns (not numbers: only gathers read it).
    func uploadIndices(_ indices: [Int32]) -> Tensor
    /// dst[r, :] = src[indices[offset + r], :] for r < count (count ≤ dst.rows).
    func gatherRows(_ src: Tensor, indices: Tensor, offset: Int, count: Int, into dst: Tensor)
    /// A dense layer: y = x·w + bias (x m×k, w k×n, bias 1×n or nil), then ReLU if asked.
    /// Default: gemm (beta 0), addRowVector, relu, in that order.
    func dense(_ x: Tensor, _ w: Tensor, bias: Tensor?, relu: Bool, into y: Tensor)
    /// The output layer's delta: if `softmax`, z's rows are replaced by their softmax (in
    /// place, so z holds the probabilities); then delta = (z − y) · scale.
    /// Default: softmaxRows, sub, scale.
    func outputDelta(_ z: Tensor, softmax: Bool, targets y: Tensor, scale: Float, into delta: Tensor)
    /// `adamStep` for every parameter of a model at once (parameter i with weightDecay[i]).
    /// Default: one adamStep per parameter.
    func adamStep(params: [Tensor], grads: [Tensor], m: [Tensor], v: [Tensor], lr: Float, beta1: Float,
                  beta2: Float, eps: Float, step: Int, weightDecay: [Float])

    // MARK: Device-resident counters and recorded steps
    // A GPU is launch-bound on a small model's minibatch step; the step repeats with the same
    // tensors, so it can be recorded once and replayed (a CUDA graph). What changes from step
    // to step must then live on the device: the minibatch offset (a cursor) and Adam's step
    // (a counter), each a 1×1 tensor holding an Int32 as `uploadIndices` lays it out (a bit
    // pattern, not a number). The defaults below do the same on the host, so a backend that
    // records nothing (the CPU) computes exactly what the offset and step forms compute.

    /// Writes `indices` (exactly t.count of them) into `t`, laid out as `uploadIndices` does:
    /// to reuse one index tensor (an epoch's order, a cursor or counter reset) so that a
    /// recorded step that reads it stays valid. Not inside a recording (a host copy).
    func uploadIndices(_ indices: [Int32], into t: Tensor)
    /// `gatherRows(_:indices:offset:count:into:)` with the offset read from `cursor` (a 1×1
    /// index tensor) when the gather runs: on a GPU, on the device, so a recorded gather
    /// replays at the cursor's value of the moment. offset + count ≤ indices.count.
    func gatherRows(_ src: Tensor, indices: Tensor, cursor: Tensor, count: Int, into dst: Tensor)
    /// counter += by, for a 1×1 index tensor (a cursor or a step counter), on the device.
    /// The value stays below 2³¹.
    func advance(_ counter: Tensor, by: Int)
    /// `adamStep(params:…, step:)` with the step read from `stepCounter` (a 1×1 index tensor,
    /// ≥ 1) when the update runs. The bias corrections are computed from it in Double with
    /// the formulas of the host form; a GPU computes them on the device, where `pow` may
    /// differ from the host's in the last bits of a Double, so its −lr/bc1 and √bc2 (Floats)
    /// are the host's or one Float ulp away (results within the conformance tolerance of
    /// the step form, usually bit-identical).
    func adamStep(params: [Tensor], grads: [Tensor], m: [Tensor], v: [Tensor], lr: Float, beta1: Float,
                  beta2: Float, eps: Float, stepCounter: Tensor, weightDecay: [Float])
    /// Records the device work that `body` queues as one replayable step, WITHOUT running it:
    /// nil when the backend cannot record (the CPU: the default), and then the caller runs
    /// `body` itself each time. The contract for `body`: it only queues device work on
    /// tensors of this backend (no upload or download, no operation returning host values,
    /// no new tensors); every tensor it uses must stay alive, with the same shape, as long
    /// as the recording is replayed (a replay reads and writes them as they are then); its
    /// scalars are recorded as they are, so what changes per step must come from the device
    /// (a cursor, a step counter); and it has run once without recording just before, so
    /// that every scratch buffer and table it needs exists. Keep other threads off the
    /// backend while recording. A failed recording (an error in `body`) is kept for
    /// `checkError` and gives nil.
    func recordStep(_ body: () -> Void) -> (any RecordedStep)?
    /// Queues one run of a step `recordStep` recorded on this backend.
    func replay(_ step: any RecordedStep)

    // MARK: Device state
    /// What the lineage record adds about the device beyond `kind` and `deviceName` (the
    /// GPU: compute capability, driver and NVRTC versions); empty for the CPU.
    var environment: [String: String] { get }
    /// Throws the first device error since the backend was made (out of memory, a failed
    /// launch), if any. Kernels return no errors, so a GPU backend remembers the first one,
    /// skips the work that follows it, and callers check here before using results.
    func checkError() throws
}

extension Backend {
    public var environment: [String: String] { [:] }
    public func checkError() throws {}

    /// Default: the indices as Float bit patterns in an ordinary tensor.
    public func uploadIndices(_ indices: [Int32]) -> Tensor {
        upload(indices.map { Float(bitPattern: UInt32(bitPattern: $0)) }, rows: 1, cols: indices.count)
    }
    /// Default: the indices downloaded, then `gatherRows(_:_:into:)`.
    public func gatherRows(_ src: Tensor, indices: Tensor, offset: Int, count: Int, into dst: Tensor) {
        let all = download(indices)
        precondition(offset >= 0 && count >= 0 && offset + count <= all.count, "gatherRows: index range out of bounds")
        gatherRows(src, all[offset..<(offset + count)].map { Int32(bitPattern: $0.bitPattern) }, into: dst)
    }
    public func dense(_ x: Tensor, _ w: Tensor, bias: Tensor?, relu doRelu: Bool, into y: Tensor) {
        gemm(x, transA: false, w, transB: false, into: y, alpha: 1, beta: 0)
        if let bias { addRowVector(y, bias) }
        if doRelu { relu(y) }
    }
    public func outputDelta(_ z: Tensor, softmax: Bool, targets y: Tensor, scale s: Float, into delta: Tensor) {
        if softmax { softmaxRows(z) }
        sub(z, y, into: delta)
        scale(delta, s)
    }
    public func adamStep(params: [Tensor], grads: [Tensor], m: [Tensor], v: [Tensor], lr: Float, beta1: Float,
                         beta2: Float, eps: Float, step: Int, weightDecay: [Float]) {
        precondition(grads.count == params.count && m.count == params.count && v.count == params.count
                     && weightDecay.count == params.count, "adamStep: one grad, m, v and weight decay per parameter")
        for i in params.indices {
            adamStep(param: params[i], grad: grads[i], m: m[i], v: v[i], lr: lr, beta1: beta1, beta2: beta2, eps: eps,
                     step: step, weightDecay: weightDecay[i])
        }
    }
}

/// A step recorded by `Backend.recordStep`; released (with the device memory it keeps
/// alive) when the last reference goes.
public protocol RecordedStep: AnyObject, Sendable {}

extension Backend {
    /// The Int32 in a 1×1 index tensor, by download (the defaults' way).
    func indexValue(_ t: Tensor) -> Int {
        precondition(t.count == 1, "index tensor: \(t.rows)×\(t.cols), not 1×1")
        return Int(Int32(bitPattern: download(t)[0].bitPattern))
    }

    /// Default: the bit patterns uploaded into `t`.
    public func uploadIndices(_ indices: [Int32], into t: Tensor) {
        precondition(indices.count == t.count, "uploadIndices(into:): \(indices.count) indices for \(t.count) elements")
        if indices.isEmpty { return }
        let f = indices.map { Float(bitPattern: UInt32(bitPattern: $0)) }
        f.withUnsafeBufferPointer { upload($0, into: t, row: 0) }
    }
    /// Default: the cursor downloaded, then the offset form.
    public func gatherRows(_ src: Tensor, indices: Tensor, cursor: Tensor, count: Int, into dst: Tensor) {
        gatherRows(src, indices: indices, offset: indexValue(cursor), count: count, into: dst)
    }
    /// Default: download, add, upload.
    public func advance(_ counter: Tensor, by: Int) {
        let v = indexValue(counter) + by
        precondition(v >= Int(Int32.min) && v <= Int(Int32.max), "advance: counter out of 32-bit range")
        uploadIndices([Int32(v)], into: counter)
    }
    /// Default: the counter downloaded, then the step form.
    public func adamStep(params: [Tensor], grads: [Tensor], m: [Tensor], v: [Tensor], lr: Float, beta1: Float,
                         beta2: Float, eps: Float, stepCounter: Tensor, weightDecay: [Float]) {
        adamStep(params: params, grads: grads, m: m, v: v, lr: lr, beta1: beta1, beta2: beta2, eps: eps,
                 step: indexValue(stepCounter), weightDecay: weightDecay)
    }
    /// Default: nothing recorded (the caller runs the step itself).
    public func recordStep(_ body: () -> Void) -> (any RecordedStep)? { nil }
    /// Default: there are no recordings to replay.
    public func replay(_ step: any RecordedStep) {
        preconditionFailure("replay: \(kind) backend records no steps")
    }
}

extension Backend {
    /// Default: a copy.
    public func borrow(_ host: [Float], rows: Int, cols: Int) -> Tensor { upload(host, rows: rows, cols: cols) }
    /// Default: a zero-filled tensor.
    public func uninitializedTensor(rows: Int, cols: Int) -> Tensor { tensor(rows: rows, cols: cols) }
    /// Default: a copy.
    public func download(taking t: Tensor) -> [Float] { download(t) }
    /// Default: GEMM, then the bias row.
    public func linear(_ x: Tensor, _ w: Tensor, transW: Bool, bias: Tensor?, alpha: Float, into y: Tensor) {
        gemm(x, transA: false, w, transB: transW, into: y, alpha: alpha, beta: 0)
        if let bias { addRowVector(y, bias) }
    }
}

extension Backend {
    /// Default: copy, then release the host array.
    public func upload(taking host: inout [Float], rows: Int, cols: Int) -> Tensor {
        let t = upload(host, rows: rows, cols: cols)
        host = []
        return t
    }
}

extension Backend {
    /// Default: the distance matrix, then an argmin on the host.
    public func nearestCenters(_ x: Tensor, _ centers: Tensor) -> (labels: [Int32], distances: [Float]) {
        let n = x.rows, k = centers.rows
        let d = tensor(rows: n, cols: k)
        squaredDistances(x, centers, into: d)
        let h = download(d)
        var labels = [Int32](repeating: 0, count: n), dist = [Float](repeating: 0, count: n)
        for i in 0..<n {
            var b = 0, bv = h[i * k]
            for c in 1..<max(k, 1) where h[i * k + c] < bv { b = c; bv = h[i * k + c] }
            labels[i] = Int32(b); dist[i] = bv
        }
        return (labels, dist)
    }

    /// Default: on a host copy of x, in row order.
    public func clusterSums(_ x: Tensor, labels: [Int32], k: Int) -> (sums: [Double], counts: [Int]) {
        let h = download(x), d = x.cols
        var sums = [Double](repeating: 0, count: k * d), counts = [Int](repeating: 0, count: k)
        for i in 0..<x.rows {
            let c = Int(labels[i]); counts[c] += 1
            for j in 0..<d { sums[c * d + j] += Double(h[i * d + j]) }
        }
        return (sums, counts)
    }
}

extension Backend {
    /// Default: logits by GEMM, softmax, then Xᵀ(P − Y) by GEMM.
    public func softmaxLinearGradient(_ x: Tensor, weights: [Float], bias: [Float], classes k: Int,
                                      labels: [Int32]) -> (loss: Double, gradW: [Double], gradB: [Double]) {
        let n = x.rows, m = x.cols
        let z = tensor(rows: n, cols: k)
        gemm(x, transA: false, upload(weights, rows: m, cols: k), transB: false, into: z, alpha: 1, beta: 0)
        addRowVector(z, upload(bias, rows: 1, cols: k))
        softmaxRows(z)
        var p = download(z)
        var loss = 0.0
        var gb = [Double](repeating: 0, count: k)
        for i in 0..<n {
            let c = Int(labels[i])
            loss -= log(Double(Swift.max(p[i * k + c], 1e-30)))
            p[i * k + c] -= 1
            for j in 0..<k { gb[j] += Double(p[i * k + j]) }
        }
        let d = upload(p, rows: n, cols: k), g = tensor(rows: m, cols: k)
        gemm(x, transA: true, d, transB: false, into: g, alpha: 1, beta: 0)
        return (loss, download(g).map(Double.init), gb)
    }
}

extension Backend {
    /// Default: a full GEMM.
    public func gram(_ x: Tensor, into g: Tensor, alpha: Float) {
        gemm(x, transA: true, x, transB: false, into: g, alpha: alpha, beta: 0)
    }
}

/// The sizes of c = op(a) · op(b), checked: m, n and the inner size k. A mismatch, or c
/// aliasing a or b, is a programming error (every backend's `gemm` checks the same way).
public func gemmShape(_ a: Tensor, transA: Bool, _ b: Tensor, transB: Bool, _ c: Tensor) -> (m: Int, n: Int, k: Int) {
    let m = transA ? a.cols : a.rows
    let k = transA ? a.rows : a.cols
    let kb = transB ? b.cols : b.rows
    let n = transB ? b.rows : b.cols
    precondition(k == kb && c.rows == m && c.cols == n, "gemm: op(a) \(m)×\(k), op(b) \(kb)×\(n), c \(c.rows)×\(c.cols)")
    precondition(c.storage !== a.storage && c.storage !== b.storage, "gemm: c must not alias a or b")
    return (m, n, k)
}

/// The sizes of y = alpha · x · op(w) + bias, checked: m rows, n outputs, k inputs. A
/// mismatch, or y aliasing x or w, is a programming error (every backend's `linear` checks).
public func linearShape(_ x: Tensor, _ w: Tensor, transW: Bool, bias: Tensor?, _ y: Tensor) -> (m: Int, n: Int, k: Int) {
    let m = x.rows, k = x.cols
    let n = transW ? w.rows : w.cols, kw = transW ? w.cols : w.rows
    precondition(kw == k && y.rows == m && y.cols == n && (bias == nil || bias!.count == n),
                 "linear: x \(m)×\(k), w \(w.rows)×\(w.cols)\(transW ? "ᵀ" : ""), y \(y.rows)×\(y.cols), bias \(bias?.count ?? 0)")
    precondition(y.storage !== x.storage && y.storage !== w.storage, "linear: y must not alias x or w")
    return (m, n, k)
}
