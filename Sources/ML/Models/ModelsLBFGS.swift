#if canImport(Glibc)
import Glibc
#endif
import Compute
import Support

/// Full-batch L-BFGS for logistic (binary) and softmax (multiclass) regression, the solver
/// scikit-learn's `LogisticRegression` uses by default. The objective is scikit-learn's, in
/// its mean form:
///
///     f(W, b) = (1/n) Σ_i −log softmax(x_i·W + b)[y_i]  +  1/(2·C·n) · ‖W‖²
///
/// With two classes the first class's weights and bias stay 0, so the model is the ordinary
/// sigmoid model (softmax([0, z]) = sigmoid(z)) with scikit-learn's penalty on one vector.
/// Each evaluation is one fused pass over the matrix on the backend (softmaxLinearGradient);
/// the L-BFGS algebra runs on the host in Double, so the result is deterministic.
struct LogisticLBFGS {
    let backend: any Backend
    let x: Tensor        // n × m, standardized
    let codes: [Int32]
    let n: Int, m: Int, k: Int
    let l2: Double       // 1 / (C·n)

    init(backend: any Backend, x: Tensor, codes: [Int32], classes k: Int, l2: Double) {
        self.backend = backend; self.x = x; self.codes = codes
        n = x.rows; m = x.cols; self.k = k; self.l2 = l2
    }

    /// Parameters as one vector: W (m·k, row-major) then b (k).
    var dimension: Int { m * k + k }

    /// The objective, its cross-entropy part alone, and the gradient at `theta`: one fused
    /// pass over the matrix on the backend.
    func evaluate(_ theta: [Double]) -> (f: Double, crossEntropy: Double, grad: [Double]) {
        let wHost = theta[0..<(m * k)].map { Float($0) }, bHost = theta[(m * k)...].map { Float($0) }
        let r = backend.softmaxLinearGradient(x, weights: wHost, bias: Array(bHost), classes: k, labels: codes)
        let ce = r.loss / Double(n)
        var grad = [Double](repeating: 0, count: dimension)
        var penalty = 0.0
        for i in 0..<(m * k) {
            grad[i] = r.gradW[i] / Double(n) + l2 * theta[i]
            penalty += theta[i] * theta[i]
        }
        for j in 0..<k { grad[m * k + j] = r.gradB[j] / Double(n) }
        if k == 2 { freeze(&grad) }
        return (ce + 0.5 * l2 * penalty, ce, grad)
    }

    /// Binary: class 0's weights and bias are fixed at 0.
    func freeze(_ v: inout [Double]) {
        guard k == 2 else { return }
        for r in 0..<m { v[r * k] = 0 }
        v[m * k] = 0
    }

    struct Result { var theta: [Double]; var iterations: Int; var converged: Bool; var curve: [Double] }

    /// Minimizes from θ = 0 until max |∇f| ≤ tol, the relative decrease of f is below
    /// 64·ε (scipy's ftol as scikit-learn sets it), or `maxIter` iterations.
    func minimize(maxIter: Int, tol: Double, history: Int = 10) -> Result {
        var theta = [Double](repeating: 0, count: dimension)
        var (f, ce, g) = evaluate(theta)
        var curve = [ce]
        var sList: [[Double]] = [], yList: [[Double]] = [], rho: [Double] = []
        func dot(_ a: [Double], _ b: [Double]) -> Double { var s = 0.0; for i in a.indices { s += a[i] * b[i] }; return s }
        func maxAbs(_ a: [Double]) -> Double { a.reduce(0) { max($0, abs($1)) } }
        if maxAbs(g) <= tol { return Result(theta: theta, iterations: 0, converged: true, curve: curve) }
        var iter = 0
        while iter < maxIter {
            iter += 1
            // Two-loop recursion: d = −H·g.
            var q = g
            var alphas = [Double](repeating: 0, count: sList.count)
            for i in stride(from: sList.count - 1, through: 0, by: -1) {
                alphas[i] = rho[i] * dot(sList[i], q)
                for j in q.indices { q[j] -= alphas[i] * yList[i][j] }
            }
            var gamma = 1.0
            if let s = sList.last, let yv = yList.last { gamma = dot(s, yv) / dot(yv, yv) }
            else { gamma = 1 / max(dot(g, g).squareRoot(), 1e-12) }
            for j in q.indices { q[j] *= gamma }
            for i in 0..<sList.count {
                let beta = rho[i] * dot(yList[i], q)
                for j in q.indices { q[j] += (alphas[i] - beta) * sList[i][j] }
            }
            var d = q.map { -$0 }
            freeze(&d)
            var slope = dot(g, d)
            if slope >= 0 {  // not a descent direction: restart from steepest descent
                sList.removeAll(); yList.removeAll(); rho.removeAll()
                d = g.map { -$0 / max(dot(g, g).squareRoot(), 1e-12) }
                slope = dot(g, d)
            }
            // Backtracking line search (Armijo, c1 = 1e-4), at most 30 halvings.
            var step = 1.0
            var accepted: (theta: [Double], f: Double, ce: Double, g: [Double])? = nil
            for _ in 0..<30 {
                let trial = (0..<theta.count).map { theta[$0] + step * d[$0] }
                let e = evaluate(trial)
                if e.f.isFinite, e.f <= f + 1e-4 * step * slope { accepted = (trial, e.f, e.crossEntropy, e.grad); break }
                step *= 0.5
            }
            guard let a = accepted else { break }  // no decrease left at float32 precision
            let s = (0..<theta.count).map { a.theta[$0] - theta[$0] }
            let yv = (0..<g.count).map { a.g[$0] - g[$0] }
            let sy = dot(s, yv)
            if sy > 1e-12 * dot(yv, yv).squareRoot() * dot(s, s).squareRoot() {
                sList.append(s); yList.append(yv); rho.append(1 / sy)
                if sList.count > history { sList.removeFirst(); yList.removeFirst(); rho.removeFirst() }
            }
            let fOld = f
            theta = a.theta; f = a.f; ce = a.ce; g = a.g
            curve.append(ce)
            if maxAbs(g) <= tol { return Result(theta: theta, iterations: iter, converged: true, curve: curve) }
            if (fOld - f) / max(abs(fOld), abs(f), 1) <= 64 * Double.ulpOfOne {
                return Result(theta: theta, iterations: iter, converged: true, curve: curve)
            }
        }
        return Result(theta: theta, iterations: iter, converged: maxAbs(g) <= tol, curve: curve)
    }
}
