import SAEPipeCore
import SAEPipeLinalg
import XCTest

final class LinalgTests: XCTestCase {
    func naive(_ a: [Float], _ b: [Float], m: Int, n: Int, k: Int, ta: Bool, tb: Bool) -> [Float] {
        var c = [Float](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var sum: Double = 0
                for p in 0..<k {
                    let av = ta ? a[p * m + i] : a[i * k + p]
                    let bv = tb ? b[j * k + p] : b[p * n + j]
                    sum += Double(av) * Double(bv)
                }
                c[i * n + j] = Float(sum)
            }
        }
        return c
    }

    func testSgemmMatchesNaiveProductForEveryTranspose() {
        var generator = SplitMix64(seed: 1)
        let (m, n, k) = (7, 5, 9)
        let a = (0..<(m * k)).map { _ in Float(generator.nextUnit() - 0.5) }
        let b = (0..<(k * n)).map { _ in Float(generator.nextUnit() - 0.5) }
        for ta in [false, true] {
            for tb in [false, true] {
                var c = [Float](repeating: 1, count: m * n)
                BLAS.sgemm(ta ? .transposed : .none, tb ? .transposed : .none, m: m, n: n, k: k,
                           a: a, b: b, c: &c)
                let expected = naive(a, b, m: m, n: n, k: k, ta: ta, tb: tb)
                for (x, y) in zip(c, expected) { XCTAssertEqual(x, y, accuracy: 1e-5) }
            }
        }
    }

    /// Splitting C's rows over threads gives the product of one call, for every transpose, with α and β.
    func testSgemmSplittingRowsMatchesOneCallForEveryTranspose() {
        var generator = SplitMix64(seed: 2)
        let (m, n, k) = (133, 21, 40)
        let a = (0..<(m * k)).map { _ in Float(generator.nextUnit() - 0.5) }
        let b = (0..<(k * n)).map { _ in Float(generator.nextUnit() - 0.5) }
        let start = (0..<(m * n)).map { _ in Float(generator.nextUnit()) }
        let saved = BLAS.threads
        defer { BLAS.threads = saved }
        for threads in [1, 2, 3] {
            BLAS.threads = threads
            for ta in [false, true] {
                for tb in [false, true] {
                    let (transA, transB): (BLAS.Transpose, BLAS.Transpose) = (ta ? .transposed : .none, tb ? .transposed : .none)
                    var split = start, whole = start
                    a.withUnsafeBufferPointer { a in
                        b.withUnsafeBufferPointer { b in
                            split.withUnsafeMutableBufferPointer { c in
                                BLAS.sgemmSplittingRows(transA, transB, m: m, n: n, k: k, alpha: 2, a: a.baseAddress!, b: b.baseAddress!,
                                                        beta: 0.5, c: c.baseAddress!)
                            }
                            whole.withUnsafeMutableBufferPointer { c in
                                BLAS.sgemm(transA, transB, m: m, n: n, k: k, alpha: 2, a: a.baseAddress!, b: b.baseAddress!,
                                           beta: 0.5, c: c.baseAddress!)
                            }
                        }
                    }
                    for (x, y) in zip(split, whole) { XCTAssertEqual(x, y, accuracy: 1e-5, "threads \(threads) ta \(ta) tb \(tb)") }
                    XCTAssertEqual(BLAS.activeThreads, threads, "the split call restores the thread count")
                }
            }
        }
    }

    func testVectorHelpers() {
        let a: [Float] = [1, 2, 3, 4, 5, 6]  // 2×3
        var y: [Float] = [0, 0]
        BLAS.sgemv(rows: 2, cols: 3, a: a, x: [1, 0, -1], y: &y)
        XCTAssertEqual(y, [-2, -2])
        var t: [Float] = [0, 0, 0]
        BLAS.sgemv(.transposed, rows: 2, cols: 3, a: a, x: [1, 1], y: &t)
        XCTAssertEqual(t, [5, 7, 9])
        var v: [Float] = [1, 1, 1]
        BLAS.saxpy(count: 3, alpha: 2, x: [1, 2, 3], y: &v)
        XCTAssertEqual(v, [3, 5, 7])
        BLAS.sscal(count: 3, alpha: 0.5, x: &v)
        XCTAssertEqual(v, [1.5, 2.5, 3.5])
        XCTAssertEqual(BLAS.sdot(count: 3, x: [1, 2, 3], y: [4, 5, 6]), 32)
        var outer: [Float] = [0, 0, 0, 0]
        BLAS.sger(m: 2, n: 2, alpha: 1, x: [1, 2], y: [3, 4], a: &outer)
        XCTAssertEqual(outer, [3, 4, 6, 8])
    }

    func testCoreOverrideDecision() {
        XCTAssertTrue(BLAS.needsOverride(current: "Prescott", preferred: "SkylakeX"))
        XCTAssertTrue(BLAS.needsOverride(current: "Haswell", preferred: "SkylakeX"))
        XCTAssertTrue(BLAS.needsOverride(current: "Nehalem", preferred: "Haswell"))
        XCTAssertFalse(BLAS.needsOverride(current: "SkylakeX", preferred: "SkylakeX"))
        XCTAssertFalse(BLAS.needsOverride(current: "Cooperlake", preferred: "SkylakeX"))
        XCTAssertFalse(BLAS.needsOverride(current: "Zen", preferred: "Haswell"))
    }

    func testKernelsInUseAreNotAGenericFallback() throws {
        guard let preferred = BLAS.preferredCore else { throw XCTSkip("CPU has neither AVX2 nor AVX-512") }
        if ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil || BLAS.reexecutedForCore {
            XCTAssertFalse(BLAS.needsOverride(current: BLAS.coreName, preferred: preferred), "running on \(BLAS.coreName)")
        }
    }

    /// Rows built from two planted directions with known spreads (plus small noise): the first two
    /// components are those directions, with those variances, and satisfy C v = λ v.
    func testPrincipalComponentsRecoverPlantedDirections() {
        let (rows, d) = (2000, 24)
        var generator = SplitMix64(seed: 5)
        func uniform() -> Double { Double(generator.next() >> 11) / Double(1 << 53) - 0.5 }
        func unit(_ v: [Double]) -> [Double] { let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot(); return v.map { $0 / n } }
        let u1 = unit((0..<d).map { _ in uniform() })
        var u2 = (0..<d).map { _ in uniform() }
        let overlap = zip(u1, u2).reduce(0) { $0 + $1.0 * $1.1 }
        u2 = unit(zip(u2, u1).map { $0 - overlap * $1 })
        var x = [Float](repeating: 0, count: rows * d)
        for r in 0..<rows {
            let (a, b) = (3 * uniform(), 1.5 * uniform())
            for j in 0..<d { x[r * d + j] = Float(a * u1[j] + b * u2[j] + 0.01 * uniform() + 0.7) }
        }
        let pca = PrincipalComponents.compute(x, rows: rows, d: d, components: 2)
        for (k, planted) in [u1, u2].enumerated() {
            let axis = pca.axes[(k * d)..<((k + 1) * d)].map(Double.init)
            XCTAssertEqual(abs(zip(axis, planted).reduce(0) { $0 + $1.0 * $1.1 }), 1, accuracy: 1e-3, "axis \(k)")
        }
        // Uniform on [-s/2, s/2] has variance s² / 12.
        XCTAssertEqual(pca.variances[0], 9.0 / 12, accuracy: 0.06)
        XCTAssertEqual(pca.variances[1], 2.25 / 12, accuracy: 0.02)
        // Projections are the centred rows times the axes.
        var mean = [Double](repeating: 0, count: d)
        for r in 0..<rows { for j in 0..<d { mean[j] += Double(x[r * d + j]) / Double(rows) } }
        for r in [0, 999, 1999] {
            for k in 0..<2 {
                let expected = (0..<d).reduce(0.0) { $0 + (Double(x[r * d + $1]) - mean[$1]) * Double(pca.axes[k * d + $1]) }
                XCTAssertEqual(Double(pca.projections[r * 2 + k]), expected, accuracy: 1e-3)
            }
        }
    }

    /// Forty tight clusters of unit vectors: UMAP keeps clearly more of each point's nearest neighbours than PCA
    /// does, and about as many as umap-learn keeps on the same vectors (when it is installed; the
    /// test command installs it and sets SAEPIPE_REQUIRE_UMAP).
    func testUMAPKeepsNeighbourhoodsAsUmapLearnDoes() throws {
        let (rows, d, clusters) = (600, 32, 40)
        var generator = SplitMix64(seed: 11)
        func normal() -> Double {
            let u = max(Double(generator.next() >> 11) / Double(1 << 53), 1e-12), v = Double(generator.next() >> 11) / Double(1 << 53)
            return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
        }
        let centres = (0..<clusters).map { _ in (0..<d).map { _ in normal() } }
        var x = [Float](repeating: 0, count: rows * d)
        for r in 0..<rows {
            let point = centres[r % clusters].map { $0 + 0.2 * normal() }
            let norm = point.reduce(0) { $0 + $1 * $1 }.squareRoot()
            for j in 0..<d { x[r * d + j] = Float(point[j] / norm) }
        }
        let pca = PrincipalComponents.compute(x, rows: rows, d: d)
        var settings = UMAP.Settings()
        settings.seed = 3
        let embedding = UMAP.embed(x, rows: rows, d: d, initial: pca.projections, settings: settings)
        XCTAssertEqual(embedding, UMAP.embed(x, rows: rows, d: d, initial: pca.projections, settings: settings), "seeded: the same map twice")
        let ours = UMAP.neighbourhoodPreservation(x, rows: rows, d: d, embedding: embedding)
        let linear = UMAP.neighbourhoodPreservation(x, rows: rows, d: d, embedding: pca.projections)
        XCTAssertGreaterThan(ours, linear + 0.15, "UMAP \(ours) against PCA \(linear)")
        // Neighbour lists against a direct scan.
        let (indices, _) = UMAP.nearestNeighbours(x, rows: rows, d: d, k: 5)
        for i in [0, 17, 599] {
            let cosine = { (j: Int) in (0..<d).reduce(Float(0)) { $0 + x[i * d + $1] * x[j * d + $1] } }
            let expected = (0..<rows).filter { $0 != i }.sorted { cosine($0) > cosine($1) }.prefix(5)
            XCTAssertEqual(indices[(i * 5)..<(i * 5 + 5)].map(Int.init), Array(expected))
        }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../scripts/umap-reference.py").standardized.path
        let directory = try temporaryDirectory(self)
        try x.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: "\(directory)/x.f32")) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, "\(directory)/x.f32", "\(rows)", "\(d)", "\(directory)/reference.json"]
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let message = "umap-learn did not run (pip install umap-learn); saepipe's UMAP kept \(ours) of the neighbours, PCA \(linear)"
            if ProcessInfo.processInfo.environment["SAEPIPE_REQUIRE_UMAP"] != nil { XCTFail(message); return }
            throw XCTSkip(message)
        }
        let reference = try JSONDecoder().decode([Float].self, from: Data(contentsOf: URL(fileURLWithPath: "\(directory)/reference.json")))
        let theirs = UMAP.neighbourhoodPreservation(x, rows: rows, d: d, embedding: reference)
        print("neighbourhood preservation (15-NN): saepipe UMAP \(ours), umap-learn \(theirs), PCA \(linear)")
        XCTAssertGreaterThanOrEqual(ours, theirs - 0.05, "saepipe \(ours) against umap-learn \(theirs)")
    }
}
